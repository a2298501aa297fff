"""Check export status: one poll; say how long to wait, or write the file list once complete."""

from __future__ import annotations

import logging
from typing import Any

from bulkfhir import ExportComplete, Manifest, TransientError, next_poll_wait
from ingest import layout
from ingest.errors import ConfigurationError, ExportTimedOutError
from ingest.payloads import FileItem, JobState, PollState, RunContext
from ingest.timeutil import utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)

#: Status errors (5xx, 429, network) tolerated in a row before the run fails.
MAX_TRANSIENT_IN_A_ROW = 8


def file_items(run: RunContext, manifest: Manifest) -> list[FileItem]:
    """files.json: every output, error and deleted file with its landing key, in manifest order."""
    entries = [
        (kind, entry)
        for kind, files in (("output", manifest.output), ("error", manifest.error), ("deleted", manifest.deleted))
        for entry in files
    ]
    keys = layout.assign_keys(
        run.source, run.run_id, run.run_date, ((kind, entry.type or "Unknown") for kind, entry in entries)
    )
    items = []
    for index, ((kind, entry), key) in enumerate(zip(entries, keys, strict=True), start=1):
        expected = {
            name: value
            for name, value in (("sha256", entry.sha256), ("length", entry.length), ("count", entry.count))
            if value is not None
        }
        items.append(
            FileItem(
                index=index,
                kind=kind,
                type=entry.type or "Unknown",
                url=entry.url,
                key=key,
                requires_token=manifest.requires_access_token,
                expected=expected,
            )
        )
    return items


def _watermark_candidate(watermark_from: str, manifest: Manifest, job: JobState) -> str | None:
    """The next `_since`: BCDA/SMART the manifest's transactionTime, AB2D our kick-off time."""
    if watermark_from == "transaction_time" and manifest.transaction_time is not None:
        return utc_iso(manifest.transaction_time)
    if watermark_from == "transaction_time":
        logger.warning("transactionTime is not an ISO instant; falling back to the kick-off time")
    return job.kicked_off_at


def _complete(
    deps: Deps, run: RunContext, job: JobState, done: ExportComplete, previous: PollState, watermark_from: str
) -> PollState:
    manifest = done.manifest
    items = file_items(run, manifest)
    deps.landing.put_json(layout.server_manifest_key(run.source, run.run_id), manifest.raw)
    files_key = layout.files_key(run.source, run.run_id)
    deps.landing.put_json(files_key, [item.to_state() for item in items])
    candidate = _watermark_candidate(watermark_from, manifest, job)
    deps.store.update_run(
        run.source,
        run.run_id,
        {
            "transaction_time": manifest.transaction_time_raw or "none",
            "file_count": len(items),
            "files_key": files_key,
            "server_expires": done.expires_raw or "unknown",
        },
    )
    logger.info("export complete", extra={"files": len(items), "transaction_time": manifest.transaction_time_raw})
    return PollState(
        state="complete",
        polls=previous.polls + 1,
        waited_seconds=previous.waited_seconds,
        files_key=files_key,
        file_count=len(items),
        transaction_time=manifest.transaction_time_raw or None,
        watermark_candidate=candidate,
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
    if waited > budget:
        raise ExportTimedOutError(
            f"the export has been waited on for {waited // 3600} h {waited % 3600 // 60} min, over the budget of "
            f"{budget // 3600} h; the server job is being cancelled. Re-run later, or raise wait_budget_hours"
        )
    try:
        status = client.check_status(job.job_url)
    except TransientError as error:
        failures = previous.transient_failures + 1
        if failures > MAX_TRANSIENT_IN_A_ROW:
            raise
        wait = next_poll_wait(client.profile, error.retry_after, previous.polls)
        logger.warning("status check failed; will poll again", extra={"why": str(error), "wait": wait})
        return PollState(
            state="in_progress",
            wait_seconds=int(wait),
            progress=f"status check failed ({error.status or 'network'}); retrying",
            polls=previous.polls + 1,
            waited_seconds=waited,
            transient_failures=failures,
        )
    if isinstance(status, ExportComplete):
        previous = PollState(**{**previous.to_state(), "waited_seconds": waited})
        return _complete(deps, run, job, status, previous, client.profile.watermark_from)
    wait = next_poll_wait(client.profile, status.retry_after, previous.polls)
    return PollState(
        state="in_progress",
        wait_seconds=round(wait),
        progress=status.progress,
        polls=previous.polls + 1,
        waited_seconds=waited,
        transient_failures=0,
    )
