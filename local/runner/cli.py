"""The `bulk-ingest local-run` arguments."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from local import arguments
from local.arguments import ArgumentProblem
from local.emulator.config import FLAVORS, REFERENCE_SCENARIOS, SCENARIOS, scenario_argument, scenario_names
from local.runner.errors import LocalRunError

EXAMPLES = """
examples:
  bulk-ingest local-run                                   # built-in BCDA-like emulator, results in ./out
  bulk-ingest local-run --flavor ab2d --scenario drop-connection
  bulk-ingest local-run --scenario query-named-files,signed-urls,html-block-page
  bulk-ingest local-run --state-dir .state && bulk-ingest local-run --state-dir .state --advance-days 30
  BULK_CLIENT_ID=... BULK_CLIENT_SECRET=... bulk-ingest local-run --api bcda \\
      --base-url https://sandbox.bcda.cms.gov --state-dir .state-bcda
"""


#: What to do about each error a run can end with (the README's table, in one line each).
WHAT_TO_DO = {
    "TransientError": "the server or the network failed after retries: run again later",
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


#: AuthenticationError's advice follows the API (a SMART server has no secret that expires in 90 days).
AUTH_ADVICE = {
    "bcda": "check the client id and secret (BCDA credentials expire every 90 days) and the ACO's API access",
    "ab2d": "check the client id and secret (AB2D credentials expire and must be rotated) and the API access",
    "smart": "check the client id and the private key: the server must have this client registered with the "
    "public key of the key's kid, and grant it access to the export",
}


def what_to_do(error_name: str, api: str) -> str:
    """The one-line advice for a run that ended with ``error_name`` against an ``api`` server."""
    if error_name == "AuthenticationError":
        return AUTH_ADVICE.get(api, AUTH_ADVICE["smart"])
    return WHAT_TO_DO.get(error_name, "see out/logs/lambda.jsonl")


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
    emulator.add_argument("--flavor", choices=FLAVORS, help="which server it imitates (default bcda)")
    emulator.add_argument(
        "--scenario",
        type=scenario_argument,
        metavar="NAME[,NAME...]",
        help=f"faults to inject, composed (default none; one of {', '.join(SCENARIOS)}; join several with commas)",
    )
    emulator.add_argument("--patients", type=int, help="size of the population (default 100)")
    emulator.add_argument("--seed", type=int, help="seed of the synthetic data (default 1)")
    emulator.add_argument("--advance-days", type=float, help='"a month passes": new data before the run')
    emulator.add_argument(
        "--export-hours", type=float, help="with --scenario slow-export: the job takes this long (fast-forwarded)"
    )
    parser.add_argument("--wait-scale", type=float, help="how long waits really last (0: emulator, 1: real server)")


_REAL_SERVER_OPTIONS = ("base_url", "token_url", "client_id", "client_secret", "private_key", "key_id", "file_hosts")
_EMULATOR_OPTIONS = ("flavor", "scenario", "patients", "seed", "advance_days", "export_hours")
_EMULATOR_DEFAULTS = {"flavor": "bcda", "scenario": "none", "patients": 100, "seed": 1, "advance_days": 0.0}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_emulator(args: argparse.Namespace) -> None:
    given = [_option(name) for name in _REAL_SERVER_OPTIONS if getattr(args, name)]
    if given:
        raise ArgumentProblem(f"{given[0]} goes with --api (a real server); without --api the emulator runs")
    for name, default in _EMULATOR_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    arguments.in_range("--patients", args.patients, 1)
    arguments.in_range("--advance-days", args.advance_days, 0)
    reference = [name for name in scenario_names(args.scenario) if name in REFERENCE_SCENARIOS]
    if reference and args.flavor != "smart":
        raise ArgumentProblem(f"--scenario {reference[0]} imitates the SMART reference server: add --flavor smart")
    if args.export_hours is not None:
        if "slow-export" not in scenario_names(args.scenario):
            raise ArgumentProblem("--export-hours goes with --scenario slow-export")
        arguments.in_range("--export-hours", args.export_hours, 0.001)


def _check_emulator_types(flavor: str, version: str, types: tuple[str, ...]) -> None:
    """The built-in emulator's types are known: one that it does not export is an argument problem here,
    not a refused kick-off after the synthesis (a real server decides its own)."""
    from local.emulator.flavors import ab2d_kickoff, bcda_kickoff, smart  # noqa: PLC0415 - loaded with the config

    served = {"bcda": bcda_kickoff.SUPPORTED[version], "ab2d": ab2d_kickoff.TYPES, "smart": smart.TYPES}[flavor]
    unknown = [kind for kind in types if kind not in served]
    if unknown:
        api = f"{flavor} {version}" if flavor == "bcda" else flavor
        raise ArgumentProblem(f"--types {unknown[0]}: the built-in {api} emulator exports {', '.join(served)}")


def _check_views(folder: Path) -> None:
    """The user's views as synthesis reads them (the views engine is pure Python): a bad one is one
    line now, not a traceback of the synthesis."""
    if not folder.is_dir():
        raise ArgumentProblem(f"--views {folder}: no such folder")
    from views import ViewError  # noqa: PLC0415 - light, and only with --views
    from views.catalog import load_tables  # noqa: PLC0415

    try:
        load_tables(folder)
    except ViewError as error:
        raise ArgumentProblem(f"--views {folder}: {error}") from None


def _check_real_server(args: argparse.Namespace) -> None:
    given = [_option(name) for name in _EMULATOR_OPTIONS if getattr(args, name) is not None]
    if given:
        raise ArgumentProblem(f"{given[0]} is for the built-in emulator; it does not go with --api")
    if not args.base_url:
        raise ArgumentProblem(f"--api {args.api} needs --base-url (the server's address)")
    arguments.server_url(args.base_url)
    if args.token_url:
        arguments.server_url(args.token_url, "--token-url")
    from local.runner.credentials import credentials_from_options  # noqa: PLC0415 - light; only with --api

    try:
        credentials_from_options(args)  # the same attributes as LocalRunOptions: read now, not after start-up
    except LocalRunError as error:
        raise ArgumentProblem(str(error)) from None
    args.flavor, args.scenario, args.patients, args.seed, args.advance_days = args.api, "none", 100, 1, 0.0


def check(args: argparse.Namespace) -> None:
    """Every argument problem, before any work (raises ArgumentProblem); fills in the emulator's defaults."""
    if args.api is None:
        _check_emulator(args)
    else:
        _check_real_server(args)
    arguments.since(args.since)
    arguments.export(args.export, args.api or args.flavor)
    args.types = arguments.types(args.types)
    if args.api is None and args.types:
        _check_emulator_types(args.flavor, args.api_version or "v2", args.types)
    arguments.in_range("--concurrency", args.concurrency, 1, arguments.MAX_CONCURRENCY)
    if args.wait_scale is not None:
        arguments.in_range("--wait-scale", args.wait_scale, 0)
    arguments.writable_directory(args.out, "--out")
    if args.source_name is not None:
        from infra.config import source_name_problem  # noqa: PLC0415 - the stack's own rule (light)

        if problem := source_name_problem(args.source_name):
            raise ArgumentProblem(f"--source-name {args.source_name!r}: {problem}")
    if args.views is not None:
        _check_views(args.views)
    if args.state_dir is not None:
        from local.runner.snapshot import check_writable, load  # noqa: PLC0415 - light; only with --state-dir

        try:
            check_writable(args.state_dir)
            load(args.state_dir)
        except LocalRunError as error:
            raise ArgumentProblem(str(error)) from None


def process_started() -> float:
    """When this process started, on the time.monotonic() scale (Linux: from /proc; elsewhere: now),
    so that the printed run time counts the interpreter's start and the imports too."""
    now = time.monotonic()
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        # field 22, starttime, in clock ticks since boot; the command name before it may hold spaces
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return now
    age = uptime - ticks / os.sysconf("SC_CLK_TCK")
    return now - age if 0 <= age < uptime else now


def run(args: argparse.Namespace) -> int:
    started = process_started()
    try:
        check(args)
    except ArgumentProblem as problem:
        return arguments.fail("bulk-ingest local-run", problem)
    # Only now: moto, boto3 and the handlers take a second or more to import.
    from local.runner.local_run import LocalRunOptions, run_local  # noqa: PLC0415

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
        types=args.types,
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
        started=started,
        views=args.views,
    )
    try:
        result = run_local(options)
    except LocalRunError as error:
        print(f"bulk-ingest local-run: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupted:
        state = getattr(interrupted, "state_note", "the state directory was left as it was")
        state = state if args.state_dir else "nothing was saved"
        print(f"bulk-ingest local-run: interrupted; {state}", file=sys.stderr)
        return 130
    if result.exit_code and result.record.get("partial"):
        print(
            f"bulk-ingest local-run: the export landed in part: {result.record['partial']} — run again later: the "
            "watermark stayed, so the next run asks again for what is missing",
            file=sys.stderr,
        )
    elif result.exit_code:
        error = result.record.get("error") or {}
        name = str(error.get("name"))
        hint = what_to_do(name, args.api or args.flavor)
        print(f"bulk-ingest local-run: the export failed: {name}: {error.get('cause')} — {hint}", file=sys.stderr)
    return result.exit_code
