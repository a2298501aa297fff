"""Nothing lost, nothing leaked (issue #8): a hostile server or a careless operator, on the real state
machine. Every path ends in complete data, or a clean, named failure that a re-run recovers from."""

from __future__ import annotations

import io
import json
import os
from datetime import timedelta
from typing import Any

import pytest
import requests

from bulkfhir import BulkDataClient, TransientError
from local.follow import Progress
from local.runner.world import _reset_handler_caches
from tests.e2e.conftest import checkpoint_every_invocation
from tests.e2e.test_e2e_faults import assert_complete_and_identical

SCOPE = {"bcda": "Group/all", "ab2d": "Patient", "smart": "Patient"}


def _break_one_file(monkeypatch: pytest.MonkeyPatch, s: Any, pick: Any) -> dict[str, str]:
    """Every download of one file of the newest job (``pick(job)`` gives its URL) breaks on the wire."""
    real_open = BulkDataClient.open_file
    broken: dict[str, str] = {}

    def open_file(self: BulkDataClient, url: str, **kwargs: Any) -> Any:
        broken.setdefault("url", pick(s.emu.jobs()[-1]).split("?")[0])
        if url.split("?", maxsplit=1)[0] == broken["url"]:
            raise TransientError("simulated: the connection to the file server keeps failing", bytes_received=None)
        return real_open(self, url, **kwargs)

    monkeypatch.setattr(BulkDataClient, "open_file", open_file)
    return broken


def _gets_of(s: Any, file_url: str) -> int:
    path = "/" + file_url.split("://", 1)[1].split("/", 1)[1].split("?", maxsplit=1)[0]
    return len([r for r in s.emu.requests() if r.method == "GET" and r.path == path])


def _json_object(s: Any, key: str) -> Any:
    return json.loads(s.aws.s3.get_object(Bucket=s.aws.bucket, Key=key)["Body"].read())


# ---- 1. a resumed run matches files by URL, not by position ----------------------------------------


def test_a_resumed_run_recognises_landed_files_by_url_whatever_order_the_server_lists_them_in(stack, monkeypatch):
    # BCDA's job-keys query has no ORDER BY: a re-poll hours later lists the same files in another order
    s = stack("bcda", patients=180, concurrency=2, manifest_order="rotating")
    broken = _break_one_file(monkeypatch, s, lambda job: next(f.url for f in job.files if f.type == "Coverage"))
    failed = s.run()
    assert failed.status == "FAILED", failed.cause
    monkeypatch.undo()
    open_job = s.store.get_open_job("e2e", "Group/all")
    assert open_job is not None
    listed_first = _json_object(s, f"runs/e2e/{open_job.run_id}/server-manifest.json")["output"]

    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert rerun.output["run"]["run_id"] == open_job.run_id  # the same job, resumed
    listed_again = _json_object(s, f"runs/e2e/{open_job.run_id}/server-manifest.json")["output"]
    assert [e["url"] for e in listed_again] != [e["url"] for e in listed_first]  # another order
    assert sorted(e["url"] for e in listed_again) == sorted(e["url"] for e in listed_first)
    assert_complete_and_identical(s, rerun)  # every file once, byte-identical, under its own key
    job = s.emu.jobs()[-1]
    assert {f.url: _gets_of(s, f.url) for f in job.files if f.url != broken["url"]} == {
        f.url: 1 for f in job.files if f.url != broken["url"]
    }  # nothing landed was fetched again, nothing was skipped
    keys = [f["key"] for f in s.run_manifest(rerun)["files"]]
    assert len(keys) == len(set(keys)) == len(job.files)


# ---- 2. a narrower run does not move the scope's watermark ------------------------------------------


def _instant(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    ("narrower", "why"),
    [
        ("since", "later than the watermark"),
        ("until", "until"),
        ("type_filters", "type_filters"),
    ],
)
def test_a_narrower_manual_run_leaves_the_scheduled_scopes_watermark_where_it_was(stack, narrower, why):
    s = stack("bcda", patients=80)
    assert s.run().status == "SUCCEEDED"
    watermark = s.watermark("Group/all")
    s.emu.advance_data(days=30)
    load = s.emu.state.population.load_time
    narrow: dict[str, Any] = {
        "since": {"since": _instant(load + timedelta(minutes=1))},  # just after the new data load
        "until": {"until": "2099-01-01T00:00:00Z"},
        "type_filters": {"type_filters": ["ExplanationOfBenefit?service-date=ge2020-01-01"]},
    }[narrower]
    manual = s.run(**narrow)
    assert manual.status == "SUCCEEDED", manual.cause
    assert s.watermark("Group/all") == watermark  # not moved past data it never asked for
    assert why in manual.output["final"]["watermark_note"]
    assert why in s.ledger(manual.output["run"]["run_id"])["watermark_note"]
    assert manual.output["final"]["watermark_after"] == watermark

    # the scheduled run still fetches the whole load
    scheduled = s.run()
    assert scheduled.status == "SUCCEEDED", scheduled.cause
    assert scheduled.output["final"]["watermark_note"] == "moved"
    since = s.emu.jobs()[-1].since
    assert since is not None and _instant(since) == watermark
    assert scheduled.output["final"]["records"] > 0
    assert s.watermark("Group/all") == _instant(load)


def test_a_full_pull_by_hand_may_move_the_watermark(stack):
    s = stack("bcda", patients=60)
    assert s.run().status == "SUCCEEDED"
    first = s.watermark("Group/all")
    s.emu.advance_data(days=30)
    full = s.run(since="none")
    assert full.status == "SUCCEEDED"
    assert full.output["final"]["watermark_note"] == "moved"
    assert s.watermark("Group/all") > first


# ---- 3. a Range resume answered in another encoding starts the file over ---------------------------


@pytest.mark.parametrize("flavor", ["bcda", "smart"])
def test_a_range_resume_answered_in_another_encoding_starts_the_file_over(stack, flavor):
    s = stack(flavor, scenario="drop-connection", patients=120, range_reply="other-encoding")
    execution = s.run()
    assert_complete_and_identical(s, execution)
    assert any(r.status == 206 for r in s.emu.requests())  # the server did answer a Range, wrongly
    assert s.leaked_secrets() == []


def test_a_break_inside_bcdas_trailing_gzip_member_is_recovered_from_byte_zero(stack):
    # the resume asks from past the stored file's end: BCDA answers 416
    s = stack("bcda", scenario="drop-connection", patients=80, drop_point="trailing-member")
    execution = s.run()
    assert_complete_and_identical(s, execution)
    assert any(r.status == 416 for r in s.emu.requests())


# ---- 4. adopting someone else's AB2D job ---------------------------------------------------------------


def test_an_ab2d_job_of_another_request_is_neither_adopted_nor_cancelled(stack):
    # AB2D's 429 names every active job of the organisation: here, another client's v2 job
    s = stack("ab2d", patients=60)
    other = s.emu.add_running_job("_since=2024-01-01T00:00:00-05:00&_type=ExplanationOfBenefit")
    execution = s.run()
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["job"]["job_url"] != other.status_url  # our own export, once the other ended
    assert execution.output["job"]["adopted"] is False
    deletes = [r for r in s.emu.requests() if r.method == "DELETE"]
    assert deletes == []
    other_files = [r for r in s.emu.requests() if other.id in r.path and "/file/" in r.path]
    assert other_files == []  # never downloaded
    assert_complete_and_identical(s, execution)


def test_a_failed_run_never_cancels_a_job_it_adopted(stack):
    # kickoff-response-lost: BCDA created the job but the 202 never arrived; the re-tried kick-off meets
    # the duplicate-job 429 and adopts the running job of exactly this request from the job history.
    # Whose it is cannot be known: when the run then fails while polling, the job is left to expire.
    s = stack("bcda", scenario="kickoff-response-lost", patients=40, slow_export_polls=20)
    s.emu.config.status_override = {"1": 400}  # its polls are refused once adopted
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "BadRequestError"
    assert [r for r in s.emu.requests() if r.method == "DELETE"] == []
    assert s.emu.jobs()[0].status in ("Pending", "In Progress")
    assert s.lease("Group/all") is None


# ---- 5. the watermark moves only after the announcement -------------------------------------------


@pytest.mark.parametrize("flavor", ["bcda", "ab2d"])
def test_a_lost_announcement_leaves_the_watermark_and_the_rerun_announces_and_moves_it(stack, monkeypatch, flavor):
    from ingest.adapters.events import EventBridgePublisher

    s = stack(flavor, patients=60 if flavor == "bcda" else 30)
    real_publish = EventBridgePublisher.publish

    def flaky_publish(self: EventBridgePublisher, detail_type: str, detail: dict[str, Any]) -> None:
        if detail_type == "ExportLanded":
            raise TransientError("EventBridge did not accept the ExportLanded event: InternalFailure")
        real_publish(self, detail_type, detail)

    monkeypatch.setattr(EventBridgePublisher, "publish", flaky_publish)
    failed = s.run()
    monkeypatch.undo()
    assert failed.status == "FAILED"
    assert failed.error == "TransientError" and "ExportLanded" in failed.cause
    assert s.watermark(SCOPE[flavor]) is None  # consumers never heard of the data: the watermark stays
    assert [e["detail-type"] for e in s.events()] == ["ExportFailed"]

    if flavor == "ab2d":
        s.emu.clock.advance(73 * 3600)  # the job's files expired: every one landed, so it is resumed still
    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert len(s.emu.jobs()) == 1  # resumed, nothing fetched again
    landed = [e for e in s.events() if e["detail-type"] == "ExportLanded"]
    assert len(landed) == 1 and landed[0]["detail"]["run_id"] == rerun.output["run"]["run_id"]
    assert s.watermark(SCOPE[flavor]) == landed[0]["detail"]["watermark_after"]


# ---- 6. a 30-hour AB2D export in one execution -------------------------------------------------------


def test_a_30_hour_ab2d_export_finishes_in_one_execution_far_below_the_history_limit(stack):
    # AB2D answers every poll with Retry-After: 5; polled that often, 30 hours would be 21,600 polls
    s = stack("ab2d", scenario="slow-export", patients=40, export_hours=30)
    execution = s.wait(s.start(), timeout=600)
    assert execution.status == "SUCCEEDED", execution.cause
    assert sum(s.aws.clockwork.waits) >= 30 * 3600
    polls = execution.output["final"]["polls"]
    assert polls < 400
    assert len(execution.history) < 10_000
    ledger = s.ledger(execution.output["run"]["run_id"])
    assert ledger["polls"] == polls
    assert 0 < ledger["history_events"] <= len(execution.history)
    assert_complete_and_identical(s, execution)

    # followed as `local-run` and `start` follow it: one line per change of the server's progress (#16)
    said = io.StringIO()
    Progress(s.aws.stepfunctions, s.aws.table, execution.arn, said).tick()
    changes = [line.split("] ", 1)[1] for line in said.getvalue().splitlines() if "] export in progress: " in line]
    reported = [
        json.loads(e["stateExitedEventDetails"]["output"])["poll"].get("progress")
        for e in execution.history
        if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "Check export status"
    ]
    distinct = [text for i, text in enumerate(reported) if text and (i == 0 or text != reported[i - 1])]
    assert [line.split(" (poll ")[0] for line in changes] == [f"export in progress: {t}" for t in distinct]
    assert len(changes) <= 101 < polls and len(said.getvalue().splitlines()) < len(changes) + 20


# ---- 7. a resume that cannot continue is abandoned, not a block for good ----------------------------


def _fail_after_the_export(monkeypatch: pytest.MonkeyPatch, s: Any) -> Any:
    """A run that fails on a download: its completed job is kept open for a resume."""
    _break_one_file(monkeypatch, s, lambda job: job.files[0].url)
    failed = s.run()
    monkeypatch.undo()
    assert failed.status == "FAILED"
    stale = s.store.get_open_job("e2e", SCOPE[s.emu.config.flavor])
    assert stale is not None
    return stale


@pytest.mark.parametrize("status", [400, 401, 403, 418])
def test_a_resumed_job_the_server_refuses_to_report_on_is_abandoned_and_the_run_starts_over(stack, monkeypatch, status):
    s = stack("bcda", patients=60)
    stale = _fail_after_the_export(monkeypatch, s)
    # credentials rotated, a proxy in the way, the job's API version switched off: its polls are refused
    s.emu.config.status_override = {s.emu.jobs()[-1].id: status}
    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert rerun.output["run"]["run_id"] != stale.run_id  # a fresh run of its own, a fresh export
    assert len(s.emu.jobs()) == 2
    abandoned = s.ledger(stale.run_id)
    assert abandoned["status"] == "ABANDONED" and str(status) in abandoned["cause"]
    assert s.store.get_open_job("e2e", "Group/all") is None
    assert_complete_and_identical(s, rerun)


def test_a_resumed_ab2d_job_whose_files_expired_is_abandoned_and_the_run_starts_over(stack):
    # AB2D answers the manifest of a job whose files have expired (Expires: 72 h after completion) and
    # its downloads "The file is not present as it has expired": the next scheduled run, a month after
    # a failure, failed on every file, and only the run after it started over (found by the fault soak)
    s = stack("ab2d", scenario="html-block-page", patients=30)
    failed = s.run()
    assert failed.status == "FAILED" and failed.error == "UnexpectedResponseError"
    stale = s.store.get_open_job("e2e", "Patient")
    s.emu.config.scenario = "none"
    s.emu.clock.advance(73 * 3600)
    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert rerun.output["run"]["run_id"] != stale.run_id  # a fresh run of its own, a fresh export
    assert len(s.emu.jobs()) == 2
    abandoned = s.ledger(stale.run_id)
    assert abandoned["status"] == "ABANDONED" and "its files expired at" in abandoned["cause"]
    assert_complete_and_identical(s, rerun)


def test_a_resumed_ab2d_job_whose_file_used_its_downloads_is_abandoned_and_the_run_starts_over(stack, monkeypatch):
    # a file that kept breaking used five of AB2D's six downloads: the re-run resumed the job, failed for
    # that file ("a new export serves new files"), and only the run after it started over (the soak)
    s = stack("ab2d", patients=30, record_calls=True)
    stale = _fail_after_the_export(monkeypatch, s)
    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert len(s.emu.jobs()) == 2
    abandoned = s.ledger(stale.run_id)
    assert abandoned["status"] == "ABANDONED" and "was requested 5 times" in abandoned["cause"]
    assert_complete_and_identical(s, rerun)
    from tests.e2e.test_e2e_permissions import assert_every_call_allowed  # here: that module imports this one

    assert_every_call_allowed(s)  # Kick off reads the run's download counts and its ledger entry


def test_a_job_of_another_api_version_is_not_resumed(stack, monkeypatch):
    s = stack("bcda", patients=60)
    stale = _fail_after_the_export(monkeypatch, s)
    # the operator moves the source to v3: a v2 job is not what the source asks for any more
    sources = json.loads(os.environ["BULK_SOURCES"])
    sources["e2e"]["api_version"] = "v3"
    monkeypatch.setenv("BULK_SOURCES", json.dumps(sources))
    _reset_handler_caches()
    rerun = s.run()
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert rerun.output["run"]["run_id"] != stale.run_id
    assert s.emu.jobs()[-1].status_url.split("/api/")[1].startswith("v3/")
    assert len(s.emu.jobs()) == 2


# ---- 8. AB2D's six downloads per file ------------------------------------------------------------------


def test_a_flaky_ab2d_file_stops_before_the_servers_download_cap_with_a_clear_error(stack):
    # every download of every file breaks half-way: retries within the invocation, task retries and
    # verification retries together would otherwise spend all six downloads AB2D allows per file
    s = stack("ab2d", scenario="drop-connection", patients=40, fault_downloads_per_file=100)
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "ExportGoneError"
    assert "requested 5 times" in failed.cause and "allows 6 downloads per file" in failed.cause
    downloads = [r for r in s.emu.requests() if "/file/" in r.path]
    per_file: dict[str, int] = {}
    for request in downloads:
        per_file[request.path] = per_file.get(request.path, 0) + 1
    assert max(per_file.values()) <= 5  # one of AB2D's six is always left
    assert all(r.status != 500 for r in downloads)  # never the server's "maximum number" answer
    assert s.watermark("Patient") is None and s.lease("Patient") is None


def test_the_downloads_each_file_took_are_in_the_run_manifest(stack):
    s = stack("ab2d", scenario="drop-connection", patients=40)
    execution = s.run()
    assert execution.status == "SUCCEEDED", execution.cause
    downloads = {f["url"]: f["downloads"] for f in s.run_manifest(execution)["files"]}
    assert set(downloads.values()) == {2}  # the broken first download and the good second one


# ---- 9. the server's Retry-After is honoured ------------------------------------------------------------


def test_a_token_endpoint_asking_for_300_seconds_is_waited_out(stack):
    # BCDA's SSAS answers a burst of token requests with 429 and Retry-After: 300; the task retries
    # (5, 10, 20, 40 s) would spend themselves inside that window
    s = stack("bcda", patients=40, bcda_token_rate_limit=1)
    emulator_token = requests.post(s.emu.token_url, auth=(s.emu.client_id, s.emu.client_secret), timeout=10)
    assert emulator_token.status_code == 200  # someone else's token call: the next one is refused
    execution = s.run()
    assert execution.status == "SUCCEEDED", execution.cause
    assert 300 in s.aws.clockwork.waits
    assert any(r.path == "/auth/token" and r.status == 429 for r in s.emu.requests())


def test_a_file_server_asking_to_wait_is_waited_out_before_the_file_is_asked_for_again(stack, monkeypatch):
    s = stack("smart", patients=40)
    real_open = BulkDataClient.open_file
    refused: list[str] = []

    def open_file(self: BulkDataClient, url: str, **kwargs: Any) -> Any:
        if not refused:
            refused.append(url)
            raise TransientError("simulated: 503 from the file server", status=503, retry_after=240)
        return real_open(self, url, **kwargs)

    monkeypatch.setattr(BulkDataClient, "open_file", open_file)
    execution = s.run()
    assert execution.status == "SUCCEEDED", execution.cause
    assert 240 in s.aws.clockwork.waits
    assert_complete_and_identical(s, execution)


# ---- 10. malformed responses and lost checkpoints ---------------------------------------------------


def test_a_server_that_advertises_ranges_but_ignores_them_fails_clearly_instead_of_looping(stack, monkeypatch):
    s = stack("smart", scenario="large-files", file_mb=20, large_file_count=1, patients=20, concurrency=1,
              range_reply="ignore")  # fmt: skip
    download = checkpoint_every_invocation(s, monkeypatch)
    failed = s.wait(s.start(), timeout=300)
    assert failed.status == "FAILED"
    assert failed.error == "UnexpectedResponseError"
    assert "ignored or mishandled a Range request" in failed.cause
    invocations = [i for i in s.aws.dispatcher.invocations if i.function == download]
    assert len(invocations) < 20  # no endless hand-over of checkpoints that restart from byte 0


def test_a_checkpoint_removed_between_invocations_restarts_the_file(stack, monkeypatch):
    s = stack("bcda", scenario="large-files", file_mb=20, large_file_count=1, patients=20, concurrency=1)
    checkpoint_every_invocation(s, monkeypatch)
    dispatcher = s.aws.dispatcher
    real = dispatcher._handler("ingest.handlers.download_file.handler")
    removed: list[str] = []

    def after_a_lost_checkpoint(event: dict[str, Any], context: Any) -> Any:
        checkpoint = (event.get("result") or {}).get("checkpoint")
        if checkpoint and not removed:
            # a lifecycle rule, a person, or a retried invocation that already used it
            removed.append(checkpoint["staging_key"])
            s.aws.s3.delete_object(Bucket=s.aws.bucket, Key=checkpoint["staging_key"])
        return real(event, context)

    dispatcher._handlers["ingest.handlers.download_file.handler"] = after_a_lost_checkpoint
    execution = s.wait(s.start(), timeout=300)
    assert removed
    assert_complete_and_identical(s, execution)


# ---- 12. the error that ended the run is the one reported ----------------------------------------


def test_the_reported_error_is_the_one_that_ended_the_run_not_a_retried_one(stack, monkeypatch):
    s = stack("bcda", patients=180, concurrency=1)
    real_open = BulkDataClient.open_file
    first_failures: list[str] = []

    def open_file(self: BulkDataClient, url: str, **kwargs: Any) -> Any:
        files = s.emu.jobs()[-1].files
        if url.split("?", maxsplit=1)[0] == files[0].url and not first_failures:
            first_failures.append(url)  # file #1 fails once, and lands on the retry
            raise TransientError("simulated: file #1 broke once", bytes_received=None)
        if url.split("?", maxsplit=1)[0] == files[-1].url:
            raise TransientError("simulated: the last file keeps failing", bytes_received=None)
        return real_open(self, url, **kwargs)

    monkeypatch.setattr(BulkDataClient, "open_file", open_file)
    failed = s.run()
    assert failed.status == "FAILED"
    assert first_failures
    assert "the last file keeps failing" in failed.cause
    assert "file #1 broke once" not in failed.cause


# ---- 13. a token endpoint's body is never quoted --------------------------------------------------


def test_a_form_encoded_token_answer_fails_the_run_without_the_token_anywhere(stack):
    s = stack("bcda", patients=40, auth_reply="form")
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == "UnexpectedResponseError"
    assert "x-www-form-urlencoded" in failed.cause
    issued = [r for r in s.emu.requests() if r.path == "/auth/token" and r.status == 200]
    assert issued
    blob = "\n".join([json.dumps(e.history, default=str) for e in s.executions] + [s.logs.getvalue()])
    assert "access_token=" not in blob and "eyJ" not in blob  # no JWT, not even in the cause or the logs
    ledger = s.store.list_runs("e2e", 5)[0]
    assert "eyJ" not in json.dumps(ledger)


# ---- 16. pre-signed file URLs stay out of the execution history ------------------------------------------


@pytest.mark.parametrize("flavor", ["bcda", "ab2d", "smart"])
def test_pre_signed_file_urls_land_and_their_signatures_never_enter_state(stack, flavor):
    s = stack(flavor, patients=60, signed_file_urls=True)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    paths = {"/" + f.url.split("://", 1)[1].split("/", 1)[1] for f in s.emu.jobs()[-1].files}
    downloads = [r for r in s.emu.requests() if r.path in paths]
    assert downloads and all("X-Amz-Signature=" in r.query for r in downloads)  # signed at every status answer
    runs = s.aws.stepfunctions.list_map_runs(executionArn=execution.arn)["mapRuns"]
    texts = [json.dumps(execution.history, default=str), json.dumps(execution.output), s.logs.getvalue()]
    texts += [json.dumps(s.aws.stepfunctions.describe_map_run(mapRunArn=r["mapRunArn"]), default=str) for r in runs]
    for key in s.aws.list_keys("runs/map-results/"):
        texts.append(s.aws.s3.get_object(Bucket=s.aws.bucket, Key=key)["Body"].read().decode())
    assert not any("X-Amz-Signature" in text for text in texts)
    files_json = _json_object(s, execution.output["poll"]["files_key"])
    assert all("?" not in item["url"] and item["signed"] for item in files_json)
    assert s.leaked_secrets() == []


# ---- 17. an execution input cannot steer later steps ------------------------------------------------------


@pytest.mark.parametrize("crafted", ["job", "run", "poll"])
def test_an_input_with_a_state_key_of_its_own_is_refused_and_touches_nothing(stack, crafted):
    s = stack("bcda", slow_export_polls=20, scenario="slow-export", patients=40)
    s.aws.clockwork.hold()
    live = s.start()
    assert s.aws.clockwork.holding.wait(60)
    holder = s.lease("Group/all")
    job_url = s.emu.jobs()[-1].status_url
    keys: dict[str, Any] = {
        "job": {"status": "accepted", "job_url": job_url, "started_by_us": True},
        "run": {"run_id": holder.run_id, "source": "e2e", "scope": "Group/all", "export": "Group/all",
                "run_date": "2026-01-01", "started_at": "x", "download_concurrency": 1},
        "poll": {"state": "complete", "files_key": "runs/e2e/x/files.json"},
    }  # fmt: skip
    refused = s.run(**{crafted: keys[crafted]})
    assert refused.status == "FAILED"
    assert refused.error == "ConfigurationError"
    assert crafted in refused.cause and "may hold only" in refused.cause
    assert [r for r in s.emu.requests() if r.method == "DELETE"] == []  # the live run's job was not cancelled
    assert s.lease("Group/all") == holder  # nor its lease released
    s.aws.clockwork.release()
    assert s.wait(live).status == "SUCCEEDED"
