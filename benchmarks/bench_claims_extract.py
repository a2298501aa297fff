"""Benchmark: claims extraction throughput, MB/s of EOB NDJSON on one core, per JSON parser.

    .venv/bin/python benchmarks/bench_claims_extract.py [--patients 2000] [--repeat 3]

Rows: each parser alone (json, orjson, msgspec: parse every line, keep nothing), then the whole
per-file curation (parse, extract the claim-version row, write Parquet into a sink that drops
the bytes) with each parser. Input: the emulator's EOBs (BCDA R4 and AB2D R4 with its MBI
extension). CPU time of this process, best of --repeat runs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from benchmarks.claims_data import eob_lines
from benchmarks.measure import DroppingSink, best_cpu_seconds
from claims import LandedFile, curate_lines

Parser = Callable[[bytes], Any]


def _parsers() -> dict[str, Parser]:
    parsers: dict[str, Parser] = {"json (stdlib)": json.loads}
    try:
        import orjson

        parsers["orjson"] = orjson.loads
    except ImportError:
        print("orjson not installed: skipped")
    try:
        import msgspec

        parsers["msgspec"] = msgspec.json.decode
    except ImportError:
        print("msgspec not installed: skipped")
    return parsers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    landed = LandedFile("bench", "20260601T000000.000Z-bench", "2026-06-01", "fhir/bench/eob.ndjson.gz", 1)
    for label, lines in (
        ("BCDA R4", eob_lines(args.patients)),
        ("AB2D R4", eob_lines(args.patients, ab2d=True)),
    ):
        megabytes = sum(len(line) + 1 for line in lines) / 1e6
        print(f"{label}: {len(lines):,} EOBs, {megabytes:.1f} MB of NDJSON, {megabytes * 1e6 / len(lines):,.0f} B/line")
        for name, parse in _parsers().items():

            def parse_all(parse: Parser = parse, lines: list[bytes] = lines) -> None:
                for line in lines:
                    parse(line)

            def curate_all(parse: Parser = parse, lines: list[bytes] = lines) -> None:
                report = curate_lines(lines, landed, lambda _table: DroppingSink(), parse=parse)
                assert report.rejects == 0, report

            parse_s = best_cpu_seconds(parse_all, args.repeat)
            curate_s = best_cpu_seconds(curate_all, args.repeat)
            print(
                f"  {name:14} parse only {megabytes / parse_s:7.1f} MB/s   "
                f"curation (parse + extract + Parquet) {megabytes / curate_s:7.1f} MB/s"
            )


if __name__ == "__main__":
    main()
