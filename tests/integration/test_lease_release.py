"""A resumed run keeps the run id of the job it resumes: only the execution tells the live run from
the stopped one it took the lease over from. A redrive of that stopped execution (Step Functions
redrives a stopped or failed execution from where it ended) must not free the live run's lease when it
fails or finishes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3

from ingest.adapters.executions import StepFunctionsExecutions
from ingest.clients import ClientCache
from ingest.payloads import RunContext
from ingest.services.record_failure import record_failure
from ingest.settings import settings_from
from ingest.wiring import Deps
from tests.integration.conftest import BUCKET, REGION, TABLE

NOW = 1_800_000_000
SOURCE = {"api": "bcda", "base_url": "https://sandbox.bcda.cms.gov", "token_url": None, "api_version": "v2",
          "export": "Group/all", "types": ["Patient"], "secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:x",
          }  # fmt: skip


def _deps(aws) -> Deps:
    settings = settings_from(
        {"BULK_TABLE_NAME": TABLE, "BULK_BUCKET_NAME": BUCKET, "BULK_SOURCES": json.dumps({"bcda": SOURCE})}
    )
    return Deps(
        settings=settings,
        store=aws.store(),
        landing=aws.landing(),
        events=aws.publisher(),
        clients=ClientCache(aws.credentials()),
        executions=StepFunctionsExecutions(boto3.client("stepfunctions", region_name=REGION)),
        clock=lambda: datetime.now(UTC),
    )


def _state(execution: str) -> dict[str, object]:
    run = RunContext(
        run_id="run-1", source="bcda", scope="Group/all", export="Group/all", types=("Patient",), since=None,
        until=None, type_filters=(), run_date="2026-12-01", started_at="2026-12-01T00:00:00.000000Z",
        watermark_before=None, download_concurrency=2, execution=execution,
    )  # fmt: skip
    return {"run": run.to_state(), "error": {"Error": "TransientError", "Cause": "the file server went away"}}


def test_a_redriven_stopped_execution_does_not_release_the_lease_of_the_run_that_resumed_its_job(aws):
    store = aws.store()
    # execution A ran run-1 and was stopped; execution B resumed run-1's job and took the lease over
    store.acquire_lease("bcda", "Group/all", "run-1", "exec-A", NOW, 3600)
    stopped = store.get_lease("bcda", "Group/all")
    assert store.take_over_lease("bcda", "Group/all", "run-1", "exec-B", NOW + 60, 3600, ended=stopped)

    record_failure(_deps(aws), _state("exec-A"))  # A, redriven, fails again
    lease = store.get_lease("bcda", "Group/all")
    assert lease is not None and lease.execution == "exec-B"

    record_failure(_deps(aws), _state("exec-B"))  # the live run's own failure releases it
    assert store.get_lease("bcda", "Group/all") is None
