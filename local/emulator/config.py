"""The emulator's settings: which server it imitates, which fault it injects, and the knobs of both.

The config is a plain (mutable) dataclass on purpose: tests may change a knob on a running emulator
(`emu.config.job_polls = 0`) and the next request sees it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, datetime

FLAVORS = ("bcda", "ab2d", "smart")

SCENARIOS = (
    "none",
    "kickoff-429",
    "kickoff-429-adopt",
    "kickoff-response-lost",
    "status-5xx",
    "token-expiry",
    "drop-connection",
    "job-failed",
    "job-expired",
    "foreign-file-host",
    "slow-export",
    "large-files",
    "malformed-manifest",
    "no-content-location",
    "html-error",
    "truncated-gzip",
    "unexpected-status",
    "cms-examples",
    "reference-server",
    "transient-status",
    "error-counts",
    "kickoff-failed",
    "rate-limit",
    # issue #14: each turns on knobs below, and composes with any other ("query-named-files,signed-urls")
    "query-named-files",
    "html-block-page",
    "text-block-page",
    "future-transaction-time",
    "failed-outputs",
    "signed-urls",
    "malformed-signed-manifest",
)
#: Scenarios of the SMART reference server (smart-on-fhir/bulk-data-server): smart flavour only; each
#: implies smart_server="reference".
REFERENCE_SCENARIOS = (
    "reference-server", "transient-status", "error-counts", "kickoff-failed", "rate-limit", "failed-outputs",
)  # fmt: skip
#: Scenarios that are another's with knobs of their own: they answer to its name too.
IMPLIES = {"malformed-signed-manifest": ("malformed-manifest",)}
SMART_SERVERS = ("dpc", "reference")
BLOCK_PAGES = ("none", "html", "text", "html-as-ndjson")
#: failed-outputs: the types whose every file fails generation (the SMART reference server's wording)
FAILED_OUTPUT_TYPES = ("Patient", "ExplanationOfBenefit")
#: future-transaction-time: what the manifest says its transactionTime is
FUTURE_TRANSACTION_TIME = datetime(2099, 1, 1, tzinfo=UTC)


def scenario_argument(value: str) -> str:
    """An argparse type for ``--scenario``: one name, or several joined by commas, each known."""
    names = scenario_names(value)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)} (several: join them with commas)"
        )
    return ",".join(names) or "none"


def scenario_names(scenario: str) -> tuple[str, ...]:
    """The scenarios of a ``scenario`` value: one name, or several joined by commas; "none" is none."""
    return tuple(name.strip() for name in scenario.split(",") if name.strip() and name.strip() != "none")


# The BFD data-load time of the first data set: fixed so that two emulators with one seed serve
# byte-identical files. advance_data() moves it forward.
DEFAULT_DATA_LOAD_TIME = datetime(2026, 6, 1, 4, 12, 33, 705398, tzinfo=UTC)

_TOKEN_TTL = {"bcda": 1200, "ab2d": 1800, "smart": 300}


@dataclass
class EmulatorConfig:
    """Everything that shapes one emulator run. Only `flavor` is usually needed."""

    flavor: str = "bcda"
    scenario: str = "none"
    seed: int = 1
    patients: int = 100
    host: str = "127.0.0.1"
    port: int = 0
    client_id: str = ""  # "" = a per-flavour default
    client_secret: str = ""  # "" = derived from the seed
    # ---- jobs
    job_polls: int = 2  # status polls answered "in progress" before the job completes
    job_seconds: float = 0.0  # and at least this much emulator time since kick-off
    slow_export_polls: int = 12  # job_polls under the slow-export scenario
    unattended_job_seconds: float = 600.0  # a job nobody polls still finishes after this long
    # ---- tokens
    token_ttl_seconds: int | None = None  # None = the flavour's (BCDA 1200, AB2D 1800, SMART 300)
    token_expiry_after_calls: int = 3  # token-expiry scenario: API calls a token survives
    token_early_expiries: int = 1  # token-expiry scenario: how many tokens die early (the later ones live)
    bcda_token_rate_limit: int = 1000  # token calls per 5 min before 429 (SSAS prod threshold)
    # ---- BCDA
    bcda_retry_after: int = 0  # CLIENT_RETRY_AFTER_IN_SECONDS on the duplicate-job 429
    extra_empty_gzip_member: bool | None = None  # None = True for BCDA only
    v3_enabled: bool = True  # BCDA sandbox has v3 on; AB2D v3 likewise
    partially_adjudicated: bool = False  # the ACO's model has Claim/ClaimResponse (BCDA v2)
    error_files: bool = True  # write some OperationOutcome error files
    # ---- AB2D
    max_parallel_jobs: int = 1
    poll_throttle_seconds: float = 5.0  # AB2D: a poll sooner than this after the last one → 429
    max_downloads: int = 6  # AB2D: downloads allowed per file
    ab2d_contract: str = "Z1001"
    ab2d_rollover_mb: float = 200.0
    # ---- SMART
    smart_key_alg: str = "RS384"  # or ES384
    smart_file_resources: int = 10_000  # resources per output file
    smart_server: str = "dpc"  # "reference": the SMART reference server's wire (see flavors/smart_reference.py)
    rate_limit_requests: int = 60  # reference: requests a minute one route takes before it blocks the client
    rate_limit_block_seconds: float = 300.0  # ... for this long
    # ---- scenarios
    kickoff_429_count: int = 2  # kickoff-429 / kickoff-429-adopt: kick-offs refused
    kickoff_retry_after: int = 1
    fault_downloads_per_file: int = 1  # drop-connection / truncated-gzip: faulty downloads per file
    unexpected_status: int = 418  # unexpected-status: 418 or 302
    foreign_host_requires_token: bool = False
    file_mb: float = 50.0  # large-files: size of each EOB file
    large_file_count: int = 2
    transient_status_polls: int = 3  # transient-status: polls of each job answered 500 `transient`
    error_counts_file_resources: int = 100  # error-counts: resources per file; every second file fails
    rate_limit_export_seconds: float = 180.0  # rate-limit: the export's length (Retry-After: 1 throughout)
    # ---- a server that mishandles what it is asked (off by default; tests and local runs turn them on)
    manifest_order: str = "as-built"  # "rotating": each 200 status lists the files in another order (no ORDER BY)
    export_hours: float | None = None  # slow-export: the job completes this many hours (emulator clock) after kick-off
    status_override: dict[str, int] = field(default_factory=dict)  # job id -> the status its polls answer
    range_reply: str = "honour"  # "other-encoding": a Range gets a 206 of the identity body; "ignore": a 200
    drop_point: str = "middle"  # drop-connection: "trailing-member" cuts inside BCDA's trailing empty gzip member
    signed_file_urls: bool = False  # file URLs carry (and need) a pre-signed query string (scenario signed-urls)
    signed_url_seconds: int = 3600  # ... signed at every status answer, valid this long (emulator clock)
    auth_reply: str = "json"  # BCDA: "form" answers the token request 200 with a form-encoded body
    query_named_files: bool = False  # file URLs are {origin}/download?file=<path> (scenario query-named-files)
    block_page: str = "none"  # "html" | "text" | "html-as-ndjson": a 200 page served in a file's place
    block_page_type: str = "Coverage"  # ... for every file of this type (else of the first output's)
    future_transaction_time: bool = False  # the manifest's transactionTime is 2099-01-01 (scenario of that name)
    failed_output_types: tuple[str, ...] = ()  # smart: every file of these types fails generation (failed-outputs)
    manifest_members: str = "spec-order"  # "files-first": output/error/deleted lead the 200 manifest body
    # ---- data
    data_load_time: datetime = DEFAULT_DATA_LOAD_TIME
    cms_example: str = "updated"  # cms-examples: "updated" | "cancelled" | "duplicate" (local/emulator/examples.py)

    def __post_init__(self) -> None:
        if self.flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {self.flavor!r}; expected one of {FLAVORS}")
        for scenario in scenario_names(self.scenario):
            if scenario not in SCENARIOS:
                raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
            if scenario in REFERENCE_SCENARIOS and self.flavor != "smart":
                raise ValueError(f"scenario {scenario!r} imitates the SMART reference server: use flavor smart")
        if self.smart_key_alg not in ("RS384", "ES384"):
            raise ValueError("smart_key_alg must be RS384 or ES384")
        for name, value, allowed in (
            ("manifest_order", self.manifest_order, ("as-built", "rotating")),
            ("range_reply", self.range_reply, ("honour", "other-encoding", "ignore")),
            ("drop_point", self.drop_point, ("middle", "trailing-member")),
            ("auth_reply", self.auth_reply, ("json", "form")),
            ("smart_server", self.smart_server, SMART_SERVERS),
            ("block_page", self.block_page, BLOCK_PAGES),
            ("manifest_members", self.manifest_members, ("spec-order", "files-first")),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.export_hours is not None and self.export_hours <= 0:
            raise ValueError("export_hours must be positive")

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The scenarios in force, with those they imply (read at every request: a test may change them)."""
        names = scenario_names(self.scenario)
        return names + tuple(implied for name in names for implied in IMPLIES.get(name, ()))

    def has(self, *names: str) -> bool:
        return any(name in self.scenarios for name in names)

    @property
    def signs_urls(self) -> bool:
        return self.signed_file_urls or self.has("signed-urls", "malformed-signed-manifest")

    @property
    def names_files_by_query(self) -> bool:
        return self.query_named_files or self.has("query-named-files")

    @property
    def block_page_kind(self) -> str:
        if self.block_page != "none":
            return self.block_page
        return "html" if self.has("html-block-page") else "text" if self.has("text-block-page") else "none"

    @property
    def dates_in_future(self) -> bool:
        return self.future_transaction_time or self.has("future-transaction-time")

    @property
    def failing_types(self) -> tuple[str, ...]:
        return self.failed_output_types or (FAILED_OUTPUT_TYPES if self.has("failed-outputs") else ())

    @property
    def files_first(self) -> bool:
        return self.manifest_members == "files-first" or self.has("malformed-signed-manifest")

    @property
    def token_ttl(self) -> int:
        return self.token_ttl_seconds if self.token_ttl_seconds is not None else _TOKEN_TTL[self.flavor]

    @property
    def empty_gzip_member(self) -> bool:
        if self.extra_empty_gzip_member is None:
            return self.flavor == "bcda"
        return self.extra_empty_gzip_member

    @property
    def reference(self) -> bool:
        """Whether the smart flavour imitates the SMART reference server (the knob, or its scenarios)."""
        return self.flavor == "smart" and (self.smart_server == "reference" or self.has(*REFERENCE_SCENARIOS))

    @property
    def smart_resources_per_file(self) -> int:
        if self.has("error-counts", "failed-outputs"):
            return min(self.smart_file_resources, self.error_counts_file_resources)
        return self.smart_file_resources

    @property
    def _hours_long(self) -> bool:
        return self.has("slow-export") and self.export_hours is not None

    @property
    def polls_to_complete(self) -> int:
        if self._hours_long or self.has("rate-limit"):
            return 0  # the clock decides, however often it is polled
        return self.slow_export_polls if self.has("slow-export") else self.job_polls

    @property
    def job_min_seconds(self) -> float:
        """How long a job runs at least (emulator clock) before a poll may find it complete."""
        if self.has("rate-limit"):
            return self.rate_limit_export_seconds
        return float(self.export_hours or 0) * 3600 if self._hours_long else self.job_seconds

    @property
    def unattended_seconds(self) -> float:
        """A job nobody polls is done after this long (never before it could be done when polled)."""
        return max(self.unattended_job_seconds, self.job_min_seconds)
