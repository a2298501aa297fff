"""The `bulk-ingest` command."""

from __future__ import annotations

import argparse
import sys

from local.emulator import cli as emulator_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bulk-ingest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("local-run", help="run the whole stack locally (not yet: see issue 4)")
    emulator = sub.add_parser("emulator", help="serve a CMS-like bulk FHIR API on loopback until interrupted")
    emulator_cli.add_arguments(emulator)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "local-run":
        print("bulk-ingest local-run: not yet: see issue 4 (the local runner)", file=sys.stderr)
        return 2
    if args.command == "emulator":
        return emulator_cli.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
