"""HTTP helpers shared by the client modules: URL rules, Retry-After, readable error excerpts."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import socket
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from bulkfhir.errors import TransientError, UnexpectedResponseError

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

#: The most of a successful (2xx) body read into memory: BCDA's manifest of 10,000 files is ~2 MB.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: The longest a body (a manifest, an error page) may take to arrive once its headers are in; each
#: read also has the client's read timeout. A server that trickles it is answering too slowly: retry.
MAX_BODY_SECONDS = 30.0
#: The most of an error or redirect body ever read: only a short excerpt of it is shown.
MAX_ERROR_BODY_BYTES = 64 * 1024
#: The longest URL a server may hand us (Content-Location, manifest file URLs, redirects).
MAX_URL_CHARS = 4096


def strip_query(url: str) -> str:
    """The URL without query or fragment: safe to log (signed file URLs carry credentials there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


#: Query parameters that sign or authorise a URL rather than name what it points at: an object store
#: signs each file URL again at every status poll (new values), and they are credentials. S3 (SigV4
#: ``X-Amz-*``, SigV2 ``AWSAccessKeyId``/``Signature``/``Expires``), Google Cloud Storage (``X-Goog-*``,
#: ``GoogleAccessId``), Azure shared access signatures (``sv``, ``se``, ``sig``, ...), CloudFront
#: (``Policy``, ``Key-Pair-Id``), Alibaba OSS, and tokens servers put in URLs.
_SIGNATURE_PREFIXES = ("x-amz-", "x-goog-", "x-ms-", "x-oss-")
_SIGNATURE_NAMES = frozenset(
    {
        "awsaccesskeyid", "googleaccessid", "ossaccesskeyid", "signature", "expires", "policy",
        "key-pair-id", "security-token",
        # Azure SAS (learn.microsoft.com "Create a service SAS"): every parameter is part of the signature
        "sv", "ss", "srt", "sp", "se", "st", "spr", "sip", "sr", "sig", "si", "sdd", "ses", "skoid", "sktid",
        "skt", "ske", "sks", "skv", "saoid", "suoid", "scid", "rscc", "rscd", "rsce", "rscl", "rsct",
        "token", "access_token", "sas", "auth",
    }
)  # fmt: skip


def _is_signature(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SIGNATURE_NAMES or lowered.startswith(_SIGNATURE_PREFIXES)


def file_identity(url: str) -> str:
    """What identifies a server's file: its URL without the parameters that sign it (and without user
    info or fragment). Bulk Data URLs are opaque: ``download?file=A`` and ``download?file=B`` are two
    files, while the same file signed again (new ``X-Amz-Signature``, ``sig``, ``se``, ``Expires``) is
    one. The naming parameters are kept sorted, so a server that reorders them names the same file."""
    parts = urlsplit(url)
    kept = sorted((name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
                  if not _is_signature(name))  # fmt: skip
    query = urlencode(kept)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, query, ""))


def is_signed(url: str) -> bool:
    """Whether the URL carries signature or credential parameters (see ``file_identity``)."""
    return any(_is_signature(name) for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True))


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=256)
def _resolve(host: str) -> tuple[Address, ...]:
    """The addresses a host name resolves to (cached: a manifest names one host ten thousand times);
    () when it does not resolve, and then nothing will be fetched from it either."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    return tuple(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found))


def host_addresses(host: str) -> tuple[Address, ...]:
    """The addresses a URL's host stands for, as the socket layer reads it: ``127.1``, ``2130706433``,
    ``0x7f000001`` and ``0177.0.0.1`` are all 127.0.0.1 to inet_aton (and so to every HTTP client),
    though not to ``ipaddress``; names are resolved."""
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        return ()
    try:
        return (ipaddress.ip_address(name.split("%", 1)[0]),)
    except ValueError:
        pass
    try:
        return (ipaddress.IPv4Address(socket.inet_aton(name)),)
    except OSError:
        pass
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return (ipaddress.ip_address("127.0.0.1"),)  # RFC 6761: always loopback, whatever DNS says
    return _resolve(name)


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    return address


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine's loopback (every address it stands for)."""
    addresses = host_addresses(urlsplit(url).hostname or "")
    return bool(addresses) and all(_unmapped(address).is_loopback for address in addresses)


def reaches_this_machine(address: Address) -> bool:
    """Loopback, link-local (instance metadata) or unspecified: an address that reaches the machine we
    run on (in Lambda, the Runtime API listens on 127.0.0.1:9001), never a remote server."""
    address = _unmapped(address)
    return address.is_loopback or address.is_link_local or address.is_unspecified


def _is_local_address(url: str) -> bool:
    """Whether any address the URL's host stands for reaches this machine."""
    return any(map(reaches_this_machine, host_addresses(urlsplit(url).hostname or "")))


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


def buffer_body(
    response: requests.Response, max_seconds: float = MAX_BODY_SECONDS, limit: int | None = None
) -> requests.Response:
    """Read the body of a response opened with ``stream=True``, at most MAX_BODY_BYTES of a 2xx body and
    MAX_ERROR_BODY_BYTES of any other, so that a server answering gigabytes cannot exhaust our memory,
    and for at most ``max_seconds``, so that one trickling it cannot outlast the function.
    ``response.content`` / ``.text`` then hold what was read; ``body_truncated(response)`` tells whether
    the body went on, ``body_broken(response)`` whether it broke off (a dropped connection, a read
    timeout, too slow). ``limit`` reads less."""
    if limit is None:
        limit = MAX_BODY_BYTES if 200 <= response.status_code < 300 else MAX_ERROR_BODY_BYTES
    data = bytearray()  # one copy of the body in memory, not a list of chunks and then their join
    truncated = broken = False
    deadline = time.monotonic() + max_seconds
    try:
        for chunk in response.raw.stream(64 * 1024, decode_content=True):
            data += chunk
            if len(data) > limit:
                truncated = True
                break
            if time.monotonic() > deadline:
                truncated = broken = True
                break
    except Exception:  # a body cut short is described by what arrived; the status still counts
        truncated = broken = True
    del data[limit:]
    # requests keeps a read body in these two attributes (stable since requests 1.0); .content and
    # .text then work on what we read, and the connection goes back to the pool or is closed.
    response._content = data  # type: ignore[assignment]  # a bytearray: .content, .text and json.loads take it
    response._content_consumed = True  # type: ignore[attr-defined]
    response.bulkfhir_truncated = truncated  # type: ignore[attr-defined]
    response.bulkfhir_broken = broken  # type: ignore[attr-defined]
    if truncated:
        response.close()  # the rest of the body is never read: the connection cannot be reused
    else:
        response.raw.release_conn()
    return response


def body_truncated(response: requests.Response) -> bool:
    return bool(getattr(response, "bulkfhir_truncated", False))


def body_broken(response: requests.Response) -> bool:
    return bool(getattr(response, "bulkfhir_broken", False))


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
#: A URL's query in a text: a page (a login page echoing where it came from) may hold a signed URL.
_URL_QUERY = re.compile(r"(\w+://[^\s?#\"'<>]*)\?[^\s\"'<>]*")


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
        title = _clip(match.group(1), 80) if match else ""
        return f"an HTML page{f' titled {title!r}' if title else ''} (a proxy or gateway answered, not the API)"
    text = _SPACES.sub(" ", text).strip()
    return _clip(text, limit) if text else "(empty body)"


def _clip(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters, URLs without their queries (they may be credentials)."""
    text = _URL_QUERY.sub(r"\1?…", _SPACES.sub(" ", text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_body(response: requests.Response, what: str) -> Any:
    """The JSON body of a successful response, or a typed error saying what was wrong with it.

    The body itself is never quoted: a manifest holds pre-signed file URLs, whose query strings are
    credentials, and an error message travels to the run ledger, events and logs. What went wrong is
    named by its shape instead (where the JSON breaks, an HTML page's title, the size)."""
    url = strip_query(response.url or "")
    if body_broken(response):
        raise TransientError(
            f"{what}: the answer broke off or came too slowly ({len(response.content)} bytes in); will retry",
            status=response.status_code,
            url=url,
        )
    if body_truncated(response):
        raise UnexpectedResponseError(
            f"{what}: the body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB; not a Bulk Data response",
            status=response.status_code,
            url=url,
        )
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as error:
        raise UnexpectedResponseError(
            f"{what}: expected JSON but got {_shape(response, error)} "
            f"(HTTP {response.status_code}, Content-Type {_media_type(response) or 'none'})",
            status=response.status_code,
            url=url,
        ) from None


def _media_type(response: requests.Response) -> str:
    """The Content-Type without parameters, clipped: a header is the server's text too."""
    return _clip(response.headers.get("Content-Type", "").split(";", 1)[0].strip(), 60)


def _shape(response: requests.Response, error: Exception) -> str:
    """What a body that should have been JSON is, without quoting any of it."""
    size = len(response.content)
    if not size:
        return "an empty body"
    head = bytes(response.content[:64]).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or ("html" in _media_type(response).lower() and head[:1] == b"<"):
        return describe_body(response)  # a page: named by its <title>, a proxy's or a login page's
    if isinstance(error, json.JSONDecodeError):
        return f"{size} bytes of malformed JSON ({error.msg} at character {error.pos})"
    return f"{size} bytes that are not UTF-8 JSON"
