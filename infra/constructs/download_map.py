"""The "Download files" Distributed Map (docs/architecture.md §3).

The file list is never passed through state: "Check export status" writes ``files.json`` to the
landing bucket and the map reads it from there, one child execution per file. A child calls
"Download file" until the file has landed (a file too big for one invocation comes back ``partial``
with a checkpoint and is continued), then returns a small result, which the map writes to S3.
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


def build_download_map(scope: Construct, *, function: lambda_.IFunction, bucket: s3.IBucket) -> sfn.DistributedMap:
    download = tasks.LambdaInvoke(
        scope,
        "Download file",
        lambda_function=function,
        payload_response_only=True,
        result_path="$.result",
    )
    retry_transient(download)
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
    # "partial": the invocation ran short of time; the input now carries $.result.checkpoint.
    child = download.next(
        landed.when(sfn.Condition.string_equals("$.result.status", "partial"), download)
        .when(sfn.Condition.string_equals("$.result.status", "wait"), wait.next(download))
        .otherwise(done)
    )

    files = sfn.DistributedMap(
        scope,
        "Download files",
        item_reader=sfn.S3JsonItemReader(bucket=bucket, key=sfn.JsonPath.string_at(FILES_KEY_PATH)),
        item_selector=ITEM_SELECTOR,
        max_concurrency_path=contract.DOWNLOAD_CONCURRENCY_PATH,
        map_execution_type=sfn.StateMachineType.STANDARD,
        result_writer_v2=sfn.ResultWriterV2(bucket=bucket, prefix=MAP_RESULTS_PREFIX),
        result_path=sfn.JsonPath.DISCARD,
    )
    files.item_processor(child)
    return files
