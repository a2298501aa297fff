import pytest

from ingest.errors import RunInProgressError
from ingest.payloads import LandedFile
from ingest.ports import OpenJob

NOW = 1_800_000_000


def test_a_second_run_of_the_same_scope_is_refused_while_the_lease_is_held(aws):
    store = aws.store()
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-1", NOW, 3600)
    with pytest.raises(RunInProgressError, match=r"run run-1 .*exec-1.* holds it"):
        store.acquire_lease("bcda", "Group/all", "run-2", "exec-2", NOW + 10, 3600)
    # another scope, or another source, is independent
    store.acquire_lease("bcda", "Patient", "run-3", "exec-3", NOW, 3600)
    store.acquire_lease("ab2d", "Group/all", "run-4", "exec-4", NOW, 3600)


def test_the_lease_can_be_taken_after_it_expires(aws):
    store = aws.store()
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-1", NOW, 3600)
    store.acquire_lease("bcda", "Group/all", "run-2", "exec-2", NOW + 3601, 3600)
    assert store.get_lease("bcda", "Group/all").run_id == "run-2"


def test_taking_the_lease_again_for_the_same_run_is_allowed(aws):
    # a retried Start run must not lock itself out
    store = aws.store()
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-1", NOW, 3600)
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-1", NOW + 5, 3600)


def test_the_same_run_id_from_another_execution_is_refused(aws):
    # a second execution resuming the same open job must not share the lease with a live first one
    store = aws.store()
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-1", NOW, 3600)
    with pytest.raises(RunInProgressError, match="exec-1"):
        store.acquire_lease("bcda", "Group/all", "run-1", "exec-2", NOW + 5, 3600)


def test_a_lease_is_taken_over_only_from_the_holder_that_was_checked(aws):
    store = aws.store()
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-1", NOW, 3600)
    ended = store.get_lease("bcda", "Group/all")
    assert store.take_over_lease("bcda", "Group/all", "run-2", "exec-2", NOW + 5, 3600, ended=ended) is True
    # a second contender that checked the same ended holder loses: the lease changed hands
    assert store.take_over_lease("bcda", "Group/all", "run-3", "exec-3", NOW + 6, 3600, ended=ended) is False
    lease = store.get_lease("bcda", "Group/all")
    assert (lease.run_id, lease.execution) == ("run-2", "exec-2")
    assert store.release_lease("bcda", "Group/all", "run-2") is True


def test_only_the_holder_releases_the_lease(aws):
    store = aws.store()
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-1", NOW, 3600)
    assert store.release_lease("bcda", "Group/all", "run-2") is False
    assert store.get_lease("bcda", "Group/all") is not None
    assert store.release_lease("bcda", "Group/all", "run-1") is True
    assert store.get_lease("bcda", "Group/all") is None


def test_the_watermark_only_moves_forward(aws):
    store = aws.store()
    assert store.get_watermark("bcda", "Group/all") is None
    assert store.advance_watermark("bcda", "Group/all", "2026-01-01T00:00:00.000000Z", "r1", "now") is True
    assert store.advance_watermark("bcda", "Group/all", "2025-12-01T00:00:00.000000Z", "r0", "now") is False
    assert store.get_watermark("bcda", "Group/all") == "2026-01-01T00:00:00.000000Z"
    # the same value again (a retried finalize) is not an error
    assert store.advance_watermark("bcda", "Group/all", "2026-01-01T00:00:00.000000Z", "r1", "now") is True
    assert store.advance_watermark("bcda", "Group/all", "2026-02-01T00:00:00.000000Z", "r2", "now") is True
    assert store.get_watermark("bcda", "Group/all") == "2026-02-01T00:00:00.000000Z"


def test_open_job_is_cleared_only_by_its_run(aws):
    store = aws.store()
    job = OpenJob(
        run_id="run-1",
        job_url="https://x/api/v2/jobs/1",
        kicked_off_at="2026-01-01T00:00:00.000000Z",
        since=None,
        types=("Patient",),
        export="Group/all",
        until=None,
        type_filters=(),
        run_date="2026-01-01",
    )
    store.put_open_job("bcda", "Group/all", job)
    assert store.get_open_job("bcda", "Group/all") == job
    store.clear_open_job("bcda", "Group/all", "run-2")
    assert store.get_open_job("bcda", "Group/all") == job
    store.clear_open_job("bcda", "Group/all", "run-1")
    assert store.get_open_job("bcda", "Group/all") is None


def test_landed_files_are_listed_in_index_order_across_pages(aws):
    store = aws.store()
    for index in range(1, 1201):
        store.put_landed_file(
            "run-1",
            LandedFile(
                index=index,
                kind="output",
                type="ExplanationOfBenefit",
                url=f"https://x/data/{index}.ndjson",
                key=f"fhir/x/{index}",
                bytes=1000 + index,
                lines=index,
                sha256="0" * 64,
                landed_at="t",
            ),
        )
    store.put_file_failure("run-1", 7, "TransientError", "broke", "https://x/7")
    landed = store.list_landed_files("run-1")
    assert [f.index for f in landed] == list(range(1, 1201))
    assert landed[0].bytes == 1001 and isinstance(landed[0].bytes, int)
    assert store.first_file_failure("run-1")["error"] == "TransientError"
    assert store.get_landed_file("run-1", 5).lines == 5
    assert store.get_landed_file("run-2", 5) is None


def test_run_ledger_put_update_get(aws):
    store = aws.store()
    store.put_run("bcda", "run-1", {"status": "RUNNING", "scope": "Group/all"})
    store.update_run("bcda", "run-1", {"status": "SUCCEEDED", "files": 3})
    assert store.get_run("bcda", "run-1") == {
        "pk": "SOURCE#bcda",
        "sk": "RUN#run-1",
        "run_id": "run-1",
        "status": "SUCCEEDED",
        "scope": "Group/all",
        "files": 3,
    }
