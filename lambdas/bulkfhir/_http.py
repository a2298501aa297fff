"""HTTP helpers shared by the client modules: URL rules, Retry-After, readable error excerpts."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from bulkfhir.errors import UnexpectedResponseError

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}

#: The most of a successful (2xx) body read into memory: BCDA's manifest of 10,000 files is ~2 MB.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: The most of an error or redirect body ever read: only a short excerpt of it is shown.
MAX_ERROR_BODY_BYTES = 64 * 1024
#: The longest URL a server may hand us (Content-Location, manifest file URLs, redirects).
MAX_URL_CHARS = 4096


def strip_query(url: str) -> str:
    """The URL without query or fragment: safe to log (signed file URLs carry credentials there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_local_address(url: str) -> bool:
    """Loopback, link-local (instance metadata) or unspecified: addresses that reach the machine we run
    on (in Lambda, the Runtime API listens on 127.0.0.1:9001), never a remote server."""
    if is_loopback(url):
        return True
    host = (urlsplit(url).hostname or "").strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_link_local or address.is_unspecified


def require_secure_url(url: str, what: str, *, allow_loopback: bool = True) -> str:
    """https everywhere; plain http only on loopback (the local emulator).

    ``allow_loopback=False`` is for URLs a server hands us (Content-Location, manifest file URLs,
    redirects, discovered endpoints) when the configured server is not itself on loopback: a hostile
    manifest must not make us fetch from the machine we run on and land the answer.
    """
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"{what} is {len(url)} characters long (at most {MAX_URL_CHARS})")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535 or not a number
    except ValueError:
        raise ValueError(f"{what} has an invalid port: {strip_query(url)[:200]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {strip_query(url)[:200]!r}")
    local = _is_local_address(url)
    if local and not allow_loopback:
        raise ValueError(
            f"{what} points at this machine ({strip_query(url)[:200]}), but the configured server is not on "
            "loopback: refused"
        )
    if parts.scheme == "http" and not is_loopback(url):
        raise ValueError(f"{what} must use https (plain http is allowed only on loopback): {strip_query(url)[:200]}")
    return url


#: Retry-After values this large are not delays but epoch timestamps: the SMART reference server sends
#: the moment its rate limit lifts, in milliseconds on the first 429 and in seconds after that.
_EPOCH_SECONDS_FROM = 1_000_000_000
_EPOCH_MILLISECONDS_FROM = 100_000_000_000


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds, an HTTP-date, or an epoch timestamp (seconds
    or milliseconds); None when absent or unreadable."""
    text = (value or "").strip()
    if not text or not text.isascii():
        return None
    if text.isdigit():  # ASCII only: str.isdigit() alone also accepts "²" and "١٢٠", which int() refuses
        return _delay_or_epoch(text, now)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_after_of(response: requests.Response, our_now: datetime) -> float | None:
    """The response's Retry-After in seconds. A moment (an HTTP-date, an epoch) is measured from the
    server's own clock, its Date header, when it sent one: the two clocks may disagree by more than
    the wait itself. Date drops sub-seconds, so the wait comes out a fraction long, never short."""
    server_now = parse_http_date(response.headers.get("Date")) or our_now
    return parse_retry_after(response.headers.get("Retry-After"), server_now)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date as an aware datetime; None for anything else (BCDA's Expires is Go's time.String())."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _delay_or_epoch(digits: str, now: datetime) -> float | None:
    if len(digits) > 15:
        return None
    number = int(digits)
    if number >= _EPOCH_MILLISECONDS_FROM:
        return max(0.0, number / 1000 - now.timestamp())
    if number >= _EPOCH_SECONDS_FROM:
        return max(0.0, number - now.timestamp())
    return float(number)


def buffer_body(response: requests.Response) -> requests.Response:
    """Read the body of a response opened with ``stream=True``, at most MAX_BODY_BYTES of a 2xx body and
    MAX_ERROR_BODY_BYTES of any other, so that a server answering gigabytes cannot exhaust our memory.
    ``response.content`` / ``.text`` then hold what was read; ``body_truncated(response)`` tells whether
    the body went on."""
    limit = MAX_BODY_BYTES if 200 <= response.status_code < 300 else MAX_ERROR_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    truncated = False
    try:
        for chunk in response.raw.stream(64 * 1024, decode_content=True):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                truncated = True
                break
    except Exception:  # a body cut short is described by what arrived; the status still counts
        truncated = True
    data = b"".join(chunks)[:limit]
    # requests keeps a read body in these two attributes (stable since requests 1.0); .content and
    # .text then work on what we read, and the connection goes back to the pool or is closed.
    response._content = data
    response._content_consumed = True  # type: ignore[attr-defined]
    response.bulkfhir_truncated = truncated  # type: ignore[attr-defined]
    if truncated:
        response.close()  # the rest of the body is never read: the connection cannot be reused
    else:
        response.raw.release_conn()
    return response


def body_truncated(response: requests.Response) -> bool:
    return bool(getattr(response, "bulkfhir_truncated", False))


def first_json_value(text: str) -> Any:
    """The first JSON value of a body. BCDA's archived-job 404 concatenates two JSON objects."""
    return json.JSONDecoder().raw_decode(text.lstrip())[0]


#: FHIR's IssueType `transient` branch (R4 http://hl7.org/fhir/issue-type): "the error may be resolved
#: by repeating the request". The Bulk Data spec asks a server whose status poll fails without the
#: export failing to answer with a code of this branch, so that the client retries; any other code of
#: an OperationOutcome on a 500 is the export's failure. A server may use one of these codes for a
#: failure that no retry mends (BCDA: ``exception``): its profile lists it in ``failure_issue_codes``.
TRANSIENT_ISSUE_CODES = frozenset({"transient", "lock-error", "no-store", "exception", "timeout", "incomplete",
                                   "throttled"})  # fmt: skip
_ERROR_SEVERITIES = ("fatal", "error")


def _outcome(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = first_json_value(response.text)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None


def outcome_codes(response: requests.Response) -> tuple[str, ...]:
    """The issue codes of an OperationOutcome body's errors (severity fatal or error; every issue's when
    none is one), or () when the body is not an OperationOutcome."""
    body = _outcome(response)
    issues = [issue for issue in (body or {}).get("issue") or [] if isinstance(issue, dict)]
    errors = [issue for issue in issues if issue.get("severity") in _ERROR_SEVERITIES] or issues
    return tuple(str(issue.get("code") or "") for issue in errors)


def is_transient_outcome(response: requests.Response, failure_codes: frozenset[str] = frozenset()) -> bool:
    """Whether an OperationOutcome says "try again": every error issue has a code of the transient
    branch (less the server's ``failure_codes``). False when the body is not an OperationOutcome."""
    codes = outcome_codes(response)
    return bool(codes) and all(code in TRANSIENT_ISSUE_CODES - failure_codes for code in codes)


def outcome_text(response: requests.Response) -> str:
    """Diagnostics of an OperationOutcome body (issue diagnostics or details.text), else ''."""
    body = _outcome(response)
    if body is None:
        return ""
    texts: list[str] = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        text = issue.get("diagnostics") or (details or {}).get("text") or ""
        if text and text not in texts:
            texts.append(str(text))
    return "; ".join(texts)


def is_operation_outcome(response: requests.Response) -> bool:
    return _outcome(response) is not None


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"\s+")


def describe_body(response: requests.Response, limit: int = 160) -> str:
    """A short, single-line, human description of an error body, for messages.

    Prefers OperationOutcome diagnostics; names an HTML page by its title; otherwise the first
    characters of a text body. Never more than ``limit`` characters.
    """
    diagnostics = outcome_text(response)
    if diagnostics:
        return _clip(diagnostics, limit)
    content_type = response.headers.get("Content-Type", "").lower()
    try:
        text = response.text
    except (UnicodeDecodeError, requests.RequestException):
        return "(unreadable body)"
    # Only a body that is markup is a page: Express (the SMART reference server) sends its plain
    # "Invalid token" / "Too many files" as text/html, and that text is the server's answer.
    if text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")) or (
        "html" in content_type and text.lstrip().startswith("<")
    ):
        match = _TITLE.search(text)
        title = _SPACES.sub(" ", match.group(1)).strip() if match else ""
        return f"an HTML page{f' titled {title!r}' if title else ''} (a proxy or gateway answered, not the API)"
    text = _SPACES.sub(" ", text).strip()
    return _clip(text, limit) if text else "(empty body)"


def _clip(text: str, limit: int) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_body(response: requests.Response, what: str) -> Any:
    """The JSON body of a successful response, or a typed error saying what was wrong with it."""
    if body_truncated(response):
        raise UnexpectedResponseError(
            f"{what}: the body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB; not a Bulk Data response",
            status=response.status_code,
            url=strip_query(response.url or ""),
        )
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise UnexpectedResponseError(
            f"{what}: expected JSON but got {describe_body(response)} "
            f"(HTTP {response.status_code}, Content-Type {response.headers.get('Content-Type') or 'none'})",
            status=response.status_code,
            url=strip_query(response.url or ""),
        ) from None
