"""Pre-signed file URLs are credentials to the server's files (issue #14, item 6): kept in one place,
readable only by the functions that need them (Check export status writes them, Download file reads
them), and expired by the bucket's lifecycle once no resume can use them."""

from __future__ import annotations

import pytest
from cdk_helpers import Synth

from infra.asl_extract import resolve
from ingest import layout
from tests.support.iam_policies import Request, StackIam

BUCKET_ARN = "arn:aws:s3:::storagelanding"


def _readers(synth: Synth, key: str) -> set[str]:
    """The roles of the stack that may read the object ``key`` (role policies, bucket policy, key policy)."""
    iam = StackIam(synth.json, lambda node: resolve(node, synth.json))
    bucket = next(lid for lid in synth.json["Resources"] if lid.startswith("StorageLanding"))
    arn = resolve({"Fn::GetAtt": [bucket, "Arn"]}, synth.json)
    read = Request("s3:GetObject", f"{arn}/{key}", {"aws:SecureTransport": ("true",)}, "s3")
    return {role for role in synth.resources("AWS::IAM::Role") if iam.allowed(role, read)}


def _role_names(synth: Synth, roles: set[str]) -> set[str]:
    return {role.removeprefix("Functions").split("Role")[0] for role in roles}


def test_only_check_status_and_download_file_can_read_a_runs_signed_urls(default: Synth) -> None:
    key = layout.file_urls_key("bcda-sandbox", "20261204T000000.000Z-abcdef")
    assert key.startswith("signed-urls/")
    assert _role_names(default, _readers(default, key)) == {"CheckStatus", "DownloadFile"}


@pytest.mark.parametrize("name", ["server-manifest.json", "files.json", "manifest.json"])
def test_the_run_files_many_steps_read_hold_no_signed_url(default: Synth, name: str) -> None:
    # readable by the state machine (file lists), finalize, plan_rebuild: never where the URLs are
    assert not layout.file_urls_key("s", "r").startswith(layout.run_prefix("s", "r"))
    assert len(_readers(default, f"runs/s/r/{name}")) >= 3


def test_the_server_manifest_is_kept_without_the_urls_queries() -> None:
    received = {
        "transactionTime": "2026-12-01T00:00:00Z",
        "output": [{"type": "Patient", "url": "https://files.example/p.ndjson?X-Amz-Signature=abc&X-Amz-Credential=k"}],
        "error": [{"type": "OperationOutcome", "url": "https://files.example/e.ndjson?sig=def"}],
        "deleted": [],
    }
    kept = layout.without_signatures(received)
    assert "X-Amz" not in str(kept) and "sig=" not in str(kept)
    assert kept["output"][0]["url"] == "https://files.example/p.ndjson"
    assert kept["transactionTime"] == received["transactionTime"]


def test_signed_urls_expire_by_lifecycle_after_the_run(default: Synth) -> None:
    bucket = next(r for lid, r in default.resources("AWS::S3::Bucket").items() if lid.startswith("StorageLanding"))
    rules = [r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "signed-urls/"]
    assert rules == [
        {
            "Id": "ExpireSignedUrls",
            "Prefix": "signed-urls/",
            "ExpirationInDays": 3,  # AB2D keeps a job's files 72 hours: a resume may need them that long
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "Status": "Enabled",
        }
    ]
