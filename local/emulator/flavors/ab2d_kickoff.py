"""AB2D kick-off: parameter rules of ApiCommon.java, max_parallel_jobs, the v2 default `_since`."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

from local.emulator import scenarios
from local.emulator.jobs import Job
from local.emulator.population import seeded
from local.emulator.state import State
from local.emulator.wire import Request, Response, json_response

OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
#: AB2D exports claims only
TYPES = ("ExplanationOfBenefit",)
EST = timezone(timedelta(hours=-5))
SINCE_FLOOR = {"v1": datetime(2020, 2, 13, tzinfo=EST), "v2": datetime(2020, 2, 13, tzinfo=EST)}
SINCE_FLOOR["v3"] = datetime(2026, 4, 1, tzinfo=EST)
_SERVICE_DATE = re.compile(r"^service-date=(eq|ne|lt|gt|le|ge|sa|eb|ap)?\d{4}-\d{2}-\d{2}$")
TOO_MANY = (
    "You already have active export requests in progress. Please wait until they complete before submitting a new one."
)


def fhir_error(status: int, text: str, code: str = "invalid") -> Response:
    """AB2D's FhirVersion.getErrorOutcome, sent as JSON."""
    issue = {"severity": "error", "code": code, "details": {"text": text}}
    return json_response(status, {"resourceType": "OperationOutcome", "issue": [issue]})


def _floor_text(version: str) -> str:
    return SINCE_FLOOR[version].isoformat(timespec="seconds")


def _parse(value: str) -> datetime | None:
    """Spring's ISO DATE_TIME into an OffsetDateTime: an offset is required."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _check_dates(version: str, since: datetime | None, until: datetime | None, now: datetime) -> str | None:
    if since is not None:
        if since > now:
            return "You can not use a time after the current time for _since"
        if since < SINCE_FLOOR[version]:
            return f"_since must be after {_floor_text(version)}"
    if until is not None:
        if version == "v1":
            return "The _until parameter is only available with version 2 and version 3 of the API"
        if until < SINCE_FLOOR["v1"]:
            return f"_until must be after {_floor_text('v1')}"
        if since is not None and until < since:
            return "_until must be after _since"
    return None


def kickoff(state: State, request: Request, version: str, group: str) -> Response:  # noqa: PLR0911 - one return per server rule, in the server's order
    now = state.now()
    since_text, until_text = request.first("_since"), request.first("_until")
    since = _parse(since_text) if since_text else None
    until = _parse(until_text) if until_text else None
    if (since_text and since is None) or (until_text and until is None):
        bad = since_text if since_text and since is None else until_text
        return fhir_error(
            400,
            f"Failed to convert value of type 'java.lang.String' to required type 'java.time.OffsetDateTime'; {bad}",
        )
    fault = scenarios.kickoff_fault(state)
    if fault:
        return fault
    if scenarios.kickoff_throttled(state):
        return fhir_error(429, TOO_MANY).with_header("Retry-After", "5")
    if state.scenario("kickoff-429-adopt") and state.bump("adopt-job") == 1:
        new_job(state, request, version, group, None, None).created_at -= timedelta(minutes=5)
    active = state.jobs.active()
    if len(active) >= state.config.max_parallel_jobs:
        response = fhir_error(429, TOO_MANY).with_header("Retry-After", "5")
        return response.with_header("Content-Location", ", ".join(job.status_url for job in active))
    kind = request.first("_type")
    if kind is not None and kind not in TYPES:
        return fhir_error(400, "_type must be ExplanationOfBenefit")
    output_format = request.first("_outputFormat")
    if output_format is not None and output_format not in OUTPUT_FORMATS:
        return fhir_error(400, f"An _outputFormat of {output_format} is not valid")
    # cms-examples replays CMS's own worked examples, whose dates (January 2020) precede AB2D's floor
    problem = None if state.scenario("cms-examples") else _check_dates(version, since, until, now)
    if problem:
        return fhir_error(400, problem)
    type_filter = request.first("_typeFilter")
    if version == "v3" and type_filter is not None:
        subquery = type_filter.removeprefix("ExplanationOfBenefit?")
        if subquery == type_filter or not all(_SERVICE_DATE.match(p) for p in subquery.split("&")):
            return fhir_error(400, f"Invalid _typeFilter {type_filter}")
    if state.scenario("cms-examples") and since is not None and since == SINCE_FLOOR.get(version):
        # The page's claims (January 2020) predate AB2D's floor, which is where a client's full-history
        # `_since` points (bulkfhir.profiles: AB2D v2): at the floor it asks for all of them.
        since = None
    if since is None and version == "v2":
        since = state.last_since_default  # JobPreProcessorImpl: since of the last fully downloaded job
    job = new_job(state, request, version, group, since, until)
    return scenarios.accepted(state, job.status_url)


def new_job(
    state: State, request: Request, version: str, group: str, since: datetime | None, until: datetime | None
) -> Job:
    number = state.bump("ab2d-job")
    job_uuid = str(uuid.UUID(int=seeded("ab2d-job", state.config.seed, number).getrandbits(128), version=4))
    if version == "v3":
        job_uuid = "33333333" + job_uuid[8:]  # JobServiceImpl.generateJobUuid
    job = Job(
        id=job_uuid,
        version=version,
        origin=request.origin,
        status_path=f"/api/{version}/fhir/Job/{job_uuid}/$status",
        request_url=request.url,
        group=group,
        types=("ExplanationOfBenefit",),
        since=since.astimezone(UTC) if since else None,
        until=until.astimezone(UTC) if until else None,
        created_at=state.now(),
        data_step=len(state.population.load_times) - 1,
    )
    job.transaction_time = job.created_at
    return state.jobs.add(job)
