"""Where moto spends the local run's CPU on work AWS never does, it is skipped here (measured with
``py-spy record --gil`` on a 100-file run; each patch changes how fast moto answers, never what).

- moto's Step Functions engine parses every JSONPath of every state each time the state runs, and
  jsonpath-ng builds a new yacc parser for each parse: about a tenth of the run's GIL time. A path's
  parse is a pure function of its text, so it is cached.
- It creates a new boto3 client for every Lambda task it invokes (loading and validating the service
  model each time; it ignores the state's credentials). Clients are thread-safe: one per region and
  service.
- moto's S3 reloads its URL module on every request, in case environment variables changed the URL
  patterns; they do not change during a run.
"""

from __future__ import annotations

import functools
import threading
from contextlib import ExitStack
from typing import Any
from unittest import mock

import jsonpath_ng.ext
import jsonpath_ng.parser
import moto.s3.urls
from moto.s3.models import S3Backend
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

_cached_ext_parse = functools.lru_cache(maxsize=4096)(jsonpath_ng.ext.parse)
_cached_parse = functools.lru_cache(maxsize=4096)(jsonpath_ng.parser.parse)


class _Clients:
    """One boto3 client per (region, service) for moto's Lambda task integration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._create = boto_client_for

    def __call__(self, region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own boto_client_for ignores state_credentials (every client gets the same fake keys)
        with self._lock:
            client = self._clients.get((region, service))
            if client is None:
                client = self._clients[(region, service)] = self._create(region, service)
            return client


def moto_speedups() -> ExitStack:
    stack = ExitStack()
    stack.enter_context(mock.patch.object(json_path, "parse", _cached_ext_parse))
    stack.enter_context(mock.patch.object(result_path, "parse", _cached_parse))
    stack.enter_context(mock.patch.object(lambda_eval_utils, "boto_client_for", _Clients()))
    stack.enter_context(mock.patch.object(S3Backend, "_url_module", property(lambda self: moto.s3.urls)))
    return stack
