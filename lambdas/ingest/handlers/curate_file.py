from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ingest.observability import entrypoint, metrics
from ingest.services.curate_file import curate_file
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = curate_file(container(), event)
    for table, rows in (result.get("rows") or {}).items():
        metrics.add_metric(name=f"Curated_{table}", unit=MetricUnit.Count, value=rows)
    return result
