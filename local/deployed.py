"""`bulk-ingest start | runs | watermarks`: operate a deployed stack from a terminal.

Uses your AWS credentials (``--profile``, the environment or a role) in ``--region`` (see
:mod:`local.stack_access`) and finds the state machine and table through the stack's outputs (or
takes them as options).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass
from typing import IO, Any

from infra import outputs
from ingest.adapters.dynamo_store import DynamoRunStore
from local import arguments, stack_access
from local.follow import Progress
from local.stack_access import AwsTarget, DeployedError, stack_outputs


@dataclass(frozen=True)
class StackRefs:
    state_machine_arn: str
    table_name: str
    #: the landing bucket, for the bytes of downloads in flight (None: the files landed are shown)
    bucket: str | None = None


def resolve(args: argparse.Namespace, cloudformation: Any) -> StackRefs:
    """The state machine and table: from --state-machine-arn/--table, else the stack's outputs."""
    if args.state_machine_arn and args.table:
        return StackRefs(args.state_machine_arn, args.table)
    found = stack_outputs(cloudformation, args.stack)
    missing = [key for key in (outputs.STATE_MACHINE_ARN, outputs.TABLE_NAME) if key not in found]
    if missing:
        raise DeployedError(f"stack {args.stack} has no output {', '.join(missing)}: is it the bulk-fhir-ingest stack?")
    return StackRefs(
        args.state_machine_arn or found[outputs.STATE_MACHINE_ARN],
        args.table or found[outputs.TABLE_NAME],
        found.get(outputs.BUCKET_NAME),
    )


def _used(args: argparse.Namespace, aws: AwsTarget) -> str:
    if args.state_machine_arn and args.table:
        return aws.where(f"state machine {args.state_machine_arn} and table {args.table}")
    return aws.where(f"stack {args.stack}")


def execution_input(args: argparse.Namespace) -> dict[str, Any]:
    if args.rebuild_claims:
        # the state machine refuses export parameters on a rebuild: say so before starting anything
        given = [name for name, value in (("--types", args.types), ("--export", args.export)) if value]
        given += ["--since"] if args.since != "auto" else []
        if given:
            raise DeployedError(f"--rebuild-claims re-derives what already landed: it takes no {', '.join(given)}")
        return {"source": args.source, "rebuild_claims": True}
    document: dict[str, Any] = {"source": args.source, "since": args.since}
    if args.types:
        document["types"] = [t.strip() for t in args.types.split(",") if t.strip()]
    if args.export:
        document["export"] = args.export
    return document


def start(
    args: argparse.Namespace, stepfunctions: Any, table: Any, refs: StackRefs, out: IO[str], s3: Any = None
) -> int:
    arn = stepfunctions.start_execution(
        stateMachineArn=refs.state_machine_arn,
        input=json.dumps(execution_input(args)),
        name=args.name or f"manual-{uuid.uuid4()}",
    )["executionArn"]
    out.write(f"started {arn}\n")
    if not args.follow:
        return 0
    progress = Progress(stepfunctions, table, arn, out, s3=s3, bucket=refs.bucket)
    while (description := stepfunctions.describe_execution(executionArn=arn))["status"] == "RUNNING":
        progress.tick()
        time.sleep(args.poll_seconds)
    progress.tick()
    status = description["status"]
    if status == "SUCCEEDED":
        final = json.loads(description.get("output") or "{}").get("final", {})
        if final.get("mode") == "rebuild_claims":
            claims = final.get("claims") or {}
            out.write(
                f"SUCCEEDED: claims rebuild {final.get('run_id')}: {final.get('files')} landed files curated again, "
                f"{claims.get('claim_version_rows', 0)} claim version rows; watermark unchanged\n"
            )
            return 0
        out.write(
            f"SUCCEEDED: run {final.get('run_id')}: {final.get('files')} files, {final.get('records')} records, "
            f"{final.get('bytes')} bytes; watermark {final.get('watermark_after')}; "
            f"manifest {final.get('manifest_key')}\n"
        )
        return 0
    out.write(f"{status}: {description.get('error') or ''}: {description.get('cause') or ''}\n")
    return 1


def runs(table: Any, source: str, limit: int) -> list[dict[str, Any]]:
    """The run ledger of a source, newest first (run ids sort by start time)."""
    return DynamoRunStore(table).list_runs(source, limit)


def watermarks(table: Any) -> list[dict[str, Any]]:
    return DynamoRunStore(table).list_watermarks()


def _table_text(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    if not rows:
        return "(none)\n"
    cells = [[str(row.get(c, "") if row.get(c) is not None else "") for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def add_arguments(sub: Any) -> None:
    def stack_options(parser: argparse.ArgumentParser) -> None:
        stack_access.add_arguments(parser, region_from_arn=True)
        parser.add_argument("--state-machine-arn", help="instead of the stack's StateMachineArn output")
        parser.add_argument("--table", help="instead of the stack's TableName output")

    start_parser = sub.add_parser("start", help="start a run of the deployed stack and follow it")
    start_parser.add_argument("--source", required=True, help="a source configured in cdk.json")
    start_parser.add_argument("--since", default="auto", help="auto (the watermark), none (full history) or ISO")
    start_parser.add_argument("--types", help="comma-separated resource types (default: the source's)")
    start_parser.add_argument("--export", help="Patient, Group/all, Group/runout, Group/<id> or system")
    start_parser.add_argument(
        "--rebuild-claims",
        action="store_true",
        help="re-derive the source's curated claims from everything that landed (asks the server nothing)",
    )
    start_parser.add_argument("--name", help="execution name (default: generated)")
    start_parser.add_argument("--no-follow", dest="follow", action="store_false", help="start and return")
    start_parser.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look (default 2)")
    stack_options(start_parser)

    runs_parser = sub.add_parser("runs", help="the run ledger of a source, newest first")
    runs_parser.add_argument("--source", required=True, help="a source configured in cdk.json")
    runs_parser.add_argument("--limit", type=int, default=20, help="how many runs, newest first (default 20)")
    stack_options(runs_parser)

    watermarks_parser = sub.add_parser("watermarks", help="every source's watermarks")
    stack_options(watermarks_parser)


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:  # before any AWS call
        if args.command == "start":
            arguments.since(args.since)
            arguments.export(args.export, None)
            arguments.types(args.types)
            arguments.in_range("--poll-seconds", args.poll_seconds, 0.1)
        if args.command == "runs":
            arguments.in_range("--limit", args.limit, 1)
    except arguments.ArgumentProblem as problem:
        return arguments.fail(f"bulk-ingest {args.command}", problem)
    return stack_access.exit_code(f"bulk-ingest {args.command}", err, lambda: _run(args, out, err))


def _run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    aws = stack_access.connect(args)
    refs = resolve(args, aws.client("cloudformation"))
    err.write(f"bulk-ingest {args.command}: {_used(args, aws)}\n")
    table = aws.session.resource("dynamodb").Table(refs.table_name)
    if args.command == "start":
        return start(args, aws.client("stepfunctions"), table, refs, out, aws.client("s3"))
    if args.command == "runs":
        columns = ("run_id", "status", "scope", "since", "file_count", "records", "error", "cause")
        out.write(_table_text(runs(table, args.source, args.limit), columns))
        return 0
    out.write(_table_text(watermarks(table), ("source", "scope", "watermark", "run_id", "updated_at")))
    return 0
