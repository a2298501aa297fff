"""Check export status on a 10,000-file manifest (issue #14, item 11): every file in files.json with a key
of its own, the signed ones' URLs in file-urls.json, written streamed. Its peak memory is measured by
benchmarks/bench_check_status_memory.py, not here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bulkfhir import BulkDataClient, ClientCredentials, ServerConfig
from ingest.services.check_status import check_status
from ingest.settings import Settings, SourceSettings
from ingest.wiring import Deps
from tests.integration.conftest import BUCKET
from tests.support.scripted_server import Reply, ScriptedServer

FILES = 10_000
TOKEN = b'{"access_token": "tok-abcdefgh", "expires_in": "1200"}'


def manifest(origin: str) -> bytes:
    output = [
        {"type": "ExplanationOfBenefit", "url": f"{origin}/data/42/{n:05d}.ndjson"
         + (f"?X-Amz-Date=20261201T000000Z&X-Amz-Signature={n:064x}" if n % 2 else "")}
        for n in range(FILES - 1)
    ]  # fmt: skip
    errors = [{"type": "OperationOutcome", "url": f"{origin}/data/42/errors.ndjson"}]
    return json.dumps({"transactionTime": "2026-06-01T04:12:33Z", "request": f"{origin}/api/v2/Group/all/$export",
                       "requiresAccessToken": True, "output": output, "error": errors}).encode()  # fmt: skip


@pytest.fixture
def server():
    with ScriptedServer() as scripted:
        scripted.route("POST", "/auth/token", Reply(200, {}, TOKEN))
        scripted.route(
            "GET", "/api/v2/jobs/42", Reply(200, {"Content-Type": "application/json"}, manifest(scripted.url))
        )
        yield scripted


def test_a_ten_thousand_file_manifest_goes_whole_into_files_json(aws, server):
    source = SourceSettings(name="src", api="bcda", base_url=server.url, secret_arn="-")
    client = BulkDataClient(ServerConfig(api="bcda", base_url=server.url), ClientCredentials.from_mapping(
        {"client_id": "c", "client_secret": "s"}))  # fmt: skip

    class Clients:
        def client_for(self, _source: Any) -> BulkDataClient:
            return client

    deps = Deps(
        settings=Settings(table_name="t", bucket_name=BUCKET, sources={"src": source}),
        store=aws.store(),
        landing=aws.landing(),
        events=aws.publisher(),
        clients=Clients(),  # type: ignore[arg-type]
        executions=None,  # type: ignore[arg-type]
    )
    run = {"run_id": "20261201T000000.000Z-abcdef", "source": "src", "scope": "Group/all", "export": "Group/all",
           "run_date": "2026-12-01", "started_at": "2026-12-01T00:00:00Z", "download_concurrency": 8}  # fmt: skip
    state = {"run": run, "job": {"status": "accepted", "job_url": f"{server.url}/api/v2/jobs/42",
                                 "kicked_off_at": "2026-12-01T00:00:00.000000Z"}}  # fmt: skip
    poll = check_status(deps, state)

    assert (poll.state, poll.file_count) == ("complete", FILES)
    files = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=poll.files_key)["Body"].read())
    assert [item["index"] for item in files] == list(range(1, FILES + 1))
    assert len({item["key"] for item in files}) == FILES
    assert all("?" not in item["url"] for item in files)
    urls_key = poll.files_key.replace("files.json", "file-urls.json")
    urls = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=urls_key)["Body"].read())
    signed = [item for item in files if item["signed"]]
    assert len(signed) == len(urls) == (FILES - 1) // 2
    assert all(urls[str(item["index"])].startswith(item["url"] + "?X-Amz-Date=") for item in signed)
    assert len({item["urls_version"] for item in signed}) == 1
    server_manifest = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=poll.files_key.replace(
        "files.json", "server-manifest.json"))["Body"].read())  # fmt: skip
    assert len(server_manifest["output"]) == FILES - 1
