"""Record the failure: the catch path. Record, cancel, release, announce; the watermark stays."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from bulkfhir import BulkDataError, file_lifetime_text, profile_for
from ingest.payloads import JobState, PollState, RunContext
from ingest.timeutil import utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)

_MAX_CAUSE = 1000
# Step Functions' own names for "a Distributed Map had failing items".
_MAP_FAILURES = {"States.ExceedToleratedFailureThreshold", "States.ItemReaderFailed", "States.ResultWriterFailed"}
#: Errors whose real cause is a file that failed to land: report that file's error instead.
_FILE_FAILURES = {*_MAP_FAILURES, "IncompleteRunError"}
#: Step Functions reserves "States." names: a Fail state cannot use them, so they are renamed.
_RESERVED = {
    "States.Timeout": "StepTimedOutError",
    "States.HeartbeatTimeout": "StepTimedOutError",
    "States.TaskFailed": "TaskFailedError",
    "States.Permissions": "PermissionsError",
    "States.Runtime": "StateMachineRuntimeError",
    "States.DataLimitExceeded": "DataLimitExceededError",
}
#: The map's steps that record a file's failure (the state names); older records name none: downloads.
DOWNLOAD_STEP = "Download file"
#: Errors after which the server job cannot be resumed by a re-run.
_JOB_IS_DEAD = {"ExportGoneError", "ExportFailedError"}


def readable_cause(raw: object) -> str:
    """The one-line message inside a Step Functions Cause: a Lambda error's errorMessage, or the text."""
    text = raw if isinstance(raw, str) else json.dumps(raw) if raw is not None else ""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        text = str(parsed["errorMessage"])
    text = re.sub(r"\s+", " ", text).strip()
    return text[: _MAX_CAUSE - 1] + "…" if len(text) > _MAX_CAUSE else text or "no details"


def public_error_name(error: str) -> str:
    """An error name a Fail state may carry (not one of Step Functions' reserved States.* names)."""
    if not error.startswith("States."):
        return error
    return _RESERVED.get(error, "StepFunctions" + error.removeprefix("States.").replace(".", "") + "Error")


def _cancel_running_job(deps: Deps, run: RunContext, job: JobState) -> str:
    """Cancel the server job if it may still be running and this stack started it (AB2D's 429 names
    other clients' jobs too: an adopted job is someone else's to cancel); say what happened."""
    if not job.job_url or not job.started_by_us:
        return ""
    try:
        cancelled = deps.clients.client_for(deps.settings.source(run.source)).cancel(job.job_url)
    except BulkDataError as error:
        logger.warning("could not cancel the server job", extra={"why": str(error)})
        return " The server job could not be cancelled; it expires on its own."
    return " The server job was cancelled." if cancelled else ""


def _failure_that_ended_the_run(deps: Deps, run: RunContext) -> dict[str, Any] | None:
    """The latest failure of a file's step that did not succeed since. A download that failed once and
    landed on a retry has its record cleared; this also ignores one that outlived its file's landing.
    A curation fails on a file that has landed: that one stands."""
    landed = {record.index for record in deps.store.list_landed_files(run.run_id)}
    failures = [
        f
        for f in deps.store.file_failures(run.run_id)
        if f.get("step", DOWNLOAD_STEP) != DOWNLOAD_STEP or int(f["index"]) not in landed
    ]
    return max(failures, key=lambda f: (str(f.get("failed_at") or ""), int(f["index"])), default=None)


def _file_failure_cause(failure: dict[str, Any]) -> str:
    """Which step failed on which file, and why: "Curate file failed on file #4 (deleted/...): ..."."""
    step = failure.get("step", DOWNLOAD_STEP)
    return readable_cause(f"{step} failed on file #{failure['index']} ({failure['url']}): {failure['message']}")


def record_failure(deps: Deps, state: dict[str, Any]) -> dict[str, str]:
    raw_error = state.get("error")
    error_block: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    error = str(error_block.get("Error") or "UnknownError")
    cause = readable_cause(error_block.get("Cause"))
    if not isinstance(state.get("run"), dict):
        # Start run itself failed (bad input, lease held by another run): nothing of ours to undo.
        return {"error": public_error_name(error), "cause": cause}

    run = RunContext.from_state(state)
    job = JobState.from_state(state)
    poll = PollState.from_state(state)
    if error in _FILE_FAILURES:
        failure = _failure_that_ended_the_run(deps, run)
        if failure:
            error = str(failure["error"])
            cause = _file_failure_cause(failure)
        elif error != "IncompleteRunError":
            # A function of the map died without a word (crash, timeout, out of memory).
            error = "IncompleteRunError"
            cause = (
                f"some files did not land or were not curated: a step of the map failed without reporting why ({cause})"
            )
    error = public_error_name(error)

    downloading = poll is not None and poll.state == "complete"
    note = ""
    if job and job.job_url and job.status == "accepted":
        if not downloading:
            note = _cancel_running_job(deps, run, job)
            deps.store.clear_open_job(run.source, run.scope, run.run_id)
        elif error in _JOB_IS_DEAD:
            deps.store.clear_open_job(run.source, run.scope, run.run_id)
        else:
            landed = len(deps.store.list_landed_files(run.run_id))
            source = deps.settings.source(run.source)
            lifetime = file_lifetime_text(profile_for(source.api, source.base_url))
            note = (
                f" {landed} of {poll.file_count if poll else '?'} files landed; a re-run within {lifetime} "
                "resumes this export and fetches only the rest."
            )
    if note and not cause.endswith((".", "…")):
        cause += "."
    cause = (cause + note)[:_MAX_CAUSE]
    deps.store.update_run(
        run.source, run.run_id, {"status": "FAILED", "error": error, "cause": cause, "failed_at": utc_iso(deps.clock())}
    )
    try:
        deps.events.publish(
            "ExportFailed",
            {"source": run.source, "run_id": run.run_id, "scope": run.scope, "error": error, "cause": cause},
        )
    finally:
        deps.store.release_lease(run.source, run.scope, run.run_id, run.execution)
    return {"error": error, "cause": cause}
