"""Finalize run: check every file landed, write the run manifest, move the watermark, announce."""

from __future__ import annotations

import logging
from typing import Any

from ingest import layout
from ingest.errors import ConfigurationError, IncompleteRunError
from ingest.payloads import JobState, PollState, RunContext
from ingest.timeutil import utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)


def finalize(deps: Deps, state: dict[str, Any]) -> dict[str, Any]:
    run = RunContext.from_state(state)
    job = JobState.from_state(state)
    poll = PollState.from_state(state)
    if job is None or poll is None or poll.state != "complete" or poll.files_key is None:
        raise ConfigurationError("Finalize run needs a complete export ($.poll.state == 'complete')")
    expected = deps.landing.get_json(poll.files_key)
    landed = {record.index: record for record in deps.store.list_landed_files(run.run_id)}
    missing = [item for item in expected if int(item["index"]) not in landed]
    if missing:
        sample = ", ".join(f"#{item['index']} {item['type']}" for item in missing[:5])
        raise IncompleteRunError(
            f"{len(missing)} of {len(expected)} files did not land ({sample}{', …' if len(missing) > 5 else ''}); "
            "re-run: files already landed are not fetched again"
        )
    files = [landed[int(item["index"])].to_state() for item in expected]
    totals = {
        "files": len(files),
        "records": sum(f["lines"] for f in files if f["kind"] == "output"),
        "bytes": sum(f["bytes"] for f in files),
    }
    now = utc_iso(deps.clock())
    watermark_after = run.watermark_before
    if poll.watermark_candidate:
        moved = deps.store.advance_watermark(run.source, run.scope, poll.watermark_candidate, run.run_id, now)
        watermark_after = poll.watermark_candidate if moved else deps.store.get_watermark(run.source, run.scope)
    else:
        logger.warning("this export gives no watermark (an adopted job of unknown start); the watermark stays")
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
            "watermark": {"before": run.watermark_before, "after": watermark_after},
            "completed_at": now,
            "file_count": totals["files"],
            "records": totals["records"],
            "bytes": totals["bytes"],
            "files": files,
        },
    )
    deps.store.update_run(
        run.source,
        run.run_id,
        {"status": "SUCCEEDED", "completed_at": now, "watermark_after": watermark_after or "none", **totals},
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
            **totals,
        },
    )
    deps.store.clear_open_job(run.source, run.scope, run.run_id)
    deps.store.release_lease(run.source, run.scope, run.run_id)
    return {"run_id": run.run_id, "manifest_key": manifest_key, "watermark_after": watermark_after, **totals}
