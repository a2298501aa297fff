from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ingest.observability import entrypoint, metrics
from ingest.services.download_file import download_file
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = download_file(container(), event, lambda: context.get_remaining_time_in_millis() / 1000.0)
    if result.get("resumes"):
        metrics.add_metric(name="DownloadResumes", unit=MetricUnit.Count, value=result["resumes"])
    if result.get("status") == "partial":
        metrics.add_metric(name="DownloadCheckpoints", unit=MetricUnit.Count, value=1)
    return result
