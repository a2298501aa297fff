"""Settings of the ingest Lambdas: the only module that reads ``os.environ``.

The variable names below are the contract with ``infra`` (docs/architecture.md §5); a test compares
them with the environment the CDK stack gives every function.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from ingest.errors import ConfigurationError

TABLE_NAME = "BULK_TABLE_NAME"
BUCKET_NAME = "BULK_BUCKET_NAME"
SOURCES = "BULK_SOURCES"
EVENT_BUS_NAME = "BULK_EVENT_BUS_NAME"
LEASE_SECONDS = "BULK_LEASE_SECONDS"
WAIT_BUDGET_SECONDS = "BULK_WAIT_BUDGET_SECONDS"
#: the folder of the user's ViewDefinitions (the stack's layer: /opt/views), when cdk.json names one
USER_VIEWS_DIR = "BULK_USER_VIEWS_DIR"

#: Every variable the Lambdas read (Powertools reads its own POWERTOOLS_* variables).
ENVIRONMENT_VARIABLES = (TABLE_NAME, BUCKET_NAME, SOURCES, EVENT_BUS_NAME, LEASE_SECONDS, WAIT_BUDGET_SECONDS)

#: Keys of one source in BULK_SOURCES.
SOURCE_KEYS = (
    "api",
    "base_url",
    "token_url",
    "api_version",
    "export",
    "types",
    "file_hosts",
    "secret_arn",
    "download_concurrency",
)


@dataclass(frozen=True)
class SourceSettings:
    """One configured source (cdk.json → BULK_SOURCES)."""

    name: str
    api: str
    base_url: str
    secret_arn: str
    api_version: str | None = None
    token_url: str | None = None
    export: str = "Group/all"
    types: tuple[str, ...] = ()
    file_hosts: tuple[str, ...] = ()
    download_concurrency: int = 8


@dataclass(frozen=True)
class Settings:
    table_name: str
    bucket_name: str
    sources: Mapping[str, SourceSettings]
    event_bus_name: str = "default"
    lease_seconds: int = 36 * 3600
    wait_budget_seconds: int = 30 * 3600
    user_views_dir: str | None = None

    def source(self, name: str) -> SourceSettings:
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none"
            raise ConfigurationError(
                f"unknown source {name!r}; configured sources: {known} (cdk.json context 'bulk-fhir-ingest')"
            ) from None


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set; the stack sets it on every function")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be an integer, got {raw!r}") from None


def _parse_sources(raw: str) -> dict[str, SourceSettings]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{SOURCES} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigurationError(f"{SOURCES} must be a non-empty JSON object of source name -> settings")
    sources: dict[str, SourceSettings] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise ConfigurationError(f"{SOURCES}[{name!r}] must be an object")
        missing = [key for key in ("api", "base_url", "secret_arn") if not spec.get(key)]
        if missing:
            raise ConfigurationError(f"{SOURCES}[{name!r}] lacks {', '.join(missing)}")
        sources[name] = SourceSettings(
            name=name,
            api=str(spec["api"]),
            base_url=str(spec["base_url"]),
            secret_arn=str(spec["secret_arn"]),
            api_version=spec.get("api_version") or None,
            token_url=spec.get("token_url") or None,
            export=str(spec.get("export") or "Group/all"),
            types=tuple(spec.get("types") or ()),
            file_hosts=tuple(spec.get("file_hosts") or ()),
            download_concurrency=_concurrency(name, spec.get("download_concurrency")),
        )
    return sources


def _concurrency(name: str, raw: object) -> int:
    if raw is None or raw == "":
        return 8
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 1000:
        raise ConfigurationError(f"{SOURCES}[{name!r}].download_concurrency must be an integer from 1 to 1000")
    return raw


def settings_from(env: Mapping[str, str]) -> Settings:
    """Build settings from an environment mapping (tests pass a dict)."""
    return Settings(
        table_name=_required(env, TABLE_NAME),
        bucket_name=_required(env, BUCKET_NAME),
        sources=_parse_sources(_required(env, SOURCES)),
        event_bus_name=env.get(EVENT_BUS_NAME, "").strip() or "default",
        lease_seconds=_int(env, LEASE_SECONDS, 36 * 3600),
        wait_budget_seconds=_int(env, WAIT_BUDGET_SECONDS, 30 * 3600),
        user_views_dir=env.get(USER_VIEWS_DIR, "").strip() or None,
    )


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Settings of this Lambda container, read once."""
    return settings_from(os.environ)
