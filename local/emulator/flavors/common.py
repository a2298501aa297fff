"""Small pieces the flavours share: credentials parsing, time formats, manifest entries."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime

from local.emulator.records import ServedFile
from local.emulator.wire import Request, Response

Route = tuple[str, re.Pattern[str], Callable[..., Response]]

_BEARER = re.compile(r"^Bearer (\S+)$")  # BCDA's exact pattern: case-sensitive, one space


def bearer(header: str | None) -> str | None:
    match = _BEARER.match(header or "")
    return match.group(1) if match else None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def rfc3339(moment: datetime) -> str:
    """Go's RFC3339Nano in UTC: fraction with trailing zeros trimmed, "Z"."""
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def go_time_string(moment: datetime) -> str:
    """Go's time.Time.String(), e.g. "2026-08-21 15:02:15.123456 +0000 UTC" (BCDA's Expires)."""
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "") + " +0000 UTC"


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def java_human(moment: datetime) -> str:
    """Java's medium date-time format, as AB2D puts it in transactionTime: "Nov 9, 2023, 3:52:51 PM".

    Newer JDKs (CLDR 42+) put a narrow no-break space (U+202F) before AM/PM.
    """
    hour = moment.hour % 12 or 12
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M:%S}\u202f{moment:%p}"


def checksum_extensions(file: ServedFile, domain: str) -> list[dict[str, object]]:
    """AB2D/DPC manifest entry extensions: sha256 and length of the stored .gz file."""
    return [
        {"url": f"https://{domain}/checksum", "valueString": f"sha256:{file.gz_sha256}"},
        {"url": f"https://{domain}/file_length", "valueDecimal": file.gz_length},
    ]


def media_types(accept: str | None) -> list[str]:
    """The media types of an Accept header, lower-case, parameters dropped."""
    return [part.split(";")[0].strip().lower() for part in (accept or "").split(",") if part.strip()]


def accepts(accept: str | None, *produced: str) -> bool:
    """Spring-like content negotiation: no Accept, */*, type/* or an exact produced type matches."""
    wanted = media_types(accept)
    if not wanted:
        return True
    for media in wanted:
        if media == "*/*" or media in produced:
            return True
        if media.endswith("/*") and any(p.startswith(media[:-1]) for p in produced):
            return True
    return False


def dispatch(routes: list[Route], request: Request, not_found: Callable[[], Response]) -> Response:
    """Call the handler whose method and path pattern match (path groups become arguments)."""
    for method, pattern, handler in routes:
        match = pattern.match(request.path)
        if match and method == request.method:
            return handler(request, *match.groups())
    if any(pattern.match(request.path) for _, pattern, _ in routes):
        return Response(405)
    return not_found()
