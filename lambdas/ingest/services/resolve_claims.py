"""Resolve claims: the source's claims_current, claim_versions and patients_current snapshots, the
old ones plus what this run curated (resolve.resolve_source), switched when the run's files are all
curated and before Finalize, so that a query reads the latest snapshot and never all of history.

A claims rebuild resolves from every curated file. The generation is named by the run id: a
retried step writes the same keys again; the manifests switch to it last.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from ingest.payloads import RunContext
from ingest.wiring import Deps
from resolve import SnapshotStore, resolve_source

logger = logging.getLogger(__name__)

#: DuckDB's share of the function's 3,008 MB; past it DuckDB spills to /tmp (10 GB ephemeral storage)
MEMORY_LIMIT = "2GB"


def resolve_claims(deps: Deps, state: dict[str, Any], store: SnapshotStore) -> dict[str, Any]:
    run = RunContext.from_state(state)
    with tempfile.TemporaryDirectory(prefix="resolve-") as workdir:
        report = resolve_source(
            store,
            run.source,
            Path(workdir),
            run.run_id,
            full=run.mode == "rebuild_claims",
            memory_limit=MEMORY_LIMIT,
        )
    result = {
        "generation": report.generation,
        "mode": report.mode,
        "folded_files": report.folded_files,
        "rows": report.rows,
        "touched": report.touched,
    }
    logger.info("claims resolved", extra=result)
    return result
