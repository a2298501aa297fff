"""Finalize run: check every file landed, write the run manifest, announce, then move the watermark.

The effects are ordered so that a failure anywhere leaves a state a re-run completes: the run
manifest and the ExportLanded event come first, the watermark after them, and the ledger's
SUCCEEDED, the open job and the lease last. A run that fails after announcing keeps its open job, so
the re-run resumes it, finds every file landed, announces again (consumers de-duplicate on
``run_id``) and moves the watermark. Never the other way round: a watermark moved before a lost
announcement would leave consumers unaware of that data for good.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any

from ingest import layout
from ingest.curation import should_curate
from ingest.errors import ConfigurationError, IncompleteRunError
from ingest.payloads import JobState, LandedFile, PollState, RunContext
from ingest.timeutil import utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)


def _watermark_after(deps: Deps, run: RunContext, poll: PollState, partial: str | None) -> tuple[str | None, str]:
    """(the watermark this run leaves, the note saying why: "moved", "moved, clamped: ..." or
    "not moved: ...")."""
    current = deps.store.get_watermark(run.source, run.scope)
    if run.watermark_held:
        return current, f"not moved: {run.watermark_held}"
    if partial:
        return current, f"not moved: {partial}; the next run asks again from {current or 'the beginning'}"
    if not poll.watermark_candidate:
        why = poll.watermark_clamped or "this export gives no watermark (an adopted job of unknown start)"
        return current, f"not moved: {why}"
    if current is not None and current >= poll.watermark_candidate:
        return current, f"not moved: it already stands at {current}"
    return poll.watermark_candidate, f"moved, clamped: {poll.watermark_clamped}" if poll.watermark_clamped else "moved"


def _partial(records: list[LandedFile]) -> str | None:
    """Why the export does not hold everything it was asked for: error files whose OperationOutcomes
    report failed outputs (bulkfhir.outcomes), not per-record errors. None when it does."""
    failing = [record for record in records if record.failed_outputs]
    if not failing:
        return None
    count = sum(record.failed_outputs for record in failing)
    types = list(dict.fromkeys(kind for record in failing for kind in record.failed_types))
    named = f" of {', '.join(types)}" if types else ""
    files = ", ".join(f"#{record.index}" for record in failing[:5]) + (", …" if len(failing) > 5 else "")
    return (
        f"the server reported {count} failed output{'s' if count != 1 else ''}{named} in its error files "
        f"({files}): those resources are in no file of this export"
    )


def _not_curated(files: list[LandedFile], user_views_dir: str | None) -> list[LandedFile]:
    """Landed files whose claims (and views) are not curated from exactly their landed bytes."""
    return [f for f in files if should_curate(f.kind, f.type, user_views_dir) and f.curated_sha256 != f.sha256]


def _incomplete(what: str, gaps: list[str], total: int) -> IncompleteRunError:
    sample = ", ".join(gaps[:5]) + (", …" if len(gaps) > 5 else "")
    return IncompleteRunError(f"{len(gaps)} of {total} files {what} ({sample}); re-run: what is done is not done again")


def _claim_rows(files: list[LandedFile]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for landed in files:
        totals.update(landed.curated_rows)
    return dict(totals)


def finalize_rebuild(deps: Deps, run: RunContext, poll: PollState) -> dict[str, Any]:
    """A claims rebuild ends when every listed file is curated from its landed bytes."""
    assert poll.files_key is not None
    by_run: dict[str, set[int]] = defaultdict(set)
    for item in deps.landing.get_json(poll.files_key):
        by_run[str(item["landed_run_id"])].add(int(item["index"]))
    files = [f for run_id, wanted in by_run.items() for f in deps.store.list_landed_files(run_id) if f.index in wanted]
    gaps = [f"{f.key}" for f in _not_curated(files, deps.settings.user_views_dir)]
    if gaps or len(files) != sum(len(w) for w in by_run.values()):
        raise _incomplete("were not curated", gaps or ["a landed record is gone"], poll.file_count)
    now = utc_iso(deps.clock())
    claims = _claim_rows(files)
    deps.store.update_run(
        run.source, run.run_id, {"status": "SUCCEEDED", "completed_at": now, "files": len(files), "claims": claims}
    )
    deps.store.release_lease(run.source, run.scope, run.run_id, run.execution)
    return {"run_id": run.run_id, "files": len(files), "claims": claims, "mode": run.mode}


def finalize(deps: Deps, state: dict[str, Any]) -> dict[str, Any]:
    run = RunContext.from_state(state)
    job = JobState.from_state(state)
    poll = PollState.from_state(state)
    if poll is not None and poll.state == "complete" and poll.files_key and run.mode == "rebuild_claims":
        return finalize_rebuild(deps, run, poll)
    if job is None or poll is None or poll.state != "complete" or poll.files_key is None:
        raise ConfigurationError("Finalize run needs a complete export ($.poll.state == 'complete')")
    expected = deps.landing.get_json(poll.files_key)
    landed = {record.index: record for record in deps.store.list_landed_files(run.run_id)}
    # A file is landed when the record of its index is of its URL (a resumed run keeps indexes by URL).
    gaps = [item for item in expected if getattr(landed.get(int(item["index"])), "url", None) != item["url"]]
    if gaps:
        raise _incomplete("did not land", [f"#{item['index']} {item['type']}" for item in gaps], len(expected))
    records = [landed[int(item["index"])] for item in expected]
    uncurated = _not_curated(records, deps.settings.user_views_dir)
    if uncurated:
        # A run succeeds only with its claims curated: the watermark must not pass data whose claims
        # nobody can query.
        raise _incomplete("are not curated into claims", [f"#{f.index} {f.type}" for f in uncurated], len(records))
    files = [record.to_state() for record in records]
    totals = {
        "files": len(files),
        "records": sum(f["lines"] for f in files if f["kind"] == "output"),
        "bytes": sum(f["bytes"] for f in files),
    }
    claims = _claim_rows(records)
    now = utc_iso(deps.clock())
    partial = _partial(records)
    watermark_after, note = _watermark_after(deps, run, poll, partial)
    moved = note.startswith("moved")
    manifest_key = layout.run_manifest_key(run.source, run.run_id)
    deps.landing.put_json(
        manifest_key,
        {
            "run_id": run.run_id,
            "source": run.source,
            "scope": run.scope,
            "job_url": job.job_url,
            "kicked_off_at": job.kicked_off_at,
            "since": run.since,
            "transaction_time": poll.transaction_time,
            "watermark": {"before": run.watermark_before, "after": watermark_after, "note": note},
            "partial": partial,
            "completed_at": now,
            "file_count": totals["files"],
            "records": totals["records"],
            "bytes": totals["bytes"],
            "polls": poll.polls,
            "claims": claims,
            "files": files,
        },
    )
    deps.events.publish(
        "ExportLanded",
        {
            "source": run.source,
            "run_id": run.run_id,
            "scope": run.scope,
            "transaction_time": poll.transaction_time,
            "watermark_before": run.watermark_before,
            "watermark_after": watermark_after,
            "manifest_key": manifest_key,
            "claims": claims,
            "partial": partial,
            **totals,
        },
    )
    if moved and watermark_after is not None:
        deps.store.advance_watermark(run.source, run.scope, watermark_after, run.run_id, now)
    else:
        logger.info("the watermark stays", extra={"why": note})
    history_events = deps.executions.history_events(run.execution)
    deps.store.update_run(
        run.source,
        run.run_id,
        {
            "status": "SUCCEEDED",
            "completed_at": now,
            "watermark_after": watermark_after or "none",
            "watermark_note": note,
            "partial": partial or "no",
            "polls": poll.polls,
            "history_events": history_events if history_events is not None else "unknown",
            "claims": claims,
            **totals,
        },
    )
    deps.store.clear_open_job(run.source, run.scope, run.run_id)
    deps.store.release_lease(run.source, run.scope, run.run_id, run.execution)
    return {
        "run_id": run.run_id,
        "manifest_key": manifest_key,
        "watermark_after": watermark_after,
        "watermark_note": note,
        "partial": partial,
        "polls": poll.polls,
        "claims": claims,
        **totals,
    }
