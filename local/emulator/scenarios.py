"""The injected faults: which request gets which misbehaviour, per scenario.

Counters live in `State.counters`, so "the first N" means the first N since the emulator started.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from local.emulator.jobs import Job
from local.emulator.records import ServedFile
from local.emulator.state import State
from local.emulator.wire import Request, Response, text_response

STATUS_5XX_SEQUENCE = (503, 500, 502)

PROXY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>awselb/2.0</center>\r\n</body>\r\n</html>\r\n"
)


def proxy_page(code: int, reason: str) -> Response:
    """An HTML error page as a load balancer in front of the API would send it."""
    return text_response(code, PROXY_PAGE.format(code=code, reason=reason), "text/html")


def kickoff_fault(state: State) -> Response | None:
    """html-error: kick-offs answered by the proxy with a 502 page (the first kickoff_429_count)."""
    if state.scenario("html-error") and state.bump("kickoff-fault") <= state.config.kickoff_429_count:
        return proxy_page(502, "Bad Gateway")
    return None


def kickoff_throttled(state: State) -> bool:
    """kickoff-429: the first kickoff_429_count kick-offs are refused with nothing to adopt."""
    return state.scenario("kickoff-429") and state.bump("kickoff-429") <= state.config.kickoff_429_count


def status_fault(state: State, job_id: str | None = None) -> Response | None:  # noqa: PLR0911 - one per fault
    """status-5xx: the first polls fail (503 + Retry-After, 500 text, 502 HTML); unexpected-status;
    status_override: every poll of that job answers that status (credentials rotated, a proxy)."""
    override = state.config.status_override.get(job_id or "")
    if override is not None:
        return text_response(override, f"status {override}\n")
    if state.scenario("unexpected-status"):
        if state.config.unexpected_status == 302:
            return text_response(302, "", "text/html").with_header("Location", "/login")
        return text_response(state.config.unexpected_status, "I'm a teapot\n")
    if state.scenario("status-5xx"):
        number = state.bump("status-5xx")
        if number == 1:
            return text_response(503, "Service Unavailable\n").with_header("Retry-After", "1")
        if number == 2:
            return text_response(500, "Internal Server Error\n")
        if number == 3:
            return proxy_page(502, "Bad Gateway")
    return None


def download_fault(state: State, file_key: str) -> str | None:
    """drop-connection / truncated-gzip: the first downloads of each file are broken."""
    if not state.scenario("drop-connection", "truncated-gzip"):
        return None
    if state.bump(f"download:{file_key}") > state.config.fault_downloads_per_file:
        return None
    return "drop" if state.scenario("drop-connection") else "truncate"


def token_worn_out(state: State, jti: str | None) -> bool:
    """token-expiry: a token stops working after a few API calls, whatever expires_in said.

    A real token expires at a moment, long (BCDA 20 min, AB2D 30) after it was issued: a run meets that
    moment once, and the token it gets then lives. So only the first ``token_early_expiries`` tokens
    die early; the ones after live their expires_in. (When every token died after three calls, the
    fresh token that eight parallel downloads share died within milliseconds of its issue, which no
    server does, and the client rightly called that a refusal of a freshly issued token.)
    """
    if not state.scenario("token-expiry") or jti is None:
        return False
    with state.lock:
        worn = state.worn_tokens
        if jti in worn:
            return True
        if state.issuer.use(jti) <= state.config.token_expiry_after_calls:
            return False
        if len(worn) >= state.config.token_early_expiries:
            return False
        worn.add(jti)
        return True


def break_manifest(body: bytes) -> bytes:
    """malformed-manifest: a 200 whose JSON stops half way."""
    return body[: max(len(body) // 2, 1)]


def accepted(state: State, status_url: str) -> Response:
    """The kick-off 202; no-content-location leaves out the one header the client needs;
    kickoff-response-lost: the first job is created, but the proxy gives up waiting and answers 504."""
    if state.scenario("kickoff-response-lost") and state.bump("response-lost") == 1:
        return proxy_page(504, "Gateway Time-out")
    if state.scenario("no-content-location"):
        return Response(202)
    return Response(202, [("Content-Location", status_url)])


def listed(state: State, job: Job, kind: str) -> list[ServedFile]:
    """A job's files of one kind in the order this status answer lists them. manifest_order "rotating":
    each answer starts one file later (BCDA's job-keys query has no ORDER BY)."""
    files = [f for f in job.files if f.kind == kind]
    if state.config.manifest_order != "rotating" or not files:
        return files
    shift = state.bump(f"listed:{job.id}:{kind}") % len(files)
    return files[shift:] + files[:shift]


def file_url(state: State, url: str) -> str:
    """signed_file_urls: the URL with a pre-signed query, as an object store would hand it out."""
    if not state.config.signed_file_urls:
        return url
    return f"{url}?X-Amz-Expires=3600&X-Amz-Signature={_signature(state, urlsplit(url).path)}"


def signature_refused(state: State, request: Request) -> Response | None:
    """signed_file_urls: a download without its URL's signature is refused, as S3 refuses it."""
    if not state.config.signed_file_urls:
        return None
    if hmac.compare_digest(request.first("X-Amz-Signature") or "", _signature(state, request.path)):
        return None
    return text_response(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>\n", "application/xml")


def _signature(state: State, path: str) -> str:
    key = f"emulator-signing:{state.client_id}".encode()
    return hmac.new(key, path.encode(), hashlib.sha256).hexdigest()


def progress_percent(state: State, job: Job) -> float:
    """How far a running job is: by polls, or (slow-export with export_hours) by the clock."""
    config = state.config
    if config.polls_to_complete == 0 and config.job_min_seconds > 0:
        elapsed = (state.now() - job.created_at).total_seconds()
        return min(99.0, 100 * elapsed / config.job_min_seconds)
    return min(99.0, 100 * job.polls / (config.polls_to_complete + 1))
