"""The per-file curation: the NDJSON lines of one landed file -> one Parquet file per table.

Streaming: lines are parsed one at a time and rows go straight into the table's writer, which
holds at most one row group; a 5 GB file costs no more memory than a 5 MB one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from claims.extract import EXTRACTORS, Rejected
from claims.fhir import text
from claims.jsonparse import loads
from claims.layout import LandedFile
from claims.lines import LineTooLong
from claims.outputs import OpenSink, TableSink
from claims.parquet.writer import ParquetWriter
from claims.rows import Reject
from claims.tables import REJECTS, columns

Parser = Callable[[bytes], Any]
#: shown every parsed JSON object with its line number (the views read the same parse)
Observer = Callable[[dict[str, Any], int], None]
_REASON_LIMIT = 300
# An extractor bug on a shape nobody foresaw must not stop the file: the line becomes a reject.
_SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError)


@dataclass
class CurationReport:
    """What one landed file produced."""

    lines: int = 0  # lines read, blank ones included
    blank_lines: int = 0  # empty lines (a trailing newline's): not records, not rejects
    # table -> rows written (rejects included); a deletion Bundle's line may give several
    rows: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # table -> output key

    @property
    def rejects(self) -> int:
        return self.rows.get(REJECTS, 0)


class _Outputs:
    """Opens a table's sink and writer on its first row (a table without rows gets no file)."""

    def __init__(self, landed: LandedFile, open_sink: OpenSink, row_group_rows: int) -> None:
        self._landed = landed
        self._open_sink = open_sink
        self._row_group_rows = row_group_rows
        self.open: dict[str, tuple[TableSink, ParquetWriter]] = {}

    def write(self, table: str, row: NamedTuple) -> None:
        if table not in self.open:
            sink = self._open_sink(table)
            landed = self._landed
            metadata = {"source": landed.source, "run_id": landed.run_id, "object_key": landed.object_key}
            writer = ParquetWriter(sink, columns(table), row_group_rows=self._row_group_rows, metadata=metadata)
            self.open[table] = (sink, writer)
        self.open[table][1].write_row(row)

    def commit(self) -> None:
        for sink, writer in self.open.values():
            writer.close()
            sink.commit()

    def abort(self) -> None:
        for sink, _ in self.open.values():
            sink.abort()


def _reject(landed: LandedFile, line: int, resource_type: str | None, reason: str) -> Reject:
    return Reject(landed.source, landed.run_id, landed.object_key, line, resource_type, reason[:_REASON_LIMIT])


def curate_lines(
    lines: Iterable[bytes | LineTooLong],
    landed: LandedFile,
    open_sink: OpenSink,
    *,
    parse: Parser = loads,
    row_group_rows: int = 32_768,
    observe: Observer | None = None,
) -> CurationReport:
    """Curate one landed file. ``lines``: its NDJSON lines (``bounded_lines(gzip.open(...))``, whose
    over-long lines are LineTooLong: a reject each);
    ``open_sink(table)``: where that table's Parquet file goes (key: ``landed.output_key(table)``).
    Every line ends as a row or a reject; on an exception every opened sink is aborted.
    ``observe(resource, line)`` sees each line that parsed to a JSON object, before its rows."""
    report = CurationReport()
    outputs = _Outputs(landed, open_sink, row_group_rows)
    try:
        for number, raw in enumerate(lines, start=1):
            report.lines = number
            rows = _curate_line(raw, landed, number, parse, observe)
            if not rows:
                report.blank_lines += 1
            for table, row in rows:
                outputs.write(table, row)
                report.rows[table] = report.rows.get(table, 0) + 1
        outputs.commit()
    except BaseException:
        outputs.abort()
        raise
    report.keys = {table: landed.output_key(table) for table in outputs.open}
    return report


def _curate_line(
    raw: bytes | LineTooLong, landed: LandedFile, number: int, parse: Parser, observe: Observer | None = None
) -> list[tuple[str, NamedTuple]]:
    """The line's (table, row)s: its rows and rejects; none for a blank line, which is neither a
    record nor a reject."""
    if isinstance(raw, LineTooLong):
        return [(REJECTS, _reject(landed, number, None, raw.reason))]
    if not raw.strip():
        return []
    kind: str | None = None
    try:
        resource = parse(raw)
        if not isinstance(resource, dict):
            raise Rejected(f"not a JSON object but {type(resource).__name__}")
        if observe is not None:
            observe(resource, number)
        kind = text(resource.get("resourceType"))
        if kind not in EXTRACTORS:
            raise Rejected(f"resourceType {kind} is not curated" if kind else "no resourceType")
        table, extract = EXTRACTORS[kind]
        # all of the line before any of it is written: a shape error halfway leaves one reject
        return [
            (REJECTS, _reject(landed, number, kind, found.reason)) if isinstance(found, Rejected) else (table, found)
            for found in list(extract(resource, landed, number))
        ]
    except Rejected as rejected:
        reason = rejected.reason
    except ValueError as error:  # json.JSONDecodeError, orjson.JSONDecodeError, UnicodeDecodeError
        reason = f"not JSON: {error}" if kind is None else f"unexpected shape: {error}"
    except _SHAPE_ERRORS as error:
        reason = f"unexpected shape: {type(error).__name__}: {error}"
    return [(REJECTS, _reject(landed, number, kind, reason))]
