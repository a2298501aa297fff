"""Kick off export: start (or adopt, or resume) the server's export job."""

from __future__ import annotations

import logging
from typing import Any

from bulkfhir import (
    BulkDataClient,
    ExportFailedError,
    ExportGoneError,
    ExportRequest,
    KickOffAccepted,
    TransientError,
)
from bulkfhir.profiles import full_history_since
from ingest.payloads import JobState, RunContext
from ingest.ports import OpenJob
from ingest.timeutil import parse_utc, utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)

#: How long to keep asking when the server answers 429 with no job to adopt (BCDA: another job of
#: ours with overlapping types is still running; it refuses duplicates for up to 24 h).
KICKOFF_WAIT_BUDGET_SECONDS = 6 * 3600


def _request(run: RunContext, client: BulkDataClient) -> ExportRequest:
    since = parse_utc(run.since)
    if since is None:
        since = full_history_since(client.profile, client.config.api_version)
    return ExportRequest(
        target=run.export,
        types=run.types,
        since=since,
        until=parse_utc(run.until),
        type_filters=run.type_filters,
    )


def _record(deps: Deps, run: RunContext, job_url: str, kicked_off_at: str | None, adopted: bool) -> None:
    # Recorded at once, so that a re-run resumes polling this job instead of starting a second one.
    deps.store.put_open_job(
        run.source,
        run.scope,
        OpenJob(
            run_id=run.run_id,
            job_url=job_url,
            kicked_off_at=kicked_off_at,
            since=run.since,
            types=run.types,
            export=run.export,
            until=run.until,
            type_filters=run.type_filters,
            run_date=run.run_date,
            adopted=adopted,
        ),
    )
    deps.store.update_run(
        run.source, run.run_id, {"job_url": job_url, "kicked_off_at": kicked_off_at or "unknown", "adopted": adopted}
    )


def kick_off(deps: Deps, state: dict[str, Any]) -> JobState:
    run = RunContext.from_state(state)
    previous = JobState.from_state(state)
    client = deps.clients.client_for(deps.settings.source(run.source))
    attempts = previous.attempts if previous else 0
    # the wait the previous (throttled) kick-off asked for has just elapsed
    waited = (previous.waited_seconds + previous.wait_seconds) if previous else 0

    if run.resume_job_url and previous is None:
        try:
            client.check_status(run.resume_job_url)
            return JobState(
                status="accepted", job_url=run.resume_job_url, kicked_off_at=run.resume_kicked_off_at, adopted=True
            )
        except (ExportGoneError, ExportFailedError) as gone:
            logger.warning("the earlier run's job cannot be resumed; starting a new export", extra={"why": str(gone)})
            deps.store.clear_open_job(run.source, run.scope, run.run_id)

    result = client.kick_off(_request(run, client))
    if isinstance(result, KickOffAccepted):
        # AB2D filters lastUpdated, and refuses a _since in its future, by its own clock.
        kicked_off_at = utc_iso(result.server_time)
        _record(deps, run, result.status_url, kicked_off_at, adopted=False)
        return JobState(
            status="accepted",
            job_url=result.status_url,
            kicked_off_at=kicked_off_at,
            attempts=attempts,
            waited_seconds=waited,
        )

    if result.running_jobs:
        # AB2D refuses a second job and names the running one; for BCDA's duplicate-job 429 the client
        # found the job of exactly this request in the job history. Adopt it. Its start time is
        # unknown, so it cannot move a kick-off-time watermark (AB2D: the next run re-covers the gap).
        job_url = result.running_jobs[0]
        logger.warning("the server is already running an export for this client; adopting it")
        _record(deps, run, job_url, None, adopted=True)
        return JobState(status="accepted", job_url=job_url, kicked_off_at=None, adopted=True)

    attempts += 1
    if waited >= KICKOFF_WAIT_BUDGET_SECONDS:
        raise TransientError(
            f"the server kept answering 429 to the kick-off for {waited // 60} minutes ({attempts} attempts): "
            "another export for this client is probably running; wait for it or cancel it, then re-run"
        )
    wait = throttled_wait(result.retry_after, attempts)
    return JobState(status="throttled", wait_seconds=wait, attempts=attempts, waited_seconds=waited)


def throttled_wait(retry_after: float | None, attempts: int) -> int:
    """The server's Retry-After when it is meaningful; BCDA's default is 0, which would hammer it,
    so below 30 s the wait grows from 30 s by half each attempt, up to 15 minutes."""
    if retry_after is not None and retry_after >= 30:
        return int(min(retry_after, 3600))
    return int(min(900, 30 * 1.5 ** (attempts - 1)))
