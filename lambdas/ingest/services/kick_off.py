"""Kick off export: start (or resume, or adopt) the server's export job.

A job is adopted only when it is of exactly this run's request and no other run of this stack has
claimed it: AB2D's 429 names every active job of the organisation (other clients, other API versions,
other sources of this stack), so a job it names is adopted only once its own manifest shows its request
(or our claim record does). A job this stack did not start is never cancelled.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from bulkfhir import (
    BulkDataClient,
    BulkDataError,
    ExportComplete,
    ExportInProgress,
    ExportRequest,
    KickOffAccepted,
    TransientError,
)
from bulkfhir._http import origin, strip_query
from bulkfhir.profiles import full_history_since
from ingest.payloads import JobState, RunContext
from ingest.ports import OpenJob, ServerJob
from ingest.services.discard_run import discard_landed_files
from ingest.services.file_transfer import DownloadBudget
from ingest.services.start_run import request_of
from ingest.timeutil import parse_utc, utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)

#: How long to keep asking when the server answers 429 with no job to adopt (BCDA: another job of
#: ours with overlapping types is still running; it refuses duplicates for up to 24 h).
KICKOFF_WAIT_BUDGET_SECONDS = 6 * 3600
#: Running jobs of unknown request remembered between kick-off attempts (each is polled once per attempt).
MAX_SEEN_JOBS = 5
#: The longest a server's Retry-After is honoured for, per wait.
MAX_SERVER_WAIT_SECONDS = 3600
#: No job named by the server is looked at once the invocation has run this long: the rest are kept for
#: the next attempt, so that the kick-off itself always fits the function's timeout (AB2D's 429 may name
#: twenty jobs, each a status request).
ADOPTION_CHECK_SECONDS = 60.0


def export_request(run: RunContext, client: BulkDataClient) -> ExportRequest:
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
    source = deps.settings.source(run.source)
    deps.store.put_open_job(
        run.source,
        run.scope,
        OpenJob(
            run_id=run.run_id,
            job_url=job_url,
            kicked_off_at=kicked_off_at,
            request=request_of(source, run),
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
    if previous is None and run.resume_job_url:
        return _resume(deps, run, client) or JobState(status="restart")
    if previous is None and run.stale_job_url:
        _retire_stale_job(deps, run, client)
    return _kick(deps, run, client, previous)


def _kick(deps: Deps, run: RunContext, client: BulkDataClient, previous: JobState | None) -> JobState:
    checks_until = time.monotonic() + ADOPTION_CHECK_SECONDS
    attempts = previous.attempts if previous else 0
    # the wait the previous (throttled) kick-off asked for has just elapsed
    waited = (previous.waited_seconds + previous.wait_seconds) if previous else 0
    request = export_request(run, client)
    request_url = client.export_url(request)
    seen = previous.seen_jobs if previous else ()
    adopted = _adopt_completed(deps, run, client, request_url, seen, checks_until)
    if adopted is not None:
        return adopted
    try:
        result = client.kick_off(request)
    except TransientError as error:
        if error.retry_after is None:
            raise  # the state machine's retry (seconds apart) handles a server that says nothing
        # 503 + Retry-After, a token endpoint's 429 (BCDA's SSAS asks for 300 s): wait as asked.
        return _throttled(error.retry_after, attempts + 1, waited, seen, why=str(error))
    if isinstance(result, KickOffAccepted):
        # AB2D filters lastUpdated, and refuses a _since in its future, by its own clock.
        kicked_off_at = utc_iso(result.server_time)
        _claim_accepted(deps, run, result.status_url, request_url)
        _record(deps, run, result.status_url, kicked_off_at, adopted=False)
        return JobState(
            status="accepted",
            job_url=result.status_url,
            kicked_off_at=kicked_off_at,
            started_by_us=True,
            attempts=attempts,
            waited_seconds=waited,
        )
    unknown = _unclaimed(deps, run, result.running_jobs)
    adopted = _adopt_matching(deps, run, request_url, result.matching_jobs) or _adopt_completed(
        deps, run, client, request_url, unknown, checks_until
    )
    if adopted is not None:
        return adopted
    seen = tuple(dict.fromkeys((*unknown, *seen)))[:MAX_SEEN_JOBS]
    return _throttled(result.retry_after, attempts + 1, waited, seen, why="the server answered 429")


def _adopt_matching(deps: Deps, run: RunContext, request_url: str, job_urls: tuple[str, ...]) -> JobState | None:
    """BCDA's job history shows these jobs' requests: exactly ours (most likely our own kick-off whose
    202 was lost). Their start time is unknown, so they cannot move a kick-off-time watermark."""
    for job_url in job_urls:
        if _claim(deps, run, job_url, request_url, started_by_us=False):
            logger.warning("the server is already running this very export; adopting it")
            _record(deps, run, job_url, None, adopted=True)
            return JobState(status="accepted", job_url=job_url, adopted=True)
    return None


def _throttled(retry_after: float | None, attempts: int, waited: int, seen: tuple[str, ...], *, why: str) -> JobState:
    if waited >= KICKOFF_WAIT_BUDGET_SECONDS:
        raise TransientError(
            f"the server kept refusing the kick-off for {waited // 60} minutes ({attempts} attempts; last: "
            f"{why[:300]}): another export for this client is probably running; wait for it or cancel it, then re-run"
        )
    return JobState(
        status="throttled",
        wait_seconds=throttled_wait(retry_after, attempts),
        attempts=attempts,
        waited_seconds=waited,
        seen_jobs=seen,
    )


def throttled_wait(retry_after: float | None, attempts: int) -> int:
    """The server's Retry-After when it is meaningful; BCDA's default is 0, which would hammer it,
    so below 30 s the wait grows from 30 s by half each attempt, up to 15 minutes."""
    if retry_after is not None and retry_after >= 30:
        return math.ceil(min(retry_after, MAX_SERVER_WAIT_SECONDS))  # never short of what the server named
    return int(min(900, 30 * 1.5 ** (attempts - 1)))


def _claim(deps: Deps, run: RunContext, job_url: str, request_url: str, *, started_by_us: bool) -> bool:
    claimed = deps.store.claim_server_job(
        ServerJob(
            job_url=strip_query(job_url),
            source=run.source,
            run_id=run.run_id,
            request_url=request_url,
            started_by_us=started_by_us,
        )
    )
    if not claimed:
        logger.warning("another run of this stack has claimed that job; not adopting it")
    return claimed


def _claim_accepted(deps: Deps, run: RunContext, job_url: str, request_url: str) -> None:
    """The job the server has just accepted for this run is this run's, whatever the table says: a claim
    already on its URL is of an earlier job that the server no longer has and whose URL it gave out again
    (a server restarted or reset with its job counter: the local emulator, a test server)."""
    job = ServerJob(strip_query(job_url), run.source, run.run_id, request_url, started_by_us=True)
    earlier = deps.store.replace_server_job(job)
    if earlier is not None and earlier.run_id != run.run_id:
        logger.warning(
            "the server gave this run's new job the URL of run %s's job, which it no longer has (was it "
            "restarted or reset?); the URL is this run's job now",
            earlier.run_id,
            extra={"job_url": job.job_url, "earlier_run": earlier.run_id},
        )


def _unclaimed(deps: Deps, run: RunContext, job_urls: tuple[str, ...]) -> tuple[str, ...]:
    """The named jobs no other run of this stack has claimed (a claimed one is that run's, whatever it asked)."""
    free = []
    for job_url in job_urls:
        claim = deps.store.get_server_job(strip_query(job_url))
        if claim is None or claim.run_id == run.run_id:
            free.append(job_url)
    return tuple(free)


def _adopt_completed(
    deps: Deps,
    run: RunContext,
    client: BulkDataClient,
    request_url: str,
    job_urls: tuple[str, ...],
    checks_until: float,
) -> JobState | None:
    """Adopt a named job once it has completed with a manifest whose ``request`` is exactly ours: its
    files are what this run would export (AB2D no longer lists a finished job, so it is remembered).
    Jobs are looked at until ``checks_until`` (time.monotonic); the others wait for the next attempt."""
    for job_url in job_urls:
        if time.monotonic() > checks_until:
            logger.info("no time left to look at the other jobs the server named; next attempt")
            return None
        try:
            status = client.check_status(job_url)
        except BulkDataError as error:
            logger.info("a job the server named cannot be looked at", extra={"why": str(error)[:300]})
            continue
        if not isinstance(status, ExportComplete):
            continue
        if not client.same_request(status.manifest.request, request_url):
            continue
        if _claim(deps, run, job_url, request_url, started_by_us=False):
            logger.warning("a job the server named finished with exactly this request; adopting it")
            _record(deps, run, job_url, None, adopted=True)
            return JobState(status="accepted", job_url=job_url, adopted=True)
    return None


def _resume(deps: Deps, run: RunContext, client: BulkDataClient) -> JobState | None:
    """Poll the earlier run's job once. None when it cannot be resumed: the job is then abandoned
    (recorded, and the run starts over with a fresh export) instead of failing every later run."""
    job_url = str(run.resume_job_url)
    claim = deps.store.get_server_job(strip_query(job_url))
    try:
        status = client.check_status(job_url)
    except TransientError:
        raise  # retried; the job is kept for the next run if the server stays down
    except BulkDataError as error:
        _abandon(deps, run, f"{type(error).__name__}: {error}")
        return None
    landed = {record.index for record in deps.store.list_landed_files(run.run_id)}
    unfinishable = _files_expired(status, deps) or _downloads_spent(deps, run, client, landed)
    if unfinishable and not _all_landed(deps, run, landed):
        _abandon(deps, run, unfinishable)
        return None
    return JobState(
        status="accepted",
        job_url=job_url,
        kicked_off_at=run.resume_kicked_off_at,
        adopted=True,
        started_by_us=bool(claim and claim.started_by_us and claim.run_id == run.run_id),
    )


def _files_expired(status: ExportInProgress | ExportComplete, deps: Deps) -> str | None:
    """Why a completed job's files can no longer be fetched, when its status says so: AB2D still answers
    the manifest of a job whose files expired (Expires: 72 h after completion; its downloads then answer
    500 "The file is not present as it has expired"), so a resume a month later (the next scheduled run)
    failed for every file, and only the run after it started over. A server's Expires is read against
    its own clock (its Date header)."""
    if not isinstance(status, ExportComplete) or status.expires is None:
        return None
    now = status.server_time or deps.clock()
    if status.expires > now:
        return None
    return f"its files expired at {utc_iso(status.expires)} (the server's Expires; its clock says {utc_iso(now)})"


def _downloads_spent(deps: Deps, run: RunContext, client: BulkDataClient, landed: set[int]) -> str | None:
    """Why a file still to land cannot be fetched again: it used the downloads a server allows per file
    (AB2D: six, one kept in reserve; ``DownloadBudget``), counted across the earlier run's attempts."""
    limit = DownloadBudget(lambda: 0, client.profile.max_downloads_per_file, "").limit
    if limit is None:
        return None
    used = deps.store.downloads_per_file(run.run_id)
    spent = sorted(index for index, count in used.items() if count >= limit and index not in landed)
    if not spent:
        return None
    return (
        f"file #{spent[0]} was requested {limit} times, all the downloads the server allows per file but the "
        "one kept in reserve"
    )


def _all_landed(deps: Deps, run: RunContext, landed: set[int]) -> bool:
    """Every file of the earlier run's export landed (it failed later: curation, the announcement):
    its resume needs no download, and its landed files, perhaps announced already, must stay."""
    listed = (deps.store.get_run(run.source, run.run_id) or {}).get("file_count")
    return listed is not None and len(landed) >= int(listed)


def _abandon(deps: Deps, run: RunContext, why: str) -> None:
    logger.warning("the earlier run's job cannot be resumed; abandoning it", extra={"why": why[:500]})
    cause = f"its export job could not be resumed ({why[:600]}); the run started over with a fresh export"
    deps.store.update_run(
        run.source,
        run.run_id,
        {"status": "ABANDONED", "error": "ResumeAbandoned", "cause": cause, "failed_at": utc_iso(deps.clock())},
    )
    _never_resumed(deps, run.source, run.scope, OpenJob(run.run_id, str(run.resume_job_url), None, {}, run.run_date))


def _never_resumed(deps: Deps, source: str, scope: str, job: OpenJob) -> None:
    """A run whose export job will never be resumed: its open job cleared and, since a later export lands
    every file again, the files it landed discarded, so that nothing is there twice (#14). The ledger
    says so (a claims rebuild skips such a run)."""
    deps.store.clear_open_job(source, scope, job.run_id)
    discarded = discard_landed_files(deps, source, job.run_id, job.run_date)
    deps.store.update_run(source, job.run_id, {"discarded_files": discarded, "discarded_at": utc_iso(deps.clock())})


def _retire_stale_job(deps: Deps, run: RunContext, client: BulkDataClient) -> None:
    """An earlier run's job of another request: cancel it if this stack started it on this server (a
    job still running would hold BCDA's duplicate-job slot); it is never resumed."""
    job_url = str(run.stale_job_url)
    stale = deps.store.get_open_job(run.source, run.scope)
    if stale is not None and stale.job_url == job_url and stale.run_id != run.run_id:
        # its ledger entry keeps the status it ended with (FAILED, ABORTED...): only its files go
        _never_resumed(deps, run.source, run.scope, stale)
    claim = deps.store.get_server_job(strip_query(job_url))
    if not (claim and claim.started_by_us) or origin(job_url) != origin(client.api_root):
        return
    try:
        client.cancel(job_url)
    except BulkDataError as error:
        logger.warning("could not cancel an earlier run's job", extra={"why": str(error)[:300]})
