"""The Bulk Data client: kick-off, status, file download, cancel — for BCDA, AB2D and SMART servers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlencode, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from bulkfhir._http import (
    MAX_BODY_SECONDS,
    MAX_ERROR_BODY_BYTES,
    buffer_body,
    describe_body,
    is_loopback,
    is_operation_outcome,
    is_signed,
    is_transient_outcome,
    json_body,
    origin,
    outcome_text,
    parse_http_date,
    require_secure_url,
    retry_after_of,
    strip_query,
)
from bulkfhir.credentials import ClientCredentials
from bulkfhir.download import FileDownload
from bulkfhir.errors import (
    AuthenticationError,
    BadRequestError,
    BulkDataError,
    ExportFailedError,
    ExportGoneError,
    TransientError,
    UnexpectedResponseError,
)
from bulkfhir.manifest import Manifest, parse_instant, parse_manifest
from bulkfhir.profiles import (
    SourceProfile,
    api_root_url,
    default_token_url,
    export_path,
    file_lifetime_text,
    profile_for,
)
from bulkfhir.progress import parse_progress
from bulkfhir.remote_only import refuse_local_peers
from bulkfhir.tokens import TokenProvider

logger = logging.getLogger(__name__)

USER_AGENT = "bulk-fhir-ingest/0.1 (+https://github.com/; python-requests)"
_MAX_REDIRECTS = 5
#: AB2D lists every active job of the organisation in its 429; more than this is not a job list.
_MAX_RUNNING_JOBS = 20
#: X-Progress is shown to people and kept in state: a line of text, not a document.
_MAX_PROGRESS_CHARS = 100
#: HTTP timeouts, seconds. They nest inside the functions' timeouts (infra/constructs/functions.py;
#: tests/infra/test_infra_timeouts_nest.py pins it): a server slow to answer raises TransientError,
#: which is retried, long before the Lambda's own timeout would end the step (a Lambda timeout is not
#: retried, and the failure path would cancel the server's job). The read timeout bounds each wait
#: for bytes; a body has MAX_BODY_SECONDS in all (``buffer_body``).
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
#: Media types a file body may come as: NDJSON's, and the generic binary type object stores give a
#: file nobody typed. Anything else (text/html, text/plain, JSON) on a 200 is a page a proxy, firewall
#: or login redirect served in the file's place: landed, it would pass for data.
NDJSON_MEDIA_TYPES = frozenset({"application/fhir+ndjson", "application/ndjson", "application/x-ndjson",
                                "application/octet-stream", "binary/octet-stream"})  # fmt: skip


@dataclass(frozen=True)
class ServerConfig:
    """Where a server is and how to talk to it. ``base_url`` is the host root for bcda/ab2d (the
    profile adds /api/...) and the FHIR base for smart."""

    api: str
    base_url: str
    token_url: str | None = None
    api_version: str | None = None
    #: extra hosts (or origins) trusted to receive the bearer token with file downloads
    file_hosts: tuple[str, ...] = ()
    scope: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    read_timeout: float = READ_TIMEOUT_SECONDS


def request_seconds_at_most(config: ServerConfig) -> float:
    """The longest one request can take before it raises: connecting, waiting for the headers, reading
    the body (MAX_BODY_SECONDS, checked between reads) and the read in progress at that bound. A step
    that makes N requests in a row needs a function timeout above N times this."""
    return config.connect_timeout + 2 * config.read_timeout + MAX_BODY_SECONDS


@dataclass(frozen=True)
class ExportRequest:
    target: str = "Group/all"  # "Patient" | "Group/<id>" | "system"
    types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    type_filters: tuple[str, ...] = ()
    output_format: str | None = None


@dataclass(frozen=True)
class KickOffAccepted:
    status_url: str
    request_url: str
    requested_at: datetime
    #: the server's clock at acceptance (its Date header less 1 s: the header has one-second
    #: resolution), falling back to ours; a kick-off-time watermark must be in server time
    server_time: datetime


@dataclass(frozen=True)
class KickOffThrottled:
    """429: try again after ``retry_after``. AB2D lists the organisation's running jobs (anyone's, any
    request); ``matching_jobs`` are those known to be of exactly this request (BCDA's job history)."""

    retry_after: float | None
    running_jobs: tuple[str, ...]
    requested_at: datetime
    matching_jobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportInProgress:
    progress: str | None
    percent: float | None
    retry_after: float | None


@dataclass(frozen=True)
class ExportComplete:
    manifest: Manifest
    expires: datetime | None
    expires_raw: str | None
    #: the server's clock when it answered (its Date header), when it sent one: a transactionTime
    #: later than this is not a time the export can have been taken at
    server_time: datetime | None = None


def format_instant(moment: datetime) -> str:
    """A FHIR instant with an explicit offset (BCDA rejects a _since without a zone) and the full
    microsecond precision of the watermark: BFD stamps a whole data load with one lastUpdated, equal
    to the transactionTime, so a _since rounded down would fetch that load again every run."""
    if moment.tzinfo is None:
        raise ValueError("export times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def new_session(pool_size: int = 16) -> requests.Session:
    """A session with no automatic retries (callers decide) and a pool for parallel downloads."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


class BulkDataClient:
    """One server, one set of credentials. Thread-safe for parallel downloads."""

    def __init__(
        self,
        config: ServerConfig,
        credentials: ClientCredentials,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self.profile: SourceProfile = profile_for(config.api, config.base_url)
        self.api_root = api_root_url(self.profile, config.base_url, config.api_version)
        self._api_origin = origin(self.api_root)
        # URLs a server hands us may point at loopback only when the configured server is there itself
        # (the local emulator): in Lambda, loopback is the Runtime API.
        self._allow_loopback = is_loopback(self.api_root)
        self._trusted_hosts = _parse_hosts(config.file_hosts)
        self._session = session or new_session()
        if not self._allow_loopback:
            # and where a name's DNS answer changes after the check (remote_only.py)
            refuse_local_peers(self._session)
        self._clock = clock
        self._timeout = (config.connect_timeout, config.read_timeout)
        self._token_url = require_secure_url(config.token_url, "token_url") if config.token_url else None
        self._discovery_lock = threading.Lock()
        profile = self.profile
        if scope := config.scope:
            profile = SourceProfile(**{**profile.__dict__, "scope": scope})
        self._tokens = TokenProvider(profile, credentials, self.token_url, self._session, clock, self._timeout)

    def __repr__(self) -> str:
        return f"BulkDataClient(api={self.profile.name!r}, api_root={self.api_root!r})"

    # -- auth -------------------------------------------------------------------------------

    def token_url(self) -> str:
        """The token endpoint: configured, derived from the profile, or discovered (SMART)."""
        if self._token_url:
            return self._token_url
        with self._discovery_lock:
            if not self._token_url:
                derived = default_token_url(self.profile, self.config.base_url)
                if derived is None and self.profile.token_style == "smart":
                    derived = self._discover_token_url()
                if derived is None:
                    raise AuthenticationError(
                        f"no token URL for {self.profile.name} at {self.config.base_url}: configure token_url"
                    )
                self._token_url = self._server_url(derived, "the discovered token_url")
            return self._token_url

    def _discover_token_url(self) -> str:
        url = self.api_root.rstrip("/") + "/.well-known/smart-configuration"
        response = self._send("GET", url, {"Accept": "application/json"}, token=None)
        if response.status_code != 200:
            raise UnexpectedResponseError(
                f"SMART discovery at {url} answered {response.status_code}: {describe_body(response)}; "
                "configure token_url",
                status=response.status_code,
                url=url,
            )
        body = json_body(response, f"SMART discovery at {url}")
        endpoint = body.get("token_endpoint") if isinstance(body, dict) else None
        if not isinstance(endpoint, str) or not endpoint:
            raise UnexpectedResponseError(f"SMART discovery at {url} has no token_endpoint; configure token_url")
        return urljoin(url, endpoint)

    def authenticate(self) -> datetime:
        """Make sure a valid token is at hand; returns its expiry (never the token)."""
        return self._tokens.get().expires_at

    def may_send_token(self, url: str) -> bool:
        """The token goes only to the API's own origin and to hosts explicitly trusted in config."""
        if origin(url) == self._api_origin:
            return True
        scheme, host, port = origin(url)
        return (host, None) in self._trusted_hosts or (host, (scheme, port)) in self._trusted_hosts

    # -- export -----------------------------------------------------------------------------

    def export_url(self, request: ExportRequest) -> str:
        """The kick-off URL of a request, as sent (and as a manifest's ``request`` repeats it)."""
        url = self.api_root.rstrip("/") + "/" + export_path(self.profile, request.target)
        query = _export_query(request)
        return f"{url}?{query}" if query else url

    @staticmethod
    def same_request(one: str, other: str) -> bool:
        """Whether two kick-off URLs ask for the same export (servers echo them with another scheme,
        host or escaping behind their proxies)."""
        return _request_key(one) == _request_key(other)

    def kick_off(self, request: ExportRequest) -> KickOffAccepted | KickOffThrottled:
        full_url = self.export_url(request)
        url = strip_query(full_url)
        headers = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
        requested_at = self._clock()
        response = self._authorized("GET", full_url, headers)
        where = f"kick-off {strip_query(url)}"
        status = response.status_code
        if status == 202:
            location = response.headers.get("Content-Location")
            if not location:
                raise UnexpectedResponseError(
                    f"{where} answered 202 without a Content-Location header (no job to poll)",
                    status=status,
                    url=strip_query(url),
                )
            status_url = self._server_url(urljoin(url, location.strip()), f"{where}: Content-Location")
            logger.info("export accepted", extra={"status_url": strip_query(status_url)})
            return KickOffAccepted(
                status_url=status_url,
                request_url=full_url,
                requested_at=requested_at,
                server_time=_server_time(response.headers.get("Date")) or requested_at,
            )
        if status == 429:
            # BCDA: empty body, Retry-After possibly 0. AB2D: Retry-After 5 plus the status URLs of the
            # jobs already running, joined by ", " (ab2d ApiCommon.checkIfCurrentClientCanAddJob).
            retry_after = retry_after_of(response, self._clock())
            running = self._running_jobs_listed(url, response.headers.get("Content-Location", ""))
            matching: tuple[str, ...] = ()
            if not running and self.profile.has_job_history:
                running = matching = self._running_jobs_of(full_url)
            return KickOffThrottled(
                retry_after=retry_after, running_jobs=running, requested_at=requested_at, matching_jobs=matching
            )
        if status in (400, 404, 406, 422):
            raise BadRequestError(
                f"{where} was refused ({status}): {describe_body(response)}",
                status=status,
                url=strip_query(url),
            )
        # The SMART reference server answers a kick-off whose files cannot be generated with 500 and an
        # OperationOutcome coded `processing` ("File generation failed"): retrying asks for the same.
        failure = self._export_failure(response, url, f"{where}: the server could not start the export")
        raise failure if failure is not None else self._unexpected_or_transient(response, where)

    def check_status(self, status_url: str) -> ExportInProgress | ExportComplete:
        response = self._authorized("GET", status_url, {"Accept": "application/json"})
        where = f"status of {strip_query(status_url)}"
        status = response.status_code
        now = self._clock()
        if status == 202:
            progress = _printable(response.headers.get("X-Progress"), _MAX_PROGRESS_CHARS)
            return ExportInProgress(
                progress=progress,
                percent=parse_progress(progress),
                retry_after=retry_after_of(response, now),
            )
        if status == 200:
            manifest = parse_manifest(json_body(response, where), status_url, allow_loopback=self._allow_loopback)
            expires_raw = response.headers.get("Expires")
            return ExportComplete(
                manifest=manifest,
                expires=parse_http_date(expires_raw),
                expires_raw=expires_raw,
                server_time=parse_http_date(response.headers.get("Date")),
            )
        if status in (404, 410):
            raise ExportGoneError(
                f"{where}: the export job is gone ({status}: {describe_body(response)}); start a new export",
                status=status,
                url=strip_query(status_url),
            )
        failure = self._export_failure(response, status_url, f"{where}: the server reports the export failed")
        if failure is not None:
            raise failure
        if status == 400:
            raise BadRequestError(
                f"{where} was refused (400): {describe_body(response)}",
                status=status,
                url=strip_query(status_url),
            )
        raise self._unexpected_or_transient(response, where)

    def cancel(self, status_url: str) -> bool:
        """Ask the server to cancel a job. True when it accepted; False when there was nothing to cancel."""
        response = self._authorized("DELETE", status_url, {"Accept": "application/json"})
        status = response.status_code
        if status in (200, 202, 204):
            return True
        if status in (400, 404, 409, 410):
            # BCDA 410 / AB2D 400: the job is not pending or in progress any more.
            return False
        raise self._unexpected_or_transient(response, f"cancel of {strip_query(status_url)}")

    def open_file(self, url: str, *, requires_token: bool = True, start: int = 0) -> FileDownload:
        """Open a manifest file for streaming, asking for gzip. With ``start`` > 0 a Range request
        resumes at that byte; check ``FileDownload.start`` — a server that ignores Range restarts at 0."""
        headers = {
            # AB2D's download endpoint produces only application/fhir+ndjson (else 406).
            "Accept": "application/fhir+ndjson",
            # The exact token "gzip": AB2D matches Accept-Encoding tokens exactly, so "gzip;q=1.0" fails.
            "Accept-Encoding": "gzip",
        }
        if start > 0:
            headers["Range"] = f"bytes={start}-"
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            send_token = requires_token and self.may_send_token(current)
            response = (
                self._authorized("GET", current, headers, stream=True)
                if send_token
                else self._send("GET", current, headers, token=None, stream=True)
            )
            if response.status_code in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                response.close()
                current = self._server_url(urljoin(current, response.headers["Location"]), "a redirected file URL")
                continue
            return self._file_response(response, url, start, send_token)
        raise UnexpectedResponseError(f"{strip_query(url)} redirected more than {_MAX_REDIRECTS} times")

    def _file_response(self, response: requests.Response, url: str, start: int, sent_token: bool) -> FileDownload:
        status = response.status_code
        where = f"download of {strip_query(url)}"
        if status in (200, 206):
            self._refuse_pages(response, where, strip_query(url))
        if status == 200:
            return FileDownload(response, start=0)
        if status == 206:
            first = _content_range_start(response.headers.get("Content-Range"))
            if first != start:
                response.close()
                raise UnexpectedResponseError(
                    f"{where}: asked for bytes from {start}, got a 206 starting at {first}", status=206
                )
            return FileDownload(response, start=start)
        text = describe_body(buffer_body(response)) if not response.raw.closed else ""
        if status in (401, 403) and is_signed(url):
            raise _signature_refused(where, url, status, text)
        if status in (401, 403) and not sent_token:
            host = urlsplit(url).hostname
            raise AuthenticationError(
                f"{where}: the file host {host} demands a token, but the token is sent only to the API's "
                f"own origin; if {host} is the API's own file server and may see the token, add it to the "
                "source's file_hosts",
                status=status,
                url=strip_query(url),
            )
        if status in (404, 410):
            raise ExportGoneError(
                f"{where}: the file is gone ({status}: {text}); files are kept only for "
                f"{file_lifetime_text(self.profile)} — start a new export",
                status=status,
                url=strip_query(url),
            )
        if status == 500 and ("maximum number of allowed times" in text or "expired" in text):
            # AB2D: the 7th download of a file, or a file past its 72 h, answers 500 (FileDownloadCommon).
            raise ExportGoneError(f"{where}: {text}; start a new export", status=status, url=strip_query(url))
        if status == 416:
            raise UnexpectedResponseError(
                f"{where}: the server refused the byte range from {start} (416)",
                status=416,
                url=strip_query(url),
            )
        if status == 406:
            raise BadRequestError(f"{where} was refused (406): {text}", status=406, url=strip_query(url))
        raise self._unexpected_or_transient(response, where, detail=text)

    @staticmethod
    def _refuse_pages(response: requests.Response, where: str, url: str) -> None:
        """A 200 whose Content-Type is not NDJSON's is not the file: a proxy's or firewall's block page,
        a login page after a redirect. It ends in a newline as readily as NDJSON does."""
        media = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if not media or media in NDJSON_MEDIA_TYPES:
            return
        page = describe_body(buffer_body(response, limit=MAX_ERROR_BODY_BYTES))
        response.close()
        raise UnexpectedResponseError(
            f"{where}: answered {response.status_code} with {_printable(media, 60)}, not NDJSON ({page}); a proxy, "
            "firewall or login page answered in the file server's place: check the network path to the server",
            status=response.status_code,
            url=url,
        )

    # -- BCDA extras ------------------------------------------------------------------------

    def job_history(self, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Past and running jobs (BCDA `GET /jobs`, a Bundle of Task); [] when there are none."""
        if not self.profile.has_job_history:
            raise BadRequestError(f"{self.profile.name} has no job history endpoint")
        url = self.api_root.rstrip("/") + "/jobs"
        if statuses:
            url += "?" + urlencode({"_status": ",".join(statuses)}, quote_via=quote, safe=",")
        response = self._authorized("GET", url, {"Accept": "application/fhir+json", "Prefer": "respond-async"})
        if response.status_code == 404:
            return []  # BCDA answers 404 when the ACO has no jobs
        if response.status_code != 200:
            if response.status_code == 400:
                raise BadRequestError(f"job history was refused (400): {describe_body(response)}", status=400)
            raise self._unexpected_or_transient(response, "job history")
        body = json_body(response, "job history")
        entries = body.get("entry") if isinstance(body, dict) else None
        return [e["resource"] for e in entries or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]

    def _running_jobs_of(self, request_url: str) -> tuple[str, ...]:
        """BCDA's duplicate-job 429 names no job. When the job it refers to is one of exactly this
        request (ours, whose 202 never arrived: a gateway timeout, a cut connection), job history
        finds it, and adopting it saves a second export. Another request's job is not ours to take."""
        try:
            tasks = self.job_history(("Pending", "In Progress"))
        except BulkDataError as error:
            logger.warning("could not look for the running job in the job history", extra={"why": str(error)})
            return ()
        wanted = _request_key(request_url)
        found = []
        for task in tasks:
            asked = next((i.get("valueString") for i in task.get("input") or [] if isinstance(i, dict)), None)
            job_id = next((i.get("value") for i in task.get("identifier") or [] if isinstance(i, dict)), None)
            if isinstance(asked, str) and job_id and _request_key(asked.removeprefix("GET ").strip()) == wanted:
                found.append(f"{self.api_root.rstrip('/')}/jobs/{job_id}")
        if found:
            logger.warning("the server is already running this very export; it can be adopted")
        return tuple(found)

    def attribution_status(self) -> dict[str, Any]:
        """BCDA's attribution file dates: {"last_attribution_update": datetime, ...}; {} when none."""
        if not self.profile.has_attribution_status:
            raise BadRequestError(f"{self.profile.name} has no attribution_status endpoint")
        response = self._authorized(
            "GET", self.api_root.rstrip("/") + "/attribution_status", {"Accept": "application/json"}
        )
        if response.status_code == 404:
            return {}
        if response.status_code != 200:
            raise self._unexpected_or_transient(response, "attribution status")
        body = json_body(response, "attribution status")
        result: dict[str, Any] = {}
        for entry in body.get("ingestion_dates") or [] if isinstance(body, dict) else []:
            if isinstance(entry, dict) and entry.get("type"):
                result[str(entry["type"])] = parse_instant(str(entry.get("timestamp") or ""))
        return result

    # -- plumbing ---------------------------------------------------------------------------

    def _authorized(
        self, method: str, url: str, headers: Mapping[str, str], *, stream: bool = False
    ) -> requests.Response:
        """Send with the bearer token; on 401/403 get a fresh token and try exactly once more."""
        if not self.may_send_token(url):
            return self._send(method, url, headers, token=None, stream=stream)
        token = self._tokens.get()
        response = self._send(method, url, headers, token=token.value.reveal(), stream=stream)
        if response.status_code not in (401, 403):
            return response
        response.close()
        # BCDA answers 401 "Expired Token"; AB2D answers 403 to an expired token (JwtTokenAuthenticationFilter).
        self._tokens.invalidate(token)
        token = self._tokens.get()
        response = self._send(method, url, headers, token=token.value.reveal(), stream=stream)
        if response.status_code in (401, 403):
            detail = describe_body(buffer_body(response) if stream else response)
            response.close()
            if is_signed(url):
                raise _signature_refused(f"{method} {strip_query(url)}", url, response.status_code, detail)
            raise AuthenticationError(
                f"{method} {strip_query(url)} was refused with a freshly issued token ({response.status_code}: "
                f"{detail}); the client lacks access to this API or resource",
                status=response.status_code,
                url=strip_query(url),
            )
        return response

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], *, token: str | None, stream: bool = False
    ) -> requests.Response:
        all_headers = dict(headers)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        try:
            # Always streamed: a body is read here with a size limit (buffer_body), never whole.
            response = self._session.request(
                method, url, headers=all_headers, stream=True, timeout=self._timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"{method} {strip_query(url)} failed: {type(exc).__name__} (network or server unreachable)",
                url=strip_query(url),
            ) from None
        return response if stream else buffer_body(response)

    def _server_url(self, url: str, what: str) -> str:
        """A URL the server handed us, checked: https, a valid port, not too long, and not this machine."""
        try:
            return require_secure_url(url, what, allow_loopback=self._allow_loopback)
        except ValueError as error:
            raise UnexpectedResponseError(str(error), url=strip_query(url)[:200]) from None

    def _running_jobs_listed(self, request_url: str, header: str) -> tuple[str, ...]:
        """AB2D's 429 Content-Location: the status URLs of the organisation's active jobs, joined by ", "."""
        jobs = []
        for part in header.split(",")[:_MAX_RUNNING_JOBS]:
            if not part.strip():
                continue
            try:
                jobs.append(self._server_url(urljoin(request_url, part.strip()), "a running job's status URL"))
            except UnexpectedResponseError as error:
                logger.warning("ignoring a running job the server named", extra={"why": str(error)})
        return tuple(jobs)

    def _export_failure(self, response: requests.Response, url: str, message: str) -> ExportFailedError | None:
        """A 500 with an OperationOutcome reports the export's failure, unless its issue codes say to try
        again (the SMART reference server's status polls answer 500 `transient` for a while, then 200):
        those, like any other 5xx, are a TransientError."""
        if response.status_code != 500 or not is_operation_outcome(response):
            return None
        if is_transient_outcome(response, self.profile.failure_issue_codes):
            return None
        diagnostics = outcome_text(response)
        return ExportFailedError(
            f"{message}: {diagnostics or 'no diagnostics'}",
            status=500,
            url=strip_query(url),
            diagnostics=diagnostics,
        )

    def _unexpected_or_transient(self, response: requests.Response, where: str, detail: str | None = None) -> Exception:
        """429/5xx: retry later; anything else: the server broke the protocol. ``detail`` is the body's
        description when it was read before the response was closed."""
        status = response.status_code
        detail = describe_body(response) if detail is None else detail
        url = strip_query(response.url or "")
        if status == 429 or status >= 500:
            return TransientError(
                f"{where} answered {status}: {detail}",
                status=status,
                url=url,
                retry_after=retry_after_of(response, self._clock()),
            )
        return UnexpectedResponseError(f"{where} answered an unexpected {status}: {detail}", status=status, url=url)


def _signature_refused(where: str, url: str, status: int, detail: str) -> AuthenticationError:
    """A pre-signed file URL refused: its signature expired (object stores sign for minutes to hours)
    or was altered. A token would not help, and must not go to a storage host."""
    host = urlsplit(url).hostname
    return AuthenticationError(
        f"{where}: the pre-signed URL was refused ({status}: {detail}); its signature has probably expired. "
        f"Re-run: it polls the export again and gets freshly signed URLs. Do not add {host} to file_hosts: "
        "a signed URL needs no token, and the API's token must not be sent to a storage host",
        status=status,
        url=strip_query(url),
    )


def _export_query(request: ExportRequest) -> str:
    pairs: list[tuple[str, str]] = []
    if request.types:
        pairs.append(("_type", ",".join(request.types)))
    if request.since is not None:
        pairs.append(("_since", format_instant(request.since)))
    if request.until is not None:
        pairs.append(("_until", format_instant(request.until)))
    pairs.extend(("_typeFilter", type_filter) for type_filter in request.type_filters)
    if request.output_format:
        pairs.append(("_outputFormat", request.output_format))
    # quote (not quote_plus) so "+" in an offset becomes %2B: BCDA decodes a bare "+" to a space.
    return urlencode(pairs, quote_via=quote, safe=",")


def _request_key(url: str) -> str:
    """A request's path and query from its API root on, unescaped: BCDA compares duplicate jobs so,
    and its job history may show the URL with another scheme or host (behind its proxy)."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    marker = path.find("/api/")
    return (path[marker:] if marker >= 0 else path) + "?" + unquote(parts.query)


def _parse_hosts(entries: tuple[str, ...]) -> set[tuple[str, tuple[str, int] | None]]:
    hosts: set[tuple[str, tuple[str, int] | None]] = set()
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        if "://" in entry:
            scheme, host, port = origin(entry)
            hosts.add((host, (scheme, port)))
        else:
            hosts.add((entry, None))
    return hosts


def _printable(value: str | None, limit: int) -> str | None:
    """A header value as one short line of printable ASCII (it is shown to people and kept in state)."""
    if value is None:
        return None
    text = "".join(c if 32 <= ord(c) < 127 else " " for c in value).strip()
    return (text if len(text) <= limit else text[: limit - 1] + "…") or None


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/1000"
    if not value or not value.startswith("bytes "):
        return None
    first = value[len("bytes ") :].split("-", 1)[0]
    return int(first) if first.isdigit() else None


def _server_time(date_header: str | None) -> datetime | None:
    """The server's clock from a Date header, one second earlier: the header drops sub-seconds, and
    a watermark a little early re-fetches a few records where one a little late would miss some."""
    parsed = parse_http_date(date_header)
    return parsed - timedelta(seconds=1) if parsed else None
