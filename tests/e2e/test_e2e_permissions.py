"""What only AWS enforces (issue #14, item 5): every AWS call each function really makes on the real
state machine — every flavour, a SMART source with deletions, a claims rebuild, a failure, a resume,
a large file through staging — is allowed by that function's synthesized role, the landing bucket's
policy and the KMS key's policy (``tests/support/iam_policies.py``); so is every call of the state
machine itself (invoking the steps, the Distributed Maps reading their item lists). moto allows everything; without
this, a missing permission is found by the first real run that needs it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.e2e.test_e2e_nothing_lost import _fail_after_the_export
from tests.support.iam_policies import StackIam


def _handler_name(s: Any, caller: str) -> str:
    if caller not in s.aws.dispatcher.functions:
        return "state machine"  # moto's Step Functions engine: invokes, the maps' item reader and results
    return s.aws.dispatcher.functions[caller].handler.split(".")[2]


def assert_every_call_allowed(s: Any) -> dict[str, set[str]]:
    """Every recorded call allowed; returns, per function, the (operation, key prefix) pairs it made."""
    iam = StackIam(s.aws.template, s.aws.resolve)
    denied: dict[str, set[str]] = defaultdict(set)
    touched: dict[str, set[str]] = defaultdict(set)
    for call in s.aws.recorder.calls:
        name = _handler_name(s, call.function)
        key = call.params.get("Key", call.params.get("Prefix")) if call.service == "s3" else None
        touched[name].add(f"{call.operation} {str(key).split('/', 1)[0]}/" if key else call.operation)
        for request in iam.denied(call.function, call):
            denied[name].add(f"{call.operation}: {request}")
    assert not denied, "calls the synthesized policies would refuse in AWS:\n" + "\n".join(
        f"  {name}: {line}" for name, lines in sorted(denied.items()) for line in sorted(lines)
    )
    return touched


def _object(s: Any, key: str) -> bytes:
    return bytes(s.aws.s3.get_object(Bucket=s.aws.bucket, Key=key)["Body"].read())


def test_a_smart_source_with_deletions_signed_urls_and_a_rebuild_needs_nothing_its_roles_lack(stack):
    s = stack("smart", patients=60, signed_file_urls=True, record_calls=True)
    assert (first := s.run()).status == "SUCCEEDED", first.cause
    s.emu.advance_data(days=30)
    incremental = s.run()
    assert incremental.status == "SUCCEEDED", incremental.cause
    assert any(f["kind"] == "deleted" for f in s.run_manifest(incremental)["files"]), "a deleted[] file landed"
    assert (rebuild := s.run(rebuild_claims=True)).status == "SUCCEEDED", rebuild.cause
    touched = assert_every_call_allowed(s)
    assert "GetObject deleted/" in touched["curate_file"]  # the deleted files were curated (and read back)
    # item 6: the signed URLs are in one place only (which only Check status and Download file may read)
    holding = [key for key in s.aws.list_keys() if b"X-Amz-Signature" in _object(s, key)]
    assert holding and all(key.startswith("signed-urls/e2e/") for key in holding), holding
    assert touched["download_file"] >= {"GetObject signed-urls/"}
    assert {"start_run", "authenticate", "kick_off", "check_status", "download_file", "curate_file",
            "plan_rebuild", "finalize"} <= set(touched)  # fmt: skip
    # the state machine's own: invoking the steps, the maps reading their item lists
    assert {"Invoke", "GetObject runs/"} <= touched["state machine"], touched["state machine"]


def test_a_failure_a_resume_and_a_file_through_staging_need_nothing_their_roles_lack(stack, monkeypatch):
    # one EOB file larger than a part: a multipart upload under staging/, copied to its key
    s = stack("bcda", scenario="large-files", patients=40, file_mb=12, large_file_count=1, record_calls=True)
    stale = _fail_after_the_export(monkeypatch, s)  # a file that will not download: Record the failure
    resumed = s.run()
    assert resumed.status == "SUCCEEDED", resumed.cause
    # (found by the soak) the ledger of the resumed run tells its outcome; the failure is its history
    ledger = s.ledger(stale.run_id)
    assert ledger["status"] == "SUCCEEDED" and "error" not in ledger and "cause" not in ledger, ledger
    assert ledger["resumed_after"].startswith("TransientError: Download file failed on file #")
    touched = assert_every_call_allowed(s)
    assert "CompleteMultipartUpload staging/" in touched["download_file"], touched["download_file"]
    assert "record_failure" in touched


def test_an_ab2d_job_that_fails_is_recorded_and_cancelled_within_the_roles(stack):
    s = stack("ab2d", scenario="job-failed", patients=30, record_calls=True)
    assert s.run().status == "FAILED"
    touched = assert_every_call_allowed(s)
    assert "PutEvents" in touched["record_failure"]


def test_a_curation_failure_names_the_step_and_the_file(stack, monkeypatch):
    # what a role without deleted/ did in AWS: the map failed, and the cause blamed the download
    from botocore.exceptions import ClientError

    from ingest.adapters.s3_landing import S3Landing

    s = stack("smart", patients=40)
    assert s.run().status == "SUCCEEDED"
    s.emu.advance_data(days=30)
    read_stream = S3Landing.read_stream

    def denied_under_deleted(self: S3Landing, key: str, chunk_size: int = 1 << 20) -> Any:
        if key.startswith("deleted/"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
        return read_stream(self, key, chunk_size)

    monkeypatch.setattr(S3Landing, "read_stream", denied_under_deleted)
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "ClientError"
    assert failed.cause.startswith("Curate file failed on file #"), failed.cause
    assert "(deleted/e2e/Bundle/run_date=" in failed.cause and "AccessDenied" in failed.cause
    monkeypatch.undo()
    assert s.run().status == "SUCCEEDED"  # the re-run resumes the export and curates the file again
