import pytest

from ingest.errors import RunInProgressError
from ingest.payloads import LandedFile
from ingest.ports import OpenJob, ServerJob

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
        request={"api": "bcda", "api_version": "v2", "export": "Group/all", "types": ["Patient"], "since": None},
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
    store.put_file_failure("run-1", 7, "TransientError", "broke", "https://x/7", "2026-01-01T00:00:00Z")
    landed = store.list_landed_files("run-1")
    assert [f.index for f in landed] == list(range(1, 1201))
    assert landed[0].bytes == 1001 and isinstance(landed[0].bytes, int)
    assert [f["error"] for f in store.file_failures("run-1")] == ["TransientError"]
    store.clear_file_failure("run-1", 7)
    assert store.file_failures("run-1") == []
    assert store.get_landed_file("run-1", 5).lines == 5
    assert store.get_landed_file("run-2", 5) is None


def test_run_ledger_put_update_get(aws):
    store = aws.store()
    store.put_run("bcda", "run-1", {"status": "RUNNING", "scope": "Group/all"})
    store.update_run("bcda", "run-1", {"status": "SUCCEEDED", "files": 3})
    assert store.get_run("bcda", "run-1") == {
        "pk": "LEDGER#bcda",
        "sk": "RUN#run-1",
        "run_id": "run-1",
        "status": "SUCCEEDED",
        "scope": "Group/all",
        "files": 3,
    }


def test_each_kind_of_item_has_a_partition_key_prefix_of_its_own(aws):
    # IAM scopes each function to the kinds of items it owns by partition-key prefix (LeadingKeys)
    store = aws.store()
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-1", NOW, 3600)
    store.advance_watermark("bcda", "Group/all", "2026-01-01T00:00:00.000000Z", "run-1", "now")
    store.put_run("bcda", "run-1", {"status": "RUNNING"})
    store.count_download("run-1", 1)
    store.claim_server_job(ServerJob("https://x/jobs/1", "bcda", "run-1", "https://x/$export", True))
    prefixes = {item["pk"].split("#", 1)[0] + "#" for item in aws.table.scan()["Items"]}
    assert prefixes == {"LEASE#", "WATERMARK#", "LEDGER#", "RUN#", "SERVERJOB#"}
    assert store.list_watermarks() == [
        {"source": "bcda", "scope": "Group/all", "watermark": "2026-01-01T00:00:00.000000Z", "run_id": "run-1",
         "updated_at": "now"}
    ]  # fmt: skip
    assert [run["run_id"] for run in store.list_runs("bcda", 10)] == ["run-1"]


def test_a_server_job_is_claimed_by_one_run(aws):
    store = aws.store()
    job = ServerJob("https://x/jobs/1", "bcda", "run-1", "https://x/$export?_type=Patient", started_by_us=True)
    assert store.claim_server_job(job) is True
    assert store.claim_server_job(job) is True  # the same run again (a retried kick-off)
    other = ServerJob("https://x/jobs/1", "bcda-2", "run-2", "https://x/$export?_type=Patient", started_by_us=False)
    assert store.claim_server_job(other) is False
    assert store.get_server_job("https://x/jobs/1") == job
    assert store.get_server_job("https://x/jobs/2") is None


def test_a_replaced_server_job_claim_names_the_claim_it_replaced(aws):
    store = aws.store()
    job = ServerJob("https://x/jobs/1", "bcda", "run-1", "https://x/$export", started_by_us=True)
    assert store.replace_server_job(job) is None
    again = ServerJob("https://x/jobs/1", "bcda", "run-2", "https://x/$export", started_by_us=True)
    assert store.replace_server_job(again) == job
    assert store.claim_server_job(job) is False and store.get_server_job("https://x/jobs/1") == again


def test_downloads_of_a_file_are_counted_across_calls(aws):
    store = aws.store()
    assert [store.count_download("run-1", 3) for _ in range(3)] == [1, 2, 3]
    assert store.count_download("run-1", 4) == 1
