"""The injected faults: which request gets which misbehaviour, per scenario.

Counters live in `State.counters`, so "the first N" means the first N since the emulator started.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from local.emulator.config import FUTURE_TRANSACTION_TIME
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
    """malformed-manifest: a 200 whose JSON stops half way (past its first file URL, when it has one)."""
    first_url = body.find(b'"url":')
    end = body.find(b'"', body.find(b'"', first_url + 6) + 1) + 1 if first_url >= 0 else 0
    return body[: max(len(body) // 2, end + 1, 1)]


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
    """A file's URL as its job lists it: query-named files (``{origin}/download?file=<path>``, a server
    whose URLs are opaque and name a file by a query parameter), or as built. Signatures are added per
    answer (``manifest_url``)."""
    if not state.config.names_files_by_query:
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{QUERY_NAMED_PATH}?{urlencode({'file': parts.path})}"


#: query-named-files: the one path every file is served under
QUERY_NAMED_PATH = "/download"


def served_path(url_or_path: str, params: dict[str, list[str]] | None = None) -> str:
    """The path a file is served under whatever its URL looks like (the inverse of ``file_url``)."""
    parts = urlsplit(url_or_path)
    if parts.path != QUERY_NAMED_PATH:
        return parts.path
    named = (params if params is not None else parse_qs(parts.query)).get("file") or [""]
    return named[0]


def named_by_query(request: Request) -> Request:
    """query-named-files: a download of ``/download?file=<path>`` is one of ``<path>``."""
    if request.path != QUERY_NAMED_PATH or not request.first("file"):
        return request
    return replace(request, path=served_path(request.path, request.params))


def manifest_url(state: State, served: ServedFile) -> str:
    """signed_file_urls: the file's URL signed afresh for this answer, valid signed_url_seconds, as an
    object store hands pre-signed URLs out (X-Amz-Date, X-Amz-Expires, X-Amz-Signature)."""
    if not state.config.signs_urls:
        return served.url
    now = state.now()
    date, expires = now.strftime("%Y%m%dT%H%M%SZ"), str(state.config.signed_url_seconds)
    signature = _signature(state, served_path(served.url), date, expires)
    credential = f"{access_key_id(state)}%2F{now:%Y%m%d}%2Fus-east-1%2Fs3%2Faws4_request"
    joiner = "&" if "?" in served.url else "?"
    return (
        f"{served.url}{joiner}X-Amz-Credential={credential}&X-Amz-Date={date}&X-Amz-Expires={expires}"
        f"&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
    )


def access_key_id(state: State) -> str:
    """The (made-up) access key id the emulator's object store signs with: a credential, never to leak."""
    return "ASIA" + hashlib.sha256(f"emulator-key:{state.client_id}".encode()).hexdigest()[:16].upper()


def signature_refused(state: State, request: Request) -> Response | None:
    """signed_file_urls: a download without its URL's signature, or after it expired, is refused as S3
    refuses it."""
    if not state.config.signs_urls:
        return None
    date, expires = request.first("X-Amz-Date") or "", request.first("X-Amz-Expires") or ""
    if not hmac.compare_digest(request.first("X-Amz-Signature") or "", _signature(state, request.path, date, expires)):
        return text_response(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>\n", "application/xml")
    signed_at = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if state.now() > signed_at + timedelta(seconds=int(expires)):
        message = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>\n"
        return text_response(403, message, "application/xml")
    return None


def _signature(state: State, path: str, date: str = "", expires: str = "") -> str:
    key = f"emulator-signing:{state.client_id}".encode()
    return hmac.new(key, f"{path}\n{date}\n{expires}".encode(), hashlib.sha256).hexdigest()


BLOCK_PAGE_HTML = (
    "<html>\r\n<head><title>Web Page Blocked</title></head>\r\n<body>\r\n<h1>Web Page Blocked</h1>\r\n"
    "<p>Access to the web page you were trying to visit has been blocked in accordance with company "
    "policy.</p>\r\n</body>\r\n</html>\n"
)
BLOCK_PAGE_TEXT = "Access to this URL is blocked by your organization's security policy. Contact your IT help desk.\n"


def block_page(state: State, job: Job, served: ServedFile) -> Response | None:
    """block_page: a proxy's or firewall's page answers 200 in the place of every file of
    block_page_type (of the job's first output's type when it has none), ending in a newline."""
    kind = state.config.block_page_kind
    if kind == "none":
        return None
    outputs = [f for f in job.files if f.kind == "output"]
    blocked = state.config.block_page_type
    if not any(f.type == blocked for f in outputs):
        blocked = outputs[0].type if outputs else ""
    if served.kind != "output" or served.type != blocked:
        return None
    if kind == "text":
        return text_response(200, BLOCK_PAGE_TEXT, "text/plain; charset=utf-8")
    media = "application/fhir+ndjson" if kind == "html-as-ndjson" else "text/html; charset=utf-8"
    return text_response(200, BLOCK_PAGE_HTML, media)


def transaction_time(state: State, moment: datetime) -> datetime:
    """future-transaction-time: the manifest says its export was taken in 2099."""
    return FUTURE_TRANSACTION_TIME if state.config.dates_in_future else moment


def manifest_body(state: State, body: dict[str, Any]) -> bytes:
    """A 200 manifest as sent: manifest_members "files-first" puts output/error/deleted first (JSON
    members are unordered); malformed-manifest breaks it."""
    if state.config.files_first:
        files = {key: body[key] for key in ("output", "error", "deleted") if key in body}
        body = {**files, **{key: value for key, value in body.items() if key not in files}}
    encoded = json.dumps(body, separators=(",", ":")).encode()
    return break_manifest(encoded) if state.scenario("malformed-manifest") else encoded


def progress_percent(state: State, job: Job) -> float:
    """How far a running job is: by polls, or (slow-export with export_hours) by the clock."""
    config = state.config
    if config.polls_to_complete == 0 and config.job_min_seconds > 0:
        elapsed = (state.now() - job.created_at).total_seconds()
        return min(99.0, 100 * elapsed / config.job_min_seconds)
    return min(99.0, 100 * job.polls / (config.polls_to_complete + 1))
