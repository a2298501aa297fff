"""moto completes a multipart upload by joining every part in memory (``FakeMultipart.complete``
returns ``bytes(total)``), then copies the result into the object's buffer: a local run that lands
two 300 MB files peaked at 1.9 GiB. S3 streams, and so does the product (parts of 8 MiB); here the
completion writes the parts one after another into the new object's spooled buffer (a temporary
file past 256 KiB), so memory holds one part at a time.

What the completion answers is moto's: the same checks (InvalidPart, EntityTooSmall, MalformedXML),
the same multipart ETag, checksums, metadata, tags, ACL and event. Written against moto 5.2.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import tempfile
from collections.abc import Iterator
from typing import Any
from unittest import mock

from moto.s3 import models
from moto.s3.models import FakeKey, FakeMultipart, S3Backend
from moto.s3.utils import HAS_CRT
from moto.settings import get_s3_default_key_buffer_size


def _checked_parts(multipart: FakeMultipart, body: Iterator[tuple[int, str]]) -> tuple[list[Any], str, Any]:
    """The parts to join, the multipart ETag and the checksum details, as moto's complete() makes them
    (without joining the parts)."""
    checksum_builder = models.MultipartChecksumBuilder(
        multipart.metadata.get("x-amz-checksum-algorithm"), multipart.metadata.get("x-amz-checksum-type")
    )
    # moto's default (CRC64NVME of the whole object) also collects the whole object: computed here
    # part by part instead, as the CRC allows.
    crc64 = _Crc64Nvme() if _whole_object_crc64(checksum_builder) else None
    decode_hex = codecs.getdecoder("hex_codec")
    md5s = bytearray()
    parts: list[Any] = []
    for number, etag in body:
        part = multipart.parts.get(number)
        if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
            raise models.InvalidPart()
        if parts and parts[-1].contentsize < models.S3_UPLOAD_PART_MIN_SIZE:
            raise models.EntityTooSmall()
        md5s.extend(decode_hex(part.etag.replace('"', ""))[0])  # type: ignore[arg-type]
        if crc64 is not None:
            for block in _blocks(part):
                crc64.add(block)
        else:
            checksum_builder.addPart(part.value)
        parts.append(part)
    if not parts:
        raise models.MalformedXML()
    full_etag = models.md5_hash()
    full_etag.update(bytes(md5s))
    checksum = crc64.result(len(parts)) if crc64 is not None else checksum_builder.build()
    return parts, f"{full_etag.hexdigest()}-{len(parts)}", checksum


def _whole_object_crc64(builder: Any) -> bool:
    return bool(builder.checksum_type == "FULL_OBJECT" and builder.checksum_algorithm == "CRC64NVME")


class _Crc64Nvme:
    """CRC64NVME of the whole object, as moto's builder reports it: ("FULL_OBJECT", base64, parts).
    Without awscrt moto reports a CRC32 in its place, and so does this."""

    def __init__(self) -> None:
        self._crc = 0

    def add(self, data: bytes) -> None:
        if HAS_CRT:
            from awscrt import checksums  # noqa: PLC0415 - optional, as for moto

            self._crc = checksums.crc64nvme(data, self._crc)
        else:
            self._crc = binascii.crc32(data, self._crc)

    def result(self, parts: int) -> tuple[str, str, int]:
        digest = self._crc.to_bytes(8 if HAS_CRT else 4, "big")
        return "FULL_OBJECT", base64.b64encode(digest).decode(), parts


def _joined(parts: list[Any]) -> tuple[Any, int]:
    """The object's bytes in a spooled buffer like moto's (a temporary file past its size), written one
    part at a time; and their count. Before put_object, which closes the parts' buffers."""
    buffer = tempfile.SpooledTemporaryFile(get_s3_default_key_buffer_size())  # noqa: SIM115 - the key's from now on
    size = 0
    for part in parts:
        for block in _blocks(part):
            buffer.write(block)
            size += len(block)
    return buffer, size


def _blocks(part: Any, size: int = 1024 * 1024) -> Iterator[bytes]:
    """A part's bytes, a MiB at a time (part.value would be the whole part, a copy)."""
    with part.lock:
        source = part._value_buffer
        source.seek(0)
        while block := source.read(size):
            yield block


def complete_multipart_upload(
    self: S3Backend, bucket_name: str, multipart_id: str, body: Iterator[tuple[int, str]]
) -> FakeKey | None:
    bucket = self.get_bucket(bucket_name)
    multipart = bucket.multiparts[multipart_id]
    parts, etag, checksum_details = _checked_parts(multipart, body)
    buffer, size = _joined(parts)
    del bucket.multiparts[multipart_id]
    key = self.put_object(
        bucket_name,
        multipart.key_name,
        b"",
        storage=multipart.storage,
        etag=etag,
        multipart=multipart,
        encryption=multipart.sse_encryption,
        kms_key_id=multipart.kms_key_id,
    )
    with key.lock:
        key._value_buffer.close()
        key._value_buffer, key.contentsize = buffer, size
    key.set_metadata(multipart.metadata)
    if checksum_details:
        key.checksum_algorithm = multipart.metadata.get("x-amz-checksum-algorithm")
        key.checksum_type = checksum_details[0]
        key.checksum_value = checksum_details[1]
        key.checksum_parts = checksum_details[2]
    self.put_object_tagging(key, multipart.tags)
    self.put_object_acl(bucket_name=bucket_name, key_name=key.name, acl=multipart.acl, disable_notification=True)
    models.notifications.send_event(
        self.account_id,
        models.notifications.S3NotificationEvent.OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD_EVENT,
        bucket,
        bucket.keys.get(multipart.key_name),
    )
    return key


def streamed_multipart_completion() -> Any:
    return mock.patch.object(S3Backend, "complete_multipart_upload", complete_multipart_upload)
