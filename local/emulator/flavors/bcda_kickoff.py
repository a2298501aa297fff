"""BCDA kick-off: validation in the server's middleware order, the duplicate-job 429, job creation.

Order (bcda/web/middleware): URL checks → header checks → duplicate-job 429 → handler (group id,
resource types) → 202. Messages are the server's, typos and double spaces included.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from local.emulator import scenarios
from local.emulator.flavors.bcda_responses import error
from local.emulator.flavors.common import media_types
from local.emulator.jobs import Job
from local.emulator.state import State
from local.emulator.wire import Request, Response

OUTPUT_FORMATS = ("ndjson", "application/fhir+ndjson", "application/ndjson")
SUPPORTED = {
    "v1": ("Patient", "Coverage", "ExplanationOfBenefit", "Observation"),
    "v2": ("Patient", "Coverage", "ExplanationOfBenefit", "Claim", "ClaimResponse"),
    "v3": ("Patient", "Coverage", "ExplanationOfBenefit"),
}
DEFAULT_TYPES = ("Patient", "ExplanationOfBenefit", "Coverage")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_SINCE_FORMAT = "Invalid date format supplied in _since parameter.  Date must be in FHIR Instant format."
_SINCE_FUTURE = "Invalid date format supplied in _since parameter. Date must be a date that has already passed"
_TAGS = {
    "https://bluebutton.cms.gov/fhir/CodeSystem/System-Type": ("SharedSystem", "NationalClaimsHistory", "DDPS"),
    "https://bluebutton.cms.gov/fhir/CodeSystem/Final-Action": ("FinalAction", "NotFinalAction"),
}


def parse_rfc3339(value: str) -> datetime | None:
    """Go time.RFC3339Nano: a zone is required; fractions up to nanoseconds."""
    if not _RFC3339.match(value):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _type_filter_error(value: str) -> str | None:  # noqa: PLR0911 - one return per server rule, in the server's order
    resource, sep, query = unquote(value).partition("?")
    if not sep:
        return f"missing question mark {value}"
    if resource != "ExplanationOfBenefit":
        return f"Invalid _typeFilter Resource Type (Only EOBs valid): {resource}"
    for pair in query.split("&"):
        name, sep, values = pair.partition("=")
        if not sep:
            return f"Invalid _typeFilter parameter/value: {pair}"
        for item in values.split(","):
            if name == "_tag":
                system, bar, code = item.partition("|")
                if not bar:
                    return (
                        f"invalid _tag value: {item}. Searching by tag requires a token (system|code) to be specified"
                    )
                if code not in _TAGS.get(system, ()):
                    return f"invalid _tag value: {item}"
            elif name == "outcome" and item not in ("complete", "partial"):
                return f"invalid outcome value: {item}. Supported outcome values are 'complete' and 'partial'"
            elif name == "service-date" and not re.fullmatch(
                r"(eq|ne|lt|gt|le|ge|sa|eb|ap)?\d{4}(-\d{2}(-\d{2}(T[\d:]+(Z|[+-]\d{2}:\d{2})?)?)?)?", item
            ):
                return f"invalid service-date value: {item}. Pass a valid FHIR date parameter"
            elif name not in ("_tag", "outcome", "service-date"):
                return f"Invalid _typeFilter subquery parameter: {name}"
    return None


def validate_url(  # noqa: PLR0911 - one return per server rule, in the server's order
    request: Request, version: str, now: datetime
) -> Response | tuple[datetime | None, list[str] | None]:
    """ValidateRequestURL: the since and the raw type list, or the 400."""
    params = request.params
    if "_outputFormat" in params and params["_outputFormat"][0] not in OUTPUT_FORMATS:
        return error(version, 400, f"_outputFormat parameter must be one of [{' '.join(OUTPUT_FORMATS)}]")
    if "_elements" in params:
        return error(version, 400, "Invalid parameter: this server does not support the _elements parameter.")
    if any(key.startswith("?") for key in params):
        return error(version, 400, "Invalid parameter: query parameters cannot start with ?")
    since = None
    if "_since" in params:
        since = parse_rfc3339(params["_since"][0])
        if since is None:
            return error(version, 400, _SINCE_FORMAT)
        if since > now:
            return error(version, 400, _SINCE_FUTURE)
    types = None
    if "_type" in params:
        types = params["_type"][0].split(",")  # only the first _type value is read
        for index, kind in enumerate(types):
            if kind in types[:index]:
                return error(version, 400, f"Repeated resource type {kind}")
    if version == "v3" and "_typeFilter" in params:
        if len(params["_typeFilter"]) > 1:
            return error(version, 400, "failed to process request given more that one _typeFilter parameter")
        problem = _type_filter_error(params["_typeFilter"][0])
        if problem:
            return error(version, 400, problem)
    return since, types


def validate_headers(request: Request, version: str) -> Response | None:
    """ValidateRequestHeaders (kick-off and the jobs list)."""
    accept = request.header("Accept")
    if not accept:
        return error(version, 400, "Accept header is required")
    if "application/fhir+json" not in media_types(accept):
        return error(version, 400, "application/fhir+json is the only supported response format")
    prefer = request.header("Prefer")
    if not prefer:
        return error(version, 400, "Prefer header is required")
    if "respond-async" not in [token.strip().lower() for token in prefer.split(",")]:
        return error(version, 400, "Only asynchronous responses are supported")
    return None


def _duplicate(state: State, version: str, request: Request, types: list[str] | None) -> bool:
    """ratelimit.go: an in-flight job of the same version that overlaps this request."""
    now = state.now()
    for job in state.jobs.active():
        if job.version != version or now - job.created_at > timedelta(hours=24):
            continue
        same_url = job.request_url.split("/api/", 1)[-1] == unquote(request.url).split("/api/", 1)[-1]
        if same_url or types is None or job.raw_types is None or job.raw_types in types:
            return True
    return False


def kickoff(state: State, request: Request, version: str, group: str) -> Response:  # noqa: PLR0911 - one return per server rule, in the server's order
    """Everything after authentication for /Patient/$export and /Group/{id}/$export."""
    now = state.now()
    checked = validate_url(request, version, now)
    if isinstance(checked, Response):
        return checked
    since, types = checked
    problem = validate_headers(request, version) or scenarios.kickoff_fault(state)
    if problem:
        return problem
    if scenarios.kickoff_throttled(state):
        return Response(429, [("Retry-After", str(state.config.kickoff_retry_after))])
    if state.scenario("kickoff-429-adopt"):
        _ensure_running_job(state, request, version, group)
    if _duplicate(state, version, request, types):
        _count_refusal(state)
        return Response(429, [("Retry-After", str(state.config.bcda_retry_after))])
    if group not in ("all", "runout", "patient"):
        return error(version, 400, "Invalid group ID")
    allowed = SUPPORTED[version]
    for kind in types or ():
        if kind not in allowed:
            return error(version, 400, f"invalid resource type {kind}. Supported types [{' '.join(allowed)}]")
        if kind in ("Claim", "ClaimResponse") and not state.config.partially_adjudicated:
            return error(version, 400, f"unauthorized resource type {kind}")
    default = DEFAULT_TYPES + (
        ("Claim", "ClaimResponse") if version == "v2" and state.config.partially_adjudicated else ()
    )
    job = _new_job(state, request, version, group, since, types, default)
    return scenarios.accepted(state, job.status_url)


def _new_job(
    state: State,
    request: Request,
    version: str,
    group: str,
    since: datetime | None,
    types: list[str] | None,
    default: tuple[str, ...],
) -> Job:
    now = state.now()
    step = len(state.population.load_times) - 1
    job_id = str(state.bump("bcda-job-id"))
    job = Job(
        id=job_id,
        version=version,
        origin=request.origin,
        status_path=f"/api/{version}/jobs/{job_id}",
        request_url=unquote(request.url),
        group=group,
        types=tuple(types or default),
        since=since,
        created_at=now,
        data_step=step,
        raw_types=request.params["_type"][0] if "_type" in request.params else None,
        type_filter=request.first("_typeFilter"),
        # transactionTime: the BFD data-load time (v3: the time the job was prepared)
        transaction_time=now if version == "v3" else state.population.load_times[step],
    )
    return state.jobs.add(job)


def _ensure_running_job(state: State, request: Request, version: str, group: str) -> None:
    """kickoff-429-adopt: a job of this client was already running before our first kick-off."""
    if state.bump("adopt-job") == 1:
        job = _new_job(state, request, version, group, None, None, DEFAULT_TYPES)
        job.raw_types, job.hidden = None, True
        job.created_at -= timedelta(minutes=5)


def _count_refusal(state: State) -> None:
    """The pre-existing job finishes once it has turned away kickoff_429_count kick-offs."""
    for job in state.jobs.active():
        if job.hidden:
            job.refusals += 1
            if job.refusals >= state.config.kickoff_429_count:
                state.jobs.complete(job, state.now(), [], failed=False)
