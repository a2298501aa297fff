"""The `bulk-ingest` command."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bulk-ingest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("local-run", help="run the whole stack locally (not yet: see issue 4)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "local-run":
        print("bulk-ingest local-run: not yet: see issue 4 (the local runner)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
