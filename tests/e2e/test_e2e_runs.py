"""Runs against each other and against time: leases, resuming after a failure, history size."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bulkfhir import BulkDataClient, TransientError
from tests.e2e.conftest import checkpoint_every_invocation


def _start_and_hold_it_in_a_wait(s: Any) -> str:
    """Start a run and return once it sits in a Wait state (polling its slow export): held there
    until the test releases the clockwork or stops the execution, however loaded the machine is."""
    s.aws.clockwork.hold()
    first = s.start()
    assert s.aws.clockwork.holding.wait(60), "the first run never reached a Wait state"
    return first


def test_a_concurrent_second_run_of_the_same_scope_is_refused(stack):
    s = stack("bcda", scenario="slow-export", patients=60, slow_export_polls=8)
    first = _start_and_hold_it_in_a_wait(s)
    assert s.lease("Group/all") is not None
    second = s.run()
    assert second.status == "FAILED"
    assert second.error == "RunInProgressError"
    assert "another run" in second.cause and "in progress" in second.cause
    assert s.lease("Group/all") is not None  # the refused run did not take the holder's lease away
    s.aws.clockwork.release()
    assert s.wait(first).status == "SUCCEEDED"
    assert len(s.emu.jobs()) == 1  # the refused run never reached the server
    assert s.lease("Group/all") is None  # released by its holder
    assert s.watermark("Group/all") is not None


def test_an_identical_run_started_while_the_first_polls_its_job_is_refused(stack):
    # The second run finds the first one's open job with the very same request, which is what a
    # re-run after a failure resumes. It must not resume a job a live execution is still working on.
    s = stack("bcda", scenario="slow-export", patients=60, slow_export_polls=20)
    first = _start_and_hold_it_in_a_wait(s)
    assert s.store.get_open_job("e2e", "Group/all") is not None
    second = s.run()
    assert second.status == "FAILED"
    assert second.error == "RunInProgressError", second.cause
    assert first.rsplit(":", 1)[1] in second.cause  # names the live execution
    s.aws.clockwork.release()
    assert s.wait(first).status == "SUCCEEDED"
    assert len(s.emu.jobs()) == 1
    downloads = [r.path for r in s.emu.requests() if r.path.startswith("/data/")]
    assert len(downloads) == len(s.emu.jobs()[0].files)  # every file fetched once, by the first run only


def test_a_run_stopped_by_hand_does_not_block_the_next_one(stack):
    # Stopping an execution runs no catch path, so its lease stays; the next run sees that the holder
    # has ended, takes the lease over and resumes the server job the stopped run had started.
    s = stack("bcda", scenario="slow-export", patients=60, slow_export_polls=20)
    first = _start_and_hold_it_in_a_wait(s)
    held = s.lease("Group/all")
    s.aws.stepfunctions.stop_execution(executionArn=first, error="Stopped", cause="stopped by hand")
    assert s.wait(first).status == "ABORTED"
    assert s.lease("Group/all") == held  # nothing released it
    s.aws.clockwork.release()

    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert rerun.output["run"]["run_id"] == held.run_id  # the stopped run, resumed
    assert len(s.emu.jobs()) == 1
    assert s.lease("Group/all") is None and s.watermark("Group/all") is not None
    assert s.ledger(held.run_id)["status"] == "SUCCEEDED"
    assert "took over the lease" in s.logs.getvalue()


def test_a_run_that_took_over_a_stopped_runs_lease_closes_that_runs_ledger_entry(stack):
    s = stack("bcda", scenario="slow-export", patients=60, slow_export_polls=20)
    first = _start_and_hold_it_in_a_wait(s)
    held = s.lease("Group/all")
    s.aws.stepfunctions.stop_execution(executionArn=first)
    assert s.wait(first).status == "ABORTED"
    s.aws.clockwork.release()
    # a re-run of another request over the same scope (a later _until) starts a run of its own
    s.emu.config.scenario = "none"
    rerun = s.run(until="2099-01-01T00:00:00Z")
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert rerun.output["run"]["run_id"] != held.run_id
    stopped = s.ledger(held.run_id)
    assert stopped["status"] == "ABORTED" and stopped["error"] == "ExecutionAborted"
    assert rerun.output["run"]["run_id"] in stopped["cause"]


def test_an_expired_lease_does_not_block_the_next_run(stack):
    s = stack("bcda", patients=40)
    s.store.acquire_lease("e2e", "Group/all", "crashed-run", "aborted-execution", int(time.time()) - 40 * 3600, 3600)
    with pytest.raises(Exception, match="in progress"):
        s.store.acquire_lease("e2e", "Group/all", "other", "x", int(time.time()) - 40 * 3600 + 10, 3600)
    assert s.run().status == "SUCCEEDED"


def _fail_downloads_of(monkeypatch, s, index: int) -> None:
    """Every download of file #index breaks on the wire (the real handler sees the error)."""
    target = s.emu.jobs()[-1].files[index - 1].url if s.emu.jobs() else None
    real_open = BulkDataClient.open_file

    def open_file(self: BulkDataClient, url: str, **kwargs: Any) -> Any:
        if url == (target or s.emu.jobs()[-1].files[index - 1].url):
            raise TransientError("simulated: the connection to the file server keeps failing", bytes_received=None)
        return real_open(self, url, **kwargs)

    monkeypatch.setattr(BulkDataClient, "open_file", open_file)


def test_a_rerun_after_a_failed_download_resumes_the_same_job_and_fetches_only_the_rest(stack, monkeypatch):
    s = stack("bcda", patients=150, concurrency=2)
    _fail_downloads_of(monkeypatch, s, index=2)
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "TransientError"  # the file's own error, not the map's threshold error
    assert "file #2" in failed.cause and "re-run" in failed.cause
    assert s.watermark("Group/all") is None and s.lease("Group/all") is None
    open_job = s.store.get_open_job("e2e", "Group/all")
    assert open_job is not None  # kept, so that a re-run resumes this export
    downloads_before = len([r for r in s.emu.requests() if r.path.startswith("/data/")])

    monkeypatch.undo()
    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert rerun.output["run"]["run_id"] == open_job.run_id  # the same run, resumed
    assert rerun.output["job"]["adopted"] is True
    assert len(s.emu.jobs()) == 1  # no second export was started
    downloads_after = [r.path for r in s.emu.requests() if r.path.startswith("/data/")][downloads_before:]
    job = s.emu.jobs()[0]
    assert downloads_after == ["/data" + job.files[1].url.split("/data", 1)[1]]  # only the missing file
    landed = s.landed(rerun)
    assert len(landed) == len(job.files)
    versions = s.aws.s3.list_object_versions(Bucket=s.aws.bucket, Prefix="fhir/")["Versions"]
    assert len(versions) == len([k for k in landed if k.startswith("fhir/")])  # each object stored once
    assert s.store.get_open_job("e2e", "Group/all") is None


def test_a_download_function_that_dies_without_a_word_fails_the_run_readably(stack):
    s = stack("bcda", patients=60)
    dispatcher = s.aws.dispatcher
    real = dispatcher._handler("ingest.handlers.download_file.handler")

    def killed(event: dict[str, Any], context: Any) -> Any:
        # what AWS reports for a function killed by its timeout: the handler never got to say why
        if event["file"]["index"] == 1:
            raise TimeoutError("Task timed out after 900.00 seconds")
        return real(event, context)

    dispatcher._handlers["ingest.handlers.download_file.handler"] = killed
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "IncompleteRunError"
    assert "did not land" in failed.cause
    assert s.lease("Group/all") is None and s.watermark("Group/all") is None


@pytest.mark.slow
def test_the_history_does_not_grow_with_the_number_of_files(stack):
    # One resource per file. The Distributed Map keeps its items out of the execution's history, so
    # an export of 15 times the files makes no more events: a 10,000-file export stays as far below
    # AWS's 25,000 as these (the slope replaces a 2,000-file export that took 127 s of the suite;
    # benchmarks/bench_local_run.py lands 522 files through the whole local stack).
    s = stack("smart", patients=20, smart_file_resources=1, concurrency=16)
    measured = []
    for types in (["Patient"], None):  # the Patients alone, then every type
        execution = s.wait(s.start(**({"types": types} if types else {})), timeout=900)
        assert execution.status == "SUCCEEDED", execution.cause
        measured.append((s.run_manifest(execution)["file_count"], len(execution.history)))
    (few, few_events), (many, many_events) = measured
    assert few >= 20 and many >= 10 * few
    assert many_events == few_events < 500


def test_an_export_slower_than_the_wait_budget_is_cancelled_and_fails_clearly(stack):
    # a one-hour budget against an export that would need about 200 polls of up to a minute
    s = stack(
        "bcda",
        scenario="slow-export",
        patients=30,
        slow_export_polls=200,
        unattended_job_seconds=10**7,
        config={"wait_budget_hours": 1},
    )
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "ExportTimedOutError"
    assert "the budget of 1 h" in failed.cause and "cancelled" in failed.cause
    assert s.emu.jobs()[-1].status == "Cancelled"  # the server job was cancelled
    assert s.lease("Group/all") is None and s.watermark("Group/all") is None
    # the last wait is cut short so that the last poll comes when the budget is spent, not after
    assert sum(s.aws.clockwork.waits) == 3600


def test_a_kick_off_refused_with_429_for_hours_fails_with_a_clear_error(stack):
    s = stack("bcda", scenario="kickoff-429", patients=30, kickoff_429_count=10_000)
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "TransientError"
    assert "kept refusing the kick-off" in failed.cause and "429" in failed.cause
    assert s.emu.jobs() == []
    assert s.lease("Group/all") is None


def test_a_file_too_big_for_one_invocation_is_handed_on_with_checkpoints(stack, monkeypatch):
    # every Download file invocation starts with less than the checkpoint margin left, and hands on
    # after 5 MiB of its own: a 14 MB (gzip) file takes three invocations through "File landed?"
    s = stack("bcda", scenario="large-files", file_mb=20, large_file_count=1, patients=20, concurrency=1)
    download = checkpoint_every_invocation(s, monkeypatch)

    execution = s.run()
    assert execution.status == "SUCCEEDED", execution.cause
    job = s.emu.jobs()[-1]
    big = max(job.files, key=lambda f: f.gz_length)
    landed = s.landed(execution)
    key = next(f["key"] for f in s.run_manifest(execution)["files"] if f["url"] == big.url.split("?")[0])
    assert landed[key] == s.emu.file_gzip(big.url)
    invocations = [i for i in s.aws.dispatcher.invocations if i.function == download]
    assert len(invocations) >= len(job.files) + 2  # the big file alone took three or more
    assert any(r.status == 206 for r in s.emu.requests())  # resumed with Range
    assert s.aws.list_keys("staging/") == []
