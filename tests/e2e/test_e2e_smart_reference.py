"""The SMART reference server's fault modes (issue #9) on the real state machine: a transient status
error ridden out, error[] entries with counts landing, a kick-off that cannot start reported at once,
hints that name the source's own server, polls that never trip the server's rate limiter."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
import requests

from bulkfhir import BulkDataClient
from tests.e2e.test_e2e_claims import views
from tests.e2e.test_e2e_faults import assert_complete_and_identical
from tests.e2e.test_e2e_nothing_lost import _break_one_file

SCOPE = {"bcda": "Group/all", "ab2d": "Patient", "smart": "Patient"}


def _status_polls(s: Any) -> list[Any]:
    return [r for r in s.emu.requests() if r.method == "GET" and "/bulkstatus/" in r.path]


def _deletes(s: Any) -> list[Any]:
    return [r for r in s.emu.requests() if r.method == "DELETE"]


# ---- 1. a transient status error ----------------------------------------------------------------


def test_a_transient_status_error_is_ridden_out_without_cancelling_the_job(stack):
    # the status polls answer 500 with an OperationOutcome coded `transient` three times, then go on
    s = stack("smart", scenario="transient-status", patients=60)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    assert [r.status for r in _status_polls(s)][:3] == [500, 500, 500]
    assert _deletes(s) == []  # the job was never cancelled
    assert s.watermark("Patient") is not None
    assert s.leaked_secrets() == []
    # the reference server sends no meta: its claims are ordered by the export's transactionTime and
    # flagged, not rejected (issue #15, defect 8)
    current = views(s)
    assert current and all(family["flags"] == ["no-last-updated"] for family in current)
    assert all(family["last_updated"] is None for family in current)


# ---- 2. error[] entries that carry a count -----------------------------------------------------------


def test_error_entries_with_the_count_of_the_output_they_replace_land_and_the_run_succeeds(stack):
    # every second file failed generation: its error[] entry carries the count of the output it
    # replaces, while its file holds one OperationOutcome
    s = stack("smart", scenario="error-counts", patients=60, error_files=False)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    files = s.run_manifest(execution)["files"]
    errors = [f for f in files if f["kind"] == "error"]
    assert errors and all(f["lines"] == 1 for f in errors)
    assert all("error file: 1 lines, the manifest says" in f["mismatch"] for f in errors)
    assert all(f["mismatch"] is None for f in files if f["kind"] == "output")
    assert s.ledger(execution.output["run"]["run_id"])["status"] == "SUCCEEDED"


# ---- 3. a kick-off the server cannot start -------------------------------------------------------------


def test_a_kick_off_that_is_not_transient_is_reported_at_once_with_the_servers_diagnostics(stack):
    s = stack("smart", scenario="kickoff-failed", patients=40, smart_server="reference")
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "ExportFailedError"
    assert "File generation failed" in failed.cause
    kick_offs = [r for r in s.emu.requests() if r.path.endswith("/$export")]
    assert len(kick_offs) == 1  # not retried for 75 s as a TransientError
    assert s.aws.clockwork.retry_sleeps == []
    assert _deletes(s) == [] and s.emu.jobs() == []
    assert s.lease("Patient") is None and s.watermark("Patient") is None
    assert [e["detail"]["error"] for e in s.events()] == ["ExportFailedError"]

    s.emu.config.scenario = "none"
    assert_complete_and_identical(s, s.run())


# ---- 4. hints name the source's own server -------------------------------------------------------------

LIFETIME = {
    "bcda": "BCDA's file lifetime (24 h)",
    "ab2d": "AB2D's file lifetime (72 h)",
    "smart": "the server's file lifetime",
}


def _other_servers_named(flavor: str, text: str) -> list[str]:
    return [word for word in ("BCDA", "AB2D", "24 h", "72 h") if word in text and word not in LIFETIME[flavor]]


@pytest.mark.parametrize("flavor", ["bcda", "ab2d", "smart"])
def test_a_failed_download_says_a_rerun_resumes_within_the_sources_own_file_lifetime(stack, monkeypatch, flavor):
    s = stack(flavor, patients=60)
    _break_one_file(monkeypatch, s, lambda job: job.files[0].url)
    failed = s.run()
    assert failed.status == "FAILED"
    assert f"a re-run within {LIFETIME[flavor]} resumes this export" in failed.cause
    assert _other_servers_named(flavor, failed.cause) == []


@pytest.mark.parametrize(("flavor", "knobs"), [("bcda", {}), ("smart", {}), ("smart", {"smart_server": "reference"})])
def test_an_expired_file_names_the_sources_own_file_lifetime(stack, monkeypatch, flavor, knobs):
    # the run stalls between the manifest and the downloads for longer than any server keeps files
    s = stack(flavor, patients=40, **knobs)
    real_open = BulkDataClient.open_file

    def open_file(self: BulkDataClient, url: str, **kwargs: Any) -> Any:
        if s.emu.clock.offset_seconds < 26 * 3600:
            s.emu.clock.advance(26 * 3600)
        return real_open(self, url, **kwargs)

    monkeypatch.setattr(BulkDataClient, "open_file", open_file)
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "ExportGoneError"
    assert f"files are kept only for {LIFETIME[flavor]} — start a new export" in failed.cause
    assert _other_servers_named(flavor, failed.cause) == []


# ---- 5. polls bounded: the reference server's rate limiter ----------------------------------------------


def test_polls_stay_five_seconds_apart_and_never_trip_the_reference_servers_rate_limiter(stack):
    # a three-minute export that answers Retry-After: 1 on every poll
    s = stack("smart", scenario="rate-limit", patients=40)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    polls = _status_polls(s)
    assert [r.status for r in polls if r.status == 429] == []
    gaps = [(later.at - earlier.at).total_seconds() for earlier, later in pairwise(polls)]
    assert gaps and min(gaps) >= 5
    assert len(polls) <= 180 / 5 + 2


def test_a_rate_limited_status_poll_waits_until_the_epoch_the_server_named(stack):
    # another client on the same address (a shared NAT gateway) has made 60 status requests this
    # minute: our first poll is the 61st and blocks us for five minutes. The server's clock runs a
    # month ahead of ours (as the built-in emulator's does after local-run --advance-days 30).
    s = stack("smart", scenario="rate-limit", patients=40)
    s.emu.advance_data(days=30)
    for _ in range(s.emu.config.rate_limit_requests):
        requests.get(f"{s.emu.base_url}/bulkstatus/elsewhere", timeout=10)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    polls = _status_polls(s)[s.emu.config.rate_limit_requests :]
    assert [r.status for r in polls][:1] == [429] and 429 not in [r.status for r in polls[1:]]
    lifts = polls[0].at + timedelta(seconds=s.emu.config.rate_limit_block_seconds)
    assert lifts <= polls[1].at < lifts + timedelta(seconds=10)  # waited until then, not an hour


# ---- 6. the reference server's wire --------------------------------------------------------------------


def test_files_without_length_or_ranges_land_byte_identical_after_a_cut_connection(stack):
    s = stack("smart", scenario="drop-connection", patients=60, smart_server="reference")
    execution = s.run()
    assert_complete_and_identical(s, execution)
    downloads = [r for r in s.emu.requests() if "/bulkfiles/" in r.path]
    assert {r.status for r in downloads} == {200}  # each file fetched again from its first byte
    assert len(downloads) == 2 * len(s.emu.jobs()[-1].files)


def test_tokens_that_live_only_as_long_as_the_client_assertion_carry_a_long_export(stack):
    # a 20-minute export on a server whose tokens live at most five minutes
    s = stack("smart", scenario="reference-server", patients=40, job_seconds=1200)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    tokens = [r for r in s.emu.requests() if r.path == "/auth/token" and r.status == 200]
    assert len(tokens) >= 4
    assert s.leaked_secrets() == []
