"""The resolution's view of the bucket (``resolve.SnapshotStore``) over S3: curated files listed
with their ETags, fetched to and published from the function's /tmp, manifests as small objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

# Parquet generations of a large source are hundreds of MB: multipart, a few parts at a time
_TRANSFER = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20, max_concurrency=4)


class S3Snapshots:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def list_files(self, prefix: str) -> dict[str, str]:
        found = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                found[str(item["Key"])] = str(item["ETag"])
        return found

    def fetch(self, key: str, path: Path) -> None:
        self._s3.download_file(self.bucket, key, str(path), Config=_TRANSFER)

    def publish(self, path: Path, key: str) -> None:
        extra = {"ContentType": "application/vnd.apache.parquet"}
        self._s3.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=_TRANSFER)

    def read_text(self, key: str) -> str | None:
        try:
            return str(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode("utf-8"))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def write_text(self, key: str, text: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), ContentType="text/plain")

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
