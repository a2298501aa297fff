"""`bulk-ingest views eval --view VIEW.json --input RESOURCES.ndjson [--format ndjson|csv|table]`

Evaluates a SQL on FHIR v2 ViewDefinition over an NDJSON file (plain or gzip, a pipe such as
``<(zcat …)``, or ``-`` for standard input) with the engine the curation runs, and prints its rows: ``ndjson`` one
JSON object per row (keys in column order; a collection column as an array, ``[]`` when empty; a
missing value ``null``), ``csv``, or an aligned ``table``. Resources of other types are skipped.
A view that is not valid, or a resource that breaks it (a non-collection column with several
values), ends the command with one line on standard error and exit status 1.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

FORMATS = ("ndjson", "csv", "table")
PROG = "bulk-ingest views eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="views_command", required=True)
    evaluate = sub.add_parser(
        "eval",
        help="evaluate a ViewDefinition over FHIR NDJSON and print its rows",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("--view", required=True, type=Path, help="the ViewDefinition (JSON)")
    evaluate.add_argument("--input", required=True, help="FHIR NDJSON (.ndjson, .ndjson.gz, or - for stdin)")
    evaluate.add_argument("--format", choices=FORMATS, default="ndjson", help="output format (default ndjson)")


def _unreadable(option: str, path: Path) -> str | None:
    """A path that cannot be read as a file. A pipe is one (``--input <(zcat export.ndjson.gz)``)."""
    if not path.exists():
        return f"{option} {path}: no such file"
    if path.is_dir():
        return f"{option} {path}: a folder, not a file"
    return None


def _problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments themselves (checked before the engine is imported)."""
    return _unreadable("--view", args.view) or (None if args.input == "-" else _unreadable("--input", Path(args.input)))


def _lines(source: str) -> Iterator[bytes]:
    """The lines of a file, a pipe or standard input, gunzipped when they start as gzip does (a pipe
    or standard input has no name that says so)."""
    stream: Any = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115 - closed below
    try:
        if stream.peek(2)[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=stream) as unzipped:
                yield from unzipped
        else:
            yield from stream
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class _Writer:
    def __init__(self, fmt: str, columns: list[str], out: IO[str]) -> None:
        self.fmt, self.columns, self.out = fmt, columns, out
        self.table: list[list[str]] = [columns]
        self.csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(columns)

    def row(self, values: tuple[Any, ...]) -> None:
        if self.fmt == "ndjson":
            self.out.write(json.dumps(dict(zip(self.columns, values, strict=True)), ensure_ascii=False) + "\n")
        elif self.csv is not None:
            self.csv.writerow([_cell(value) for value in values])
        else:
            self.table.append([_cell(value) for value in values])

    def close(self) -> None:
        if self.fmt != "table":
            return
        widths = [max(len(row[n]) for row in self.table) for n in range(len(self.columns))]
        for row in self.table:
            self.out.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
            )


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    problem = _problem(args)
    if problem:
        err.write(f"{PROG}: {problem}\n")
        return 2
    import orjson  # noqa: PLC0415 - the engine only for this command

    from views import ViewError, ViewEvaluationError, compile_view, load_view  # noqa: PLC0415

    label = args.view.stem
    try:
        document = json.loads(args.view.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        err.write(f"{PROG}: view {label}: not a JSON file: {error}\n")
        return 1
    try:
        view = compile_view(load_view(document, label))
    except ViewError as error:
        err.write(f"{PROG}: {error}\n")
        return 1
    writer = _Writer(args.format, [column.name for column in view.columns], out)
    for number, line in enumerate(_lines(args.input), start=1):
        if not line.strip():
            continue
        try:
            resource = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            err.write(f"{PROG}: {args.input} line {number}: not JSON: {error}\n")
            return 1
        if not isinstance(resource, dict) or resource.get("resourceType") != view.resource:
            continue
        try:
            rows = view.rows(resource)
        except ViewEvaluationError as error:
            where = f"{view.resource}/{resource.get('id')}, {args.input} line {number}"
            err.write(f"{PROG}: view {view.name}: {where}: {error}\n")
            return 1
        for values in rows:
            writer.row(values)
    writer.close()
    return 0
