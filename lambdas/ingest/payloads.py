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
#: What an execution input may hold. Anything else is refused: later steps read their own keys of the
#: state ($.run, $.job, $.poll, ...), and an input must not be able to steer them.
INPUT_KEYS = ("source", "since", "types", "export", "until", "type_filters", "rebuild_claims")
_MAX_TYPE_FILTERS = 20
_MAX_TYPE_FILTER_CHARS = 1000


@dataclass(frozen=True)
class RunInput:
    """The execution input: from a schedule ``{"source": name}`` or a person starting a run."""

    source: str
    since: str = "auto"  # "auto" (the watermark) | "none" (full history) | an ISO instant
    types: tuple[str, ...] | None = None
    export: str | None = None
    until: str | None = None
    type_filters: tuple[str, ...] = ()
    #: re-derive the source's curated claims from every file that landed (for when the rules change)
    rebuild_claims: bool = False

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RunInput:
        unknown = sorted(str(key) for key in state if key not in INPUT_KEYS)
        if unknown:
            raise ConfigurationError(
                f"the run input may hold only {', '.join(INPUT_KEYS)}; it also holds {', '.join(unknown)[:200]}"
            )
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
            type_filters=_type_filters(state.get("type_filters")),
            rebuild_claims=_rebuild(state),
        )

    def to_state(self) -> dict[str, Any]:
        """The input as validated: what a restart of the run (Start over) starts from."""
        data: dict[str, Any] = {"source": self.source, "since": self.since}
        if self.types is not None:
            data["types"] = list(self.types)
        if self.export:
            data["export"] = self.export
        if self.until:
            data["until"] = self.until
        if self.type_filters:
            data["type_filters"] = list(self.type_filters)
        if self.rebuild_claims:
            data["rebuild_claims"] = True
        return data


def _rebuild(state: dict[str, Any]) -> bool:
    raw = state.get("rebuild_claims", False)
    if not isinstance(raw, bool):
        raise ConfigurationError('"rebuild_claims" must be true or false')
    if raw and any(key in state for key in ("since", "types", "export", "until", "type_filters")):
        raise ConfigurationError('"rebuild_claims" re-derives what landed: it takes no export parameters')
    return raw


def _type_filters(raw: object) -> tuple[str, ...]:
    if raw is None or raw in ("", []):
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or len(items) > _MAX_TYPE_FILTERS:
        raise ConfigurationError(f'"type_filters" must be a list of at most {_MAX_TYPE_FILTERS} _typeFilter values')
    filters = tuple(str(item) for item in items)
    if any(not f or len(f) > _MAX_TYPE_FILTER_CHARS for f in filters):
        raise ConfigurationError(f'each "type_filters" value must be 1 to {_MAX_TYPE_FILTER_CHARS} characters')
    return filters


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
    #: the execution running this run (its history is counted when the run ends)
    execution: str = ""
    #: the validated execution input (a restart of the run starts from it again)
    input: dict[str, Any] = field(default_factory=dict)
    #: None when this run covers the scope's whole window and may move its watermark; else why not
    watermark_held: str | None = None
    resume_job_url: str | None = None
    resume_kicked_off_at: str | None = None
    #: a job of an earlier run of this scope that this run does not resume (another request)
    stale_job_url: str | None = None
    #: "export" (the normal run), or "rebuild_claims" (re-curate every landed file; no server involved)
    mode: str = "export"

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
            execution=str(run.get("execution") or ""),
            input=dict(run.get("input") or {}),
            watermark_held=run.get("watermark_held"),
            resume_job_url=run.get("resume_job_url"),
            resume_kicked_off_at=run.get("resume_kicked_off_at"),
            stale_job_url=run.get("stale_job_url"),
            mode=str(run.get("mode") or "export"),
        )


@dataclass(frozen=True)
class JobState:
    """$.job — the server job: accepted (with its status URL) or throttled (wait, then kick off again)."""

    status: str  # "accepted" | "throttled" | "restart" (a resumed job cannot continue: start the run over)
    job_url: str | None = None
    kicked_off_at: str | None = None
    adopted: bool = False
    #: only a job this stack started is ever cancelled (AB2D's 429 names other clients' jobs too)
    started_by_us: bool = False
    wait_seconds: int = 0
    attempts: int = 0
    waited_seconds: int = 0
    #: running jobs the server named that may turn out to be of exactly this request once complete
    seen_jobs: tuple[str, ...] = ()

    def to_state(self) -> dict[str, Any]:
        data = asdict(self)
        data["seen_jobs"] = list(self.seen_jobs)
        return data

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JobState | None:
        job = state.get("job")
        if not isinstance(job, dict):
            return None
        values = {k: job[k] for k in cls.__dataclass_fields__ if k in job}
        values["seen_jobs"] = tuple(values.get("seen_jobs") or ())
        return cls(**values)


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
    #: how the candidate was found when it is not the manifest's word (a transactionTime in the
    #: server's future, clamped to the kick-off time); None when it is
    watermark_clamped: str | None = None

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PollState | None:
        poll = state.get("poll")
        if not isinstance(poll, dict):
            return None
        return cls(**{k: poll[k] for k in cls.__dataclass_fields__ if k in poll})


@dataclass(frozen=True, slots=True)  # slots: a run may have 100,000 of them in memory at once
class FileItem:
    """One entry of files.json: a server file and where it lands.

    ``url`` is the file's identity (``bulkfhir._http.file_identity``): the server's URL without the
    parameters that sign it. Map items enter the child executions' input and history (kept 90 days),
    and a pre-signed URL's signature is a credential; a file named by its query string
    (``download?file=A``) keeps that name. When the server's URL is signed, ``signed`` is set, the full
    URL is in the run's file-urls.json in S3, and ``urls_version`` names the poll that wrote it (a
    download function re-reads its URLs when that changes: a re-poll signs them afresh)."""

    index: int
    kind: str  # "output" | "error" | "deleted"
    type: str
    url: str
    key: str
    requires_token: bool
    expected: dict[str, Any] = field(default_factory=dict)  # sha256 / length / count when the manifest gives them
    signed: bool = False
    urls_version: str | None = None

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
            signed=bool(data.get("signed", False)),
            urls_version=str(data["urls_version"]) if data.get("urls_version") else None,
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
    #: download requests this file took (AB2D allows six per file)
    downloads: int = 0
    #: the sha256 of the landed bytes its curated claims were derived from ("" when not curated)
    curated_sha256: str = ""
    #: curated rows per table (claim_version_rows, patients, partial_claims, rejects)
    curated_rows: dict[str, int] = field(default_factory=dict)
    #: what the manifest claimed that the file does not bear out, when that does not fail it (a count on
    #: an error file); None when the file is as listed
    mismatch: str | None = None
    #: an error file's OperationOutcomes reporting output the export does not hold (a failed output,
    #: bulkfhir.outcomes), and the resource types they name: the run then holds its watermark
    failed_outputs: int = 0
    failed_types: list[str] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        return asdict(self)
