"""Where things live in the landing bucket (docs/architecture.md §4): one place builds every key."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bulkfhir._http import file_identity

_SAFE = re.compile(r"[^A-Za-z0-9_\-]")


def _safe(part: str) -> str:
    return _SAFE.sub("_", part) or "_"


def run_prefix(source: str, run_id: str) -> str:
    return f"runs/{_safe(source)}/{run_id}/"


def server_manifest_key(source: str, run_id: str) -> str:
    return run_prefix(source, run_id) + "server-manifest.json"


def files_key(source: str, run_id: str) -> str:
    return run_prefix(source, run_id) + "files.json"


def run_manifest_key(source: str, run_id: str) -> str:
    return run_prefix(source, run_id) + "manifest.json"


def staging_key(source: str, run_id: str, index: int) -> str:
    return f"staging/{_safe(source)}/{run_id}/{index:05d}.ndjson.gz"


def curation_list_key(source: str, run_id: str) -> str:
    """A claims rebuild's list of every landed file to curate again (the map reads it)."""
    return run_prefix(source, run_id) + "curate-files.json"


#: Pre-signed file URLs (credentials to the server's files) live only here: readable by the functions
#: that fetch and record them, expired by the bucket's lifecycle after the run (infra storage).
SIGNED_URLS_PREFIX = "signed-urls/"


def file_urls_key(source: str, run_id: str) -> str:
    """The full URLs (with their query strings) of a run's pre-signed files: kept in S3, never in state,
    and nowhere else in the bucket."""
    return f"{SIGNED_URLS_PREFIX}{_safe(source)}/{run_id}/file-urls.json"


def without_signatures(manifest: Any) -> Any:
    """A completion manifest as received, but each file URL as its identity: without the parameters that
    sign it (a pre-signed URL's credential and signature, which ``file_urls_key`` keeps), with those that
    name the file (``download?file=A``)."""
    if not isinstance(manifest, dict):
        return manifest
    kept = dict(manifest)
    for kind in ("output", "error", "deleted"):
        entries = manifest.get(kind)
        if isinstance(entries, list):
            kept[kind] = [_url_without_query(entry) for entry in entries]
    return kept


def _url_without_query(entry: Any) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        return entry
    return {**entry, "url": file_identity(entry["url"])}


def data_key(source: str, run_id: str, run_date: str, kind: str, resource_type: str, sequence: int) -> str:
    """fhir/<source>/<Type>/run_date=<date>/<run_id>/<Type>-0001.ndjson.gz (errors/ and deleted/ alike)."""
    name = f"{_safe(resource_type)}-{sequence:04d}.ndjson.gz"
    partition = f"run_date={run_date}/{run_id}/{name}"
    if kind == "error":
        return f"errors/{_safe(source)}/{partition}"
    if kind == "deleted":
        return f"deleted/{_safe(source)}/{_safe(resource_type)}/{partition}"
    return f"fhir/{_safe(source)}/{_safe(resource_type)}/{partition}"


class KeyAllocator:
    """Landing keys for a run's files: numbered per kind and *sanitised* type name from 0001, never
    one already used. Types that sanitise alike ("A.B" and "A_B") share one numbering, so each file
    still gets a key of its own."""

    def __init__(self, source: str, run_id: str, run_date: str, used: Iterable[str] = ()) -> None:
        self._source, self._run_id, self._run_date = source, run_id, run_date
        self._used = set(used)
        self._counters: dict[tuple[str, str], int] = defaultdict(int)

    def key(self, kind: str, resource_type: str) -> str:
        counter = (kind, _safe(resource_type))
        while True:
            self._counters[counter] += 1
            key = data_key(self._source, self._run_id, self._run_date, kind, resource_type, self._counters[counter])
            if key not in self._used:
                self._used.add(key)
                return key
