"""`--format table | csv | ndjson` for query results."""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

FORMATS = ("table", "csv", "ndjson")


@dataclass(frozen=True)
class QueryResult:
    """A view's rows as either engine answers them: str, int, bool, lists of str, None."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _cell(value: Any, list_separator: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return list_separator.join(str(item) for item in value)
    return str(value)


def write(result: QueryResult, fmt: str, out: IO[str]) -> None:
    write_batches(result.columns, [result.rows], fmt, out)


Batches = Iterable[Sequence[tuple[Any, ...]]]


def write_batches(columns: tuple[str, ...], batches: Batches, fmt: str, out: IO[str]) -> None:
    """Rows as they come, a batch at a time: memory holds one batch, however many rows the view has
    (a table's column widths come from a first pass over the rows spooled to a temporary file)."""
    if fmt == "ndjson":  # one JSON object per row; lists stay JSON arrays, missing values null
        for batch in batches:
            out.writelines(json.dumps(dict(zip(columns, row, strict=True)), default=str) + "\n" for row in batch)
    elif fmt == "csv":  # lists joined with ';' (MBIs and object keys contain none)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for batch in batches:
            writer.writerows([_cell(value, ";") for value in row] for row in batch)
    elif fmt == "table":
        _table(columns, batches, out)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def _table(columns: tuple[str, ...], batches: Batches, out: IO[str]) -> None:
    widths = [len(name) for name in columns]
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for batch in batches:
            for row in batch:
                cells = [_cell(value, ",") for value in row]
                widths = [max(width, len(cell)) for width, cell in zip(widths, cells, strict=True)]
                spool.write(json.dumps(cells) + "\n")
        spool.seek(0)
        out.write(_padded(list(columns), widths))
        for line in spool:
            out.write(_padded(json.loads(line), widths))


def _padded(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip() + "\n"
