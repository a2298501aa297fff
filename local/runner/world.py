"""The stack's AWS resources, emulated in-process by moto and created from the synthesized template.

Buckets, the table, the secrets, the functions and the state machine are made from their template
definitions; the functions' environment (with every CloudFormation reference resolved) becomes the
process environment of the in-process handlers; the state machine runs the template's definition.
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import boto3
from moto import mock_aws

from infra.asl_extract import (
    DEFAULT_PSEUDO_PARAMETERS,
    default_reference,
    extract_definition,
    resolve,
    state_machine_ids,
)
from ingest.observability import logger
from ingest.settings import load_settings
from ingest.wiring import container
from local.follow import execution_history
from local.runner.activity import Activity
from local.runner.call_recorder import CallRecorder
from local.runner.clockwork import Clockwork
from local.runner.fidelity import aws_semantics
from local.runner.lambdas import FunctionSpec, LambdaDispatcher
from local.runner.moto_multipart import streamed_multipart_completion
from local.runner.moto_speed import moto_speedups

REGION = "us-east-1"
STATE_MACHINE_NAME = "BulkFhirIngest"
_FAKE_AWS = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",  # moto's, not a credential
    "AWS_SESSION_TOKEN": "local",
    # moto keeps an S3 object in memory up to this size (5 MiB by default) and spools the rest to a
    # temporary file: at 256 KiB a run that lands a gigabyte keeps it on disk, as a real bucket would,
    # not in the run's RSS
    "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(256 * 1024),
}
# In-process handlers: no X-Ray daemon, no EMF metrics on stdout.
_LOCAL_POWERTOOLS = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}


def _resources(template: Mapping[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == kind:
            yield logical_id, resource.get("Properties", {})


def _reset_handler_caches() -> None:
    # Settings and clients are built once per "container"; a new world is a new container.
    load_settings.cache_clear()
    container.cache_clear()


def route_handler_logs(stream: IO[str]) -> list[tuple[logging.StreamHandler[Any], Any]]:
    """Send the handlers' JSON logs to ``stream``; returns what to restore. Powertools' handler is
    shared by the loggers it configured: the ``ingest`` and ``bulkfhir`` loggers, which the services'
    and the client's own loggers pass their records to (``ingest.observability``)."""
    restore = []
    for handler in logger._logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            previous = handler.setStream(stream)
            if previous is not None:
                restore.append((handler, previous))
    return restore


class LocalAws:
    """``with LocalAws(template) as aws:`` — moto with the template's resources and patched Lambda/Wait."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        clockwork: Clockwork | None = None,
        log_stream: IO[str] | None = None,
        record_calls: bool = False,
    ) -> None:
        self.template = template
        self.clockwork = clockwork or Clockwork()
        #: with ``record_calls``: every AWS call each function made (``local.runner.call_recorder``)
        self.recorder = CallRecorder() if record_calls else None
        self.dispatcher = LambdaDispatcher(self.recorder, clock=self.clockwork.monotonic)
        #: set when an execution's history grows or an execution ends
        self.activity = Activity()
        self._log_stream = log_stream
        self._stack = ExitStack()
        self._saved_env: dict[str, str | None] = {}
        self._secret_arns: dict[str, str] = {}
        self.environment: dict[str, str] = {}
        self.state_machine_arn = ""

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> LocalAws:
        self._set_env(_FAKE_AWS)
        self._stack.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
        )
        self._stack.enter_context(self.dispatcher.patch())
        if self.recorder is not None:
            self._stack.enter_context(self.recorder.patch())
        self._stack.enter_context(self.clockwork.patch())
        self._stack.enter_context(self.activity.patch())
        self._stack.enter_context(aws_semantics())
        self._stack.enter_context(moto_speedups())
        self._stack.enter_context(streamed_multipart_completion())
        self.s3 = boto3.client("s3", region_name=REGION)
        self.dynamodb = boto3.resource("dynamodb", region_name=REGION)
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self._create_storage()
        self._create_functions()
        self._create_state_machine()
        _reset_handler_caches()
        if self._log_stream is not None:
            self._restore_logs = route_handler_logs(self._log_stream)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._stop_running_executions()
            self._stack.close()
        finally:
            for handler, stream in getattr(self, "_restore_logs", []):
                handler.setStream(stream)
            _reset_handler_caches()
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _stop_running_executions(self) -> None:
        # An execution must not outlive the emulated AWS it runs in (its worker thread would go on).
        if not self.state_machine_arn:
            return
        for page in self.stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
        ):
            for execution in page["executions"]:
                self.stepfunctions.stop_execution(executionArn=execution["executionArn"], cause="local run ended")

    def _set_env(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    # -- resources --------------------------------------------------------------------------

    def _mapper(self, logical_id: str, attribute: str | None, resource: Mapping[str, Any]) -> str | None:
        if resource.get("Type") == "AWS::SecretsManager::Secret" and attribute is None:
            return self._secret_arns.get(logical_id)
        if resource.get("Type") == "AWS::StepFunctions::StateMachine" and attribute is None:
            return self.state_machine_arn or None  # once created: policies that name it resolve to it
        return None

    def resolve(self, node: Any) -> Any:
        """A template value with every reference resolved to this world's resources (names, ARNs)."""
        return self._resolve(node)

    def _resolve(self, node: Any) -> Any:
        return resolve(node, self.template, self._mapper)

    def _name(self, logical_id: str, kind: str) -> str:
        return default_reference(logical_id, None, kind, DEFAULT_PSEUDO_PARAMETERS)

    def _create_storage(self) -> None:
        for logical_id, props in _resources(self.template, "AWS::S3::Bucket"):
            name = self._name(logical_id, "AWS::S3::Bucket")
            self.s3.create_bucket(Bucket=name)
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        for logical_id, props in _resources(self.template, "AWS::DynamoDB::Table"):
            self.dynamodb.create_table(
                TableName=self._name(logical_id, "AWS::DynamoDB::Table"),
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
        for logical_id, props in _resources(self.template, "AWS::SecretsManager::Secret"):
            name = str(self._resolve(props.get("Name", logical_id)))
            self._secret_arns[logical_id] = self.secrets.create_secret(
                Name=name, Description=str(self._resolve(props.get("Description", "")))
            )["ARN"]

    def _create_functions(self) -> None:
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="local-lambda", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        self._role = role
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("index.py", "# the real code runs in-process\n")
        client = boto3.client("lambda", region_name=REGION)
        for logical_id, props in _resources(self.template, "AWS::Lambda::Function"):
            handler = str(props.get("Handler", ""))
            if not handler.startswith("ingest.handlers."):
                continue  # CDK's own helper functions (log retention, custom resources)
            name = self._name(logical_id, "AWS::Lambda::Function")
            client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler=handler,
                Code={"ZipFile": archive.getvalue()},
            )
            self.dispatcher.register(
                name, FunctionSpec(handler, float(props.get("Timeout", 3)), int(props.get("MemorySize", 128)))
            )
            variables = self._resolve(props.get("Environment", {}).get("Variables", {}))
            self.environment.update({key: str(value) for key, value in variables.items()})
        self._set_env({**self.environment, **_LOCAL_POWERTOOLS})

    def _create_state_machine(self) -> None:
        definition = extract_definition(self.template, mapper=self._mapper)
        self.definition = definition
        self.state_machine_arn = self.stepfunctions.create_state_machine(
            name=STATE_MACHINE_NAME, definition=json.dumps(definition), roleArn=self._role
        )["stateMachineArn"]
        if self.recorder is not None:
            self.recorder.engine = state_machine_ids(self.template)[0]

    # -- what the runner and tests use --------------------------------------------------------

    @property
    def bucket(self) -> str:
        return self.environment["BULK_BUCKET_NAME"]

    @property
    def table(self) -> Any:
        return self.dynamodb.Table(self.environment["BULK_TABLE_NAME"])

    def source_secret_arn(self, source: str) -> str:
        return str(json.loads(self.environment["BULK_SOURCES"])[source]["secret_arn"])

    def put_credentials(self, source: str, credentials: Mapping[str, Any]) -> None:
        self.secrets.put_secret_value(SecretId=self.source_secret_arn(source), SecretString=json.dumps(credentials))

    def start(self, execution_input: Mapping[str, Any], name: str | None = None) -> str:
        # AWS names an unnamed execution with a UUID; moto would name it "None".
        return str(
            self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn,
                input=json.dumps(execution_input),
                name=name or str(uuid.uuid4()),
            )["executionArn"]
        )

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return dict(self.stepfunctions.describe_execution(executionArn=execution_arn))

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return execution_history(self.stepfunctions, execution_arn)

    def download(self, key: str, target: Path, on_bytes: Callable[[int], None] | None = None) -> None:
        """Copy one object of the landing bucket to a file (streamed); ``on_bytes(n)`` as bytes arrive."""
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as body:
            self.s3.download_fileobj(self.bucket, key, body, Callback=on_bytes)

    def list_keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
