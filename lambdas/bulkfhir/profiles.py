"""Source profiles: how each kind of server differs, as data.

A profile answers "where is the API, how do I get a token, what do I poll with" for one API family,
and what to tell people about its server (every hint in an error message comes from here).
Differences live here as values; the client has no per-vendor subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bulkfhir._http import require_secure_url


@dataclass(frozen=True)
class SourceProfile:
    name: str
    #: how to obtain a token: "basic" (BCDA: Basic auth, empty body), "client_credentials"
    #: (AB2D/Okta: Basic auth + form grant), "smart" (SMART Backend Services signed JWT assertion)
    token_style: str
    #: the API root under the configured base URL, "{version}" substituted
    api_root: str
    versions: tuple[str, ...]
    default_version: str | None
    #: export targets the server supports ("Group/<id>" means any group id)
    targets: tuple[str, ...]
    #: the token URL relative to the base URL, when the server hosts it itself
    token_path: str | None
    #: where the next run's `_since` comes from: the manifest's transactionTime or our kick-off time
    watermark_from: str
    #: waits when the server sends no Retry-After (BCDA never does): grows per poll, capped
    backoff_start_seconds: float
    backoff_max_seconds: float
    scope: str | None = None
    #: how many times the server lets one file be downloaded (AB2D: 6, FileDownloadCommon MAX_DOWNLOADS)
    max_downloads_per_file: int | None = None
    has_job_history: bool = False
    has_attribution_status: bool = False
    #: per API version, the `_since` that asks for all history where omitting it would not
    full_history_since: dict[str, datetime] = field(default_factory=dict)
    #: OperationOutcome issue codes of FHIR's transient branch that this server uses for a failure no
    #: retry mends (a 500 with only transient codes is otherwise retried)
    failure_issue_codes: frozenset[str] = frozenset()
    #: how messages name the server
    server_name: str = "the server"
    #: how long the server keeps an export's files, when known (messages say when a re-run resumes)
    file_lifetime: str | None = None
    #: what to check when the token endpoint refuses the credentials
    credentials_hint: str = "check the client id and key in the source's secret"


BCDA = SourceProfile(
    name="bcda",
    token_style="basic",
    api_root="/api/{version}",
    versions=("v1", "v2", "v3"),
    default_version="v2",
    targets=("Patient", "Group/all", "Group/runout"),
    token_path="/auth/token",
    # BCDA's transactionTime is the BFD data-load time and RFC 3339: the documented next _since.
    watermark_from="transaction_time",
    backoff_start_seconds=15,
    backoff_max_seconds=60,
    has_job_history=True,
    has_attribution_status=True,
    # BCDA answers a job that failed for good with 500 `exception` ("Service encountered numerous
    # errors. Job failed to complete.", bcda-app requests.go JobStatus), and its kick-off's internal
    # errors likewise (responseutils Exception): not the spec's "try again".
    failure_issue_codes=frozenset({"exception"}),
    server_name="BCDA",
    # files are archived 24 h after the job completes (ARCHIVE_THRESHOLD_HR, bcdaworker worker_cleanup.go)
    file_lifetime="24 h",
    credentials_hint="check the client id and secret in the source's secret (BCDA credentials expire after 90 days)",
)

AB2D = SourceProfile(
    name="ab2d",
    token_style="client_credentials",
    api_root="/api/{version}/fhir",
    versions=("v1", "v2", "v3"),
    default_version="v2",
    targets=("Patient", "Group/<id>"),
    token_path=None,
    # AB2D's transactionTime is a locale-formatted string with no zone ("Nov 9, 2023, 3:52:51 PM"):
    # our own recorded kick-off time is the watermark.
    watermark_from="kickoff_time",
    backoff_start_seconds=10,
    backoff_max_seconds=120,
    scope="clientCreds",
    max_downloads_per_file=6,
    # AB2D v2 silently applies a default _since (the start of the last job whose files were all
    # downloaded, JobPreProcessorImpl), so a full pull must ask from its floor explicitly.
    full_history_since={"v2": datetime(2020, 2, 13, 5, 0, tzinfo=UTC)},
    server_name="AB2D",
    file_lifetime="72 h",  # audit.files.ttl.hours=72
    credentials_hint=(
        "check the client id and secret in the source's secret (AB2D credentials expire and must be rotated)"
    ),
)

SMART = SourceProfile(
    name="smart",
    token_style="smart",
    api_root="",
    versions=(),
    default_version=None,
    targets=("Patient", "Group/<id>", "system"),
    token_path=None,  # discovered from .well-known/smart-configuration unless configured
    watermark_from="transaction_time",
    backoff_start_seconds=5,
    backoff_max_seconds=120,
    scope="system/*.read",
    credentials_hint=(
        "check the client id and private key in the source's secret: the server must have this client "
        "registered with the public key of the key's kid"
    ),
)

PROFILES = {profile.name: profile for profile in (BCDA, AB2D, SMART)}

#: Known servers of a generic API, by host: what is known of them beyond the API (the SMART reference
#: server deletes an export's files 60 minutes after kick-off, bulk-data-server config.ts maxExportAge).
_KNOWN_SERVERS = {
    ("smart", "bulk-data.smarthealthit.org"): replace(
        SMART, server_name="the SMART reference server", file_lifetime="60 minutes"
    ),
}

# AB2D tokens come from CMS's Okta, not from the API host (ab2d.cms.gov "Get a bearer token").
_AB2D_OKTA = {
    "sandbox.ab2d.cms.gov": "https://test.idp.idm.cms.gov/oauth2/aus2r7y3gdaFMKBol297/v1/token",
    "api.ab2d.cms.gov": "https://idm.cms.gov/oauth2/aus2ytanytjdaF9cr297/v1/token",
}


def get_profile(name: str) -> SourceProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown api {name!r}; expected one of: {', '.join(sorted(PROFILES))}") from None


def profile_for(api: str, base_url: str) -> SourceProfile:
    """The profile of the API, with what is known of the server at ``base_url`` (see _KNOWN_SERVERS)."""
    profile = get_profile(api)
    return _KNOWN_SERVERS.get((profile.name, (urlsplit(base_url).hostname or "").lower()), profile)


def file_lifetime_text(profile: SourceProfile) -> str:
    """The server's file lifetime for a message: "BCDA's file lifetime (24 h)"."""
    if profile.file_lifetime is None:
        return f"{profile.server_name}'s file lifetime"
    return f"{profile.server_name}'s file lifetime ({profile.file_lifetime})"


def api_root_url(profile: SourceProfile, base_url: str, version: str | None) -> str:
    """The URL under which `Patient/$export`, `Group/x/$export` etc. live."""
    require_secure_url(base_url, "base_url")
    base = base_url.rstrip("/")
    if not profile.versions:
        return base + profile.api_root
    chosen = version or profile.default_version
    if chosen not in profile.versions:
        raise ValueError(f"{profile.name} api_version must be one of {', '.join(profile.versions)}, got {version!r}")
    return base + profile.api_root.format(version=chosen)


def full_history_since(profile: SourceProfile, version: str | None) -> datetime | None:
    """The explicit `_since` a full-history export needs on this API version (None: omit `_since`)."""
    return profile.full_history_since.get(version or profile.default_version or "")


def default_token_url(profile: SourceProfile, base_url: str) -> str | None:
    """The token URL when it can be derived from the base URL; None means "discover or configure"."""
    if profile.token_path:
        return base_url.rstrip("/") + profile.token_path
    if profile.name == "ab2d":
        return _AB2D_OKTA.get((urlsplit(base_url).hostname or "").lower())
    return None


def export_path(profile: SourceProfile, target: str) -> str:
    """The kick-off path for an export target: Patient, Group/<id> or system (server-wide)."""
    if target == "system":
        if "system" not in profile.targets:
            raise ValueError(f"{profile.name} has no system-level export; use Patient or a Group")
        return "$export"
    if target == "Patient":
        return "Patient/$export"
    if target.startswith("Group/") and len(target) > len("Group/") and "/" not in target[len("Group/") :]:
        group = target[len("Group/") :]
        if "Group/<id>" not in profile.targets and target not in profile.targets:
            allowed = ", ".join(t for t in profile.targets if t.startswith("Group/"))
            raise ValueError(f"{profile.name} supports only {allowed} as group exports, got {target!r}")
        return f"Group/{group}/$export"
    raise ValueError(f"export target must be Patient, Group/<id> or system, got {target!r}")
