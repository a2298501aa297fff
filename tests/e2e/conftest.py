"""End-to-end: the real synthesized state machine, executed by moto, against the emulator.

A template is synthesized once per API with a placeholder server URL; each test swaps in its own
emulator's URL (the URL appears only in the functions' BULK_SOURCES environment).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from ingest.adapters.dynamo_store import DynamoRunStore
from local.emulator import Emulator, EmulatorConfig
from local.runner.clockwork import Clockwork
from local.runner.synth import synthesize
from local.runner.world import LocalAws
from tests.support.emulated import secrets_of

PLACEHOLDER = "http://127.0.0.1:9"
SOURCE = "e2e"
_TEMPLATES: dict[str, str] = {}


def template_for(
    api: str, base_url: str, token_url: str, stack_config: dict[str, Any] | None = None, **source: Any
) -> dict[str, Any]:
    key = json.dumps([api, source, stack_config], sort_keys=True)
    if key not in _TEMPLATES:
        config = {"name": SOURCE, "api": api, "base_url": PLACEHOLDER, "token_url": PLACEHOLDER + "/token",
                  "schedule_enabled": False, **source}  # fmt: skip
        _TEMPLATES[key] = json.dumps(synthesize({"sources": [config], **(stack_config or {})}))
    text = _TEMPLATES[key].replace(PLACEHOLDER + "/token", token_url).replace(PLACEHOLDER, base_url)
    return dict(json.loads(text))


@pytest.fixture(scope="session", autouse=True)
def _own_template_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`local-run` caches its synthesized template: the tests' cache is their own, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@dataclass
class Execution:
    arn: str
    status: str
    error: str | None
    cause: str | None
    output: dict[str, Any]
    history: list[dict[str, Any]]


@dataclass
class Stack:
    emu: Emulator
    aws: LocalAws
    logs: io.StringIO
    executions: list[Execution] = field(default_factory=list)

    @property
    def store(self) -> DynamoRunStore:
        return DynamoRunStore(self.aws.table)

    def start(self, **execution_input: Any) -> str:
        return self.aws.start({"source": SOURCE, **execution_input})

    def wait(self, arn: str, timeout: float = 120) -> Execution:
        deadline = time.monotonic() + timeout
        while (description := self.aws.describe(arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not finish in time"
            time.sleep(0.05)
        execution = Execution(
            arn=arn,
            status=description["status"],
            error=description.get("error"),
            cause=description.get("cause"),
            output=json.loads(description.get("output") or "{}"),
            history=self.aws.history(arn),
        )
        self.executions.append(execution)
        return execution

    def run(self, **execution_input: Any) -> Execution:
        return self.wait(self.start(**execution_input))

    def watermark(self, scope: str) -> str | None:
        return self.store.get_watermark(SOURCE, scope)

    def lease(self, scope: str) -> Any:
        return self.store.get_lease(SOURCE, scope)

    def landed(self, execution: Execution) -> dict[str, bytes]:
        """key -> landed bytes of every data object of the run."""
        run_id = execution.output["run"]["run_id"] if "run" in execution.output else None
        found = {}
        for key in self.aws.list_keys():
            if key.startswith(("fhir/", "errors/", "deleted/")) and (run_id is None or f"/{run_id}/" in key):
                found[key] = self.aws.s3.get_object(Bucket=self.aws.bucket, Key=key)["Body"].read()
        return found

    def run_manifest(self, execution: Execution) -> dict[str, Any]:
        key = execution.output["final"]["manifest_key"]
        return dict(json.loads(self.aws.s3.get_object(Bucket=self.aws.bucket, Key=key)["Body"].read()))

    def events(self) -> list[dict[str, Any]]:
        messages = self.aws_sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def ledger(self, run_id: str) -> dict[str, Any]:
        return self.store.get_run(SOURCE, run_id) or {}

    def file_records(self, run_id: str) -> int:
        return int(
            self.aws.table.query(
                KeyConditionExpression=Key("pk").eq(f"RUN#{run_id}") & Key("sk").begins_with("FILE#"),
                Select="COUNT",
            )["Count"]
        )

    def leaked_secrets(self) -> list[str]:
        """Every token or credential found in histories, outputs, map runs or logs."""
        texts = [self.logs.getvalue()]
        for execution in self.executions:
            texts.append(json.dumps(execution.history, default=str))
            texts.append(json.dumps(execution.output))
            texts.append(f"{execution.error} {execution.cause}")
            runs = self.aws.stepfunctions.list_map_runs(executionArn=execution.arn)["mapRuns"]
            texts += [
                json.dumps(self.aws.stepfunctions.describe_map_run(mapRunArn=r["mapRunArn"]), default=str) for r in runs
            ]
        blob = "\n".join(texts)
        return [secret for secret in secrets_of(self.emu) if secret in blob]


def checkpoint_every_invocation(s: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every Download file invocation starts short of time (59 s of a 15-minute function) and hands on
    after 5 MiB of its own; returns the download function's name."""
    from ingest.services import file_transfer

    monkeypatch.setattr(file_transfer, "MIN_CHECKPOINT_BYTES", 5 * 1024 * 1024)
    download = next(name for name, spec in s.aws.dispatcher.functions.items() if "download_file" in spec.handler)
    spec = s.aws.dispatcher.functions[download]
    s.aws.dispatcher.functions[download] = type(spec)(spec.handler, 59.0, spec.memory_mb)
    return download


def _capture_events(stack: Stack) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.aws.events.put_rule(Name="capture", EventPattern=json.dumps({"source": ["bulk-fhir-ingest"]}))
    stack.aws.events.put_targets(Rule="capture", Targets=[{"Id": "queue", "Arn": queue_arn}])
    stack.aws_sqs = sqs  # type: ignore[attr-defined]
    stack.queue_url = queue_url  # type: ignore[attr-defined]


@pytest.fixture
def stack() -> Iterator[Any]:
    """stack(flavor, scenario="none", concurrency=4, wait_scale=0, source={...}, config={...}, record_calls=False,
    **emulator knobs) -> a running Stack (``source`` and ``config`` go into the cdk.json-style configuration;
    ``record_calls``: ``s.aws.recorder`` records every AWS call each function makes)."""
    with ExitStack() as exits:

        def _start(flavor: str, scenario: str = "none", concurrency: int = 4, wait_scale: float = 0.0,
                   source: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                   record_calls: bool = False, **knobs: Any) -> Stack:  # fmt: skip
            emu = exits.enter_context(Emulator(EmulatorConfig(flavor=flavor, scenario=scenario, **knobs)))
            template = template_for(
                flavor, emu.base_url, emu.token_url, config, download_concurrency=concurrency, **(source or {})
            )
            logs = io.StringIO()
            clockwork = Clockwork(scale=wait_scale, on_wait=emu.clock.advance)
            aws = exits.enter_context(
                LocalAws(template, clockwork=clockwork, log_stream=logs, record_calls=record_calls)
            )
            secret: dict[str, Any] = {"client_id": emu.client_id}
            if emu.private_key_path:
                secret["private_key_jwk"] = json.loads(Path(emu.private_key_path).read_text())
            else:
                secret["client_secret"] = emu.client_secret
            aws.put_credentials(SOURCE, secret)
            built = Stack(emu=emu, aws=aws, logs=logs)
            _capture_events(built)
            return built

        yield _start
