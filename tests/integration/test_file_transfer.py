"""The streaming transfer engine against a loopback server that cuts connections and plays with Range."""

import gzip
import hashlib
import os
import re

import pytest

from bulkfhir import BulkDataClient, ClientCredentials, ServerConfig, TransientError
from ingest.errors import VerificationError
from ingest.payloads import Checkpoint, FileItem
from ingest.services.file_transfer import FileTransfer
from tests.support.scripted_server import Reply, ScriptedServer

TOKEN = b'{"access_token": "tok", "expires_in": "1200"}'
NDJSON = b"".join(
    b'{"resourceType":"ExplanationOfBenefit","id":"carrier-%d","pad":"%s"}\n' % (i, os.urandom(40).hex().encode())
    for i in range(20000)
)
STORED = gzip.compress(NDJSON, compresslevel=1)
SERVED = STORED + gzip.compress(b"")  # BCDA appends an empty member


def range_server(server, body, *, cut_first_at=None, honour_range=True, encoding="gzip"):
    state = {"cut": cut_first_at}

    def respond(seen):
        start = 0
        match = re.match(r"bytes=(\d+)-", seen.headers.get("Range", ""))
        headers = {"Content-Type": "application/fhir+ndjson"}
        if encoding == "gzip":
            headers["Content-Encoding"] = "gzip"
        if honour_range:
            headers["Accept-Ranges"] = "bytes"
        status = 200
        if match and honour_range:
            start = int(match.group(1))
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        cut, state["cut"] = state["cut"], None
        return Reply(status, headers, body[start:], cut_after=cut)

    server.route("GET", "/data/1/f.ndjson", respond)


@pytest.fixture
def server():
    with ScriptedServer() as scripted:
        scripted.route("POST", "/auth/token", Reply(200, {}, TOKEN))
        yield scripted


def item(server, kind="output", type_name="ExplanationOfBenefit", **expected):
    return FileItem(
        index=1,
        kind=kind,
        type=type_name,
        url=f"{server.url}/data/1/f.ndjson",
        key="fhir/src/ExplanationOfBenefit/run_date=2026-01-01/r/ExplanationOfBenefit-0001.ndjson.gz",
        requires_token=True,
        expected=expected,
    )


def transfer(aws, server, file_item, seconds_left=lambda: 900.0, **options):
    client = BulkDataClient(
        ServerConfig(api="bcda", base_url=server.url),
        ClientCredentials.from_mapping({"client_id": "c", "client_secret": "s"}),
    )
    return FileTransfer(
        client, aws.landing(), file_item, "staging/src/r/00001.ndjson.gz", seconds_left, sleep=lambda s: None, **options
    )


def landed_bytes(aws, file_item):
    return aws.s3.get_object(Bucket="landing-bucket", Key=file_item.key)["Body"].read()


def test_gzip_body_lands_byte_identical_with_lines_counted_across_members(aws, server):
    range_server(server, SERVED)
    file_item = item(server)
    result = transfer(aws, server, file_item).run(None, {"source": "src"})
    assert landed_bytes(aws, file_item) == SERVED
    assert result.lines == 20000
    assert result.sha256 == hashlib.sha256(SERVED).hexdigest()
    assert result.bytes == len(SERVED)
    assert server.seen[-1].headers["Accept-Encoding"] == "gzip"
    assert aws.list_keys("staging/") == []


def test_a_cut_connection_resumes_with_range(aws, server):
    range_server(server, SERVED, cut_first_at=len(SERVED) // 2)
    file_item = item(server)
    engine = transfer(aws, server, file_item)
    engine.run(None, {})
    assert landed_bytes(aws, file_item) == SERVED
    assert engine.resumes == 1
    downloads = [s for s in server.seen if s.path.startswith("/data/")]
    assert "Range" not in downloads[0].headers
    assert downloads[1].headers["Range"] == f"bytes={len(SERVED) // 2}-"


def test_a_cut_connection_restarts_cleanly_where_range_is_not_supported(aws, server):
    range_server(server, SERVED, cut_first_at=len(SERVED) // 3, honour_range=False)
    file_item = item(server)
    engine = transfer(aws, server, file_item)
    engine.run(None, {})
    assert landed_bytes(aws, file_item) == SERVED
    downloads = [s for s in server.seen if s.path.startswith("/data/")]
    assert [d.headers.get("Range") for d in downloads] == [None, None]


def test_identity_bodies_are_gzipped_on_landing(aws, server):
    range_server(server, NDJSON, encoding="identity", honour_range=False)
    file_item = item(server)
    result = transfer(aws, server, file_item).run(None, {})
    assert gzip.decompress(landed_bytes(aws, file_item)) == NDJSON
    assert result.lines == 20000


def test_a_checksum_mismatch_lands_nothing(aws, server):
    range_server(server, STORED)
    file_item = item(server, sha256="0" * 64, length=len(STORED))
    with pytest.raises(VerificationError, match="sha256 differs"):
        transfer(aws, server, file_item).run(None, {})
    assert aws.list_keys() == []
    assert aws.s3.list_multipart_uploads(Bucket="landing-bucket").get("Uploads", []) == []


def test_matching_checksum_length_and_count_pass(aws, server):
    range_server(server, STORED)
    file_item = item(server, sha256=hashlib.sha256(STORED).hexdigest(), length=len(STORED), count=20000)
    landed = transfer(aws, server, file_item).run(None, {})
    assert (landed.lines, landed.mismatch) == (20000, None)


def test_a_count_mismatch_is_a_verification_error(aws, server):
    range_server(server, STORED)
    with pytest.raises(VerificationError, match="20000 lines, the manifest says 19999"):
        transfer(aws, server, item(server, count=19999)).run(None, {})


@pytest.mark.parametrize("kind", ["error", "deleted"])
def test_a_count_on_a_file_that_is_not_output_is_recorded_not_enforced(aws, server, kind):
    # The SMART reference server lists a file it failed to generate under error[] with the count of the
    # output it replaces; the error file holds one OperationOutcome, with no newline after it.
    type_name = {"error": "OperationOutcome", "deleted": "Bundle"}[kind]
    outcome = b'{"resourceType":"%s","issue":[{"severity":"error","code":"processing"}]}' % type_name.encode()
    range_server(server, gzip.compress(outcome))
    file_item = item(server, kind=kind, type_name=type_name, count=10000)
    result = transfer(aws, server, file_item).run(None, {})
    assert gzip.decompress(landed_bytes(aws, file_item)) == outcome
    assert result.lines == 1
    assert result.mismatch == f"{kind} file: 1 lines, the manifest says 10000 resources"


def test_a_truncated_gzip_stream_lands_nothing(aws, server):
    range_server(server, STORED[: len(STORED) // 2])
    with pytest.raises(TransientError, match="cut short"):
        transfer(aws, server, item(server)).run(None, {})
    assert aws.list_keys() == []


def test_an_incomplete_last_line_is_a_verification_error(aws, server):
    range_server(server, gzip.compress(NDJSON[:-30]))
    with pytest.raises(VerificationError, match="incomplete JSON"):
        transfer(aws, server, item(server)).run(None, {})


def test_time_running_short_hands_a_checkpoint_to_the_next_invocation(aws, server):
    range_server(server, SERVED)
    file_item = item(server)
    first = transfer(aws, server, file_item, seconds_left=lambda: 10.0).run(None, {})
    assert isinstance(first, Checkpoint)
    assert 0 < first.offset < len(SERVED)
    assert aws.list_keys("fhir/") == []  # nothing at the final key yet
    second = transfer(aws, server, file_item).run(first, {})
    assert landed_bytes(aws, file_item) == SERVED
    assert second.sha256 == hashlib.sha256(SERVED).hexdigest()
    assert second.lines == 20000
    ranges = [s.headers.get("Range") for s in server.seen if s.path.startswith("/data/")]
    assert ranges == [None, f"bytes={first.offset}-"]


def test_a_server_that_ignores_range_on_resume_restarts_from_zero(aws, server):
    range_server(server, SERVED)
    file_item = item(server)
    first = transfer(aws, server, file_item, seconds_left=lambda: 10.0).run(None, {})
    range_server(server, SERVED, honour_range=False)
    transfer(aws, server, file_item).run(first, {})
    assert landed_bytes(aws, file_item) == SERVED
