"""The `bulk-ingest` command."""

from __future__ import annotations

import argparse
import os
import sys

from local import deployed, secret_setter
from local.arguments import OneLineParser
from local.claims import cli as claims_cli
from local.emulator import cli as emulator_cli
from local.runner import cli as local_run_cli
from local.sql import cli as sql_cli
from local.views import cli as views_cli


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="bulk-ingest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    local_run = sub.add_parser(
        "local-run",
        help="run the whole stack on this machine: the synthesized state machine in emulated AWS",
        description="Run one export through the real synthesized state machine in emulated AWS (moto), "
        "against the built-in CMS-like emulator or a real server, and mirror the landed files.",
    )
    local_run_cli.add_arguments(local_run)
    deployed.add_arguments(sub)
    secret_setter.add_arguments(sub)
    emulator = sub.add_parser("emulator", help="serve a CMS-like bulk FHIR API on loopback until interrupted")
    emulator_cli.add_arguments(emulator)
    claims = sub.add_parser(
        "claims",
        help="the claims views (current, versions, duplicates) of what landed, answered locally by DuckDB",
        description=claims_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    claims_cli.add_arguments(claims)
    views = sub.add_parser("views", help="SQL on FHIR v2 ViewDefinitions: evaluate one over FHIR NDJSON")
    views_cli.add_arguments(views)
    sql = sub.add_parser(
        "sql",
        help="any SQL over the curated claims and views, locally by DuckDB or in Athena (--stack)",
        description=sql_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sql_cli.add_arguments(sql)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except BrokenPipeError:
        # `bulk-ingest claims ... | head`: the reader has what it wanted. Later writes (the interpreter
        # flushes stdout at exit) go nowhere instead of raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one return per command
    if args.command == "local-run":
        return local_run_cli.run(args)
    if args.command == "emulator":
        return emulator_cli.run(args)
    if args.command == "claims":
        return claims_cli.run(args)
    if args.command == "views":
        return views_cli.run(args)
    if args.command == "sql":
        return sql_cli.run(args)
    if args.command in ("start", "runs", "watermarks"):
        return deployed.run(args)
    if args.command == "secret":
        return secret_setter.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
