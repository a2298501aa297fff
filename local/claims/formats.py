"""`--format table | csv | ndjson` for query results."""

from __future__ import annotations

import csv
import json
import re
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


def write(result: QueryResult, fmt: str, out: IO[str], beneath: tuple[str, ...] = ()) -> None:
    write_batches(result.columns, [result.rows], fmt, out, beneath)


Batches = Iterable[Sequence[tuple[Any, ...]]]


def write_batches(
    columns: tuple[str, ...], batches: Batches, fmt: str, out: IO[str], beneath: tuple[str, ...] = ()
) -> None:
    """Rows as they come, a batch at a time: memory holds one batch, however many rows the view has
    (a table's column widths come from a first pass over the rows spooled to a temporary file).
    ``beneath``: columns a table prints under each row, indented, rather than in its grid."""
    if fmt == "ndjson":  # one JSON object per row; lists stay JSON arrays, missing values null
        for batch in batches:
            out.writelines(json.dumps(dict(zip(columns, row, strict=True)), default=str) + "\n" for row in batch)
    elif fmt == "csv":  # lists joined with ';' (MBIs and object keys contain none)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for batch in batches:
            writer.writerows([_cell(value, ";") for value in row] for row in batch)
    elif fmt == "table":
        _table(columns, batches, out, beneath)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def _table(columns: tuple[str, ...], batches: Batches, out: IO[str], beneath: tuple[str, ...] = ()) -> None:
    grid = [n for n, name in enumerate(columns) if name not in beneath]
    under = [n for n, name in enumerate(columns) if name in beneath]
    widths = [len(columns[n]) for n in grid]
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for batch in batches:
            for row in batch:
                cells = [_cell(row[n], ",") for n in grid]
                widths = [max(width, len(cell)) for width, cell in zip(widths, cells, strict=True)]
                spool.write(json.dumps([cells, _beneath([row[n] for n in under])]) + "\n")
        spool.seek(0)
        out.write(_padded([columns[n] for n in grid], widths))
        for line in spool:
            cells, lines = json.loads(line)
            out.write(_padded(cells, widths))
            out.writelines(f"    {text}\n" for text in lines)


#: a landed object's key up to its run id (fhir/<source>/<Type>/run_date=<day>/), and its extension:
#: the source is on the line and the run id dates it, so a table shows <run id>/<file name>#<line>
#: (csv and ndjson: the whole key)
_LANDED_KEY = re.compile(r"^(?:fhir|errors|deleted)/.+?/run_date=[^/]+/([^/]+/[^/#]+?)\.ndjson\.gz(#\d+)?$")


def _beneath(values: list[Any]) -> list[str]:
    """The lines under a row: scalars joined on one line, then each item of a list on its own."""
    scalars = " ".join(str(value) for value in values if value is not None and not isinstance(value, list | tuple))
    lists = [value for value in values if isinstance(value, list | tuple)]
    items = [_LANDED_KEY.sub(r"\1\2", str(item)) for value in lists for item in value]
    if scalars and items:
        return [f"{scalars}: {item}" for item in items]
    return [scalars] if scalars else items


def _padded(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip() + "\n"
