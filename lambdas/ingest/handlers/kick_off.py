from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ingest.observability import entrypoint, logger, metrics
from ingest.services.kick_off import kick_off
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = kick_off(container(), event)
    if job.status == "throttled":
        metrics.add_metric(name="KickOffThrottled", unit=MetricUnit.Count, value=1)
    logger.info("kick-off", extra={"status": job.status, "adopted": job.adopted, "wait_seconds": job.wait_seconds})
    return job.to_state()
