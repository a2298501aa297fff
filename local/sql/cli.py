"""`bulk-ingest sql "SELECT ..."`: SQL over every curated table and view of what landed.

Locally (``--state-dir DIR``, the folder ``local-run --state-dir`` keeps, or ``--out DIR``, default
./out) DuckDB answers over ``curated/``: the claims tables and views (claim_version_rows,
claims_current, ...), the SQL on FHIR view tables (claim_headers, claim_lines, claim_diagnoses,
claim_procedures, coverage_periods, patient_demographics, and those of ``--views DIR``, the folder
cdk.json names), view_rejects, and each view's ``_current`` form. ``--stack [NAME]`` asks Athena
instead, through the deployed stack's workgroup (your AWS credentials, ``--region``, ``--profile``):
the same tables and views, and the raw_* tables of what landed. The SQL is DuckDB's locally and
Trino's in Athena; the queries of the README run on both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO

from local.claims import formats
from local.stack_access import STACK

PROG = "bulk-ingest sql"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", metavar="SQL", help='the query, e.g. "SELECT count(*) FROM claim_lines_current"')
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--state-dir", type=Path, help="the folder local-run --state-dir keeps (all runs)")
    where.add_argument("--out", type=Path, default=Path("out"), help="a local-run output folder (default ./out)")
    where.add_argument("--stack", nargs="?", const=STACK, metavar="NAME",
                       help=f"ask Athena, through the deployed stack's workgroup (NAME default {STACK})")  # fmt: skip
    parser.add_argument("--views", type=Path, metavar="DIR", help="locally: the folder of your ViewDefinitions")
    parser.add_argument("--region", help="with --stack: AWS region (default: the profile's or AWS_REGION)")
    parser.add_argument("--profile", help="with --stack: AWS profile (default: AWS_PROFILE or the default credentials)")
    parser.add_argument("--format", choices=formats.FORMATS, default="table", help="output format (default table)")


def _problem(args: argparse.Namespace) -> str | None:
    if not args.query.strip():
        return "the SQL is empty"
    if args.stack is None and (args.region or args.profile):
        return "--region and --profile go with --stack"
    if args.stack is not None and args.views is not None:
        return "--views is for the local engine: the stack has the views folder its cdk.json names"
    if args.views is not None and not args.views.is_dir():
        return f"--views {args.views}: no such folder"
    if args.stack is None:
        from local.claims.cli import root_problem  # noqa: PLC0415 - the local engine only

        return root_problem(args)
    return None


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    problem = _problem(args)
    if problem:
        err.write(f"{PROG}: {problem}\n")
        return 2
    if args.stack is not None:
        from local.sql import athena  # noqa: PLC0415 - the AWS path only

        return athena.run(args, out, err)
    from local.claims.cli import data_root  # noqa: PLC0415 - duckdb only for this command
    from local.claims.query import NoCuratedDataError  # noqa: PLC0415
    from local.sql.database import SqlDatabase, SqlError  # noqa: PLC0415
    from views import ViewError  # noqa: PLC0415

    try:
        database = SqlDatabase(data_root(args), args.views)
        result = database.query(args.query)
    except NoCuratedDataError as error:
        err.write(f"{PROG}: {error}; run `bulk-ingest local-run` first, or point --state-dir/--out at it\n")
        return 1
    except (SqlError, ViewError) as error:
        err.write(f"{PROG}: {error}\n")
        return 1
    formats.write(result, args.format, out)
    return 0
