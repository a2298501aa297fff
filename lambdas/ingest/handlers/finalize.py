from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ingest.observability import entrypoint, logger, metrics
from ingest.services.finalize import finalize
from ingest.wiring import container

#: A run that landed in part (the server reported outputs it failed to export): its execution
#: succeeds and its watermark stays, so this metric is what tells an operator (the stack alarms on it
#: per source: infra/constructs/monitoring.py).
RUNS_PARTIAL = "RunsPartial"


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    summary = finalize(container(), event)
    add_run_metrics(metrics, str(event.get("run", {}).get("source", "unknown")), summary)
    logger.info("run landed" if "records" in summary else "claims rebuilt", extra=summary)
    return summary


def add_run_metrics(metrics: Metrics, source: str, summary: dict[str, Any]) -> None:
    metrics.add_dimension(name="Source", value=source)
    if "records" in summary:  # an export (a claims rebuild lands nothing)
        metrics.add_metric(name="FilesLanded", unit=MetricUnit.Count, value=summary["files"])
        metrics.add_metric(name="RecordsLanded", unit=MetricUnit.Count, value=summary["records"])
        metrics.add_metric(name="BytesLanded", unit=MetricUnit.Bytes, value=summary["bytes"])
    if summary.get("partial"):
        metrics.add_metric(name=RUNS_PARTIAL, unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="ClaimVersionsCurated", unit=MetricUnit.Count, value=summary["claims"].get("claim_version_rows", 0)
    )
