"""Download file: land one manifest file (an item of the Distributed Map), once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bulkfhir._http import strip_query
from ingest import layout
from ingest.errors import ConfigurationError
from ingest.payloads import Checkpoint, FileItem, LandedFile, RunContext
from ingest.services.file_transfer import FileTransfer
from ingest.timeutil import utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)


def _ascii(value: str, limit: int) -> str:
    # AB2D's transactionTime has a U+202F narrow no-break space before AM/PM (newer JDKs).
    return "".join(c if 32 <= ord(c) < 127 else " " for c in value)[:limit]


def _metadata(run: RunContext, item: FileItem, job_url: str, transaction_time: str | None) -> dict[str, str]:
    # S3 user metadata is ASCII and at most 2 KB in all: URLs lose their query and are clipped.
    metadata = {
        "source": run.source,
        "run-id": run.run_id,
        "job-url": strip_query(job_url)[:400],
        "source-url": strip_query(item.url)[:400],
        "transaction-time": (transaction_time or "unknown")[:64],
        "resource-type": item.type,
        "kind": item.kind,
    }
    return {name: _ascii(value, 400) for name, value in metadata.items()}


def _record(deps: Deps, run: RunContext, item: FileItem, size: int, lines: int, sha256: str) -> LandedFile:
    landed = LandedFile(
        index=item.index,
        kind=item.kind,
        type=item.type,
        url=strip_query(item.url),
        key=item.key,
        bytes=size,
        lines=lines,
        sha256=sha256,
        landed_at=utc_iso(deps.clock()),
    )
    deps.store.put_landed_file(run.run_id, landed)
    return landed


def _already_landed(deps: Deps, run: RunContext, item: FileItem) -> LandedFile | None:
    """A file is never fetched twice: AB2D allows six downloads per file, and a second landing
    would store a second version of the object."""
    record = deps.store.get_landed_file(run.run_id, item.index)
    metadata = deps.landing.head_metadata(item.key)
    if metadata is None:
        return None
    if record and metadata.get("sha256") == record.sha256:
        return record
    if metadata.get("run-id") == run.run_id and metadata.get("sha256") and metadata.get("lines", "").isdigit():
        # Landed by an invocation that died before writing its ledger record.
        size = int(metadata.get("bytes", "0") or 0)
        return _record(deps, run, item, size, int(metadata["lines"]), metadata["sha256"])
    return None


def download_file(deps: Deps, event: dict[str, Any], seconds_left: Callable[[], float]) -> dict[str, Any]:
    if not isinstance(event.get("file"), dict):
        raise ConfigurationError("Download file needs $.file: an item of files.json")
    item = FileItem.from_state(event["file"])
    run = RunContext.from_state(event)
    previous = event.get("result") if isinstance(event.get("result"), dict) else {}
    checkpoint_data = previous.get("checkpoint") if previous else None
    checkpoint = Checkpoint(**checkpoint_data) if isinstance(checkpoint_data, dict) else None

    if checkpoint is None and _already_landed(deps, run, item) is not None:
        logger.info("file already landed; not fetched again", extra={"index": item.index})
        return {"status": "landed", "index": item.index, "skipped": True}

    client = deps.clients.client_for(deps.settings.source(run.source))
    transaction_time = event.get("transaction_time")
    transfer = FileTransfer(
        client, deps.landing, item, layout.staging_key(run.source, run.run_id, item.index), seconds_left
    )
    try:
        outcome = transfer.run(
            checkpoint, _metadata(run, item, str(event.get("job_url") or ""), str(transaction_time or ""))
        )
    except Exception as error:
        # Kept for Record the failure: a Distributed Map reports only that too many items failed.
        deps.store.put_file_failure(run.run_id, item.index, type(error).__name__, str(error), strip_query(item.url))
        raise
    if isinstance(outcome, Checkpoint):
        return {"status": "partial", "index": item.index, "checkpoint": outcome.to_state()}
    _record(deps, run, item, outcome.bytes, outcome.lines, outcome.sha256)
    if checkpoint is not None:
        deps.landing.delete(checkpoint.staging_key)
    return {"status": "landed", "index": item.index, "resumes": transfer.resumes}
