"""Nothing lost, round three (issue #14), on the real state machine: query-named files, block pages,
a future transactionTime, failed outputs in error[], a malformed manifest that holds a signed URL, and
signed URLs that expired before a re-run. Each composes with the others (the emulator's scenarios)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from local.emulator import scenarios
from tests.e2e.test_e2e_nothing_lost import _break_one_file


def _identity(url: str) -> str:
    """A file's URL less the emulator's signature (its X-Amz-* parameters)."""
    parts = urlsplit(url)
    kept = sorted((k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith("x-amz-"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))


def assert_every_file_landed_once(s: Any, execution: Any) -> None:
    """Every file of the job landed, byte-identical, under a key of its own (files matched by identity:
    their URLs less their signatures, query-named ones included)."""
    assert execution.status == "SUCCEEDED", f"{execution.error}: {execution.cause}"
    job = s.emu.jobs()[-1]
    landed = s.landed(execution)
    by_url = {f["url"]: f["key"] for f in s.run_manifest(execution)["files"]}
    assert len(landed) == len(by_url) == len(job.files)
    for served in job.files:
        assert landed[by_url[_identity(served.url)]] == s.emu.file_gzip(served.url)


# ---- 1. files named by their query string --------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "types", "error_files"),
    [
        # one type: the run landed 1 of 4 files, and moved the watermark
        ("query-named-files", ["ExplanationOfBenefit"], False),
        # several types: every run failed with "listed both as Patient and Coverage"
        ("query-named-files,signed-urls", None, True),
    ],
)
def test_files_named_by_their_query_string_all_land(stack, scenario, types, error_files):
    s = stack("bcda", scenario=scenario, patients=180, error_files=error_files)
    execution = s.run(**({"types": types} if types else {}))
    job = s.emu.jobs()[-1]
    assert len({f.url for f in job.files}) == len(job.files) > 3
    assert all("/download?file=" in f.url for f in job.files)
    assert_every_file_landed_once(s, execution)
    assert execution.output["final"]["watermark_note"] == "moved"
    assert s.leaked_secrets() == []


# ---- 2. a block page in the place of a file ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("knobs", "error", "said"),
    [
        ({"scenario": "text-block-page"}, "UnexpectedResponseError", "text/plain, not NDJSON"),
        ({"block_page": "html-as-ndjson"}, "VerificationError", "first line is not a FHIR resource"),
    ],
)
def test_a_block_page_for_a_file_fails_the_run_and_a_rerun_lands_the_file(stack, knobs, error, said):
    s = stack("bcda", patients=60, **knobs)
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == error and said in failed.cause
    assert s.watermark("Group/all") is None
    assert not [key for key in s.aws.list_keys("fhir/") if "/Coverage/" in key]

    open_job = s.store.get_open_job("e2e", "Group/all")
    assert open_job is not None  # kept: a re-run resumes the export
    s.emu.config.scenario, s.emu.config.block_page = "none", "none"  # the proxy lets it through again
    rerun = s.run()
    assert_every_file_landed_once(s, rerun)
    assert rerun.output["run"]["run_id"] == open_job.run_id
    assert s.watermark("Group/all") is not None


# ---- 3. a transactionTime in the server's future ------------------------------------------------------------


def test_a_future_transaction_time_is_clamped_to_the_kick_off_time_and_the_next_run_still_gets_new_data(stack):
    s = stack("bcda", scenario="future-transaction-time", patients=60)
    first = s.run()
    assert first.status == "SUCCEEDED", first.cause
    kicked_off_at = first.output["job"]["kicked_off_at"]
    assert s.watermark("Group/all") == kicked_off_at < "2027"
    note = first.output["final"]["watermark_note"]
    assert note.startswith("moved, clamped: the manifest's transactionTime 2099-01-01T00:00:00")
    assert "clamped to the kick-off time" in s.ledger(first.output["run"]["run_id"])["watermark_note"]

    s.emu.config.scenario = "none"
    s.emu.advance_data(days=30)
    second = s.run()  # asks _since=<kick-off time>, which BCDA takes; _since=2099 it refuses
    assert second.status == "SUCCEEDED", second.cause
    assert second.output["final"]["records"] > 0
    assert s.watermark("Group/all") > kicked_off_at


# ---- 4. error[] reporting whole failed outputs ---------------------------------------------------------------


def test_failed_outputs_in_error_files_hold_the_watermark_and_the_next_run_asks_again(stack):
    # the SMART reference server lists every Patient and ExplanationOfBenefit file as failed under error[]
    s = stack("smart", scenario="failed-outputs", patients=60, error_files=False)
    partial = s.run()
    assert partial.status == "SUCCEEDED", partial.cause  # what landed is kept and announced
    assert s.watermark("Patient") is None  # before, it moved past the Patient and EOB data never exported
    final = partial.output["final"]
    assert final["partial"].startswith("the server reported ")
    assert "Patient" in final["partial"] and "ExplanationOfBenefit" in final["partial"]
    assert final["watermark_note"].startswith("not moved: the server reported")
    ledger = s.ledger(partial.output["run"]["run_id"])
    assert ledger["partial"] == final["partial"] and ledger["watermark_note"] == final["watermark_note"]
    landed = [e["detail"] for e in s.events() if e["detail-type"] == "ExportLanded"]
    assert landed and landed[0]["partial"] == final["partial"]

    s.emu.config.scenario = "reference-server"
    again = s.run()
    assert again.status == "SUCCEEDED", again.cause
    assert s.emu.jobs()[-1].since is None  # asked again from the old (empty) watermark: everything
    assert again.output["final"]["partial"] is None and again.output["final"]["watermark_note"] == "moved"
    assert s.watermark("Patient") is not None


# ---- 7. a malformed manifest holding a signed URL ---------------------------------------------------------------


def test_a_malformed_manifest_that_holds_a_signed_url_is_never_quoted_anywhere(stack):
    s = stack("bcda", scenario="malformed-signed-manifest", patients=40)
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "UnexpectedResponseError" and "malformed JSON" in failed.cause
    key_id = scenarios.access_key_id(s.emu.state)
    texts = [
        failed.cause or "",
        json.dumps(failed.history, default=str),
        json.dumps(s.store.list_runs("e2e", 5), default=str),
        json.dumps(s.events()),
        s.logs.getvalue(),
    ]
    for text in texts:
        assert key_id[:12] not in text and "X-Amz-Credential" not in text and "X-Amz-Signature" not in text


# ---- 8. signed URLs that expired before a re-run --------------------------------------------------------------


def test_a_rerun_uses_freshly_signed_urls_not_the_expired_ones_a_warm_container_kept(stack, monkeypatch):
    s = stack("bcda", scenario="signed-urls", patients=180, concurrency=1)
    _break_one_file(monkeypatch, s, lambda job: next(f.url for f in job.files if f.type == "Coverage"))
    failed = s.run()
    assert failed.status == "FAILED", failed.cause
    monkeypatch.undo()
    open_job = s.store.get_open_job("e2e", "Group/all")
    assert open_job is not None
    s.emu.clock.advance(s.emu.config.signed_url_seconds + 60)  # every URL of the first poll has expired

    rerun = s.run()  # the same warm download function, the same job, a fresh poll
    assert_every_file_landed_once(s, rerun)
    assert rerun.output["run"]["run_id"] == open_job.run_id
    assert [r for r in s.emu.requests() if r.status == 403] == []
    downloads = [r for r in s.emu.requests() if r.path.startswith("/data/")]
    assert downloads and all("X-Amz-Signature=" in r.query for r in downloads)
    assert s.leaked_secrets() == []
