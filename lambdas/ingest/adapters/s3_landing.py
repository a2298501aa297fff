"""S3: the landing bucket. Streams each file into S3 with memory bounded by one part.

A file reaches its final key only when complete and verified (docs/architecture.md §4): a body
that fits in one part is PUT straight to its key; a larger one streams into a multipart upload
under ``staging/`` and is copied server-side to its key once verified.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from ingest.errors import ConfigurationError

#: S3 needs parts ≥ 5 MiB (but the last); 8 MiB keeps memory flat and allows files to 80 GB.
DEFAULT_PART_SIZE = 8 * 1024 * 1024
CONTENT_TYPE = "application/gzip"


class StreamingUpload:
    """Bytes in, one S3 object out. Holds at most one part in memory."""

    def __init__(self, s3: Any, bucket: str, staging_key: str, part_size: int = DEFAULT_PART_SIZE) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._staging_key = staging_key
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= self._part_size:
            self._flush_part()

    def _flush_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._staging_key, ContentType=CONTENT_TYPE
            )["UploadId"]
        number = len(self._parts) + 1
        body, self._buffer = bytes(self._buffer), bytearray()
        etag = self._s3.upload_part(
            Bucket=self._bucket, Key=self._staging_key, UploadId=self._upload_id, PartNumber=number, Body=body
        )["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag})

    def _complete_staging(self) -> None:
        if self._buffer or not self._parts:
            self._flush_part()
        self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._staging_key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None

    def land(self, key: str, metadata: dict[str, str]) -> None:
        """Write the bytes to their final ``key`` with ``metadata`` (call only after verification)."""
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=bytes(self._buffer), ContentType=CONTENT_TYPE, Metadata=metadata
            )
            self._buffer = bytearray()
            return
        self._complete_staging()
        # boto3's managed copy switches to UploadPartCopy above 5 GB, the CopyObject limit.
        self._s3.copy(
            {"Bucket": self._bucket, "Key": self._staging_key},
            self._bucket,
            key,
            ExtraArgs={"Metadata": metadata, "MetadataDirective": "REPLACE", "ContentType": CONTENT_TYPE},
            Config=TransferConfig(multipart_threshold=5 * 1024**3, multipart_chunksize=1024**3),
        )
        self._s3.delete_object(Bucket=self._bucket, Key=self._staging_key)

    def checkpoint(self) -> str:
        """Store the bytes so far as the staging object (for a next invocation); returns its key."""
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket, Key=self._staging_key, Body=bytes(self._buffer), ContentType=CONTENT_TYPE
            )
            self._buffer = bytearray()
        else:
            self._complete_staging()
        return self._staging_key

    def abort(self) -> None:
        """Drop everything written (a failed or unverifiable download)."""
        self._buffer = bytearray()
        if self._upload_id is not None:
            # On failure the bucket's lifecycle rule aborts the leftover upload after a day.
            with contextlib.suppress(ClientError):
                self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._staging_key, UploadId=self._upload_id)
            self._upload_id = None


class DirectUpload:
    """Bytes straight to their final key, one part in memory: a single PUT when they fit in a part,
    else a multipart upload that S3 makes visible only when completed. Abort leaves an earlier
    object at the key as it was."""

    def __init__(self, s3: Any, bucket: str, key: str, content_type: str, part_size: int = DEFAULT_PART_SIZE) -> None:
        self._s3, self._bucket, self._key = s3, bucket, key
        self._content_type = content_type
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes, /) -> int:
        self._buffer += data
        if len(self._buffer) >= self._part_size:
            self._flush_part()
        return len(data)

    def _flush_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._content_type
            )["UploadId"]
        number = len(self._parts) + 1
        body, self._buffer = bytes(self._buffer), bytearray()
        etag = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag})

    def commit(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer), ContentType=self._content_type
            )
        else:
            if self._buffer:
                self._flush_part()
            self._s3.complete_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )
        self._buffer, self._upload_id = bytearray(), None

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None:
            with contextlib.suppress(ClientError):
                self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
            self._upload_id = None


class S3Landing:
    def __init__(self, s3: Any, bucket: str, part_size: int = DEFAULT_PART_SIZE) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._part_size = part_size

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, indent=1, sort_keys=False).encode()
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def head_metadata(self, key: str) -> dict[str, str] | None:
        try:
            return dict(self._s3.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def open_upload(self, staging_key: str) -> StreamingUpload:
        return StreamingUpload(self._s3, self.bucket, staging_key, self._part_size)

    def read_stream(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvalidObjectState":
                raise
            # the lifecycle moved it to Glacier (lifecycle.glacier_days): only a restore reads it
            raise ConfigurationError(
                f"s3://{self.bucket}/{key} is archived (S3 Glacier, after lifecycle.glacier_days): restore it "
                f"(aws s3api restore-object --bucket {self.bucket} --key {key} --restore-request Days=7) "
                "and start again once the restore is done"
            ) from None
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def open_object(self, key: str, content_type: str = "application/vnd.apache.parquet") -> DirectUpload:
        return DirectUpload(self._s3, self.bucket, key, content_type, self._part_size)
