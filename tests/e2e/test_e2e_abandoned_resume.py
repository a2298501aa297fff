"""An abandoned resume leaves nothing twice (issue #14, item 13): a run whose export job cannot be
resumed starts over with a fresh export, which lands every file again; the partial files the abandoned
run had landed (and their curated claims) must not stay beside them, where the raw tables counted them
twice and the claims views reported their rows as duplicates."""

from __future__ import annotations

from local.soak.faults import RunContext, _later_since
from tests.e2e.test_e2e_claims import views
from tests.e2e.test_e2e_faults import assert_complete_and_identical
from tests.e2e.test_e2e_nothing_lost import _fail_after_the_export
from tests.e2e.test_e2e_permissions import assert_every_call_allowed


def test_an_abandoned_resumes_partial_files_do_not_stay_beside_the_fresh_export(stack, monkeypatch):
    s = stack("bcda", patients=60, error_files=False, record_calls=True)
    stale = _fail_after_the_export(monkeypatch, s)
    partial = [k for k in s.aws.list_keys() if f"/{stale.run_id}/" in k or f"/{stale.run_id}-" in k]
    assert any(k.startswith("fhir/") for k in partial) and any(k.startswith("curated/") for k in partial)

    s.emu.config.status_override = {s.emu.jobs()[-1].id: 403}  # the job can no longer be reported on
    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert s.ledger(stale.run_id)["status"] == "ABANDONED"
    assert_complete_and_identical(s, rerun)
    left = [k for k in s.aws.list_keys() if (f"/{stale.run_id}/" in k or f"/{stale.run_id}-" in k)]
    assert [k for k in left if not k.startswith(("runs/", "staging/"))] == []
    assert views(s, "duplicates") == []  # no claim version is there twice

    rebuild = s.run(rebuild_claims=True)  # a rebuild does not look for the discarded files
    assert rebuild.status == "SUCCEEDED", rebuild.cause
    assert views(s, "duplicates") == []
    assert_every_call_allowed(s)  # Kick off may delete what it discards


def test_a_failed_runs_files_go_when_a_run_of_another_request_replaces_its_job(stack, monkeypatch):
    # a sequence the fault soak can draw (a failure after the export, then a narrower manual run): the
    # failed run's job is never resumed once a run of other parameters has started its own export; its
    # partial files stayed, and the next scheduled run landed them again
    s = stack("bcda", patients=60, error_files=False)
    assert s.run().status == "SUCCEEDED"
    s.emu.advance_data(days=30)
    stale = _fail_after_the_export(monkeypatch, s)
    assert [k for k in s.aws.list_keys("fhir/") if f"/{stale.run_id}/" in k]
    narrower = s.run(**_later_since(RunContext("bcda", s.watermark("Group/all"))))
    assert narrower.status == "SUCCEEDED", narrower.cause
    ledger = s.ledger(stale.run_id)
    assert ledger["status"] == "FAILED" and ledger["discarded_files"] > 0  # how it ended, and what went
    assert [k for k in s.aws.list_keys() if f"/{stale.run_id}" in k and not k.startswith(("runs/", "staging/"))] == []
    assert s.run().status == "SUCCEEDED"  # the scheduled run fetches the skipped window again
