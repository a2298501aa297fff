"""`bulk-ingest emulator`: run the emulator until SIGINT/SIGTERM, announcing itself as one JSON line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from local.emulator.config import FLAVORS, SMART_SERVERS, EmulatorConfig, scenario_argument
from local.emulator.server import Emulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flavor", choices=FLAVORS, default="bcda", help="which server to imitate")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback by default)")
    parser.add_argument(
        "--scenario",
        type=scenario_argument,
        default="none",
        help="fault(s) to inject: names joined by commas",
    )
    parser.add_argument(
        "--smart-server",
        choices=SMART_SERVERS,
        default="dpc",
        help="smart flavour: a DPC-like server, or the SMART reference server (its scenarios imply it)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic data")
    parser.add_argument("--patients", type=int, default=100, help="size of the attributed population")
    parser.add_argument("--file-mb", type=float, default=50.0, help="large-files: size of each EOB file in MB")
    parser.add_argument("--large-file-count", type=int, default=2, help="large-files: how many EOB files")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        print(f"bulk-ingest emulator: --port {args.port}: expected 0 (any free port) to 65535", file=sys.stderr)
        return 2
    try:
        config = EmulatorConfig(
            flavor=args.flavor,
            scenario=args.scenario,
            seed=args.seed,
            patients=args.patients,
            file_mb=args.file_mb,
            large_file_count=args.large_file_count,
            host=args.host,
            port=args.port,
            smart_server=args.smart_server,
        )
    except ValueError as error:
        print(f"bulk-ingest emulator: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        emulator = Emulator(config).start()
    except OSError as error:  # the port is taken, or the address is not this machine's
        print(f"bulk-ingest emulator: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(emulator.describe()), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0
