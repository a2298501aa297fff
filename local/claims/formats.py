"""`--format table | csv | ndjson` for query results."""

from __future__ import annotations

import csv
import json
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
    if fmt == "ndjson":  # one JSON object per row; lists stay JSON arrays, missing values null
        for row in result.rows:
            out.write(json.dumps(dict(zip(result.columns, row, strict=True)), default=str) + "\n")
    elif fmt == "csv":  # lists joined with ';' (MBIs and object keys contain none)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_cell(value, ";") for value in row] for row in result.rows)
    elif fmt == "table":
        cells = [list(result.columns)] + [[_cell(value, ",") for value in row] for row in result.rows]
        widths = [max(len(row[index]) for row in cells) for index in range(len(result.columns))]
        for row in cells:
            out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
