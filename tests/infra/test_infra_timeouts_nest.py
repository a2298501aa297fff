"""Timeouts nest (issue #14, item 9): every step that talks to the server has room for its requests to
run to their HTTP bounds, so that a slow server raises a TransientError (retried) before Lambda ends
the step (retried once on the steps that may run again, then the failure path cancels the job).
And Check export status has the memory for the largest manifest the client accepts."""

from __future__ import annotations

import pytest
from cdk_helpers import Synth

from bulkfhir import ServerConfig, request_seconds_at_most
from infra.asl_extract import handler_logical_ids
from ingest.services import file_transfer, kick_off

REQUEST = request_seconds_at_most(ServerConfig(api="bcda", base_url="https://sandbox.bcda.cms.gov"))
#: requests in a row, at most, per step (a token refresh doubles a request: _authorized)
STEPS = {
    "authenticate": 2,  # SMART discovery, the token
    "kick_off": 6,  # the token, the kick-off, both again on a refused token, BCDA's job history, one job looked at
    "check_status": 4,  # the token, the poll, both again on a refused token
    "record_failure": 4,  # the token, the cancel, both again
}


def _timeouts(synth: Synth) -> dict[str, tuple[int, int]]:
    functions = synth.resources("AWS::Lambda::Function")
    return {
        name: (functions[logical]["Properties"]["Timeout"], functions[logical]["Properties"]["MemorySize"])
        for name, logical in handler_logical_ids(synth.json).items()
    }


@pytest.mark.parametrize("step", sorted(STEPS))
def test_a_steps_requests_fit_in_its_function_with_a_margin(default: Synth, step: str) -> None:
    timeout, _ = _timeouts(default)[step]
    needed = STEPS[step] * REQUEST + (kick_off.ADOPTION_CHECK_SECONDS if step == "kick_off" else 0)
    assert timeout >= needed + 30, f"{step}: {timeout} s for {needed:.0f} s of requests"


def test_the_http_read_timeout_is_far_below_every_functions_timeout(default: Synth) -> None:
    config = ServerConfig(api="bcda", base_url="https://sandbox.bcda.cms.gov")
    for step, (timeout, _) in _timeouts(default).items():
        if step in STEPS or step == "download_file":
            assert config.connect_timeout + config.read_timeout < timeout / 4, step


def test_a_download_checkpoints_and_resumes_only_with_time_for_it(default: Synth) -> None:
    timeout, _ = _timeouts(default)["download_file"]
    config = ServerConfig(api="bcda", base_url="https://sandbox.bcda.cms.gov")
    # after the last look at the clock, one read may block for the read timeout; the checkpoint follows
    assert config.read_timeout + 60 <= file_transfer.CHECKPOINT_MARGIN_SECONDS
    assert timeout / 2 > file_transfer.RESUME_REQUESTS * REQUEST


def test_check_status_has_the_memory_for_the_largest_manifest_it_accepts(default: Synth) -> None:
    # benchmarks/bench_check_status_memory.py: a 64 MiB manifest (550,000 BCDA-sized entries) peaks at
    # about 650 MiB; 50,000 files at 133-175 MiB
    _, memory = _timeouts(default)["check_status"]
    assert memory >= 1024
