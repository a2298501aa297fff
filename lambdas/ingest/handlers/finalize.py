from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ingest.observability import entrypoint, logger, metrics
from ingest.services.finalize import finalize
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    summary = finalize(container(), event)
    metrics.add_dimension(name="Source", value=str(event.get("run", {}).get("source", "unknown")))
    if "records" in summary:  # an export (a claims rebuild lands nothing)
        metrics.add_metric(name="FilesLanded", unit=MetricUnit.Count, value=summary["files"])
        metrics.add_metric(name="RecordsLanded", unit=MetricUnit.Count, value=summary["records"])
        metrics.add_metric(name="BytesLanded", unit=MetricUnit.Bytes, value=summary["bytes"])
    metrics.add_metric(
        name="ClaimVersionsCurated", unit=MetricUnit.Count, value=summary["claims"].get("claim_version_rows", 0)
    )
    logger.info("run landed" if "records" in summary else "claims rebuilt", extra=summary)
    return summary
