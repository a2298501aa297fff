"""Check export status: one poll; say how long to wait, or write the file list once complete."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bulkfhir import BulkDataClient, ExportComplete, Manifest, TransientError, UnexpectedResponseError, next_poll_wait
from bulkfhir._http import file_identity
from ingest import layout
from ingest.errors import ConfigurationError, ExportTimedOutError
from ingest.payloads import FileItem, JobState, PollState, RunContext
from ingest.ports import Landing
from ingest.timeutil import utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)

#: Status errors (5xx, 429, network) tolerated in a row before the run fails.
MAX_TRANSIENT_IN_A_ROW = 8
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def file_items(run: RunContext, manifest: Manifest, earlier: list[FileItem]) -> tuple[list[FileItem], dict[str, str]]:
    """files.json (every output, error and deleted file with its landing key) and the full URLs of
    pre-signed files, by index.

    A file is its identity: its URL without the parameters that sign it (``file_identity``; a file
    named by its query string keeps it). ``earlier`` is this run's file list from an earlier poll of
    the same job (a resumed run): each file keeps its index and key, so what landed is recognised
    whatever order the server lists files in now (BCDA's job-keys query has no ORDER BY) and however
    it signs them now, files new to the list get new ones, and files the server no longer lists stay
    (they were promised: they must land)."""
    by_url = {item.url: item for item in earlier}
    keys = layout.KeyAllocator(run.source, run.run_id, run.run_date, used=(item.key for item in earlier))
    next_index = max((item.index for item in earlier), default=0) + 1
    items = {item.index: item for item in earlier}
    full_urls: dict[str, str] = {}
    for kind, files in (("output", manifest.output), ("error", manifest.error), ("deleted", manifest.deleted)):
        for entry in files:
            identity = file_identity(entry.url)
            type_name = entry.type or "Unknown"
            known = by_url.get(identity)
            if known is not None and (known.kind, known.type) != (kind, type_name):
                raise UnexpectedResponseError(
                    f"the server now lists {identity} as {kind} {type_name!r}, earlier as {known.kind} {known.type!r}"
                )
            index = known.index if known else next_index
            next_index += known is None
            expected = {
                name: value
                for name, value in (("sha256", entry.sha256), ("length", entry.length), ("count", entry.count))
                if value is not None
            }
            items[index] = FileItem(
                index=index,
                kind=kind,
                type=type_name,
                url=identity,
                key=known.key if known else keys.key(kind, type_name),
                requires_token=manifest.requires_access_token,
                expected=expected,
                signed=entry.url != identity,
            )
            if entry.url != identity:
                full_urls[str(index)] = entry.url
    return [items[index] for index in sorted(items)], full_urls


def _with_urls_version(items: list[FileItem], urls: dict[str, str]) -> list[FileItem]:
    """Mark each signed item with the version of the URLs written for it: the download function reads
    them again when it changes (a re-poll signs them afresh; the old signatures may have expired)."""
    digest = hashlib.sha256()
    for index in sorted(urls):
        digest.update(f"{index}\n{urls[index]}\n".encode())
    version = digest.hexdigest()[:16]
    return [replace(item, urls_version=version) if item.signed else item for item in items]


#: A transactionTime later than the server's own clock by more than this is in its future.
CLOCK_RESOLUTION = timedelta(seconds=1)


def watermark_candidate(
    watermark_from: str, manifest: Manifest, job: JobState, server_now: datetime
) -> tuple[str | None, str | None]:
    """The next `_since` (BCDA/SMART: the manifest's transactionTime, AB2D: our kick-off time) and, when
    it is not the manifest's word, why.

    A transactionTime in the server's future (later than the Date of the answer that carries it) is
    not the time the export was taken at: as the next `_since` it would ask for nothing until that
    date, and skip what loads before it. It is **clamped** to the kick-off time (server clock), before
    which everything exported was loaded: the next run asks again from there and may fetch a little
    twice, never miss. With no kick-off time (an adopted job of unknown start) the run gives no
    candidate, and the watermark stays."""
    if watermark_from != "transaction_time" or manifest.transaction_time is None:
        if watermark_from == "transaction_time":
            logger.warning("transactionTime is not an ISO instant; falling back to the kick-off time")
        return job.kicked_off_at, None
    transaction_time = manifest.transaction_time
    if transaction_time <= server_now + CLOCK_RESOLUTION:
        return utc_iso(transaction_time), None
    why = (
        f"the manifest's transactionTime {utc_iso(transaction_time)} is later than the server's clock "
        f"({utc_iso(server_now)})"
    )
    logger.warning("transactionTime is in the server's future; clamped", extra={"why": why})
    if job.kicked_off_at is None:
        return None, f"{why}, and this export's kick-off time is unknown"
    return job.kicked_off_at, f"{why}: clamped to the kick-off time {job.kicked_off_at}"


#: Pieces of a JSON document are gathered to this size before they go to the upload.
_WRITE_BYTES = 256 * 1024


def _write_json(landing: Landing, key: str, pieces: Iterable[str]) -> None:
    """A JSON document streamed to S3 from its pieces: a manifest of 100,000 files is never one string
    (nor a list of dicts and an indented copy of it) in memory; at most a part of it is."""
    sink = landing.open_object(key, content_type="application/json")
    buffer: list[str] = []
    size = 0
    try:
        for piece in pieces:
            buffer.append(piece)
            size += len(piece)
            if size >= _WRITE_BYTES:
                sink.write("".join(buffer).encode())
                buffer, size = [], 0
        sink.write("".join(buffer).encode() + b"\n")
        sink.commit()
    except BaseException:
        sink.abort()
        raise


def _json_array(values: Iterable[Any]) -> Iterator[str]:
    """A JSON array, one value a line."""
    yield "["
    for number, value in enumerate(values):
        yield ("," if number else "") + "\n" + json.dumps(value, separators=(",", ":"))
    yield "\n]"


def _earlier_items(landing: Landing, files_key: str) -> list[FileItem]:
    if landing.head_metadata(files_key) is None:
        return []
    return [FileItem.from_state(item) for item in landing.get_json(files_key)]


def _complete(
    deps: Deps, run: RunContext, job: JobState, done: ExportComplete, previous: PollState, watermark_from: str
) -> PollState:
    manifest = done.manifest
    files_key = layout.files_key(run.source, run.run_id)
    urls_key = layout.file_urls_key(run.source, run.run_id)
    items, full_urls = file_items(run, manifest, _earlier_items(deps.landing, files_key))
    _write_json(deps.landing, layout.server_manifest_key(run.source, run.run_id), _ENCODER.iterencode(manifest.raw))
    earlier_urls = deps.landing.get_json(urls_key) if deps.landing.head_metadata(urls_key) is not None else {}
    if full_urls or earlier_urls:
        urls = {**earlier_urls, **full_urls}
        _write_json(deps.landing, urls_key, _ENCODER.iterencode(urls))
        items = _with_urls_version(items, urls)
    _write_json(deps.landing, files_key, _json_array(item.to_state() for item in items))
    candidate, clamped = watermark_candidate(watermark_from, manifest, job, done.server_time or deps.clock())
    record: dict[str, Any] = {
        "transaction_time": manifest.transaction_time_raw or "none",
        "file_count": len(items),
        "files_key": files_key,
        "server_expires": (done.expires_raw or "unknown")[:100],
        "polls": previous.polls + 1,
    }
    if clamped:
        record["watermark_clamped"] = clamped
    deps.store.update_run(run.source, run.run_id, record)
    logger.info("export complete", extra={"files": len(items), "transaction_time": manifest.transaction_time_raw})
    return PollState(
        state="complete",
        polls=previous.polls + 1,
        waited_seconds=previous.waited_seconds,
        files_key=files_key,
        file_count=len(items),
        transaction_time=manifest.transaction_time_raw or None,
        watermark_candidate=candidate,
        watermark_clamped=clamped,
    )


def check_status(deps: Deps, state: dict[str, Any]) -> PollState:
    run = RunContext.from_state(state)
    job = JobState.from_state(state)
    if job is None or not job.job_url:
        raise ConfigurationError("Check export status needs $.job.job_url: the Kick off export step did not run")
    previous = PollState.from_state(state) or PollState(state="in_progress")
    # The wait the previous check asked for has just elapsed.
    waited = previous.waited_seconds + previous.wait_seconds
    budget = deps.settings.wait_budget_seconds
    client = deps.clients.client_for(deps.settings.source(run.source))
    polls = previous.polls + 1
    try:
        status = client.check_status(job.job_url)
    except TransientError as error:
        failures = previous.transient_failures + 1
        if failures > MAX_TRANSIENT_IN_A_ROW:
            raise
        _check_budget(waited, budget)
        wait = _next_wait(client, error.retry_after, previous.polls, waited, budget)
        logger.warning("status check failed; will poll again", extra={"why": str(error), "wait": wait})
        return PollState(
            state="in_progress",
            wait_seconds=wait,
            progress=f"status check failed ({error.status or 'network'}); retrying",
            polls=polls,
            waited_seconds=waited,
            transient_failures=failures,
        )
    if isinstance(status, ExportComplete):
        previous = PollState(**{**previous.to_state(), "waited_seconds": waited})
        return _complete(deps, run, job, status, previous, client.profile.watermark_from)
    _check_budget(waited, budget)
    return PollState(
        state="in_progress",
        wait_seconds=_next_wait(client, status.retry_after, previous.polls, waited, budget),
        progress=status.progress,
        polls=polls,
        waited_seconds=waited,
        transient_failures=0,
    )


def _next_wait(client: BulkDataClient, retry_after: float | None, polls: int, waited: int, budget: int) -> int:
    """The next wait, never past the budget: the last poll happens when the budget is spent."""
    # rounded up: a wait the server named is never cut short (its rate limit holds to the millisecond)
    wait = math.ceil(next_poll_wait(client.profile, retry_after, polls, waited))
    return max(1, min(wait, budget - waited)) if waited < budget else wait


def _check_budget(waited: int, budget: int) -> None:
    if waited >= budget:
        raise ExportTimedOutError(
            f"the export has been waited on for {waited // 3600} h {waited % 3600 // 60} min, the budget of "
            f"{budget // 3600} h; the server job is being cancelled. Re-run later, or raise wait_budget_hours"
        )
