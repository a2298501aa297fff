"""The client against the CMS-faithful emulator on loopback: every flavour, every scenario."""

from __future__ import annotations

import logging

import pytest

from bulkfhir import (
    AuthenticationError,
    BulkDataClient,
    ExportComplete,
    ExportFailedError,
    ExportGoneError,
    ExportInProgress,
    ExportRequest,
    GzipMembersDecoder,
    KickOffAccepted,
    KickOffThrottled,
    NdjsonCounter,
    TransientError,
    UnexpectedResponseError,
    next_poll_wait,
)
from local.emulator import Emulator, EmulatorConfig
from tests.support.emulated import client_of, secrets_of

FLAVORS = ("bcda", "ab2d", "smart")


def request_for(flavor: str, **kwargs) -> ExportRequest:
    if flavor == "ab2d":
        return ExportRequest(target="Patient", types=("ExplanationOfBenefit",), **kwargs)
    return ExportRequest(target="Group/all", **kwargs)


def kick(client: BulkDataClient, emu: Emulator, request: ExportRequest, attempts: int = 6) -> str:
    for _ in range(attempts):
        result = client.kick_off(request)
        if isinstance(result, KickOffAccepted):
            return result.status_url
        emu.clock.advance(max(result.retry_after or 0, 5))
    raise AssertionError("kick-off never accepted")


def wait_for(client: BulkDataClient, emu: Emulator, status_url: str, max_polls: int = 40) -> ExportComplete:
    """Poll like the state machine does: wait what the client suggests, in emulator time."""
    for polls in range(max_polls):
        try:
            status = client.check_status(status_url)
        except TransientError as error:
            emu.clock.advance(next_poll_wait(client.profile, error.retry_after, polls))
            continue
        if isinstance(status, ExportComplete):
            return status
        emu.clock.advance(next_poll_wait(client.profile, status.retry_after, polls))
    raise AssertionError("export never completed")


def fetch(
    client: BulkDataClient, url: str, requires_token: bool = True
) -> tuple[bytes, NdjsonCounter, GzipMembersDecoder]:
    counter = NdjsonCounter()
    decoder = GzipMembersDecoder(counter)
    body = bytearray()
    with client.open_file(url, requires_token=requires_token) as download:
        assert download.content_encoding == "gzip"
        for chunk in download.iter_raw():
            body += chunk
            decoder.feed(chunk)
    decoder.finish()
    return bytes(body), counter, decoder


@pytest.mark.parametrize("flavor", FLAVORS)
def test_happy_path_lands_every_file_byte_identical(flavor, caplog):
    caplog.set_level(logging.DEBUG)
    with Emulator(EmulatorConfig(flavor=flavor, patients=120)) as emu:
        client = client_of(emu)
        done = wait_for(client, emu, kick(client, emu, request_for(flavor)))
        manifest = done.manifest
        assert manifest.output, "the export has files"
        for entry in manifest.output + manifest.error:
            body, counter, decoder = fetch(client, entry.url, manifest.requires_access_token)
            assert body == emu.file_gzip(entry.url)
            assert counter.bytes == len(emu.file_ndjson(entry.url))
            assert counter.total_lines == emu.file_ndjson(entry.url).count(b"\n")
            if entry.sha256:
                import hashlib

                assert hashlib.sha256(body).hexdigest() == entry.sha256
            if entry.count is not None:
                assert entry.count == counter.total_lines
            if flavor == "bcda":
                assert decoder.members == 2  # BCDA's trailing empty gzip member
        leaked = [s for s in secrets_of(emu) if s in caplog.text]
        assert leaked == []


def test_bcda_manifest_quirks():
    with Emulator(EmulatorConfig(flavor="bcda")) as emu:
        client = client_of(emu)
        manifest = wait_for(client, emu, kick(client, emu, request_for("bcda"))).manifest
        assert manifest.job_id is not None
        assert manifest.transaction_time is not None
        assert {f.type for f in manifest.output} >= {"Patient", "Coverage", "ExplanationOfBenefit"}


def test_ab2d_keeps_its_non_iso_transaction_time_raw_and_gives_checksums():
    with Emulator(EmulatorConfig(flavor="ab2d")) as emu:
        client = client_of(emu)
        manifest = wait_for(client, emu, kick(client, emu, request_for("ab2d"))).manifest
        assert manifest.transaction_time is None
        assert manifest.transaction_time_raw  # e.g. "Nov 9, 2023, 3:52:51 PM"
        assert all(f.sha256 and f.length for f in manifest.output)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_token_that_expires_mid_run_is_refreshed(flavor):
    # BCDA answers 401 "Expired Token", AB2D an empty 403, SMART 401 — all before expires_in says so
    with Emulator(EmulatorConfig(flavor=flavor, scenario="token-expiry")) as emu:
        client = client_of(emu)
        manifest = wait_for(client, emu, kick(client, emu, request_for(flavor))).manifest
        for entry in manifest.output:
            fetch(client, entry.url)
        token_calls = [r for r in emu.requests() if r.path == emu.token_url.split(emu.base_url.split("/fhir")[0])[-1]]
        assert len(token_calls) >= 2
        refused = [r for r in emu.requests() if r.status in (401, 403)]
        assert refused, "the server did refuse an expired token"


@pytest.mark.parametrize("flavor", ["bcda", "smart"])
def test_a_cut_connection_resumes_with_range(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="drop-connection")) as emu:
        client = client_of(emu)
        output = wait_for(client, emu, kick(client, emu, request_for(flavor))).manifest.output
        entry = max(output, key=lambda f: len(emu.file_gzip(f.url)))  # big enough to be cut after a read
        received = bytearray()
        with client.open_file(entry.url) as download:
            assert download.accepts_ranges
            with pytest.raises(TransientError) as broke:
                for chunk in download.iter_raw():
                    received += chunk
        assert broke.value.bytes_received == len(received) > 0
        with client.open_file(entry.url, start=len(received)) as rest:
            assert rest.status == 206 and rest.start == len(received)
            received += b"".join(rest.iter_raw())
        counter = NdjsonCounter()
        decoder = GzipMembersDecoder(counter)
        decoder.feed(bytes(received))
        decoder.finish()
        assert counter.bytes == len(emu.file_ndjson(entry.url))


def test_ab2d_has_no_range_so_a_cut_download_restarts():
    with Emulator(EmulatorConfig(flavor="ab2d", scenario="drop-connection")) as emu:
        client = client_of(emu)
        entry = wait_for(client, emu, kick(client, emu, request_for("ab2d"))).manifest.output[0]
        with client.open_file(entry.url) as download:
            assert not download.accepts_ranges
            with pytest.raises(TransientError):
                b"".join(download.iter_raw())
        body, _, _ = fetch(client, entry.url)
        assert body == emu.file_gzip(entry.url)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_kick_off_429_without_a_job_to_adopt(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="kickoff-429")) as emu:
        client = client_of(emu)
        first = client.kick_off(request_for(flavor))
        assert isinstance(first, KickOffThrottled)
        assert first.running_jobs == ()
        assert first.retry_after is not None
        wait_for(client, emu, kick(client, emu, request_for(flavor)))


@pytest.mark.parametrize("flavor", ["ab2d", "smart"])
def test_kick_off_429_names_the_running_job_to_adopt(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="kickoff-429-adopt")) as emu:
        client = client_of(emu)
        result = client.kick_off(request_for(flavor))
        assert isinstance(result, KickOffThrottled)
        assert len(result.running_jobs) == 1
        assert wait_for(client, emu, result.running_jobs[0]).manifest.output


def test_bcda_duplicate_job_429_has_an_empty_body_and_nothing_to_adopt():
    with Emulator(EmulatorConfig(flavor="bcda", scenario="kickoff-429-adopt")) as emu:
        result = client_of(emu).kick_off(request_for("bcda"))
        assert isinstance(result, KickOffThrottled) and result.running_jobs == ()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_status_5xx_are_transient_then_the_export_completes(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="status-5xx")) as emu:
        client = client_of(emu)
        status_url = kick(client, emu, request_for(flavor))
        errors = []
        for _ in range(3):
            with pytest.raises(TransientError) as caught:
                client.check_status(status_url)
            errors.append(str(caught.value))
            emu.clock.advance(10)
        assert any("HTML page" in e for e in errors)
        assert wait_for(client, emu, status_url).manifest.output


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_failed_job_is_an_export_failed_error_with_diagnostics(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="job-failed")) as emu:
        client = client_of(emu)
        with pytest.raises(ExportFailedError) as caught:
            wait_for(client, emu, kick(client, emu, request_for(flavor)))
        assert caught.value.diagnostics


@pytest.mark.parametrize("flavor", FLAVORS)
def test_an_expired_job_is_gone(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="job-expired")) as emu:
        client = client_of(emu)
        with pytest.raises(ExportGoneError, match="start a new export"):
            manifest = wait_for(client, emu, kick(client, emu, request_for(flavor))).manifest
            fetch(client, manifest.output[0].url)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_files_on_a_foreign_host_never_receive_the_token(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="foreign-file-host")) as emu:
        client = client_of(emu)
        manifest = wait_for(client, emu, kick(client, emu, request_for(flavor))).manifest
        assert all(entry.url.startswith(emu.file_host_url) for entry in manifest.output)
        for entry in manifest.output:
            body, _, _ = fetch(client, entry.url, manifest.requires_access_token)
            assert body == emu.file_gzip(entry.url)
        seen_by_file_host = [r for r in emu.requests() if r.listener == "file-host"]
        assert seen_by_file_host
        assert [r.authorization for r in seen_by_file_host] == [None] * len(seen_by_file_host)


def test_a_foreign_host_that_demands_the_token_gets_a_clear_error_unless_trusted():
    config = EmulatorConfig(flavor="bcda", scenario="foreign-file-host", foreign_host_requires_token=True)
    with Emulator(config) as emu:
        client = client_of(emu)
        entry = wait_for(client, emu, kick(client, emu, request_for("bcda"))).manifest.output[0]
        with pytest.raises(AuthenticationError, match="add it to the source's file_hosts"):
            fetch(client, entry.url)
        trusting = client_of(emu, file_hosts=(emu.file_host_url,))
        body, _, _ = fetch(trusting, entry.url)
        assert body == emu.file_gzip(entry.url)
        assert [r for r in emu.requests() if r.listener == "file-host"][-1].authorization


def test_slow_export_reports_climbing_progress():
    with Emulator(EmulatorConfig(flavor="smart", scenario="slow-export")) as emu:
        client = client_of(emu)
        status_url = kick(client, emu, request_for("smart"))
        percents = []
        while True:
            status = client.check_status(status_url)
            if isinstance(status, ExportComplete):
                break
            assert isinstance(status, ExportInProgress)
            percents.append(status.percent)
            emu.clock.advance(status.retry_after or 5)
        assert len(percents) >= 5
        assert percents == sorted(percents)


@pytest.mark.parametrize(
    ("scenario", "error", "message"),
    [
        ("malformed-manifest", UnexpectedResponseError, "expected JSON"),
        ("no-content-location", UnexpectedResponseError, "without a Content-Location"),
        ("unexpected-status", UnexpectedResponseError, "unexpected"),
    ],
)
@pytest.mark.parametrize("flavor", FLAVORS)
def test_protocol_violations_are_typed_errors(flavor, scenario, error, message):
    with Emulator(EmulatorConfig(flavor=flavor, scenario=scenario)) as emu:
        client = client_of(emu)
        with pytest.raises(error, match=message):
            wait_for(client, emu, kick(client, emu, request_for(flavor)))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_an_html_error_page_on_kick_off_is_transient(flavor):
    with (
        Emulator(EmulatorConfig(flavor=flavor, scenario="html-error")) as emu,
        pytest.raises(TransientError, match="HTML page"),
    ):
        client_of(emu).kick_off(request_for(flavor))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_truncated_gzip_body_is_caught_by_the_decoder(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="truncated-gzip")) as emu:
        client = client_of(emu)
        entry = wait_for(client, emu, kick(client, emu, request_for(flavor))).manifest.output[0]
        with pytest.raises(TransientError, match="cut short"):
            fetch(client, entry.url)
        body, _, _ = fetch(client, entry.url)  # the second download is whole
        assert body == emu.file_gzip(entry.url)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_since_exports_only_what_changed(flavor):
    with Emulator(EmulatorConfig(flavor=flavor)) as emu:
        client = client_of(emu)
        first = wait_for(client, emu, kick(client, emu, request_for(flavor))).manifest
        since = first.transaction_time or emu.clock.now()
        emu.advance_data(days=30)
        emu.clock.advance(60)
        second = wait_for(client, emu, kick(client, emu, request_for(flavor, since=since))).manifest
        total_first = sum(emu.file_ndjson(f.url).count(b"\n") for f in first.output)
        total_second = sum(emu.file_ndjson(f.url).count(b"\n") for f in second.output)
        assert 0 < total_second < total_first


def test_bcda_job_history_and_attribution_status():
    with Emulator(EmulatorConfig(flavor="bcda")) as emu:
        client = client_of(emu)
        assert client.job_history() == []
        wait_for(client, emu, kick(client, emu, request_for("bcda")))
        tasks = client.job_history()
        assert len(tasks) == 1 and tasks[0]["resourceType"] == "Task"
        assert "last_attribution_update" in client.attribution_status()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_cancel_a_running_job(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="slow-export")) as emu:
        client = client_of(emu)
        status_url = kick(client, emu, request_for(flavor))
        assert client.cancel(status_url) is True
        emu.clock.advance(10)
        with pytest.raises(ExportGoneError):
            client.check_status(status_url)
        emu.clock.advance(10)
        assert client.cancel(status_url) is False


@pytest.mark.parametrize("flavor", FLAVORS)
def test_no_token_or_secret_in_reprs_or_errors(flavor):
    with Emulator(EmulatorConfig(flavor=flavor, scenario="job-failed")) as emu:
        client = client_of(emu)
        with pytest.raises(ExportFailedError) as caught:
            wait_for(client, emu, kick(client, emu, request_for(flavor)))
        texts = [repr(client), str(caught.value), repr(caught.value), repr(client._tokens), repr(client._tokens.get())]
        for secret in secrets_of(emu):
            assert not any(secret in text for text in texts)


def test_bcda_duplicate_job_429_of_our_own_lost_kick_off_names_that_job_from_the_job_history():
    with Emulator(EmulatorConfig(flavor="bcda", scenario="kickoff-response-lost")) as emu:
        client = client_of(emu)
        request = request_for("bcda")  # no _type: BCDA refuses any request of ours while it runs
        with pytest.raises(TransientError, match="504"):
            client.kick_off(request)  # the server created the job; its 202 was lost on the way
        (job,) = emu.jobs()
        # another request is refused as a duplicate too, but that job is not its to take
        other = client.kick_off(ExportRequest(target="Group/all", types=("Patient",)))
        assert isinstance(other, KickOffThrottled) and other.running_jobs == ()
        retried = client.kick_off(request)
        assert isinstance(retried, KickOffThrottled)
        assert retried.running_jobs == (job.status_url,)
        assert wait_for(client, emu, retried.running_jobs[0]).manifest.output
        assert len(emu.jobs()) == 1
