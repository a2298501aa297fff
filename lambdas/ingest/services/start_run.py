"""Start run: validate the input, take the scope's lease, read its watermark, resolve the run."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any

from ingest.errors import RunInProgressError
from ingest.payloads import RunContext, RunInput
from ingest.settings import SourceSettings
from ingest.timeutil import parse_utc, utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)


def scope_of(export: str, types: tuple[str, ...], default_types: tuple[str, ...]) -> str:
    """A run's scope: its export target, plus its types when they differ from the source's default.
    Leases and watermarks are per scope, so a manual run of other types has its own watermark."""
    if not types or tuple(sorted(types)) == tuple(sorted(default_types)):
        return export
    return f"{export}?_type={','.join(sorted(types))}"


def new_run_id(now_text: str) -> str:
    # Sortable by start time, unique enough to share a prefix: 20261125T064800.123Z-a1b2c3. The
    # milliseconds matter: a run started in the same second as the previous one ended (a re-run
    # after a fast failure) would otherwise sort by its random suffix and `runs` would list it second.
    stamp = now_text[:23].replace("-", "").replace(":", "")
    return f"{stamp}Z-{secrets.token_hex(3)}"


def request_of(source: SourceSettings, run: RunContext) -> dict[str, Any]:
    """Everything that shapes the server's export: the server and API version as configured now, and
    the parameters. A run resumes an earlier run's job only when this is exactly equal."""
    return {
        "api": source.api,
        "base_url": source.base_url,
        "api_version": source.api_version,
        "export": run.export,
        "types": list(run.types),
        "since": run.since,
        "until": run.until,
        "type_filters": list(run.type_filters),
    }


def watermark_held(request: RunInput, since: str | None, watermark: str | None) -> str | None:
    """Why this run may not move the scope's watermark, or None when it covers the scope's whole window:
    from at most the watermark (or from the beginning), to now, every resource of the scope's types.
    A narrower run moving it would make the scheduled run skip data nobody fetched."""
    if request.until:
        return f"it asked only up to {request.until} (until)"
    if request.type_filters:
        return "it asked for a filtered subset (type_filters)"
    if since is not None and watermark is None:
        return f"it asked from {since}, and the scope has no watermark yet: only a full pull sets the first one"
    if since is not None and watermark is not None and since > watermark:
        return f"it asked from {since}, later than the watermark {watermark}"
    return None


#: The lease scope of a claims rebuild: one at a time per source, beside any export scope.
REBUILD_SCOPE = "claims-rebuild"


def start_run(deps: Deps, event: dict[str, Any], execution: str) -> RunContext:
    request = RunInput.from_state(event)
    if request.rebuild_claims:
        return _start_rebuild(deps, request, execution)
    source = deps.settings.source(request.source)
    export = request.export or source.export
    types = request.types if request.types is not None else source.types
    scope = scope_of(export, types, source.types)
    now = deps.clock()

    watermark = deps.store.get_watermark(source.name, scope)
    if request.since == "auto":
        since = watermark
    elif request.since == "none":
        since = None
    else:
        parsed = parse_utc(request.since)
        since = utc_iso(parsed) if parsed else None

    run = RunContext(
        run_id=new_run_id(utc_iso(now)),
        source=source.name,
        scope=scope,
        export=export,
        types=types,
        since=since,
        until=request.until,
        type_filters=request.type_filters,
        run_date=now.strftime("%Y-%m-%d"),
        started_at=utc_iso(now),
        watermark_before=watermark,
        download_concurrency=source.download_concurrency,
        execution=execution,
        input=request.to_state(),
        watermark_held=watermark_held(request, since, watermark),
    )
    open_job = deps.store.get_open_job(source.name, scope)
    if open_job and open_job.request == request_of(source, run):
        # A run of this very request died after its kick-off: resume its server job (and skip the
        # files it already landed) instead of starting a second export.
        run = replace(
            run,
            run_id=open_job.run_id,
            run_date=open_job.run_date,
            resume_job_url=open_job.job_url,
            resume_kicked_off_at=open_job.kicked_off_at,
        )
        logger.info("resuming an earlier run's export job", extra={"run_id": run.run_id})
    elif open_job:
        # Another request (other parameters, another server or API version): not resumed. Kick off
        # cancels that job if this stack started it and it still runs.
        run = replace(run, stale_job_url=open_job.job_url)

    _take_lease(deps, source.name, scope, run.run_id, execution, now)
    record = {
        "status": "RUNNING",
        "scope": scope,
        "execution": execution,
        "started_at": utc_iso(now),
        "since": since or "none",
        "watermark_before": watermark or "none",
        "watermark_held": run.watermark_held or "no",
    }
    if run.resume_job_url:
        # the run goes on: the failure that stopped it is history, not its outcome (found by the soak)
        previous = deps.store.get_run(source.name, run.run_id) or {}
        resumed = {**record, "resumed_at": utc_iso(now)}
        if previous.get("error"):
            resumed["resumed_after"] = f"{previous['error']}: {previous.get('cause', '')}"[:1000]
        deps.store.update_run(source.name, run.run_id, resumed, remove=("error", "cause", "failed_at"))
    else:
        deps.store.put_run(source.name, run.run_id, record)
    return run


def _start_rebuild(deps: Deps, request: RunInput, execution: str) -> RunContext:
    """A claims rebuild: no server, no watermark; its own lease, so two rebuilds never overlap."""
    source = deps.settings.source(request.source)
    now = deps.clock()
    run = RunContext(
        run_id=new_run_id(utc_iso(now)),
        source=source.name,
        scope=REBUILD_SCOPE,
        export=source.export,
        types=(),
        since=None,
        until=None,
        type_filters=(),
        run_date=now.strftime("%Y-%m-%d"),
        started_at=utc_iso(now),
        watermark_before=None,
        download_concurrency=source.download_concurrency,
        execution=execution,
        input=request.to_state(),
        watermark_held="a claims rebuild exports nothing",
        mode="rebuild_claims",
    )
    _take_lease(deps, source.name, REBUILD_SCOPE, run.run_id, execution, now)
    deps.store.put_run(
        source.name,
        run.run_id,
        {"status": "RUNNING", "scope": REBUILD_SCOPE, "execution": execution, "started_at": run.started_at},
    )
    return run


def _take_lease(deps: Deps, source: str, scope: str, run_id: str, execution: str, now: datetime) -> None:
    """Take the scope's lease, or take it over from an execution that ended without releasing it
    (stopped by hand, or timed out: Step Functions runs no catch path for either)."""
    now_epoch, seconds = int(now.timestamp()), deps.settings.lease_seconds
    try:
        deps.store.acquire_lease(source, scope, run_id, execution, now_epoch, seconds)
        return
    except RunInProgressError:
        holder = deps.store.get_lease(source, scope)
        ended = deps.executions.status(holder.execution) if holder else None
        if holder is None or ended in (None, "RUNNING"):
            raise
        if not deps.store.take_over_lease(source, scope, run_id, execution, now_epoch, seconds, ended=holder):
            raise  # another run took it over first
    logger.warning(
        "took over the lease of an execution that ended without releasing it",
        extra={"previous_run_id": holder.run_id, "previous_execution": holder.execution, "previous_status": ended},
    )
    if holder.run_id != run_id:  # a resumed run rewrites its own ledger entry next
        previous = deps.store.get_run(source, holder.run_id)
        if previous and previous.get("status") == "RUNNING":
            deps.store.update_run(
                source,
                holder.run_id,
                {
                    "status": ended,
                    "error": f"Execution{ended.title().replace('_', '')}",
                    "cause": f"the execution ended {ended} without finishing the run; run {run_id} took its lease over",
                    "failed_at": utc_iso(now),
                },
            )
