"""Download file: land one manifest file (an item of the Distributed Map), once."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from bulkfhir import TransientError
from ingest import layout
from ingest.errors import ConfigurationError
from ingest.payloads import Checkpoint, FileItem, LandedFile, RunContext
from ingest.services.file_transfer import DownloadBudget, FileTransfer, Landed, landed_from_metadata
from ingest.timeutil import utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)

#: Server-requested waits (Retry-After) one file may go through, each a Wait state of its own.
MAX_SERVER_WAITS = 6
#: The longest wait a server's Retry-After gets (and the shortest: a wait is a state transition).
MAX_WAIT_SECONDS = 3600
MIN_WAIT_SECONDS = 5
#: The file-urls.json this container last read: (its key, the poll that wrote it) -> URLs. A run's is
#: read once per container and poll; a re-poll (a resumed run) signs the URLs afresh and gives its
#: items a new ``urls_version``, so URLs whose signatures have expired are never used again.
_FULL_URLS: dict[tuple[str, str | None], dict[str, str]] = {}
_FULL_URLS_LOCK = threading.Lock()
#: Types a failed output's OperationOutcome may name, besides the run's own (CMS's servers' types).
_KNOWN_TYPES = frozenset({"Patient", "Coverage", "ExplanationOfBenefit", "Claim", "ClaimResponse", "Observation"})


def _ascii(value: str, limit: int) -> str:
    # AB2D's transactionTime has a U+202F narrow no-break space before AM/PM (newer JDKs).
    return "".join(c if 32 <= ord(c) < 127 else " " for c in value)[:limit]


def _metadata(run: RunContext, item: FileItem, job_url: str, transaction_time: str | None) -> dict[str, str]:
    # S3 user metadata is ASCII and at most 2 KB in all: URLs lose their query and are clipped.
    metadata = {
        "source": run.source,
        "run-id": run.run_id,
        "job-url": job_url.split("?", 1)[0][:400],
        "source-url": item.url[:400],
        "transaction-time": (transaction_time or "unknown")[:64],
        "resource-type": item.type,
        "kind": item.kind,
    }
    return {name: _ascii(value, 400) for name, value in metadata.items()}


def _record(deps: Deps, run: RunContext, item: FileItem, landed: Landed, downloads: int) -> LandedFile:
    record = LandedFile(
        index=item.index,
        kind=item.kind,
        type=item.type,
        url=item.url,
        key=item.key,
        bytes=landed.bytes,
        lines=landed.lines,
        sha256=landed.sha256,
        landed_at=utc_iso(deps.clock()),
        downloads=downloads,
        mismatch=landed.mismatch,
        failed_outputs=landed.failed_outputs,
        failed_types=list(landed.failed_types),
    )
    deps.store.put_landed_file(run.run_id, record)
    deps.store.clear_file_failure(run.run_id, item.index)
    return record


def _already_landed(deps: Deps, run: RunContext, item: FileItem) -> LandedFile | None:
    """A file is never fetched twice (AB2D allows six downloads per file, and a second landing would
    store a second version of the object). Landed means: this file — its URL, not its position in
    the list — is at its key, verified, and recorded."""
    metadata = deps.landing.head_metadata(item.key)
    if metadata is None or metadata.get("source-url") != _ascii(item.url[:400], 400):
        return None
    record = deps.store.get_landed_file(run.run_id, item.index)
    if record and record.url == item.url and record.sha256 == metadata.get("sha256"):
        return record
    if metadata.get("run-id") == run.run_id and metadata.get("sha256") and metadata.get("lines", "").isdigit():
        # Landed by an invocation that died before writing its ledger record.
        return _record(deps, run, item, landed_from_metadata(metadata), downloads=0)
    return None


def _full_url(deps: Deps, run: RunContext, item: FileItem) -> str:
    """The URL to fetch: the item's, or (pre-signed) the full one kept in S3 out of the state."""
    if not item.signed:
        return item.url
    key = layout.file_urls_key(run.source, run.run_id)
    version = (key, item.urls_version)
    with _FULL_URLS_LOCK:
        urls = _FULL_URLS.get(version)
    if urls is None or str(item.index) not in urls:
        urls = dict(deps.landing.get_json(key))
        with _FULL_URLS_LOCK:
            _FULL_URLS.clear()  # one run at a time per container is the norm: keep only the latest
            _FULL_URLS[version] = urls
    try:
        return urls[str(item.index)]
    except KeyError:
        raise ConfigurationError(f"file #{item.index} is pre-signed but {key} has no URL for it") from None


def download_file(deps: Deps, event: dict[str, Any], seconds_left: Callable[[], float]) -> dict[str, Any]:
    if not isinstance(event.get("file"), dict):
        raise ConfigurationError("Download file needs $.file: an item of files.json")
    item = FileItem.from_state(event["file"])
    run = RunContext.from_state(event)
    previous = event.get("result") if isinstance(event.get("result"), dict) else {}
    checkpoint_data = previous.get("checkpoint") if previous else None
    checkpoint = Checkpoint(**checkpoint_data) if isinstance(checkpoint_data, dict) else None
    waits = int(previous.get("waits") or 0) if previous else 0

    if checkpoint is None and _already_landed(deps, run, item) is not None:
        logger.info("file already landed; not fetched again", extra={"index": item.index})
        return {"status": "landed", "index": item.index, "skipped": True}

    client = deps.clients.client_for(deps.settings.source(run.source))
    budget = DownloadBudget(
        lambda: deps.store.count_download(run.run_id, item.index),
        client.profile.max_downloads_per_file,
        f"{item.type} file #{item.index} ({item.url})",
    )
    transfer = FileTransfer(
        client,
        deps.landing,
        item,
        layout.staging_key(run.source, run.run_id, item.index),
        seconds_left,
        deps.sleep,
        url=_full_url(deps, run, item),
        budget=budget,
        known_types=_KNOWN_TYPES | frozenset(run.types),
    )
    metadata = _metadata(run, item, str(event.get("job_url") or ""), str(event.get("transaction_time") or ""))
    try:
        outcome = transfer.run(checkpoint, metadata)
    except Exception as error:
        # Kept for Record the failure: a Distributed Map reports only that too many items failed.
        deps.store.put_file_failure(
            run.run_id, item.index, type(error).__name__, str(error), item.url, utc_iso(deps.clock())
        )
        if isinstance(error, TransientError) and error.retry_after is not None and waits < MAX_SERVER_WAITS:
            # The server said how long to wait (503 + Retry-After; BCDA's token endpoint asks for 300 s):
            # wait in the state machine, not with the task retry's 5-40 s back-off.
            wait = math.ceil(min(MAX_WAIT_SECONDS, max(MIN_WAIT_SECONDS, error.retry_after)))
            logger.warning("the server asked to wait before downloading again", extra={"wait": wait})
            result: dict[str, Any] = {"status": "wait", "index": item.index, "wait_seconds": wait, "waits": waits + 1}
            if checkpoint is not None:
                # still intact: this invocation's upload of the same key was aborted, which never replaces it
                result["checkpoint"] = checkpoint.to_state()
            return result
        raise
    if isinstance(outcome, Checkpoint):
        return {"status": "partial", "index": item.index, "checkpoint": outcome.to_state(), "waits": waits}
    _record(deps, run, item, outcome, downloads=budget.used)
    if checkpoint is not None:
        deps.landing.delete(checkpoint.staging_key)
    return {"status": "landed", "index": item.index, "resumes": transfer.resumes, "downloads": budget.used}
