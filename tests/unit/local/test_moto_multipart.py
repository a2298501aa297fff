"""The local run's multipart completion streams the parts into the object (moto joined them in
memory: 2 x 300 MB files peaked at 1.9 GiB), and answers exactly what moto answers."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.s3.models import S3Backend

from local.runner.moto_multipart import streamed_multipart_completion

PART = 5 * 1024 * 1024
PARTS = 6


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    os.environ.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})
    monkeypatch.setenv("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(256 * 1024))  # as LocalAws sets it
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="landing")
        yield client


def _upload(s3: Any, key: str) -> tuple[Any, dict[str, Any]]:
    """A multipart upload of PARTS parts, all but its completion."""
    upload = s3.create_multipart_upload(Bucket="landing", Key=key, Metadata={"lines": "7"})["UploadId"]
    parts = []
    for number in range(1, PARTS + 1):
        body = bytes([number]) * (PART if number < PARTS else 1234)
        etag = s3.upload_part(Bucket="landing", Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    return upload, {"Parts": parts}


def _complete(s3: Any, key: str, upload: str, parts: dict[str, Any]) -> int:
    """Completes the upload; the peak of Python memory it allocated meanwhile."""
    tracemalloc.start()
    try:
        s3.complete_multipart_upload(Bucket="landing", Key=key, UploadId=upload, MultipartUpload=parts)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_completion_holds_one_part_at_a_time_and_answers_as_moto_does(s3: Any) -> None:
    ours, moto_s = _upload(s3, "ours"), _upload(s3, "moto's")
    with streamed_multipart_completion():
        assert S3Backend.complete_multipart_upload.__module__ == "local.runner.moto_multipart"
        peak = _complete(s3, "ours", *ours)
    joined_peak = _complete(s3, "moto's", *moto_s)

    whole = (PARTS - 1) * PART
    assert peak < 2 * PART, f"{peak:,} bytes at the peak for a {whole:,}-byte object"
    assert joined_peak > 2 * whole  # what moto's own completion holds: the parts joined, then copied
    streamed = s3.get_object(Bucket="landing", Key="ours", ChecksumMode="ENABLED")
    joined = s3.get_object(Bucket="landing", Key="moto's", ChecksumMode="ENABLED")
    for field in ("ETag", "ContentLength", "Metadata", "ChecksumCRC64NVME", "ChecksumType"):
        assert streamed.get(field) == joined.get(field), field
    assert streamed["Body"].read() == joined["Body"].read()


def test_a_wrong_part_is_refused_as_moto_refuses_it(s3: Any) -> None:
    upload, parts = _upload(s3, "bad")
    parts["Parts"][1]["ETag"] = '"0123456789abcdef0123456789abcdef"'
    with streamed_multipart_completion(), pytest.raises(s3.exceptions.ClientError, match="InvalidPart"):
        s3.complete_multipart_upload(Bucket="landing", Key="bad", UploadId=upload, MultipartUpload=parts)
