"""In-process Lambda: moto's simple Lambda backend dispatches each invoke to the real handler.

moto's Step Functions engine calls Lambda through boto3; without Docker, moto's backend only echoes
the payload. Here ``invoke`` imports the function's handler (from the template's ``Handler``) and
calls it with a context whose deadline is the function's timeout. A raised exception is reported
as Lambda does (``x-amz-function-error: Unhandled`` and errorType/errorMessage/stackTrace), so the
state machine's Retry/Catch see the exception's class name.
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

from local.runner.call_recorder import CallRecorder

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """What a Lambda handler gets as ``context`` (the attributes Powertools reads)."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: float
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    #: the invocation's clock (the runner's counts the pauses it fast-forwarded: local/runner/clockwork.py)
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (self.clock() - self._started)) * 1000))


@dataclass(frozen=True)
class FunctionSpec:
    handler: str  # "ingest.handlers.start_run.handler"
    timeout_seconds: float
    memory_mb: int


@dataclass
class Invocation:
    function: str
    seconds: float
    error: str | None


class LambdaDispatcher:
    """Maps moto function names to real handlers and records every invocation."""

    def __init__(self, recorder: CallRecorder | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.functions: dict[str, FunctionSpec] = {}
        #: records the AWS calls each handler makes (tests hold them against the synthesized policies)
        self.recorder = recorder
        self.clock = clock  # what an invocation's remaining time is measured with
        self.invocations: list[Invocation] = []
        self._handlers: dict[str, Handler] = {}

    def register(self, function_name: str, spec: FunctionSpec) -> None:
        self.functions[function_name] = spec

    def _handler(self, dotted: str) -> Handler:
        if dotted not in self._handlers:
            module, _, attribute = dotted.rpartition(".")
            self._handlers[dotted] = getattr(importlib.import_module(module), attribute)
        return self._handlers[dotted]

    def invoke(self, backend: LambdaSimpleBackend, function_name: str, qualifier: str | None, body: Any,
               response_headers: dict[str, str]) -> bytes:  # fmt: skip
        function = backend.get_function(function_name, qualifier)
        spec = self.functions[function.function_name]
        context = LambdaContext(
            function_name=function.function_name,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
            invoked_function_arn=function.function_arn,
            clock=self.clock,
        )
        event = json.loads(body) if body else {}
        started = time.monotonic()
        try:
            with self.recorder.running(function.function_name) if self.recorder else nullcontext():
                result = self._handler(spec.handler)(event, context)
        except Exception as error:
            self.invocations.append(
                Invocation(function.function_name, time.monotonic() - started, type(error).__name__)
            )
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorType": type(error).__name__,
                    "errorMessage": str(error),
                    "stackTrace": traceback.format_tb(error.__traceback__),
                }
            ).encode()
        self.invocations.append(Invocation(function.function_name, time.monotonic() - started, None))
        return json.dumps(result).encode()

    def patch(self) -> Any:
        """A context manager that routes moto's Lambda invokes here."""
        dispatcher = self

        def invoke(backend: LambdaSimpleBackend, function_name: str, qualifier: str | None, body: Any,
                   headers: Any, response_headers: dict[str, str]) -> bytes:  # fmt: skip
            return dispatcher.invoke(backend, function_name, qualifier, body, response_headers)

        return mock.patch.object(LambdaSimpleBackend, "invoke", invoke)
