"""The environment contract (docs/architecture.md §5) between the stack and ``ingest.settings``."""

from __future__ import annotations

import json

from cdk_helpers import Synth

from infra import contract
from infra.asl_extract import resolve
from infra.config import load_config
from ingest import settings

POWERTOOLS_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def environments(synth: Synth) -> list[dict[str, str]]:
    return [
        resolve(function["Properties"]["Environment"]["Variables"], synth.json)
        for function in synth.resources("AWS::Lambda::Function").values()
        if function["Properties"]["Handler"].startswith("ingest.handlers.")
    ]


def test_infra_uses_the_names_ingest_reads() -> None:
    names = (contract.TABLE_NAME, contract.BUCKET_NAME, contract.SOURCES, contract.EVENT_BUS_NAME)
    names += (contract.LEASE_SECONDS, contract.WAIT_BUDGET_SECONDS)
    assert names == settings.ENVIRONMENT_VARIABLES


def test_every_function_gets_the_same_environment_with_exactly_the_contract_keys(default: Synth, vpc: Synth) -> None:
    for synth in (default, vpc):
        envs = environments(synth)
        assert len(envs) == len(contract.HANDLERS)
        assert all(env == envs[0] for env in envs)
        assert set(envs[0]) == set(settings.ENVIRONMENT_VARIABLES) | POWERTOOLS_VARIABLES


def test_bulk_sources_has_exactly_the_source_keys_per_source(default: Synth, variant: Synth) -> None:
    for synth, names in ((default, {"bcda-sandbox"}), (variant, {"bcda-sandbox", "ab2d-prod"})):
        sources = json.loads(environments(synth)[0][contract.SOURCES])
        assert set(sources) == names
        for spec in sources.values():
            assert set(spec) == set(settings.SOURCE_KEYS)


def test_the_lambda_side_parses_what_the_stack_sets(variant: Synth) -> None:
    parsed = settings.settings_from(environments(variant)[0])
    assert parsed.event_bus_name == "default"
    assert (parsed.lease_seconds, parsed.wait_budget_seconds) == (48 * 3600, 40 * 3600)
    assert parsed.lease_seconds >= 48 * 3600  # at least the state machine timeout
    ab2d = parsed.source("ab2d-prod")
    assert (ab2d.api, ab2d.export, ab2d.types, ab2d.download_concurrency) == (
        "ab2d",
        "Patient",
        ("ExplanationOfBenefit",),
        3,
    )
    assert ab2d.token_url == "https://idm.cms.gov/oauth2/aus2ytanytjdaF9cr297/v1/token"
    assert ab2d.secret_arn.endswith(":secret:cms/ab2d-prod")  # imported by name: partial ARN
    bcda = parsed.source("bcda-sandbox")
    assert bcda.secret_arn.startswith("arn:aws:secretsmanager:")
    assert bcda.api_version == "v2"


def test_powertools_settings(default: Synth) -> None:
    env = environments(default)[0]
    assert {name: env[name] for name in POWERTOOLS_VARIABLES} == {
        "POWERTOOLS_SERVICE_NAME": "bulk-fhir-ingest",
        "POWERTOOLS_METRICS_NAMESPACE": "BulkFhirIngest",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_pure_environment_builder_matches_the_contract() -> None:
    env = contract.lambda_environment(
        load_config(None), table_name="t", bucket_name="b", secret_arns={"bcda-sandbox": "arn:x"}
    )
    assert set(env) == set(settings.ENVIRONMENT_VARIABLES) | POWERTOOLS_VARIABLES
    assert set(json.loads(env[contract.SOURCES])["bcda-sandbox"]) == set(settings.SOURCE_KEYS)


def test_the_iam_item_prefixes_are_the_stores() -> None:
    # IAM scopes each function's table access by partition-key prefix; the store must write exactly these
    from ingest.adapters import dynamo_store

    assert sorted(contract.TABLE_ITEMS.values()) == sorted(dynamo_store.KEY_PREFIXES)


def test_the_partial_run_alarm_watches_the_metric_finalize_emits() -> None:
    """CloudWatch matches a metric by namespace, name and the exact set of dimensions: the alarm's
    must be those of the EMF document Finalize's handler writes for a partial run, and none is written
    for a whole one."""
    from aws_lambda_powertools import Metrics

    from ingest.handlers.finalize import add_run_metrics

    summary = {"files": 3, "records": 10, "bytes": 99, "claims": {}, "partial": "1 of 3 outputs failed: Patient"}
    metrics = Metrics(
        namespace=contract.POWERTOOLS["POWERTOOLS_METRICS_NAMESPACE"],
        service=contract.POWERTOOLS["POWERTOOLS_SERVICE_NAME"],
    )
    # Powertools' Metrics instances share one set: start from none (an in-process local run of the
    # same worker leaves its own, metrics being disabled there and never flushed)
    metrics.clear_metrics()
    add_run_metrics(metrics, "bcda-sandbox", summary)
    document = metrics.serialize_metric_set()
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == contract.POWERTOOLS["POWERTOOLS_METRICS_NAMESPACE"]
    assert contract.RUNS_PARTIAL_METRIC in {m["Name"] for m in directive["Metrics"]}
    assert document[contract.RUNS_PARTIAL_METRIC] == [1.0]
    (dimension_names,) = directive["Dimensions"]
    dimensions = {name: document[name] for name in dimension_names}
    assert dimensions == contract.run_metric_dimensions("bcda-sandbox")
    metrics.clear_metrics()

    add_run_metrics(metrics, "bcda-sandbox", {**summary, "partial": None})
    assert contract.RUNS_PARTIAL_METRIC not in metrics.serialize_metric_set()
    metrics.clear_metrics()
