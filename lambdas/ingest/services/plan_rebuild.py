"""List landed files: a claims rebuild re-curates every file of the source that ever landed.

For when the rules change: the curated data of a source is derived again from what landed. The
list comes from the run ledger's landed-file records (each file's key, type and index in the run
that landed it), and goes to S3 for the rebuild's Distributed Map, never through state. Curated
files that no landed file produces (a run gone from the ledger, a type no longer curated) are
deleted first, so that the rebuild's result is what a fresh curation of the same files gives.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from claims import ROW_TYPES
from claims.layout import safe_part
from ingest import layout
from ingest.curation import should_curate, view_table_names
from ingest.errors import ConfigurationError
from ingest.payloads import RunContext
from ingest.wiring import Deps

logger = logging.getLogger(__name__)

# claims.layout.KEY_TEMPLATE's file name: <run_id>-<file_index:05d>.parquet
_CURATED_FILE = re.compile(r"/run_month=\d{4}-\d{2}/(?P<run>[^/]+)-(?P<index>\d{5})\.parquet$")


def _produced_now(deps: Deps, key: str, views: str | None) -> bool:
    """Whether a landed file of the ledger produces this curated key (one that landed after the
    plan was taken, by an export running meanwhile, included)."""
    found = _CURATED_FILE.search(key)
    record = deps.store.get_landed_file(found["run"], int(found["index"])) if found else None
    return record is not None and should_curate(record.kind, record.type, views)


def _prune(deps: Deps, source: str, produced: set[tuple[str, int]], views: str | None) -> int:
    """Delete the source's curated files (claims tables and view tables) that no landed file
    produces; how many."""
    pruned = 0
    for table in (*ROW_TYPES, *view_table_names(views)):
        for key in deps.landing.list_keys(f"curated/{safe_part(source)}/{table}/"):
            found = _CURATED_FILE.search(key)
            if (found and (found["run"], int(found["index"])) in produced) or _produced_now(deps, key, views):
                continue
            deps.landing.delete(key)
            pruned += 1
    return pruned


def plan_rebuild(deps: Deps, state: dict[str, Any]) -> dict[str, Any]:
    run = RunContext.from_state(state)
    if run.mode != "rebuild_claims":
        raise ConfigurationError("List landed files runs only in a claims rebuild ($.run.mode)")
    items: list[dict[str, Any]] = []
    runs = 0
    views = deps.settings.user_views_dir
    for ledger in deps.store.all_runs(run.source):
        # a run whose job was never resumed had its files discarded (services.discard_run)
        if ledger["run_id"] == run.run_id or "discarded_files" in ledger:
            continue
        landed = [
            f for f in deps.store.list_landed_files(str(ledger["run_id"])) if should_curate(f.kind, f.type, views)
        ]
        runs += bool(landed)
        items += [
            {"index": f.index, "kind": f.kind, "type": f.type, "key": f.key, "landed_run_id": ledger["run_id"],
             "landed_transaction_time": ledger.get("transaction_time")}
            for f in landed
        ]  # fmt: skip
    pruned = _prune(deps, run.source, {(str(item["landed_run_id"]), int(item["index"])) for item in items}, views)
    files_key = layout.curation_list_key(run.source, run.run_id)
    deps.landing.put_json(files_key, items)
    deps.store.update_run(
        run.source, run.run_id, {"file_count": len(items), "files_key": files_key, "runs": runs, "pruned": pruned}
    )
    logger.info("claims rebuild planned", extra={"files": len(items), "runs": runs, "pruned": pruned})
    return {"state": "complete", "files_key": files_key, "file_count": len(items), "runs": runs, "pruned": pruned}
