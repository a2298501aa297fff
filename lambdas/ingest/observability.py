"""Powertools logger, metrics and tracer for every handler, and the decorator that applies them."""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

SERVICE = "bulk-fhir-ingest"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="BulkFhirIngest", service=SERVICE)
tracer = Tracer(service=SERVICE)

# The services and the client log through stdlib loggers (``ingest.services.…``, ``bulkfhir.…``): give
# them the same JSON format and level. Powertools configures only loggers that exist when it is called,
# and this module is imported before the services are: configure their parents, which the services'
# loggers (created later, level unset) pass their records to. Without this their records reached only
# the root logger, at WARNING: every INFO line was lost and the rest were not JSON.
for _package in ("ingest", "bulkfhir"):
    logging.getLogger(_package)
copy_config_to_registered_loggers(source_logger=logger, include={"ingest", "bulkfhir"})

# Steps without metrics of their own are normal; Powertools would warn on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def entrypoint(handler: Handler) -> Handler:
    """Structured logs with the request id (never the event: it may name files of PHI), metrics
    flushed per invocation, X-Ray segments without the response."""

    @functools.wraps(handler)
    @logger.inject_lambda_context(log_event=False, clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics(raise_on_empty_metrics=False)
    def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Start clean: with metrics disabled (local runs) Powertools skips the flush that clears them,
        # and a dimension set by the previous invocation would be set twice.
        metrics.clear_metrics()
        return handler(event, context)

    return wrapper
