"""The typed completion manifest of a Bulk Data export.

Parses what the servers really send: BCDA's ``JobID`` (capital J) and RFC 3339 transactionTime,
AB2D's locale-formatted transactionTime and per-file checksum/length extensions, DPC-style
``count``. Unknown members are kept in ``raw``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from bulkfhir._http import file_identity, require_secure_url, strip_query
from bulkfhir.errors import UnexpectedResponseError

#: A resource type is a name: FHIR's are [A-Z][A-Za-z]+; anything longer or with spaces is not one.
_TYPE = re.compile(r"^[!-~]{1,64}$")
#: transactionTime is an instant (AB2D: a locale-formatted date); it is shown and kept in state.
_MAX_TRANSACTION_TIME_CHARS = 64


@dataclass(frozen=True, slots=True)  # slots: a manifest may list 100,000 of them
class ManifestFile:
    type: str
    url: str
    count: int | None = None
    #: lowercase hex sha256 of the file as stored on the server (AB2D: of the .gz), when given
    sha256: str | None = None
    #: the stored file's length in bytes, when given
    length: int | None = None


@dataclass(frozen=True)
class Manifest:
    transaction_time: datetime | None
    transaction_time_raw: str
    request: str
    requires_access_token: bool
    output: tuple[ManifestFile, ...]
    error: tuple[ManifestFile, ...] = ()
    deleted: tuple[ManifestFile, ...] = ()
    job_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_instant(value: str) -> datetime | None:
    """An ISO 8601 / RFC 3339 instant with a zone, as an aware UTC datetime; None if it is not one."""
    text = value.strip()
    if not text or "T" not in text:
        return None
    text = re.sub(r"[zZ]$", "+00:00", text)
    # Python 3.11's fromisoformat accepts up to 6 fractional digits; BCDA/Go may send up to 9.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def _extension_values(entry: dict[str, Any]) -> tuple[str | None, int | None]:
    sha256: str | None = None
    length: int | None = None
    for extension in entry.get("extension") or []:
        if not isinstance(extension, dict):
            continue
        url = str(extension.get("url") or "")
        # AB2D: https://ab2d.cms.gov/checksum "sha256:<hex>" and .../file_length; DPC: dpc.cms.gov/...
        if url.endswith("/checksum"):
            value = str(extension.get("valueString") or "")
            algorithm, _, digest = value.partition(":")
            if algorithm.lower() == "sha256" and re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                sha256 = digest.lower()
        elif url.endswith("/file_length"):
            raw = extension.get("valueDecimal", extension.get("valueInteger"))
            if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
                length = int(raw)
    return sha256, length


def _files(body: dict[str, Any], key: str, base_url: str, where: str, allow_loopback: bool) -> tuple[ManifestFile, ...]:
    entries = body.get(key)
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise UnexpectedResponseError(f"{where}: manifest member {key!r} is not an array")
    files = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str) or not entry["url"]:
            raise UnexpectedResponseError(f"{where}: manifest {key}[{position}] has no url")
        # an absolute URL is kept as is (urljoin would copy it: a manifest holds 100,000 of them)
        url = entry["url"] if "://" in entry["url"][:16] else urljoin(base_url, entry["url"])
        try:
            require_secure_url(url, f"manifest {key}[{position}] url", allow_loopback=allow_loopback)
        except ValueError as exc:
            raise UnexpectedResponseError(f"{where}: {exc}") from None
        count = entry.get("count")
        sha256, length = _extension_values(entry)
        file_type = entry.get("type") or ("OperationOutcome" if key == "error" else "")
        if file_type and not (isinstance(file_type, str) and _TYPE.match(file_type)):
            raise UnexpectedResponseError(f"{where}: manifest {key}[{position}] has a type that is not a resource type")
        files.append(
            ManifestFile(
                type=str(file_type),
                url=url,
                count=count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None,
                sha256=sha256,
                length=length,
            )
        )
    return tuple(files)


def _without_repeats(where: str, kinds: dict[str, tuple[ManifestFile, ...]]) -> dict[str, tuple[ManifestFile, ...]]:
    """A file is its URL less the parameters that sign it (``file_identity``): files a server names by
    their query string (``download?file=A``) are as many files, and the same file signed again at the
    next poll is the same file. A server that lists one URL twice gets it landed once. Two entries of
    one identity are a protocol error when they differ in kind or type (one file listed as two), or in
    their URLs (two files whose names differ only in what looks like a signature, or one file signed
    twice in one answer): which of them is which cannot be told, and keeping one would lose the other."""
    seen: dict[str, tuple[str, str, str]] = {}
    kept: dict[str, tuple[ManifestFile, ...]] = {}
    for kind, files in kinds.items():
        unique = []
        for entry in files:
            identity = file_identity(entry.url)
            if identity in seen:
                first_kind, first_type, first_url = seen[identity]
                shown = identity  # signature parameters removed: what the run ledger shows too
                if (first_kind, first_type) != (kind, entry.type):
                    raise UnexpectedResponseError(
                        f"{where} lists {shown} both as {first_kind} {first_type!r} and as {kind} {entry.type!r}"
                    )
                if first_url != entry.url:
                    raise UnexpectedResponseError(
                        f"{where} lists {shown} twice with URLs that differ only in their signature parameters: "
                        "two files, or one signed twice, cannot be told apart; report it to the server's operators"
                    )
                continue
            seen[identity] = (kind, entry.type, entry.url)
            unique.append(entry)
        kept[kind] = tuple(unique)
    return kept


def parse_manifest(body: Any, status_url: str, *, allow_loopback: bool = True) -> Manifest:
    """Validate and type a manifest body; relative file URLs resolve against the status URL.
    ``allow_loopback=False`` refuses file URLs on this machine (see ``require_secure_url``)."""
    where = f"manifest of {strip_query(status_url)}"
    if not isinstance(body, dict):
        raise UnexpectedResponseError(f"{where} is not a JSON object")
    if not isinstance(body.get("output"), list):
        raise UnexpectedResponseError(f"{where} has no 'output' array")
    raw_time = body.get("transactionTime")
    transaction_time_raw = raw_time if isinstance(raw_time, str) else ""
    if len(transaction_time_raw) > _MAX_TRANSACTION_TIME_CHARS:
        raise UnexpectedResponseError(
            f"{where}: transactionTime is {len(transaction_time_raw)} characters long; not a time"
        )
    files = _without_repeats(
        where, {kind: _files(body, kind, status_url, where, allow_loopback) for kind in ("output", "error", "deleted")}
    )
    requires = body.get("requiresAccessToken")
    job_id = body.get("JobID")  # BCDA only; capital J, no json tag in the Go struct
    return Manifest(
        transaction_time=parse_instant(transaction_time_raw) if transaction_time_raw else None,
        transaction_time_raw=transaction_time_raw,
        request=str(body.get("request") or ""),
        # The spec makes the member required; when absent, assume the safe reading (a token is needed).
        requires_access_token=requires is not False,
        output=files["output"],
        error=files["error"],
        deleted=files["deleted"],
        job_id=str(job_id) if job_id is not None else None,
        raw=body,
    )
