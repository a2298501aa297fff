"""The `bulk-ingest local-run` arguments."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from local.emulator.config import FLAVORS, SCENARIOS
from local.runner.errors import LocalRunError
from local.runner.local_run import LocalRunOptions, run_local

EXAMPLES = """
examples:
  bulk-ingest local-run                                   # built-in BCDA-like emulator, results in ./out
  bulk-ingest local-run --flavor ab2d --scenario drop-connection
  bulk-ingest local-run --state-dir .state && bulk-ingest local-run --state-dir .state --advance-days 30
  BULK_CLIENT_ID=... BULK_CLIENT_SECRET=... bulk-ingest local-run --api bcda \\
      --base-url https://sandbox.bcda.cms.gov --state-dir .state-bcda
"""


#: What to do about each error a run can end with (the README's table, in one line each).
WHAT_TO_DO = {
    "TransientError": "the server or the network failed after retries: run again later",
    "AuthenticationError": "check the client id and secret (BCDA credentials expire every 90 days) and API access",
    "ExportFailedError": "the server's job failed: run again; report it to the API's team if it persists",
    "ExportGoneError": "the job or its files expired or were cancelled: run again for a new export",
    "BadRequestError": "the server refused the request as asked: fix --since, --types or --export",
    "UnexpectedResponseError": "the server broke the Bulk Data protocol: report it to the API's team",
    "RunInProgressError": "another run of this scope is running: wait for it, or stop its execution",
    "ConfigurationError": "fix the configuration as the message says",
    "VerificationError": "a file failed its checks: run again (landed files are kept)",
    "ExportTimedOutError": "the export took longer than the wait budget: run again later",
    "IncompleteRunError": "run again: files already landed are not fetched again",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    real = parser.add_argument_group("a real server (default: the built-in emulator)")
    real.add_argument("--api", choices=("bcda", "ab2d", "smart"), help="the kind of server")
    real.add_argument("--base-url", help="bcda/ab2d: the host root (https://sandbox.bcda.cms.gov); smart: FHIR base")
    real.add_argument("--token-url", help="token endpoint (default: from the API profile or SMART discovery)")
    real.add_argument("--client-id", help="client id (or BULK_CLIENT_ID)")
    real.add_argument("--client-secret", help="client secret (or BULK_CLIENT_SECRET); prefer the variable")
    real.add_argument("--private-key", type=Path, help="smart: private key file (JWK JSON or PEM)")
    real.add_argument("--key-id", help="smart: the kid registered with the server (when the key file has none)")
    real.add_argument("--file-host", action="append", default=[], dest="file_hosts",
                      help="extra host trusted with the bearer token for file downloads (repeatable)")  # fmt: skip

    export = parser.add_argument_group("the export")
    export.add_argument("--api-version", choices=("v1", "v2", "v3"), help="bcda/ab2d API version (default v2)")
    export.add_argument("--export", help="Patient, Group/all, Group/runout, Group/<id> or system")
    export.add_argument("--types", help="comma-separated resource types (default: the API's)")
    export.add_argument("--since", default="auto", help="auto (the watermark), none (full history) or an ISO instant")
    export.add_argument("--concurrency", type=int, default=8, help="parallel downloads (default 8)")
    export.add_argument("--source-name", help="name of the source (watermarks are kept per source)")

    where = parser.add_argument_group("where results go")
    where.add_argument("--out", type=Path, default=Path("out"), help="landed objects and run.json (default ./out)")
    where.add_argument("--state-dir", type=Path, help="keep watermarks, ledger and landed objects between runs")
    where.add_argument(
        "--views", type=Path, metavar="DIR", help="a folder of your SQL on FHIR ViewDefinitions (beside the defaults)"
    )

    emulator = parser.add_argument_group("the built-in emulator")
    emulator.add_argument("--flavor", choices=FLAVORS, default="bcda", help="which server it imitates")
    emulator.add_argument("--scenario", choices=SCENARIOS, default="none", help="a fault to inject")
    emulator.add_argument("--patients", type=int, default=100, help="size of the population (default 100)")
    emulator.add_argument("--seed", type=int, default=1, help="seed of the synthetic data")
    emulator.add_argument("--advance-days", type=float, default=0, help='"a month passes": new data before the run')
    emulator.add_argument(
        "--export-hours", type=float, help="with --scenario slow-export: the job takes this long (fast-forwarded)"
    )
    parser.add_argument("--wait-scale", type=float, help="how long waits really last (0: emulator, 1: real server)")


def run(args: argparse.Namespace) -> int:
    options = LocalRunOptions(
        api=args.api,
        base_url=args.base_url,
        token_url=args.token_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        private_key=args.private_key,
        key_id=args.key_id,
        file_hosts=tuple(args.file_hosts),
        api_version=args.api_version,
        export=args.export,
        types=tuple(t.strip() for t in args.types.split(",") if t.strip()) if args.types else None,
        since=args.since,
        concurrency=args.concurrency,
        source_name=args.source_name,
        out_dir=args.out,
        state_dir=args.state_dir,
        flavor=args.flavor,
        scenario=args.scenario,
        patients=args.patients,
        seed=args.seed,
        advance_days=args.advance_days,
        export_hours=args.export_hours,
        wait_scale=args.wait_scale,
        views=args.views,
    )
    try:
        result = run_local(options)
    except LocalRunError as error:
        print(f"bulk-ingest local-run: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bulk-ingest local-run: interrupted; the state directory was left as it was", file=sys.stderr)
        return 130
    if result.exit_code:
        error = result.record.get("error") or {}
        name = str(error.get("name"))
        hint = WHAT_TO_DO.get(name, "see out/logs/lambda.jsonl")
        print(f"bulk-ingest local-run: the export failed: {name}: {error.get('cause')} — {hint}", file=sys.stderr)
    return result.exit_code
