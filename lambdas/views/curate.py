"""The per-file step of the views: each resource of a landed file -> its rows in every view of its
type, one Parquet file per view table (``claims.LandedFile.output_key(view)``, beside the claims
tables), written while the claims curation reads the same lines (one parse per line).

A resource that breaks a view (a non-collection column with several values, a value its column
type cannot hold) gives that view no rows and a ``view_rejects`` row saying why; the file goes on.
Memory stays flat: rows go to each table's writer, which holds one row group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from claims.jsonparse import loads
from claims.layout import LandedFile
from claims.lines import LineTooLong
from claims.outputs import OpenSink, TableSink
from claims.parquet.writer import Column, ParquetWriter
from claims.timestamps import parse_instant
from views import column_types
from views.catalog import REJECT_COLUMNS, REJECTS_TABLE, ViewTable
from views.column_types import converter
from views.compile import CompiledView
from views.errors import ViewEvaluationError
from views.fhirpath.runtime import path1

_REASON_LIMIT = 300
_CLAIM_GROUP = "https://bluebutton.cms.gov/resources/identifier/claim-group"
_CLAIM_IDS = (
    "https://bluebutton.cms.gov/resources/variables/clm_id",
    "https://bluebutton.cms.gov/resources/variables/pde_id",
)


class ViewsCurationError(RuntimeError):
    """Our own bug met a resource: raised through (never a reject), so the file's curation fails."""


@dataclass(frozen=True)
class PreparedView:
    table: ViewTable
    view: CompiledView
    convert: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    columns: tuple[Column, ...]


def _row_converter(view: CompiledView) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A row of evaluated values -> the table's values: one generated function per view, which
    leaves strings as they are and calls a converter only for the other types."""
    converters = {f"c{n}": converter(column) for n, column in enumerate(view.columns)}
    cells = [
        f"v{n} if type(v{n}) is str or v{n} is None else c{n}(v{n})"
        if column_types.scalar_type(column) == "string" and not column.collection
        else f"c{n}(v{n})"
        for n, column in enumerate(view.columns)
    ]
    names = ", ".join(f"v{n}" for n in range(len(cells)))
    source = f"def convert(row):\n    {names}, = row\n    return ({', '.join(cells)},)\n"
    namespace: dict[str, Any] = dict(converters)
    exec(compile(source, f"<converter {view.name}>", "exec"), namespace)  # noqa: S102 - our own generated code
    convert: Callable[[tuple[Any, ...]], tuple[Any, ...]] = namespace["convert"]
    return convert


def prepare(tables: Sequence[ViewTable]) -> list[PreparedView]:
    """Compile the views once (a container's start): what :class:`ViewOutputs` evaluates."""
    prepared = []
    for table in tables:
        view = table.compile()
        columns = tuple(Column(c.name, c.hive_type) for c in table.columns)
        prepared.append(PreparedView(table, view, _row_converter(view), columns))
    return prepared


def _claim_keys(resource: dict[str, Any]) -> tuple[str | None, str | None]:
    """(claim group, claim id): the claims layer's rule (clm_id, else pde_id; the first of each)."""
    group = claim_id = pde_id = None
    for identifier in resource.get("identifier") or ():
        if type(identifier) is not dict:
            continue
        system, value = identifier.get("system"), identifier.get("value")
        if not isinstance(value, str):
            continue
        if system == _CLAIM_GROUP and group is None:
            group = value
        elif system == _CLAIM_IDS[0] and claim_id is None:
            claim_id = value
        elif system == _CLAIM_IDS[1] and pde_id is None:
            pde_id = value
    return group, claim_id or pde_id


@dataclass
class ViewsReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows (view_rejects included)
    keys: dict[str, str] = field(default_factory=dict)  # table -> output key

    @property
    def rejects(self) -> int:
        return self.rows.get(REJECTS_TABLE, 0)


class ViewOutputs:
    """Evaluates every view on each resource it is shown; opens a table's file on its first row."""

    def __init__(
        self,
        tables: Sequence[PreparedView],
        landed: LandedFile,
        open_sink: OpenSink,
        *,
        row_group_rows: int = 32_768,
    ) -> None:
        self._landed = landed
        self._open_sink = open_sink
        self._row_group_rows = row_group_rows
        self._by_type: dict[str, list[PreparedView]] = {}
        for table in tables:
            self._by_type.setdefault(table.table.resource, []).append(table)
        self._open: dict[str, tuple[TableSink, ParquetWriter]] = {}
        self.report = ViewsReport()
        self._reject_columns = tuple(Column(c.name, c.hive_type) for c in REJECT_COLUMNS)

    @property
    def resource_types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def _writer(self, table: str, columns: tuple[Column, ...], resource: str) -> ParquetWriter:
        if table not in self._open:
            landed = self._landed
            metadata = {"source": landed.source, "run_id": landed.run_id, "object_key": landed.object_key,
                        "view": table, "resource": resource}  # fmt: skip
            sink = self._open_sink(table)
            writer = ParquetWriter(
                sink, columns, row_group_rows=self._row_group_rows, metadata=metadata, dictionary=True,
                compression_level=1,
            )  # fmt: skip
            self._open[table] = (sink, writer)
        return self._open[table][1]

    def observe(self, resource: Any, line: int) -> None:
        """One parsed resource (line ``line`` of the file) through every view of its type."""
        if type(resource) is not dict:
            return
        tables = self._by_type.get(resource.get("resourceType"))  # type: ignore[arg-type]
        if not tables:
            return
        landed = self._landed
        resource_id = resource.get("id") if isinstance(resource.get("id"), str) else None
        raw_updated = path1(resource, ("meta", "lastUpdated"))
        last_updated = raw_updated[0] if len(raw_updated) == 1 and isinstance(raw_updated[0], str) else None
        instant = parse_instant(last_updated) if last_updated else None
        tail = (last_updated, instant.utc if instant else None, landed.run_id, landed.object_key, line)
        for table in tables:
            name = table.table.name
            try:
                rows = [table.convert(row) for row in table.view.rows(resource)]
            except ViewEvaluationError as error:
                self._reject(name, resource, resource_id, line, str(error))
                continue
            except Exception as error:  # a bug of ours must fail the file, never pass as a claims reject
                raise ViewsCurationError(f"view {name}: line {line}: {type(error).__name__}: {error}") from error
            if not rows:
                continue
            head = (landed.source,)
            keys = (resource_id, *_claim_keys(resource), *tail) if table.table.claim_view else (resource_id, *tail)
            writer = self._writer(name, table.columns, table.table.resource)
            for row in rows:
                writer.write_row(head + row + keys)
            self.report.rows[name] = self.report.rows.get(name, 0) + len(rows)

    def _reject(self, view: str, resource: dict[str, Any], resource_id: str | None, line: int, reason: str) -> None:
        landed = self._landed
        kind = resource.get("resourceType")
        row = (landed.source, view, kind if isinstance(kind, str) else None, resource_id, landed.run_id,
               landed.object_key, line, reason[:_REASON_LIMIT])  # fmt: skip
        self._writer(REJECTS_TABLE, self._reject_columns, "").write_row(row)
        self.report.rows[REJECTS_TABLE] = self.report.rows.get(REJECTS_TABLE, 0) + 1

    def reject_line(self, line: int, reason: str) -> None:
        """A line that is not a JSON object, in a file only the views read (e.g. Coverage)."""
        landed = self._landed
        row = (landed.source, None, None, None, landed.run_id, landed.object_key, line, reason[:_REASON_LIMIT])
        self._writer(REJECTS_TABLE, self._reject_columns, "").write_row(row)
        self.report.rows[REJECTS_TABLE] = self.report.rows.get(REJECTS_TABLE, 0) + 1

    def commit(self) -> ViewsReport:
        for sink, writer in self._open.values():
            writer.close()
            sink.commit()
        self.report.keys = {table: self._landed.output_key(table) for table in self._open}
        return self.report

    def abort(self) -> None:
        for sink, _ in self._open.values():
            sink.abort()


def curate_view_lines(
    lines: Iterable[bytes | LineTooLong], outputs: ViewOutputs, *, parse: Callable[[bytes], Any] = loads
) -> int:
    """A file only the views read (Coverage, or a type of the user's views): every line through
    :meth:`ViewOutputs.observe`, an over-long one (``claims.bounded_lines``) a reject. Returns the
    number of lines."""
    count = 0
    for count, raw in enumerate(lines, start=1):
        if isinstance(raw, LineTooLong):
            outputs.reject_line(count, raw.reason)
            continue
        if not raw.strip():
            continue
        try:
            resource = parse(raw)
        except ValueError as error:
            outputs.reject_line(count, f"not JSON: {error}")
            continue
        if type(resource) is not dict:
            outputs.reject_line(count, f"not a JSON object but {type(resource).__name__}")
            continue
        outputs.observe(resource, count)
    return count


__all__ = ["PreparedView", "ViewOutputs", "ViewsCurationError", "ViewsReport", "curate_view_lines", "prepare"]
