"""Where things live in the landing bucket (docs/architecture.md §4): one place builds every key."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

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


def data_key(source: str, run_id: str, run_date: str, kind: str, resource_type: str, sequence: int) -> str:
    """fhir/<source>/<Type>/run_date=<date>/<run_id>/<Type>-0001.ndjson.gz (errors/ and deleted/ alike)."""
    name = f"{_safe(resource_type)}-{sequence:04d}.ndjson.gz"
    partition = f"run_date={run_date}/{run_id}/{name}"
    if kind == "error":
        return f"errors/{_safe(source)}/{partition}"
    if kind == "deleted":
        return f"deleted/{_safe(source)}/{_safe(resource_type)}/{partition}"
    return f"fhir/{_safe(source)}/{_safe(resource_type)}/{partition}"


def assign_keys(source: str, run_id: str, run_date: str, files: Iterable[tuple[str, str]]) -> list[str]:
    """Keys for (kind, type) pairs in manifest order, numbering each kind/type from 0001."""
    counters: dict[tuple[str, str], int] = defaultdict(int)
    keys = []
    for kind, resource_type in files:
        counters[(kind, resource_type)] += 1
        keys.append(data_key(source, run_id, run_date, kind, resource_type, counters[(kind, resource_type)]))
    return keys
