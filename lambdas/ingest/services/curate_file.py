"""Curate file: one landed file's ExplanationOfBenefit / Patient / Claim lines (or a deleted file's
Bundles) -> curated Parquet, and every resource through the SQL on FHIR views of its type in the
same pass (a Coverage file, or a type only the user's views read, goes through the views alone).

Runs in the download map right after the file lands (a step of its own, so the download path stays
what it was), and in a claims rebuild for every file that ever landed. Streaming: the landed object
is read back in-region and decompressed on the fly, and each table's file goes up one part at a time.

Idempotent: a file's curated objects have deterministic keys (claims.LandedFile.output_key), so a
retried task, a resumed run or a redrive overwrites its own output; a table the file no longer
produces has its old object deleted; the landed-file record says which bytes were curated, and an
export run does not curate the same bytes twice.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from collections.abc import Iterator
from typing import Any

from claims import ROW_TYPES, CurationReport, LandedFile, bounded_lines, curatable, curate_lines
from ingest.curation import prepared_views, view_table_names
from ingest.errors import ConfigurationError, IncompleteRunError
from ingest.payloads import RunContext
from ingest.timeutil import utc_iso
from ingest.wiring import Deps
from views.curate import ViewOutputs, curate_view_lines

logger = logging.getLogger(__name__)

_RUN_DATE = re.compile(r"/run_date=(\d{4}-\d{2}-\d{2})/")


class _ChunkReader(io.RawIOBase):
    """A file-like over an iterator of byte chunks (the landed object's body), for gzip."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def _landed_of(run: RunContext, item: dict[str, Any], transaction_time: object) -> LandedFile:
    """Where the file landed: this run's, or (a rebuild) the run that landed it, with that export's
    transactionTime (what orders a resource that has no meta.lastUpdated)."""
    key = str(item["key"])
    run_id = str(item.get("landed_run_id") or run.run_id)
    found = _RUN_DATE.search(key)
    run_date = str(item.get("landed_run_date") or (found.group(1) if found else run.run_date))
    landed_time = item.get("landed_transaction_time") if "landed_run_id" in item else transaction_time
    time = str(landed_time) if landed_time and landed_time != "none" else None
    return LandedFile(run.source, run_id, run_date, key, int(item["index"]), transaction_time=time)


#: The state that runs this step (Record the failure names it with the file).
STEP = "Curate file"


def curate_file(deps: Deps, event: dict[str, Any]) -> dict[str, Any]:
    item = event.get("file")
    if not isinstance(item, dict) or "key" not in item or "index" not in item:
        raise ConfigurationError("Curate file needs $.file: an item of files.json")
    run = RunContext.from_state(event)
    landed = _landed_of(run, item, event.get("transaction_time"))
    try:
        claims_file = curatable(str(item.get("kind", "output")), str(item.get("type", "")))
        result = _curate(deps, landed, claims_file=claims_file, rebuild=bool(event.get("rebuild")))
    except Exception as error:
        # Kept for Record the failure (under this run: a rebuild's items come from many runs), which
        # would otherwise only know that a map item failed.
        deps.store.put_file_failure(
            run.run_id, landed.file_index, type(error).__name__, str(error), landed.object_key,
            utc_iso(deps.clock()), step=STEP,
        )  # fmt: skip
        raise
    deps.store.clear_file_failure(run.run_id, landed.file_index, url=landed.object_key)
    return result


def _curate(deps: Deps, landed: LandedFile, *, claims_file: bool, rebuild: bool) -> dict[str, Any]:
    record = deps.store.get_landed_file(landed.run_id, landed.file_index)
    if record is None or record.key != landed.object_key:
        raise IncompleteRunError(
            f"file #{landed.file_index} ({landed.object_key}) has no landed record in run {landed.run_id}: "
            "it cannot be curated before it has landed"
        )
    if record.curated_sha256 == record.sha256 and not rebuild:
        logger.info("already curated from these bytes", extra={"index": landed.file_index})
        return {"status": "curated", "index": landed.file_index, "skipped": True}

    def open_sink(table: str) -> Any:
        return deps.landing.open_object(landed.output_key(table))

    user_views = deps.settings.user_views_dir
    views = ViewOutputs(prepared_views(user_views), landed, open_sink)
    body = deps.landing.read_stream(landed.object_key, 1 << 20)
    report: CurationReport | None = None
    try:
        with gzip.GzipFile(fileobj=io.BufferedReader(_ChunkReader(body), 1 << 20)) as stream:
            lines = bounded_lines(stream)
            if claims_file:  # one pass: the views see each resource the claims curation parses
                report = curate_lines(lines, landed, open_sink, observe=views.observe)
            else:  # a file only the views read (Coverage, a type of the user's views)
                curate_view_lines(lines, views)
        views_report = views.commit()
    except BaseException:
        views.abort()
        raise
    # what this curation no longer produces (the rules or the views changed: a rebuild) must go. Only
    # an existing file: in a versioned bucket a delete of nothing still leaves a delete marker.
    produced = set(views_report.keys) | (set(report.keys) if report is not None else set())
    tables = list(ROW_TYPES) if report is not None else []
    if rebuild or record.curated_sha256 is not None:  # a first curation has no old view files
        tables += view_table_names(user_views)
    for table in tables:
        stale = landed.output_key(table)
        if table not in produced and deps.landing.head_metadata(stale) is not None:
            deps.landing.delete(stale)
    rows = {table: report.rows.get(table, 0) for table in ROW_TYPES} if report is not None else {}
    rows |= {table: count for table, count in views_report.rows.items() if count}
    if not deps.store.mark_curated(landed.run_id, landed.file_index, record.sha256, rows):
        raise IncompleteRunError(f"file #{landed.file_index} was landed again while it was curated; re-run")
    logger.info("curated", extra={"index": landed.file_index, "rows": rows})
    return {"status": "curated", "index": landed.file_index, "rows": rows}
