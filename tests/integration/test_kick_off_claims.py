"""Two runs of this stack must not adopt the same server job (AB2D names every active job of the
organisation in its 429: here the jobs of two sources of this stack with the same credentials)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import boto3

from ingest.adapters.dynamo_store import DynamoRunStore
from ingest.adapters.events import EventBridgePublisher
from ingest.adapters.executions import StepFunctionsExecutions
from ingest.adapters.s3_landing import S3Landing
from ingest.adapters.secrets import SecretsManagerCredentials
from ingest.clients import ClientCache
from ingest.payloads import RunContext
from ingest.services.kick_off import kick_off
from ingest.settings import settings_from
from ingest.wiring import Deps
from local.emulator import Emulator, EmulatorConfig
from tests.integration.conftest import BUCKET, REGION, TABLE


def _deps(aws, emu: Emulator) -> Deps:
    secret_arn = aws.put_secret("ab2d", {"client_id": emu.client_id, "client_secret": emu.client_secret})
    source = {"api": "ab2d", "base_url": emu.base_url, "token_url": emu.token_url, "api_version": "v2",
              "export": "Patient", "types": ["ExplanationOfBenefit"], "secret_arn": secret_arn}  # fmt: skip
    settings = settings_from(
        {"BULK_TABLE_NAME": TABLE, "BULK_BUCKET_NAME": BUCKET, "BULK_SOURCES": json.dumps({"a": source, "b": source})}
    )
    return Deps(
        settings=settings,
        store=DynamoRunStore(aws.table),
        landing=S3Landing(aws.s3, BUCKET),
        events=EventBridgePublisher(aws.events, "default"),
        clients=ClientCache(SecretsManagerCredentials(aws.secrets)),
        executions=StepFunctionsExecutions(boto3.client("stepfunctions", region_name=REGION)),
        clock=lambda: datetime.now(UTC),
    )


def _run(source: str, run_id: str) -> dict[str, object]:
    run = RunContext(
        run_id=run_id, source=source, scope="Patient", export="Patient", types=("ExplanationOfBenefit",),
        since=None, until=None, type_filters=(), run_date="2026-12-01", started_at="2026-12-01T00:00:00.000000Z",
        watermark_before=None, download_concurrency=2,
    )  # fmt: skip
    return {"run": run.to_state()}


def test_a_job_another_run_claimed_is_never_adopted_even_with_exactly_the_same_request(aws):
    with Emulator(EmulatorConfig(flavor="ab2d", patients=20, job_polls=1, poll_throttle_seconds=0)) as emu:
        deps = _deps(aws, emu)
        first = kick_off(deps, _run("a", "run-a"))
        assert first.status == "accepted" and first.started_by_us

        # source b asks for exactly the same export while a's job runs: AB2D refuses and names a's job
        second = kick_off(deps, _run("b", "run-b"))
        assert second.status == "throttled"
        assert first.job_url not in second.seen_jobs  # a's claim: never a candidate for adoption

        # a's job completes (its manifest shows exactly b's request too); b's next try exports for itself
        client = deps.clients.client_for(deps.settings.source("a"))
        while not hasattr(client.check_status(str(first.job_url)), "manifest"):
            emu.clock.advance(5)
        emu.clock.advance(second.wait_seconds)
        again = kick_off(deps, {**_run("b", "run-b"), "job": second.to_state()})
        assert again.status == "accepted"
        assert again.job_url != first.job_url and again.started_by_us
        claim = deps.store.get_server_job(str(first.job_url))
        assert claim is not None and claim.run_id == "run-a"


def test_a_completed_job_of_exactly_this_request_nobody_claimed_is_adopted_but_not_as_ours(aws):
    # kickoff-429-adopt: the job AB2D names was started by nobody this stack knows of
    with Emulator(
        EmulatorConfig(flavor="ab2d", scenario="kickoff-429-adopt", patients=20, poll_throttle_seconds=0)
    ) as emu:
        deps = _deps(aws, emu)
        state = _run("a", "run-a")
        job = kick_off(deps, state)
        for _ in range(10):
            if job.status == "accepted":
                break
            emu.clock.advance(job.wait_seconds)
            job = kick_off(deps, {**state, "job": job.to_state()})
        assert job.status == "accepted" and job.adopted
        assert job.started_by_us is False  # so a failed run never cancels it
        assert len(emu.jobs()) == 1


def test_a_restarted_server_that_gives_out_a_claimed_job_url_again_hands_the_claim_to_the_new_run(aws, caplog):
    # A local run's emulator died mid-run and was started again on its port: its job counter starts
    # over, so the new run's new job has the URL the failed run had claimed (#16). A real server never
    # reuses a job URL; when one does, the job it has just accepted is the new run's.
    with Emulator(EmulatorConfig(flavor="ab2d", patients=20, poll_throttle_seconds=0)) as first_life:
        deps = _deps(aws, first_life)
        port = first_life.port
        died = kick_off(deps, _run("a", "run-dead"))
    with Emulator(EmulatorConfig(flavor="ab2d", patients=20, poll_throttle_seconds=0, port=port)):
        caplog.set_level("WARNING", logger="ingest.services.kick_off")
        # the re-run is a new process: new connections, new tokens
        rerun_deps = dataclasses.replace(deps, clients=ClientCache(SecretsManagerCredentials(aws.secrets)))
        rerun = kick_off(rerun_deps, _run("a", "run-again"))
    assert rerun.status == "accepted" and rerun.job_url == died.job_url and rerun.started_by_us
    claim = deps.store.get_server_job(str(rerun.job_url))
    assert claim is not None and claim.run_id == "run-again" and claim.started_by_us
    said = [record.getMessage() for record in caplog.records]
    assert not any("another run of this stack has claimed" in line for line in said)
    assert any("run run-dead's job, which it no longer has" in line for line in said)
