"""Benchmark: what `bulk-ingest local-run` says while it works (issue 16): its lines, the longest
silence between two of them, and the run time it prints next to the wall time.

    .venv/bin/python benchmarks/bench_progress_pacing.py [--file-mb 300] [--files 2] [--flavor bcda]
    .venv/bin/python benchmarks/bench_progress_pacing.py --hours 30     # the 30-hour AB2D export

Big files (the default): an emulator in this process serves a large-files export (--files x
--file-mb MB of EOB, gzip) and `local-run --api <flavor> --state-dir` fetches it in a child process,
as a user runs it, then saves the state and summarises the claims (the stretches that were silent for
93 s and 84 s). --hours H: the built-in AB2D emulator's slow-export of H hours (waits fast-forwarded).
The template cache is the user's (a first run synthesizes). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "local.cli", "local-run"]


def _follow(argv: list[str], env: dict[str, str]) -> None:
    started = time.monotonic()
    child = subprocess.Popen(
        [*COMMAND, *argv], cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert child.stderr is not None
    lines: list[tuple[float, str]] = []
    for line in child.stderr:
        lines.append((time.monotonic() - started, line.rstrip("\n")))
    child.wait()
    wall = time.monotonic() - started
    moments = [(0.0, "(start)"), *lines]
    gap, after = max((later[0] - earlier[0], earlier[1]) for earlier, later in itertools.pairwise(moments))
    printed = next((line.rsplit(" in ", 1)[1] for _, line in lines if " of source " in line), "?")
    progress = sum(1 for _, line in lines if "export in progress: " in line)
    print(f"exit {child.returncode}; {len(lines)} lines ({progress} of the export's progress)")
    print(f"longest silence: {gap:.1f} s, after: {after.strip()[:110]}")
    print(f"printed run time: {printed}; wall time of the command: {wall:.1f} s (the process's exit after it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file-mb", type=float, default=300.0)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--flavor", choices=("bcda", "ab2d"), default="bcda")
    parser.add_argument("--hours", type=float, help="the built-in AB2D emulator's slow-export of this many hours")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pacing-") as tmp:
        out, state = Path(tmp) / "out", Path(tmp) / "state"
        print(f"load average: {os.getloadavg()[0]:.1f}")
        if args.hours:
            argv = [
                "--flavor",
                "ab2d",
                "--scenario",
                "slow-export",
                "--export-hours",
                str(args.hours),
                "--out",
                str(out),
            ]
            _follow(argv, dict(os.environ))
            return
        from local.emulator import Emulator, EmulatorConfig

        config = EmulatorConfig(
            flavor=args.flavor, scenario="large-files", file_mb=args.file_mb, large_file_count=args.files
        )
        with Emulator(config) as emu:
            env = {**os.environ, "BULK_CLIENT_ID": emu.client_id, "BULK_CLIENT_SECRET": emu.client_secret or ""}
            argv = ["--api", args.flavor, "--base-url", emu.base_url, "--token-url", emu.token_url,
                    "--wait-scale", "0", "--out", str(out), "--state-dir", str(state)]  # fmt: skip
            print(f"{args.files} x {args.file_mb:g} MB from a {args.flavor} emulator, with --state-dir")
            _follow(argv, env)


if __name__ == "__main__":
    main()
