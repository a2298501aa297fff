"""The fault soak: N consecutive local runs of the real state machine against the emulator, a fault
drawn per run, the emulator's data advancing between runs; after each run, nothing lost, nothing
landed twice or extra, the right watermark, claims_current equal to the emulator's truth.

    .venv/bin/python benchmarks/soak.py --runs 100 --seed 1 [--flavor bcda|ab2d|smart] [--patients 60]

One line per run, then ``soak: N runs, L lost, D duplicated, W wrong watermarks, C claims mismatches``.
A failing run prints the command that replays the soak up to it. Exits 1 when any count is not zero.
The faults are a table (local/soak/faults.py); the checks are local/soak/soak.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from local.runner.malloc_arenas import limit_malloc_arenas
from local.soak.soak import soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flavor", choices=("bcda", "ab2d", "smart"), default="bcda")
    parser.add_argument("--patients", type=int, default=60)
    options = parser.parse_args()
    limit_malloc_arenas()
    print(f"soak: {options.runs} runs of flavor {options.flavor}, seed {options.seed}", flush=True)
    tally = soak(options.runs, options.seed, options.flavor, options.patients, sys.stdout)
    return 0 if tally.clean else 1


if __name__ == "__main__":
    sys.exit(main())
