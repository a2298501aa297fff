"""Typed state payloads: what each step reads from and writes to the state machine's JSON.

Each dataclass maps to one key of the state (docs/architecture.md §3). ``from_state`` validates
and raises ConfigurationError with a readable message; ``to_state`` returns plain JSON values.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ingest.errors import ConfigurationError
from ingest.timeutil import parse_utc

_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_TARGET = re.compile(r"^(Patient|system|Group/[A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True)
class RunInput:
    """The execution input: from a schedule ``{"source": name}`` or a person starting a run."""

    source: str
    since: str = "auto"  # "auto" (the watermark) | "none" (full history) | an ISO instant
    types: tuple[str, ...] | None = None
    export: str | None = None
    until: str | None = None
    type_filters: tuple[str, ...] = ()

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RunInput:
        source = state.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ConfigurationError('the run input needs "source": the name of a configured source')
        since = state.get("since", "auto")
        since = "auto" if since in (None, "") else str(since)
        if since not in ("auto", "none") and parse_utc(since) is None:
            raise ConfigurationError(
                f'"since" must be "auto", "none" or an ISO 8601 instant with a zone, got {since!r}'
            )
        until = state.get("until") or None
        if until is not None and parse_utc(str(until)) is None:
            raise ConfigurationError(f'"until" must be an ISO 8601 instant with a zone, got {until!r}')
        export = state.get("export") or None
        if export is not None and not _TARGET.match(str(export)):
            raise ConfigurationError(f'"export" must be Patient, Group/<id> or system, got {export!r}')
        return cls(
            source=source.strip(),
            since=since,
            types=_types(state.get("types")),
            export=str(export) if export else None,
            until=str(until) if until else None,
            type_filters=tuple(str(f) for f in state.get("type_filters") or ()),
        )


def _types(raw: object) -> tuple[str, ...] | None:
    if raw is None or raw in ("", []):
        return None
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ConfigurationError('"types" must be a list of FHIR resource types or a comma-separated string')
    types = tuple(str(item).strip() for item in items if str(item).strip())
    bad = [t for t in types if not _TYPE.match(t)]
    if bad:
        raise ConfigurationError(f'"types" holds names that are not FHIR resource types: {", ".join(bad)}')
    if len(set(types)) != len(types):
        raise ConfigurationError('"types" lists a resource type twice')
    return types


@dataclass(frozen=True)
class RunContext:
    """$.run — written once by Start run, read by every later step."""

    run_id: str
    source: str
    scope: str
    export: str
    types: tuple[str, ...]
    since: str | None
    until: str | None
    type_filters: tuple[str, ...]
    run_date: str
    started_at: str
    watermark_before: str | None
    download_concurrency: int
    resume_job_url: str | None = None
    resume_kicked_off_at: str | None = None

    def to_state(self) -> dict[str, Any]:
        data = asdict(self)
        data["types"] = list(self.types)
        data["type_filters"] = list(self.type_filters)
        return data

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RunContext:
        run = state.get("run")
        if not isinstance(run, dict):
            raise ConfigurationError("the state has no $.run: the Start run step did not run")
        return cls(
            run_id=run["run_id"],
            source=run["source"],
            scope=run["scope"],
            export=run["export"],
            types=tuple(run.get("types") or ()),
            since=run.get("since"),
            until=run.get("until"),
            type_filters=tuple(run.get("type_filters") or ()),
            run_date=run["run_date"],
            started_at=run["started_at"],
            watermark_before=run.get("watermark_before"),
            download_concurrency=int(run.get("download_concurrency") or 8),
            resume_job_url=run.get("resume_job_url"),
            resume_kicked_off_at=run.get("resume_kicked_off_at"),
        )


@dataclass(frozen=True)
class JobState:
    """$.job — the server job: accepted (with its status URL) or throttled (wait, then kick off again)."""

    status: str  # "accepted" | "throttled"
    job_url: str | None = None
    kicked_off_at: str | None = None
    adopted: bool = False
    wait_seconds: int = 0
    attempts: int = 0
    waited_seconds: int = 0

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JobState | None:
        job = state.get("job")
        if not isinstance(job, dict):
            return None
        return cls(**{k: job[k] for k in cls.__dataclass_fields__ if k in job})


@dataclass(frozen=True)
class PollState:
    """$.poll — where the export stands after the last status check."""

    state: str  # "in_progress" | "complete"
    wait_seconds: int = 0
    progress: str | None = None
    polls: int = 0
    waited_seconds: int = 0
    transient_failures: int = 0
    files_key: str | None = None
    file_count: int = 0
    transaction_time: str | None = None
    watermark_candidate: str | None = None

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PollState | None:
        poll = state.get("poll")
        if not isinstance(poll, dict):
            return None
        return cls(**{k: poll[k] for k in cls.__dataclass_fields__ if k in poll})


@dataclass(frozen=True)
class FileItem:
    """One entry of files.json: a server file and where it lands."""

    index: int
    kind: str  # "output" | "error" | "deleted"
    type: str
    url: str
    key: str
    requires_token: bool
    expected: dict[str, Any] = field(default_factory=dict)  # sha256 / length / count when the manifest gives them

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> FileItem:
        return cls(
            index=int(data["index"]),
            kind=str(data["kind"]),
            type=str(data["type"]),
            url=str(data["url"]),
            key=str(data["key"]),
            requires_token=bool(data.get("requires_token", True)),
            expected=dict(data.get("expected") or {}),
        )


@dataclass(frozen=True)
class Checkpoint:
    """A file half-landed when the Lambda's time ran short: its bytes so far sit at ``staging_key``."""

    staging_key: str
    offset: int

    def to_state(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LandedFile:
    """The record of one landed, verified file (ledger item, run manifest entry)."""

    index: int
    kind: str
    type: str
    url: str
    key: str
    bytes: int
    lines: int
    sha256: str
    landed_at: str

    def to_state(self) -> dict[str, Any]:
        return asdict(self)
