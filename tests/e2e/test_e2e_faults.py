"""Every fault the emulator can play, on the real state machine: the run either lands complete,
byte-identical data, or fails with a clear error, an unchanged watermark and a released lease —
and a re-run after the fault recovers."""

from __future__ import annotations

import pytest

from bulkfhir import parse_instant

FLAVORS = ("bcda", "ab2d", "smart")
SCOPE = {"bcda": "Group/all", "ab2d": "Patient", "smart": "Patient"}

RECOVERED = ["kickoff-429", "status-5xx", "token-expiry", "drop-connection", "truncated-gzip", "foreign-file-host",
             "slow-export", "html-error"]  # fmt: skip
FAILED = {
    "job-failed": "ExportFailedError",
    "malformed-manifest": "UnexpectedResponseError",
    "no-content-location": "UnexpectedResponseError",
    "unexpected-status": "UnexpectedResponseError",
    "job-expired": "ExportGoneError",
}


def assert_complete_and_identical(s, execution) -> None:
    assert execution.status == "SUCCEEDED", f"{execution.error}: {execution.cause}"
    job = s.emu.jobs()[-1]
    landed = s.landed(execution)
    by_url = {f["url"]: f["key"] for f in s.run_manifest(execution)["files"]}
    assert len(landed) == len(job.files)
    for served in job.files:
        assert landed[by_url[served.url.split("?")[0]]] == s.emu.file_gzip(served.url)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("scenario", RECOVERED)
def test_faults_the_stack_rides_out(stack, flavor, scenario):
    s = stack(flavor, scenario=scenario, patients=80)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    assert s.lease(SCOPE[flavor]) is None
    assert s.watermark(SCOPE[flavor]) is not None
    if scenario == "foreign-file-host":
        file_host = [r for r in s.emu.requests() if r.listener == "file-host"]
        assert file_host and all(r.authorization is None for r in file_host)
    if scenario in ("kickoff-429", "slow-export", "status-5xx"):
        assert s.aws.clockwork.waits, "the state machine waited as the server asked"
    if scenario == "drop-connection":
        # every file broke once, and its download backed off (2 s) before it resumed: fast-forwarded like
        # the state machine's waits, with the emulator's clock moved by exactly as much
        clockwork = s.aws.clockwork
        assert clockwork.pauses == [2.0] * len(s.emu.jobs()[-1].files)
        assert s.emu.clock.offset_seconds == sum(clockwork.waits + clockwork.retry_sleeps + clockwork.pauses)
    assert s.leaked_secrets() == []


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("scenario", sorted(FAILED))
def test_faults_that_fail_the_run_cleanly_and_a_rerun_recovers(stack, flavor, scenario):
    s = stack(flavor, scenario=scenario, patients=80)
    failed = s.run()
    assert failed.status == "FAILED"
    assert failed.error == FAILED[scenario]
    assert failed.cause and "\n" not in failed.cause and "Traceback" not in failed.cause
    assert s.watermark(SCOPE[flavor]) is None
    assert s.lease(SCOPE[flavor]) is None
    events = s.events()
    assert [e["detail-type"] for e in events] == ["ExportFailed"]
    assert events[0]["detail"]["error"] == FAILED[scenario]

    s.emu.config.scenario = "none"
    rerun = s.run()
    assert_complete_and_identical(s, rerun)
    if flavor in ("ab2d", "bcda") and scenario == "no-content-location":
        # the first kick-off left a job running that AB2D names on the next 429 (BCDA: its job
        # history holds it, for exactly this request): it is adopted, not exported a second time
        assert rerun.output["job"]["adopted"] is True
        assert len(s.emu.jobs()) == 1
    if flavor == "ab2d" and scenario == "no-content-location":
        # with the adopted job's start unknown, no kick-off-time watermark is invented
        assert s.watermark(SCOPE[flavor]) is None
    else:
        assert s.watermark(SCOPE[flavor]) is not None
    assert s.leaked_secrets() == []


@pytest.mark.parametrize("flavor", ["ab2d", "smart"])
def test_a_job_already_running_for_this_client_is_adopted(stack, flavor):
    s = stack(flavor, scenario="kickoff-429-adopt", patients=60)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    assert execution.output["job"]["adopted"] is True
    if flavor == "ab2d":
        # the adopted job's start is unknown: no kick-off-time watermark is invented
        assert s.watermark(SCOPE[flavor]) is None


@pytest.mark.parametrize("flavor", ["bcda", "ab2d"])
def test_a_kick_off_whose_answer_was_lost_adopts_the_job_it_created(stack, flavor):
    # The server created the job but a 504 came back; the retried kick-off is refused as a duplicate.
    # BCDA's 429 names no job: its job history finds the one of exactly this request.
    s = stack(flavor, scenario="kickoff-response-lost", patients=60)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    assert execution.output["job"]["adopted"] is True
    assert len(s.emu.jobs()) == 1  # no second export
    if flavor == "bcda":
        # BCDA's watermark is the manifest's transactionTime, known for an adopted job too
        assert parse_instant(s.watermark(SCOPE[flavor])) == parse_instant(execution.output["poll"]["transaction_time"])


def test_bcda_duplicate_job_429_waits_for_the_running_job(stack):
    s = stack("bcda", scenario="kickoff-429-adopt", patients=60)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    assert execution.output["job"]["attempts"] >= 1


def test_large_files_stream_through_staging_byte_identical(stack):
    s = stack("bcda", scenario="large-files", file_mb=12, large_file_count=2, patients=40)
    execution = s.run()
    assert_complete_and_identical(s, execution)
    assert max(f["bytes"] for f in s.run_manifest(execution)["files"]) > 8 * 1024 * 1024
    assert s.aws.list_keys("staging/") == []
