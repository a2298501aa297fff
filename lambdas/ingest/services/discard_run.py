"""Discard what an abandoned run landed: its export job could not be resumed, so the run starts over
with a fresh export of the same request, which lands every file again. Left in place, the abandoned
run's files would sit beside the fresh ones under fhir/ and be counted twice by the raw tables, and
their curated rows would turn up as duplicates in the claims views.

The same holds for a failed run whose job a run of other parameters replaces: it is never resumed.

The bucket is versioned: a delete leaves the object as a noncurrent version (recoverable, and
retained like any landed data). The run's landed-file records stay, as its ledger's history; its
ledger entry gets ``discarded_files``, and a claims rebuild skips such a run.
"""

from __future__ import annotations

import logging

from ingest.wiring import Deps

logger = logging.getLogger(__name__)


def discard_landed_files(deps: Deps, source: str, run_id: str, run_date: str) -> int:
    """Delete every file the run landed and the curated files derived from each; how many landed."""
    from claims import LandedFile  # noqa: PLC0415 - only here: a kick-off does not load the claims layer

    landed = deps.store.list_landed_files(run_id)
    for record in landed:
        curated = LandedFile(source, run_id, run_date, record.key, record.index)
        # a table gets a curated file only for rows: deleting only those leaves no delete marker over
        # nothing (a versioned bucket keeps one even for a missing key)
        for table in sorted(table for table, rows in (record.curated_rows or {}).items() if rows):
            deps.landing.delete(curated.output_key(table))
        deps.landing.delete(record.key)
    logger.warning("discarded the files an abandoned run landed", extra={"run_id": run_id, "files": len(landed)})
    return len(landed)
