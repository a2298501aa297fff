"""`bulk-ingest claims`: the claims views of what landed, answered locally by DuckDB.

It reads <DIR>/curated/<source>/<table>/run_month=YYYY-MM/*.parquet (the bucket's layout) and the
sources' resolved snapshots (curated/<source>/_current/):
--state-dir DIR is the folder `local-run --state-dir` keeps (every run it made), else --out DIR
(default ./out): what local-run mirrored there, every run that wrote to it (it is never cleared; a
run with --state-dir mirrors the curated claims of all its runs).
--stack [NAME] asks Athena instead, in the deployed stack's account (your AWS credentials,
--region, --profile), through the stack's workgroup: same views, same output.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import IO

from local.claims import formats
from local.claims.views import BENEATH, VIEWS
from local.runner.snapshot import current_objects
from local.stack_access import STACK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--state-dir", type=Path, help="the folder local-run --state-dir keeps (all runs)")
    where.add_argument(
        "--out", type=Path, default=Path("out"), help="a local-run --out folder: what its runs mirrored (default ./out)"
    )
    where.add_argument(
        "--stack",
        nargs="?",
        const=STACK,
        metavar="NAME",
        help=f"ask Athena, through the deployed stack's workgroup (NAME default {STACK})",
    )
    parser.add_argument("--region", help="with --stack: AWS region (default: the profile's or AWS_REGION)")
    parser.add_argument("--profile", help="with --stack: AWS profile (default: AWS_PROFILE or the default credentials)")
    parser.add_argument(
        "--source", help="only this source (local-run's --source-name; with --stack, as named in cdk.json)"
    )
    parser.add_argument("--view", choices=tuple(VIEWS), default="current", help="what to list (default current)")
    parser.add_argument("--group", metavar="ID", help="only this claim family (claim group id)")
    parser.add_argument("--format", choices=formats.FORMATS, default="table", help="output format (default table)")


def root_problem(args: argparse.Namespace) -> str | None:
    """A --state-dir that is not there, or a folder option naming a file (bad arguments: exit 2)."""
    if args.state_dir is not None:
        if not args.state_dir.exists():
            return f"--state-dir {args.state_dir}: no such folder"
        if not args.state_dir.is_dir():
            return f"--state-dir {args.state_dir}: a file, not a folder"
    elif Path(args.out).exists() and not Path(args.out).is_dir():
        return f"--out {args.out}: a file, not a folder"
    return None


def data_root(args: argparse.Namespace) -> Path:
    """The folder holding curated/: a state dir's bucket mirror (objects/), or the out folder."""
    if args.state_dir is not None:
        mirror = current_objects(args.state_dir)
        return mirror if (mirror / "curated").is_dir() or not (args.state_dir / "curated").is_dir() else args.state_dir
    return Path(args.out)


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if args.stack is not None:
        from local.claims import athena  # noqa: PLC0415 - the AWS path only

        return athena.run(args, out, err)
    problem = "--region and --profile go with --stack" if args.region or args.profile else root_problem(args)
    if problem:
        err.write(f"bulk-ingest claims: {problem}\n")
        return 2
    return _answer_locally(args, out, err)


def _answer_locally(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    import duckdb  # noqa: PLC0415 - duckdb only for this command

    from local.claims.query import ClaimsDatabase, NoCuratedDataError  # noqa: PLC0415

    root = data_root(args)
    try:
        database = ClaimsDatabase(root)
        if args.source is not None and args.source not in database.sources():
            known = ", ".join(database.sources()) or "none"
            err.write(f"bulk-ingest claims: no claims of source {args.source!r} (sources: {known})\n")
            return 1
        # the rows stream a batch at a time; DuckDB reads (and fails on) every file before the first
        columns, batches = database.stream(args.view, source=args.source, group=args.group)
        first = next(batches, [])
        summary = database.summary(args.source).line()
    except NoCuratedDataError as error:
        err.write(f"bulk-ingest claims: {error}; run `bulk-ingest local-run` first, or point --state-dir/--out at it\n")
        return 1
    except duckdb.Error as error:
        # a damaged Parquet file (a copy cut short, a file that is not Parquet): name it, no traceback
        first = str(error).strip().splitlines()[0][:300]
        err.write(f"bulk-ingest claims: cannot read the curated claims under {root / 'curated'}: {first}\n")
        return 1
    if args.group is not None and not first:
        err.write(f"bulk-ingest claims: no claim family {args.group!r} in the {args.view} view ({summary})\n")
        return 1
    formats.write_batches(columns, itertools.chain([first], batches), args.format, out, BENEATH.get(args.view, ()))
    err.write(f"bulk-ingest claims: {summary}\n")
    return 0
