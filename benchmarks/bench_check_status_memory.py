"""Benchmark: the Check export status step's peak memory on large manifests (issue #14, item 11).

    .venv/bin/python benchmarks/bench_check_status_memory.py [--files 10000 50000] [--urls plain signed]
                                                             [--memory-mb 1024]

Each row runs in a fresh process that imports what the Lambda imports (the handler module: boto3,
Powertools, the client), then polls a loopback server once for a completed export whose manifest
lists N files, through the real service: the manifest parsed, files.json, file-urls.json and
server-manifest.json written with the real S3 adapter into an S3 client that drops the bodies (S3
itself is not in the function's memory). Two manifests: BCDA's (short URLs, no query) and one whose
URLs are pre-signed object-store URLs (about 600 characters each, as S3 SigV4 signs them). Prints
the process's peak RSS (what Lambda bills and limits), the baseline after imports, the manifest's
size, and the margin left in a function of ``--memory-mb``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from benchmarks.measure import peak_rss_mib, reset_peak_rss

SIGNED_QUERY = (
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAXAMPLEXAMPLEXAMP%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261201T000000Z&X-Amz-Expires=3600&X-Amz-Security-Token=" + "IQoJb3JpZ2luX2VjE" * 14 +
    "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0f" * 32
)  # fmt: skip


def manifest_body(files: int, signed: bool, origin: str) -> bytes:
    """A completed export of ``files`` files: EOB files of 50 beneficiaries and their error files."""
    output, errors = [], []
    for number in range(files):
        url = f"{origin}/data/42/{number:08x}-c239-4063-8882-eb2712f9f638.ndjson" + (SIGNED_QUERY if signed else "")
        if number % 20 == 19:
            errors.append({"type": "OperationOutcome", "url": url.replace(".ndjson", "-error.ndjson", 1)})
        else:
            output.append({"type": "ExplanationOfBenefit", "url": url})
    body = {"transactionTime": "2026-06-01T04:12:33.705398Z", "request": f"{origin}/api/v2/Group/all/$export",
            "requiresAccessToken": True, "output": output, "error": errors, "JobID": 42}  # fmt: skip
    return json.dumps(body).encode()


class _Server(BaseHTTPRequestHandler):
    """The API, in the parent process (its manifests are not the function's memory): the manifest of
    ``/api/v2/jobs/<files>-<plain|signed>``."""

    protocol_version = "HTTP/1.1"
    bodies: ClassVar[dict[str, bytes]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._reply(200, b'{"access_token": "bench-token", "expires_in": "1200", "token_type":"bearer"}')

    def do_GET(self) -> None:
        self._reply(200, self.bodies[self.path.rsplit("/", 1)[1]])


class DroppingS3:
    """The calls S3Landing makes, bodies counted and dropped; nothing exists before the run."""

    def __init__(self) -> None:
        self.written: dict[str, int] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.written[Key] = len(Body)
        return {}

    def create_multipart_upload(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        return {"UploadId": Key}

    def upload_part(self, Bucket: str, Key: str, Body: bytes, PartNumber: int, **_: Any) -> dict[str, Any]:
        self.written[Key] = self.written.get(Key, 0) + len(Body)
        return {"ETag": str(PartNumber)}

    def complete_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "404"}}, "HeadObject")


class NoStore:
    def update_run(self, source: str, run_id: str, attributes: dict[str, Any]) -> None:
        pass


def child(origin: str, name: str) -> dict[str, Any]:
    files = int(name.split("-", maxsplit=1)[0])
    import ingest.handlers.check_status  # noqa: F401 - what the Lambda imports: Powertools, boto3, the client
    from bulkfhir import BulkDataClient, ClientCredentials, ServerConfig
    from ingest.adapters.s3_landing import S3Landing
    from ingest.services.check_status import check_status
    from ingest.settings import Settings, SourceSettings
    from ingest.wiring import Deps

    source = SourceSettings(name="bench", api="bcda", base_url=origin, secret_arn="-", token_url=f"{origin}/auth/token")
    client = BulkDataClient(
        ServerConfig(api="bcda", base_url=origin, token_url=source.token_url),
        ClientCredentials.from_mapping({"client_id": "c", "client_secret": "s"}),
    )

    class Clients:
        def client_for(self, _source: SourceSettings) -> BulkDataClient:
            return client

    s3 = DroppingS3()
    deps = Deps(
        settings=Settings(table_name="-", bucket_name="-", sources={"bench": source}),
        store=NoStore(),  # type: ignore[arg-type]
        landing=S3Landing(s3, "bench-bucket"),
        events=None,  # type: ignore[arg-type]
        clients=Clients(),  # type: ignore[arg-type]
        executions=None,  # type: ignore[arg-type]
    )
    run = {"run_id": "20261201T000000.000Z-abcdef", "source": "bench", "scope": "Group/all", "export": "Group/all",
           "types": [], "since": None, "until": None, "type_filters": [], "run_date": "2026-12-01",
           "started_at": "2026-12-01T00:00:00Z", "watermark_before": None, "download_concurrency": 8}  # fmt: skip
    state = {"run": run, "job": {"status": "accepted", "job_url": f"{origin}/api/v2/jobs/{name}",
                                 "kicked_off_at": datetime(2026, 12, 1, tzinfo=UTC).isoformat()}}  # fmt: skip
    baseline = peak_rss_mib()
    reset_peak_rss()
    poll = check_status(deps, state)
    assert poll.state == "complete" and poll.file_count == files, poll
    return {"baseline_mib": round(baseline, 1), "peak_mib": round(peak_rss_mib(), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--urls", nargs="+", choices=("plain", "signed"), default=["plain", "signed"])
    parser.add_argument("--memory-mb", type=int, default=None, help="the function's memory (default: the stack's)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # origin, "<files>-<kind>"
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.memory_mb is None:
        from infra.constructs.functions import SPECS

        args.memory_mb = SPECS["check_status"].memory_mb
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"Check export status: peak RSS of one completing poll (function memory {args.memory_mb} MB)")
    print(f"{'files':>8} {'URLs':>8} {'manifest':>10} {'after imports':>14} {'peak RSS':>10} {'margin':>8}")
    for files in args.files:
        for kind in args.urls:
            name = f"{files}-{kind}"
            _Server.bodies = {name: manifest_body(files, kind == "signed", origin)}
            command = [sys.executable, __file__, "--child", origin, name]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            margin = args.memory_mb * 1e6 / 2**20 - row["peak_mib"]
            manifest_mib = len(_Server.bodies[name]) / 2**20
            print(f"{files:>8} {kind:>8} {manifest_mib:>6.1f} MiB {row['baseline_mib']:>10.1f} MiB "
                  f"{row['peak_mib']:>6.1f} MiB {margin:>4.0f} MiB")  # fmt: skip
    server.shutdown()


if __name__ == "__main__":
    main()
