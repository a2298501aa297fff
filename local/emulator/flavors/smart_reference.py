"""The SMART reference server (smart-on-fhir/bulk-data-server 2.x) where it differs from the smart
flavour's DPC-like default. On with ``smart_server="reference"`` or any of its scenarios.

What it does on the wire (its ExportManager.ts, lib.ts, token_handler.ts, config.ts):

- status: 202 with ``X-Progress: NN% complete, ...`` and ``Retry-After: 1``; 200 with ``Expires`` an
  hour after the kick-off and entries ``{type, count, url}`` (no extensions). An export's job and
  files are deleted 60 minutes after its kick-off (maxExportAge): status and downloads then say 404.
- downloads are generated and piped through zlib as they are sent: no Content-Length, no Range, no
  ETag.
- an access token lives at most as long as the client assertion it was issued for: expires_in is the
  lesser of the assertion's remaining life and the server's token lifetime (15 minutes).
- a rate limiter on the kick-off and status routes: more than 60 requests to one route within a
  minute blocks the client for five minutes; a 429's Retry-After is the epoch when the block lifts,
  in milliseconds on the 429 that starts the block and in seconds on the ones after.

Its fault scenarios: ``transient-status`` (status polls answer 500 ``transient``, then 200 again),
``kickoff-failed`` (500 ``processing`` "File generation failed"), ``error-counts`` (every second
file fails generation), ``rate-limit`` (a three-minute export answering ``Retry-After: 1``).
"""

from __future__ import annotations

import json
import math
import threading
from datetime import datetime, timedelta

from local.emulator.downloads import DownloadPolicy
from local.emulator.exports import Planned
from local.emulator.files import Segment, StoredFile, gzip_bytes
from local.emulator.jobs import Job
from local.emulator.records import ServedFile
from local.emulator.state import State
from local.emulator.wire import Response, json_response, text_response

RETRY_AFTER = "1"
FILES_TTL = timedelta(minutes=60)
TOKEN_LIFETIME_SECONDS = 15 * 60
#: gzip when Accept-Encoding names it (/\bgzip\b/), streamed: no length, no ranges
DOWNLOADS = DownloadPolicy("substring", "none", False, False)
TRANSIENT_TEXT = "An unknown error ocurred (transient_error). Please try again."  # sic
FHIR_JSON = "application/fhir+json"


def outcome_document(text: str, code: str = "processing", severity: str = "error") -> dict[str, object]:
    """lib.ts createOperationOutcome: its default issue code is `processing`."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": text}]}


def outcome(status: int, text: str, code: str = "processing", severity: str = "error") -> Response:
    return json_response(status, outcome_document(text, code, severity), FHIR_JSON)


def accepted(response: Response, status_url: str) -> Response:
    """The kick-off 202 also carries an informational OperationOutcome (outcomes.exportAccepted)."""
    if response.status == 202:
        document = outcome_document(
            f'Your request has been accepted. You can check its status at "{status_url}"', severity="information"
        )
        response.body = json.dumps(document, separators=(",", ":")).encode()
        response.headers.append(("Content-Type", FHIR_JSON))
    return response


def transaction_time(moment: datetime) -> str:
    """moment().format(): seconds and an offset, no fraction."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def progress(percent: float) -> str:
    return f"{round(percent)}% complete, Please wait..."


def entry(served: ServedFile, url: str) -> dict[str, object]:
    return {"type": served.type, "count": served.listed_count, "url": url}


def expired(state: State, job: Job) -> bool:
    return state.now() >= job.created_at + FILES_TTL


def token_ttl(state: State, assertion_left: float) -> int:
    configured = state.config.token_ttl_seconds
    lifetime = configured if configured is not None else TOKEN_LIFETIME_SECONDS
    return max(1, math.floor(min(lifetime, assertion_left)))


class RateLimiter:
    """lib.ts rateLimiter: one per route, keyed by client address (here everything is loopback)."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._routes: dict[str, tuple[list[float], float | None]] = {}
        self._lock = threading.Lock()

    def refuse(self, route: str) -> Response | None:
        config = self._state.config
        now = self._state.now().timestamp() * 1000
        with self._lock:
            requests, blocked_until = self._routes.get(route, ([], None))
            if blocked_until is not None and now < blocked_until:
                return _too_many(math.ceil(blocked_until / 1000))
            recent = [*(at for at in requests if now - at < 60_000), now]
            if len(recent) > config.rate_limit_requests:
                until = now + config.rate_limit_block_seconds * 1000
                self._routes[route] = (recent, until)
                return _too_many(math.ceil(until))
            self._routes[route] = (recent, None)
        return None


def _too_many(retry_after: int) -> Response:
    return text_response(429, "Too Many Requests. Try again later.", "text/html; charset=utf-8").with_header(
        "Retry-After", str(retry_after)
    )


def kickoff_fault(state: State) -> Response | None:
    """kickoff-failed: the server's simulated file_generation_failed (outcomes.fileGenerationFailed)."""
    return outcome(500, "File generation failed") if state.scenario("kickoff-failed") else None


def status_fault(state: State, job: Job) -> Response | None:
    """transient-status: the first transient_status_polls polls of a job answer 500 `transient`."""
    if state.scenario("transient-status") and state.bump(f"transient:{job.id}") <= state.config.transient_status_polls:
        return outcome(500, TRANSIENT_TEXT, "transient")
    return None


def with_failed_files(state: State, job: Job, planned: list[Planned]) -> list[tuple[Planned, int | None]]:
    """error-counts: every second file of a type fails generation (some_file_generation_failed);
    failed-outputs: every file of failed_output_types does. A failed file is listed under error[] with
    the count of the output it replaces; its file holds one OperationOutcome, with no newline after it
    (the server ends the response with the JSON)."""
    every_second, failing = state.scenario("error-counts"), state.config.failing_types
    if not every_second and not failing:
        return [(p, None) for p in planned]
    kept: list[tuple[Planned, int | None]] = []
    seen: dict[str, int] = {}
    for item in planned:
        if item.kind != "output":
            kept.append((item, None))
            continue
        number = seen[item.type] = seen.get(item.type, -1) + 1
        if item.type not in failing and not (every_second and number % 2):
            kept.append((item, None))
            continue
        text = f"Failed to export {number + 1}.{item.type}.ndjson"
        line = json.dumps(outcome_document(text), separators=(",", ":")).encode()
        stored = _one_line(f"{job.id}-{number}.{item.type.lower()}.failed.ndjson", line)
        kept.append((Planned("error", "OperationOutcome", stored), item.stored.lines))
    return kept


def _one_line(name: str, line: bytes) -> StoredFile:
    segments = [Segment(gzip_bytes(line))]
    return StoredFile(name, lambda: (segments, 1))
