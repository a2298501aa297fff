"""The Distributed Maps (docs/architecture.md §3): "Download files" and a claims rebuild's
"Curate landed files".

A file list is never passed through state: "Check export status" (or "List landed files") writes
it to the landing bucket and the map reads it from there, one child execution per file. A download
child calls "Download file" until the file has landed (a file too big for one invocation comes back
``partial`` with a checkpoint and is continued; ``wait`` when the server asked for a pause), then
curates its claims (EOB / Patient / Claim files: "Curate file", a step of its own so that the download
path stays lean), then returns a small result, which the map writes to S3.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import contract
from infra.constructs.storage import MAP_RESULTS_PREFIX
from infra.constructs.workflow_retry import retry_transient, retry_verification

FILES_KEY_PATH = "$.poll.files_key"
ITEM_SELECTOR = {
    "file": sfn.JsonPath.string_at("$$.Map.Item.Value"),
    "run": sfn.JsonPath.string_at("$.run"),
    "job_url": sfn.JsonPath.string_at("$.job.job_url"),
    "transaction_time": sfn.JsonPath.string_at("$.poll.transaction_time"),
}
REBUILD_ITEM_SELECTOR = {
    "file": sfn.JsonPath.string_at("$$.Map.Item.Value"),
    "run": sfn.JsonPath.string_at("$.run"),
    "rebuild": True,
}


def _lambda_task(scope: Construct, name: str, function: lambda_.IFunction, result_path: str) -> tasks.LambdaInvoke:
    task = tasks.LambdaInvoke(
        scope, name, lambda_function=function, payload_response_only=True, result_path=result_path
    )
    retry_transient(task)
    return task


def curated_file(view_types: tuple[str, ...] = ()) -> sfn.Condition:
    """The files the claims layer reads (claims.curatable): output files of the curated resource types,
    and deleted files (a SMART server's Bundles of DELETE entries cancel claims); and output files of
    the types the SQL on FHIR views read (Coverage; any type of the user's views)."""
    names = sorted({*contract.CURATED_TYPES, *view_types})
    types = [sfn.Condition.string_equals("$.file.type", name) for name in names]
    output = sfn.Condition.and_(sfn.Condition.string_equals("$.file.kind", "output"), sfn.Condition.or_(*types))
    deleted = sfn.Condition.and_(
        sfn.Condition.string_equals("$.file.kind", "deleted"),
        sfn.Condition.string_equals("$.file.type", contract.DELETION_TYPE),
    )
    return sfn.Condition.or_(output, deleted)


def _map(scope: Construct, name: str, bucket: s3.IBucket, selector: dict[str, object]) -> sfn.DistributedMap:
    return sfn.DistributedMap(
        scope,
        name,
        item_reader=sfn.S3JsonItemReader(bucket=bucket, key=sfn.JsonPath.string_at(FILES_KEY_PATH)),
        item_selector=selector,
        max_concurrency_path=contract.DOWNLOAD_CONCURRENCY_PATH,
        map_execution_type=sfn.StateMachineType.STANDARD,
        result_writer_v2=sfn.ResultWriterV2(bucket=bucket, prefix=MAP_RESULTS_PREFIX),
        result_path=sfn.JsonPath.DISCARD,
    )


def build_download_map(
    scope: Construct,
    *,
    function: lambda_.IFunction,
    curate: lambda_.IFunction,
    bucket: s3.IBucket,
    view_types: tuple[str, ...] = (),
) -> sfn.DistributedMap:
    download = _lambda_task(scope, "Download file", function, "$.result")
    retry_verification(download)
    landed = sfn.Choice(scope, "File landed?")
    # "wait": the server asked for a pause (Retry-After) before this file is asked for again.
    wait = sfn.Wait(scope, "Wait before downloading again", time=sfn.WaitTime.seconds_path("$.result.wait_seconds"))
    done = sfn.Pass(
        scope,
        "File done",
        parameters={
            "index": sfn.JsonPath.string_at("$.file.index"),
            "status": sfn.JsonPath.string_at("$.result.status"),
        },
    )
    curate_it = _lambda_task(scope, "Curate file", curate, "$.curation")
    curate_choice = (
        sfn.Choice(scope, "Claims to curate?").when(curated_file(view_types), curate_it.next(done)).otherwise(done)
    )
    # "partial": the invocation ran short of time; the input now carries $.result.checkpoint.
    child = download.next(
        landed.when(sfn.Condition.string_equals("$.result.status", "partial"), download)
        .when(sfn.Condition.string_equals("$.result.status", "wait"), wait.next(download))
        .otherwise(curate_choice)
    )
    files = _map(scope, "Download files", bucket, ITEM_SELECTOR)
    files.item_processor(child)
    return files


def build_rebuild_map(scope: Construct, *, curate: lambda_.IFunction, bucket: s3.IBucket) -> sfn.DistributedMap:
    """A claims rebuild: every file that ever landed, curated again (its earlier output replaced)."""
    curate_it = _lambda_task(scope, "Curate landed file", curate, "$.curation")
    done = sfn.Pass(
        scope,
        "Curated",
        parameters={
            "index": sfn.JsonPath.string_at("$.file.index"),
            "status": sfn.JsonPath.string_at("$.curation.status"),
        },
    )
    files = _map(scope, "Curate landed files", bucket, REBUILD_ITEM_SELECTOR)
    files.item_processor(curate_it.next(done))
    return files
