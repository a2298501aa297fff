from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ingest.observability import entrypoint, logger, metrics
from ingest.services.record_failure import record_failure
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failure = record_failure(container(), event)
    metrics.add_metric(name="ExportsFailed", unit=MetricUnit.Count, value=1)
    logger.error("run failed", extra=failure)
    return failure
