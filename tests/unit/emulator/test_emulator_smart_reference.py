"""The smart flavour as the SMART reference server (smart-on-fhir/bulk-data-server): its wire, its
rate limiter and its fault scenarios, as a client would notice them."""

from __future__ import annotations

import gzip
import json
import re
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from local.emulator import Emulator, EmulatorConfig
from local.emulator.config import REFERENCE_SCENARIOS


@pytest.fixture
def reference(start: Any, client: Any) -> Any:
    return client(start(flavor="smart", smart_server="reference", patients=60)).login()


def test_status_answers_retry_after_1_and_a_manifest_of_counts_that_expires_an_hour_after_kick_off(reference):
    kicked = reference.get(reference.export_url())
    status_url = kicked.headers["Content-Location"]
    running = reference.get(status_url)
    done = reference.poll(status_url)

    assert kicked.status_code == 202 and kicked.json()["issue"][0]["severity"] == "information"
    assert running.status_code == 202
    assert running.headers["Retry-After"] == "1"
    assert re.fullmatch(r"\d+% complete, .+", running.headers["X-Progress"])
    manifest = done.json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", manifest["transactionTime"])
    for entry in manifest["output"]:
        assert set(entry) == {"type", "count", "url"}  # no DPC extensions
        assert entry["count"] == reference.emu.file_ndjson(entry["url"]).count(b"\n")
    created = reference.emu.jobs()[-1].created_at
    assert parsedate_to_datetime(done.headers["Expires"]) == (created + timedelta(minutes=60)).replace(microsecond=0)


def test_files_have_no_content_length_and_no_range_support(reference):
    url = reference.manifest(query="_type=Patient")["output"][0]["url"]
    gz = reference.emu.file_gzip(url)

    whole = reference.download(url, "gzip")
    ranged = reference.download(url, "gzip", Range="bytes=10-")
    identity = reference.download(url, "identity")

    assert whole.status_code == 200 and reference.body(whole) == gz
    assert "Content-Length" not in whole.headers and whole.headers["Transfer-Encoding"] == "chunked"
    assert {"Accept-Ranges", "ETag", "Content-Range"}.isdisjoint(whole.headers)
    assert whole.headers["Content-Encoding"] == "gzip"
    assert (ranged.status_code, reference.body(ranged)) == (200, gz)  # the Range is ignored
    assert reference.body(identity) == gzip.decompress(gz)


def test_an_export_and_its_files_are_gone_an_hour_after_kick_off(reference):
    status_url = reference.kickoff()
    url = reference.poll(status_url).json()["output"][0]["url"]

    reference.emu.clock.advance(3600)
    reference.login()

    assert reference.get(status_url).status_code == 404
    gone = reference.download(url)
    assert gone.status_code == 404 and "deleted" in gone.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("assertion_lifetime", "token_lifetime"), [(300, 300), (120, 120)])
def test_a_token_lives_at_most_as_long_as_the_client_assertion(reference, assertion_lifetime, token_lifetime):
    granted = reference.fetch_token(exp=int(time.time()) + assertion_lifetime).json()

    # the server's own lifetime is 15 minutes: the assertion's (at most 5) is shorter
    assert token_lifetime - 5 <= granted["expires_in"] <= token_lifetime
    reference.token = granted["access_token"]
    reference.emu.clock.advance(granted["expires_in"])
    assert reference.get(reference.export_url()).status_code == 401


def test_more_than_60_requests_a_minute_to_a_route_block_the_client_for_five_minutes(reference):
    status_url = reference.kickoff()
    answers = [requests.get(status_url, timeout=10) for _ in range(61)]  # no token: the limiter comes first
    now = reference.emu.clock.now().timestamp()
    blocked = requests.get(status_url, timeout=10)
    other_route = reference.get(reference.export_url())

    assert {a.status_code for a in answers[:60]} == {401}
    first, then = answers[60], blocked
    assert (first.status_code, then.status_code) == (429, 429)
    # when the block lifts, as an epoch: in milliseconds on the first 429, in seconds after
    assert int(first.headers["Retry-After"]) / 1000 == pytest.approx(now + 300, abs=5)
    assert int(then.headers["Retry-After"]) == pytest.approx(now + 300, abs=5)
    assert other_route.status_code == 202  # kick-off is a route of its own

    reference.emu.clock.advance(301)
    reference.login()  # the five minutes outlived the token
    assert reference.get(status_url).status_code in (200, 202)


def test_transient_status_answers_500_transient_for_a_few_polls_then_goes_on(start, client):
    smart = client(start(flavor="smart", scenario="transient-status", patients=40)).login()
    status_url = smart.kickoff()

    failing = [smart.get(status_url) for _ in range(3)]
    after = smart.poll(status_url)

    for answer in failing:
        assert answer.status_code == 500
        (issue,) = answer.json()["issue"]
        assert issue["code"] == "transient" and "Please try again" in issue["diagnostics"]
    assert after.status_code == 200


def test_kickoff_failed_answers_500_processing_and_starts_no_job(start, client):
    smart = client(start(flavor="smart", scenario="kickoff-failed", patients=40)).login()

    refused = smart.get(smart.export_url())

    assert refused.status_code == 500
    (issue,) = refused.json()["issue"]
    assert issue == {"severity": "error", "code": "processing", "diagnostics": "File generation failed"}
    assert smart.emu.jobs() == []


def test_error_counts_list_every_second_file_as_an_error_with_the_count_it_replaces(start, client):
    smart = client(start(flavor="smart", scenario="error-counts", patients=60, error_files=False)).login()

    manifest = smart.manifest(query="_type=Coverage")

    # 60 beneficiaries, 4 Coverage each: files of 100 resources, the second of three fails
    assert [e["count"] for e in manifest["output"]] == [100, 40]
    (failed,) = manifest["error"]
    assert (failed["type"], failed["count"]) == ("OperationOutcome", 100)
    content = smart.emu.file_ndjson(failed["url"])
    assert not content.endswith(b"\n")  # one OperationOutcome, no newline after it
    assert json.loads(content)["issue"][0]["diagnostics"] == "Failed to export 2.Coverage.ndjson"
    for entry in manifest["output"]:
        assert smart.emu.file_ndjson(entry["url"]).count(b"\n") == entry["count"]


def test_deleted_entries_are_bundles_of_delete_requests_with_their_count(reference):
    first = reference.manifest(query="_type=ExplanationOfBenefit")
    reference.emu.advance_data(days=30)
    reference.login()
    since = first["transactionTime"].replace("+", "%2B")

    changes = reference.manifest(query=f"_type=ExplanationOfBenefit&_since={since}")

    (entry,) = changes["deleted"]
    assert set(entry) == {"type", "count", "url"} and entry["type"] == "Bundle"
    bundles = [json.loads(line) for line in reference.emu.file_ndjson(entry["url"]).splitlines()]
    assert len(bundles) == entry["count"]
    assert {e["request"]["method"] for b in bundles for e in b["entry"]} == {"DELETE"}


def test_a_cancel_is_acknowledged_with_an_informational_outcome(reference):
    status_url = reference.kickoff()

    cancelled = requests.delete(status_url, headers=reference.auth, timeout=10)

    assert cancelled.status_code == 202
    assert cancelled.json()["issue"][0]["diagnostics"] == "The procedure was canceled"


@pytest.mark.parametrize("scenario", REFERENCE_SCENARIOS)
def test_the_reference_servers_scenarios_are_the_smart_flavours_and_imply_its_wire(scenario):
    assert EmulatorConfig(flavor="smart", scenario=scenario).reference
    for flavor in ("bcda", "ab2d"):
        with pytest.raises(ValueError, match="use flavor smart"):
            EmulatorConfig(flavor=flavor, scenario=scenario)


def test_the_default_smart_flavour_stays_dpc_like():
    with Emulator(EmulatorConfig(flavor="smart")) as emu:
        assert not emu.config.reference
