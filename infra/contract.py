"""What the stack promises the Lambda code (docs/architecture.md §3 and §5).

``infra`` never imports ``ingest``; ``tests/infra/test_env_contract.py`` checks that these names
equal ``ingest.settings``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from infra.config import IngestConfig, source_environment

TABLE_NAME = "BULK_TABLE_NAME"
BUCKET_NAME = "BULK_BUCKET_NAME"
SOURCES = "BULK_SOURCES"
EVENT_BUS_NAME = "BULK_EVENT_BUS_NAME"
LEASE_SECONDS = "BULK_LEASE_SECONDS"
WAIT_BUDGET_SECONDS = "BULK_WAIT_BUDGET_SECONDS"
USER_VIEWS_DIR = "BULK_USER_VIEWS_DIR"

POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "bulk-fhir-ingest",
    "POWERTOOLS_METRICS_NAMESPACE": "BulkFhirIngest",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

#: Finalize's metric for a run that landed in part (its execution succeeds, its watermark stays), with
#: the dimensions it carries: Powertools' ``service`` and the run's ``Source``. The stack alarms on it.
RUNS_PARTIAL_METRIC = "RunsPartial"


def run_metric_dimensions(source: str) -> dict[str, str]:
    return {"service": POWERTOOLS["POWERTOOLS_SERVICE_NAME"], "Source": source}


#: The Lambdas, in the order the state machine calls them; handler ``ingest.handlers.<name>.handler``.
HANDLERS = ("start_run", "authenticate", "kick_off", "check_status", "download_file", "curate_file", "plan_rebuild",
            "resolve_claims", "finalize", "record_failure")  # fmt: skip

EVENT_BUS = "default"
EVENT_SOURCE = "bulk-fhir-ingest"
EXPORT_LANDED = "ExportLanded"
EXPORT_FAILED = "ExportFailed"

#: The state table's kinds of items, by partition-key prefix (ingest.adapters.dynamo_store; a test pins
#: them): IAM scopes each function's reads and writes to the kinds its step owns.
TABLE_ITEMS = {
    "watermark": "WATERMARK#",
    "lease": "LEASE#",
    "open_job": "OPENJOB#",
    "server_job": "SERVERJOB#",
    "ledger": "LEDGER#",
    "run_files": "RUN#",
}

#: The resource types the claims layer curates (lambdas/claims extract.CURATED_TYPES; a test pins them).
CURATED_TYPES = ("ExplanationOfBenefit", "Patient", "Claim", "ClaimResponse")
#: The type of a deleted file (its Bundles of DELETE entries), curated too (claims extract.DELETION_TYPE).
DELETION_TYPE = "Bundle"

#: Where "Start run" puts the source's download concurrency (read by the Distributed Map).
DOWNLOAD_CONCURRENCY_PATH = "$.run.download_concurrency"


def handler_path(name: str) -> str:
    return f"ingest.handlers.{name}.handler"


def lambda_environment(
    config: IngestConfig,
    *,
    table_name: str,
    bucket_name: str,
    secret_arns: Mapping[str, str],
    user_views_dir: str | None = None,
) -> dict[str, str]:
    """The environment every function gets (the values may be CDK tokens)."""
    sources = {source.name: source_environment(source, secret_arns[source.name]) for source in config.sources}
    views = {USER_VIEWS_DIR: user_views_dir} if user_views_dir else {}
    return {
        TABLE_NAME: table_name,
        BUCKET_NAME: bucket_name,
        SOURCES: json.dumps(sources, separators=(",", ":")),
        EVENT_BUS_NAME: EVENT_BUS,
        # The lease must outlive any execution; an execution that times out skips the failure path,
        # so its lease is freed only when it expires.
        LEASE_SECONDS: str(config.state_machine_timeout_hours * 3600),
        WAIT_BUDGET_SECONDS: str(config.wait_budget_hours * 3600),
        **views,
        **POWERTOOLS,
    }
