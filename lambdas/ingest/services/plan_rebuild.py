"""List landed files: a claims rebuild re-curates every file of the source that ever landed.

For when the rules change: the curated data of a source is derived again from what landed. The
list comes from the run ledger's landed-file records (each file's key, type and index in the run
that landed it), and goes to S3 for the rebuild's Distributed Map, never through state.
"""

from __future__ import annotations

import logging
from typing import Any

from ingest import layout
from ingest.curation import should_curate
from ingest.errors import ConfigurationError
from ingest.payloads import RunContext
from ingest.wiring import Deps

logger = logging.getLogger(__name__)


def plan_rebuild(deps: Deps, state: dict[str, Any]) -> dict[str, Any]:
    run = RunContext.from_state(state)
    if run.mode != "rebuild_claims":
        raise ConfigurationError("List landed files runs only in a claims rebuild ($.run.mode)")
    items: list[dict[str, Any]] = []
    runs = 0
    views = deps.settings.user_views_dir
    for ledger in deps.store.all_runs(run.source):
        if ledger["run_id"] == run.run_id:
            continue
        landed = [
            f for f in deps.store.list_landed_files(str(ledger["run_id"])) if should_curate(f.kind, f.type, views)
        ]
        runs += bool(landed)
        items += [
            {"index": f.index, "kind": f.kind, "type": f.type, "key": f.key, "landed_run_id": ledger["run_id"]}
            for f in landed
        ]
    files_key = layout.curation_list_key(run.source, run.run_id)
    deps.landing.put_json(files_key, items)
    deps.store.update_run(run.source, run.run_id, {"file_count": len(items), "files_key": files_key, "runs": runs})
    logger.info("claims rebuild planned", extra={"files": len(items), "runs": runs})
    return {"state": "complete", "files_key": files_key, "file_count": len(items), "runs": runs}
