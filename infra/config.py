"""Typed configuration of the stack, read from the cdk.json context key ``"bulk-fhir-ingest"``.

Everything the stack builds comes from an :class:`IngestConfig`. :func:`load_config` accepts the
context value as a dict (or its JSON text, as ``cdk -c`` passes it) and fails with a
:class:`ConfigError` that names the offending key, so a typo in cdk.json is caught at synth time
rather than as a failed run a month later.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from infra import secret_ids

CONTEXT_KEY = "bulk-fhir-ingest"

APIS = ("bcda", "ab2d", "smart")
ARCHITECTURES = ("arm64", "x86_64")
#: CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)  # fmt: skip
#: Same bound as ingest.settings; Lambda's default account concurrency is 1000 too.
MAX_DOWNLOAD_CONCURRENCY = 1000
#: The stack is environment-agnostic (no account or region at synth): CDK then assumes two
#: availability zones and cannot look up more, so a larger vpc.max_azs would be silently ignored.
MAX_AZS = 2
#: Lambda allows 4 KB for all environment variables together; BULK_SOURCES gets at most this much.
SOURCES_ENV_BUDGET_BYTES = 3072
#: The longest a secret ARN can render to (partition, region, account, name, 7-char suffix).
#: CloudFormation names a created secret <logical id>-<12 random characters>, and the logical id is
#: "Secrets", the source name without hyphens (at most 40) and an 8-character hash.
_GENERATED_SECRET_NAME = "x" * (7 + 40 + 8 + 1 + 12)
_SECRET_ARN_TEMPLATE = "arn:aws-us-gov:secretsmanager:ap-southeast-4:123456789012:secret:{name}-AbCdEf"  # noqa: S105

# Per-API defaults: BCDA serves the ACO's group; AB2D only ExplanationOfBenefit by Patient export
# (its Group export is deprecated); a generic SMART server is asked for everything.
_API_DEFAULTS: dict[str, dict[str, Any]] = {
    "bcda": {"api_version": "v2", "export": "Group/all", "types": ["Patient", "Coverage", "ExplanationOfBenefit"]},
    "ab2d": {"api_version": "v2", "export": "Patient", "types": ["ExplanationOfBenefit"]},
    "smart": {"api_version": None, "export": "Patient", "types": []},
}
_AB2D_TYPES = {"ExplanationOfBenefit"}

_SOURCE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_GROUP_EXPORT = re.compile(r"^Group/[A-Za-z0-9\-.]{1,64}$")
_API_VERSION = re.compile(r"^v[0-9]{1,2}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")  # fmt: skip
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CRON = re.compile(r"^cron\((.*)\)$")
_RATE = re.compile(r"^rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-LW#]+$")
# Glue accepts more, but Athena needs quoting for a name that starts with a digit or an underscore or
# holds anything but lower-case letters, digits and underscores (and lower-cases what it creates).
_GLUE_DATABASE = re.compile(r"^[a-z][a-z0-9_]{0,254}$")
_ATHENA_WORKGROUP = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
#: Athena refuses a per-query cutoff below 10 MB; 1 GB is this config's floor, 1 PB its ceiling.
MAX_BYTES_SCANNED_CUTOFF_GB = 1_000_000


class ConfigError(ValueError):
    """The cdk.json context ``"bulk-fhir-ingest"`` is invalid; the message names the key."""


@dataclass(frozen=True)
class SourceConfig:
    """One bulk FHIR server to pull from (one secret, one schedule)."""

    name: str
    api: str
    base_url: str
    token_url: str | None = None
    api_version: str | None = None
    export: str = "Group/all"
    types: tuple[str, ...] = ()
    schedule: str = "cron(0 6 10 * ? *)"
    schedule_enabled: bool = True
    download_concurrency: int = 8
    file_hosts: tuple[str, ...] = ()
    secret_name: str | None = None


@dataclass(frozen=True)
class VpcConfig:
    enabled: bool = False
    max_azs: int = 2


@dataclass(frozen=True)
class LifecycleConfig:
    """Days after which landed objects move to cheaper storage (``None``: never)."""

    infrequent_access_days: int | None = 90
    glacier_days: int | None = 365


@dataclass(frozen=True)
class CatalogConfig:
    """The Glue database and Athena workgroup that make landed and curated data queryable.

    Both names are unique per account and region: a second deployment there needs other names.
    """

    database: str = "bulk_fhir_ingest"
    workgroup: str = "bulk-fhir-ingest"
    bytes_scanned_cutoff_gb: int = 10  # per query, in GB of 10^9 bytes
    results_expiry_days: int = 30  # query results under athena-results/ in the landing bucket
    #: a folder of SQL on FHIR ViewDefinitions (*.json) that become tables beside the default views
    views_folder: str | None = None


@dataclass(frozen=True)
class IngestConfig:
    sources: tuple[SourceConfig, ...]
    architecture: str = "arm64"
    vpc: VpcConfig = field(default_factory=VpcConfig)
    alarm_email: str | None = None
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    state_machine_timeout_hours: int = 36
    wait_budget_hours: int = 30
    log_retention_days: int = 365
    catalog: CatalogConfig = field(default_factory=CatalogConfig)


DEFAULT_CONTEXT: dict[str, Any] = {
    "sources": [
        {
            "name": "bcda-sandbox",
            "api": "bcda",
            "base_url": "https://sandbox.bcda.cms.gov",
            "token_url": None,
            "api_version": "v2",
            "export": "Group/all",
            "types": ["Patient", "Coverage", "ExplanationOfBenefit"],
            "schedule": "cron(0 6 10 * ? *)",
            "schedule_enabled": True,
            "download_concurrency": 8,
            "file_hosts": [],
            "secret_name": None,
        }
    ],
    "architecture": "arm64",
    "vpc": {"enabled": False, "max_azs": 2},
    "alarm_email": None,
    "lifecycle": {"infrequent_access_days": 90, "glacier_days": 365},
    "state_machine_timeout_hours": 36,
    "wait_budget_hours": 30,
    "log_retention_days": 365,
    "catalog": {
        "database": "bulk_fhir_ingest",
        "workgroup": "bulk-fhir-ingest",
        "bytes_scanned_cutoff_gb": 10,
        "results_expiry_days": 30,
        "views_folder": None,
    },
}


def load_config(context: Mapping[str, Any] | str | None) -> IngestConfig:
    """Parse the context value (a dict or JSON text); ``None`` gives the default configuration."""
    if context is None:
        context = DEFAULT_CONTEXT
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONTEXT_KEY}: not valid JSON ({exc.msg} at position {exc.pos})") from None
    reader = _Reader(_mapping(context, CONTEXT_KEY), CONTEXT_KEY)
    config = IngestConfig(
        sources=_sources(reader.get("sources", list, None)),
        architecture=reader.choice("architecture", ARCHITECTURES, "arm64"),
        vpc=_vpc(reader.get("vpc", dict, {})),
        alarm_email=reader.optional_str("alarm_email", _EMAIL, "an e-mail address"),
        lifecycle=_lifecycle(reader.get("lifecycle", dict, {})),
        state_machine_timeout_hours=reader.integer("state_machine_timeout_hours", 36, 1, 365 * 24),
        wait_budget_hours=reader.integer("wait_budget_hours", 30, 1, 365 * 24),
        log_retention_days=reader.integer("log_retention_days", 365, 1, 3653),
        catalog=_catalog(reader.get("catalog", dict, {})),
    )
    reader.no_extra_keys()
    _check_whole(config)
    return config


def sources_env_estimate(sources: tuple[SourceConfig, ...]) -> str:
    """BULK_SOURCES as it will render, with each secret ARN at its longest possible length."""
    longest = {source.name: source_environment(source, _longest_secret_arn(source)) for source in sources}
    return json.dumps(longest, separators=(",", ":"))


def _longest_secret_arn(source: SourceConfig) -> str:
    if source.secret_name and secret_ids.is_complete_arn(source.secret_name):
        return source.secret_name
    return _SECRET_ARN_TEMPLATE.format(name=source.secret_name or _GENERATED_SECRET_NAME)


def source_environment(source: SourceConfig, secret_arn: str) -> dict[str, Any]:
    """One source's entry in BULK_SOURCES (keys: docs/architecture.md §5)."""
    return {
        "api": source.api,
        "base_url": source.base_url,
        "token_url": source.token_url,
        "api_version": source.api_version,
        "export": source.export,
        "types": list(source.types),
        "file_hosts": list(source.file_hosts),
        "secret_arn": secret_arn,
        "download_concurrency": source.download_concurrency,
    }


# --- parsing helpers -------------------------------------------------------------------------


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
    return value


class _Reader:
    """Reads typed keys of one JSON object and remembers which keys were used."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data, self.where, self.used = data, where, set[str]()

    def get(self, key: str, kind: type, default: Any) -> Any:
        self.used.add(key)
        value = self.data.get(key, default)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise ConfigError(f"{self.where}.{key}: expected {kind.__name__}, got {value!r}")
        return value

    def required_str(self, key: str) -> str:
        value = self.get(key, str, None)
        if not value:
            raise ConfigError(f"{self.where}.{key}: required")
        return str(value)

    def optional_str(self, key: str, pattern: re.Pattern[str], what: str, default: str | None = None) -> str | None:
        value = self.get(key, str, default)
        if value is not None and not pattern.match(value):
            raise ConfigError(f"{self.where}.{key}: {value!r} is not {what}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None) -> str:
        value = self.get(key, str, default)
        if value is None:
            raise ConfigError(f"{self.where}.{key}: required, one of {', '.join(allowed)}")
        if value not in allowed:
            raise ConfigError(f"{self.where}.{key}: {value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def boolean(self, key: str, default: bool) -> bool:
        return bool(self.get(key, bool, default))

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.get(key, int, default)
        if not low <= value <= high:
            raise ConfigError(f"{self.where}.{key}: {value} is outside {low}..{high}")
        return int(value)

    def optional_days(self, key: str, default: int) -> int | None:
        """A number of days; an explicit ``null`` turns the feature off."""
        if key in self.data and self.data[key] is None:
            self.used.add(key)
            return None
        value = self.get(key, int, default)
        if value < 1:
            raise ConfigError(f"{self.where}.{key}: must be a positive number of days or null")
        return int(value)

    def str_list(self, key: str, pattern: re.Pattern[str], what: str, default: list[str]) -> tuple[str, ...]:
        values = self.get(key, list, default)
        for value in values:
            if not isinstance(value, str) or not pattern.match(value):
                raise ConfigError(f"{self.where}.{key}: {value!r} is not {what}")
        if len(set(values)) != len(values):
            raise ConfigError(f"{self.where}.{key}: duplicate entries in {values}")
        return tuple(values)

    def no_extra_keys(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise ConfigError(f"{self.where}: unknown key(s) {', '.join(extra)}")


def _sources(raw: list[Any] | None) -> tuple[SourceConfig, ...]:
    if not raw:
        raise ConfigError(f"{CONTEXT_KEY}.sources: at least one source is required")
    sources = tuple(_source(item, f"{CONTEXT_KEY}.sources[{index}]") for index, item in enumerate(raw))
    names = [source.name for source in sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{CONTEXT_KEY}.sources: duplicate source name(s) {', '.join(duplicates)}")
    return sources


def source_name_problem(name: str) -> str | None:
    """What is wrong with a source name (it is in S3 keys, table keys and resource names), if anything."""
    return None if _SOURCE_NAME.match(name) else "must be 1-40 lower-case letters, digits or inner hyphens"


def _source(raw: Any, where: str) -> SourceConfig:
    reader = _Reader(_mapping(raw, where), where)
    name = reader.required_str("name")
    if problem := source_name_problem(name):
        raise ConfigError(f"{where}.name: {name!r} {problem}")
    where = f"{CONTEXT_KEY}.sources[{name}]"
    reader.where = where
    api = reader.choice("api", APIS, None)
    defaults = _API_DEFAULTS[api]
    source = SourceConfig(
        name=name,
        api=api,
        base_url=_url(reader.required_str("base_url"), f"{where}.base_url"),
        token_url=_optional_url(reader.get("token_url", str, None), f"{where}.token_url"),
        api_version=reader.optional_str("api_version", _API_VERSION, "a version like v2", defaults["api_version"]),
        export=_export(reader.get("export", str, defaults["export"]), f"{where}.export"),
        types=reader.str_list("types", _RESOURCE_TYPE, "a FHIR resource type", defaults["types"]),
        schedule=_schedule(reader.get("schedule", str, "cron(0 6 10 * ? *)"), f"{where}.schedule"),
        schedule_enabled=reader.boolean("schedule_enabled", True),
        download_concurrency=reader.integer("download_concurrency", 8, 1, MAX_DOWNLOAD_CONCURRENCY),
        file_hosts=reader.str_list("file_hosts", _HOSTNAME, "a host name (no scheme, no port)", []),
        secret_name=_secret_id(reader.get("secret_name", str, None), f"{where}.secret_name"),
    )
    reader.no_extra_keys()
    if api == "ab2d" and not set(source.types) <= _AB2D_TYPES:
        raise ConfigError(f"{where}.types: AB2D serves only ExplanationOfBenefit, got {list(source.types)}")
    return source


def _secret_id(value: str | None, where: str) -> str | None:
    problem = None if value is None else secret_ids.problem(value)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return value


def _url(value: str, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{where}: {value!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(f"{where}: {value!r} must use https (plain http is allowed only for loopback)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"{where}: {value!r} must not carry credentials, a query or a fragment")
    return value.rstrip("/")


def _optional_url(value: str | None, where: str) -> str | None:
    return None if value is None else _url(value, where)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _export(value: str, where: str) -> str:
    if value in ("Patient", "system") or _GROUP_EXPORT.match(value):
        return value
    raise ConfigError(f"{where}: {value!r} is not Patient, system, Group/all, Group/runout or Group/<id>")


def _schedule(value: str, where: str) -> str:
    if _RATE.match(value):
        return value
    match = _CRON.match(value)
    fields = match.group(1).split() if match else []
    if len(fields) != 6 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ConfigError(
            f"{where}: {value!r} is not an EventBridge Scheduler expression: "
            "cron(minutes hours day-of-month month day-of-week year) or rate(N unit)"
        )
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ConfigError(f"{where}: {value!r}: exactly one of day-of-month and day-of-week must be '?'")
    return value


def _vpc(raw: Mapping[str, Any]) -> VpcConfig:
    reader = _Reader(raw, f"{CONTEXT_KEY}.vpc")
    vpc = VpcConfig(enabled=reader.boolean("enabled", False), max_azs=reader.get("max_azs", int, 2))
    if not 1 <= vpc.max_azs <= MAX_AZS:
        raise ConfigError(
            f"{CONTEXT_KEY}.vpc.max_azs: {vpc.max_azs} is outside 1..{MAX_AZS}: the stack is synthesized "
            f"without an account and region, so CDK knows only {MAX_AZS} availability zones and would "
            f"silently build {MAX_AZS}"
        )
    reader.no_extra_keys()
    return vpc


def _lifecycle(raw: Mapping[str, Any]) -> LifecycleConfig:
    reader = _Reader(raw, f"{CONTEXT_KEY}.lifecycle")
    lifecycle = LifecycleConfig(
        infrequent_access_days=reader.optional_days("infrequent_access_days", 90),
        glacier_days=reader.optional_days("glacier_days", 365),
    )
    reader.no_extra_keys()
    ia, glacier = lifecycle.infrequent_access_days, lifecycle.glacier_days
    if ia is not None and ia < 30:
        raise ConfigError(f"{CONTEXT_KEY}.lifecycle.infrequent_access_days: S3 requires at least 30, got {ia}")
    if ia is not None and glacier is not None and glacier < ia + 30:
        raise ConfigError(
            f"{CONTEXT_KEY}.lifecycle.glacier_days: S3 requires at least 30 days in Standard-IA "
            f"before Glacier, so at least {ia + 30}, got {glacier}"
        )
    return lifecycle


def _catalog(raw: Mapping[str, Any]) -> CatalogConfig:
    where = f"{CONTEXT_KEY}.catalog"
    reader = _Reader(raw, where)
    database = reader.get("database", str, "bulk_fhir_ingest")
    if not _GLUE_DATABASE.match(database):
        raise ConfigError(
            f"{where}.database: {database!r} must be 1-255 of a-z, 0-9 and _, starting with a letter "
            "(the Glue database name Athena queries use unquoted)"
        )
    workgroup = reader.get("workgroup", str, "bulk-fhir-ingest")
    if not _ATHENA_WORKGROUP.match(workgroup):
        raise ConfigError(f"{where}.workgroup: {workgroup!r} must be 1-128 of A-Z, a-z, 0-9, '.', '_' and '-'")
    catalog = CatalogConfig(
        database=database,
        workgroup=workgroup,
        bytes_scanned_cutoff_gb=reader.integer("bytes_scanned_cutoff_gb", 10, 1, MAX_BYTES_SCANNED_CUTOFF_GB),
        results_expiry_days=reader.integer("results_expiry_days", 30, 1, 3653),
        views_folder=reader.get("views_folder", str, None),
    )
    reader.no_extra_keys()
    return catalog


def _check_whole(config: IngestConfig) -> None:
    if config.log_retention_days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
        raise ConfigError(f"{CONTEXT_KEY}.log_retention_days: {config.log_retention_days} is not one of {allowed}")
    if config.wait_budget_hours >= config.state_machine_timeout_hours:
        raise ConfigError(
            f"{CONTEXT_KEY}.wait_budget_hours ({config.wait_budget_hours}) must be less than "
            f"state_machine_timeout_hours ({config.state_machine_timeout_hours}): the run needs time "
            "to download and finalize after the export completes"
        )
    size = len(sources_env_estimate(config.sources).encode())
    if size > SOURCES_ENV_BUDGET_BYTES:
        raise ConfigError(
            f"{CONTEXT_KEY}.sources: the BULK_SOURCES environment variable would take up to {size} bytes, "
            f"over the {SOURCES_ENV_BUDGET_BYTES}-byte budget (Lambda allows 4 KB for all variables); "
            "deploy fewer sources per stack"
        )
