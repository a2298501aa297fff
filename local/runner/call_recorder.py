"""Which AWS calls each in-process Lambda makes, for the tests that hold them against the synthesized
IAM policies (``tests/infra/test_infra_iam_calls.py``): a role that lacks a permission fails only in
AWS, where moto grants everything.

The dispatcher runs a handler in the thread that invoked it (moto's Step Functions worker), so the
function in progress is a property of the thread: every botocore API call made while it is set is
recorded under that function, with its parameters and how it ended (an S3 ``HeadObject`` of a
missing key answers 404 only to a caller who may list the bucket); a thread a handler starts (boto3's
managed copy uses a pool) works for the same function. A thread moto's Step Functions engine starts
runs the state machine: its calls outside any function (invoking a function, a Distributed Map
reading its items and writing its results) are recorded under ``engine`` (the state machine's
logical id) when that is set. Other calls (the caller's own) are not recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from botocore.client import BaseClient
from botocore.exceptions import ClientError

#: the threads of moto's Step Functions engine (an execution, a state, a map's iterations)
_ENGINE_PACKAGE = "moto.stepfunctions"
_ENGINE = "<the state machine>"


@dataclass(frozen=True)
class RecordedCall:
    function: str  # the moto function name (the template's logical id)
    service: str  # botocore's service name: "s3", "dynamodb", ...
    operation: str  # "PutObject", "Query", ...
    params: dict[str, Any]
    error: str | None  # the ClientError code, e.g. "404" or "NoSuchKey"; None when it succeeded


class CallRecorder:
    """``with recorder.patch():`` records the calls made while ``recorder.running(name)`` is in effect."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        #: who the calls of moto's Step Functions engine threads are recorded under (None: not recorded)
        self.engine: str | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        previous = getattr(self._local, "function", None)
        self._local.function = function
        try:
            yield
        finally:
            self._local.function = previous

    def patch(self) -> Any:
        recorder = self
        original = BaseClient._make_api_call

        def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            function = getattr(recorder._local, "function", None)
            if function is _ENGINE:
                function = recorder.engine
            if function is None:
                return original(client, operation, params)
            service = client.meta.service_model.service_name
            try:
                result = original(client, operation, params)
            except ClientError as error:
                recorder._add(RecordedCall(function, service, operation, dict(params), _code(error)))
                raise
            recorder._add(RecordedCall(function, service, operation, dict(params), None))
            return result

        start = threading.Thread.start

        def start_for_the_same_function(thread: threading.Thread) -> None:
            function = getattr(recorder._local, "function", None)
            target = getattr(thread, "_target", None)
            if function is None and str(getattr(target, "__module__", "")).startswith(_ENGINE_PACKAGE):
                function = _ENGINE
            if function is not None:
                run = thread.run

                def run_as_function() -> None:
                    recorder._local.function = function
                    run()

                thread.run = run_as_function  # type: ignore[method-assign]
            start(thread)

        patches = ExitStack()
        patches.enter_context(mock.patch.object(BaseClient, "_make_api_call", make_api_call))
        patches.enter_context(mock.patch.object(threading.Thread, "start", start_for_the_same_function))
        return patches

    def _add(self, call: RecordedCall) -> None:
        with self._lock:
            self.calls.append(call)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or error.response["ResponseMetadata"]["HTTPStatusCode"])
