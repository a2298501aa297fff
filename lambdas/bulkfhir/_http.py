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


def require_secure_url(url: str, what: str) -> str:
    """https everywhere; plain http only on loopback (the local emulator)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {strip_query(url)!r}")
    if parts.scheme == "http" and not is_loopback(url):
        raise ValueError(f"{what} must use https (plain http is allowed only on loopback): {strip_query(url)}")
    return url


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def first_json_value(text: str) -> Any:
    """The first JSON value of a body. BCDA's archived-job 404 concatenates two JSON objects."""
    return json.JSONDecoder().raw_decode(text.lstrip())[0]


def outcome_text(response: requests.Response) -> str:
    """Diagnostics of an OperationOutcome body (issue diagnostics or details.text), else ''."""
    try:
        body = first_json_value(response.text)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
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
    try:
        body = first_json_value(response.text)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"


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
    if "html" in content_type or text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
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
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise UnexpectedResponseError(
            f"{what}: expected JSON but got {describe_body(response)} "
            f"(HTTP {response.status_code}, Content-Type {response.headers.get('Content-Type') or 'none'})",
            status=response.status_code,
            url=strip_query(response.url or ""),
        ) from None
