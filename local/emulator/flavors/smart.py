"""A standards-following Bulk Data server with SMART Backend Services auth (DPC-like details).

FHIR base `/fhir`; token endpoint `/auth/token` (advertised in .well-known/smart-configuration);
status `X-Progress: RUNNING: 42.50%` + Retry-After; manifest entries with `count` and DPC-style
checksum/file_length extensions; downloads with HEAD, ETag, Range (206/416) and gzip.
With ``smart_server="reference"`` it is the SMART reference server instead (smart_reference.py).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from local.emulator import scenarios
from local.emulator.downloads import DownloadPolicy, serve, wants_gzip
from local.emulator.flavors import smart_reference as reference
from local.emulator.flavors.bcda_kickoff import parse_rfc3339
from local.emulator.flavors.common import Route, accepts, bearer, checksum_extensions, dispatch, http_date, rfc3339
from local.emulator.jobs import CANCELLED, COMPLETED, FAILED, PENDING, Job
from local.emulator.population import seeded
from local.emulator.records import ServedFile
from local.emulator.state import State
from local.emulator.tokens import ASSERTION_TYPE, AssertionRejectedError
from local.emulator.wire import Request, Response, json_response

TYPES = ("Patient", "Coverage", "ExplanationOfBenefit")
FILES_TTL_HOURS = 24
RETRY_AFTER = "2"
FHIR_JSON = "application/fhir+json"


def outcome(status: int, text: str, code: str = "processing") -> Response:
    issue = {"severity": "error", "code": code, "diagnostics": text}
    return json_response(status, {"resourceType": "OperationOutcome", "issue": [issue]}, FHIR_JSON)


def oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


class Smart:
    """Answers every request of the SMART listener(s)."""

    auth_path = "/auth/token"

    def __init__(self, state: State) -> None:
        self.state = state
        self.limiter = reference.RateLimiter(state)
        self.group_ids = ("all", str(uuid.UUID(int=seeded("roster", state.config.seed).getrandbits(128), version=4)))
        files = re.compile(r"^/fhir/bulkfiles/([^/]+)/([^/]+)$")
        self.routes: list[Route] = [
            ("POST", re.compile(r"^/auth/token$"), self._token),
            ("GET", re.compile(r"^/fhir/\.well-known/smart-configuration$"), self._smart_configuration),
            ("GET", re.compile(r"^/fhir/metadata$"), self._metadata),
            ("GET", re.compile(r"^/fhir/(Patient)/\$export$"), self._export),
            ("GET", re.compile(r"^/fhir/Group/([^/]+)/\$export$"), self._export),
            ("GET", re.compile(r"^/fhir/()\$export$"), self._export),
            ("GET", re.compile(r"^/fhir/bulkstatus/([^/]+)$"), self._status),
            ("DELETE", re.compile(r"^/fhir/bulkstatus/([^/]+)$"), self._cancel),
            ("GET", files, self._download),
            ("HEAD", files, self._download),
        ]

    def handle(self, request: Request) -> Response:
        routes = self.routes if request.listener == "api" else self.routes[-2:]
        return dispatch(routes, request, lambda: outcome(404, f"Unknown path {request.path}", "not-found"))

    # ---- discovery and auth
    def _smart_configuration(self, request: Request) -> Response:
        return json_response(
            200,
            {
                "token_endpoint": request.origin + self.auth_path,
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                "grant_types_supported": ["client_credentials"],
                "scopes_supported": ["system/*.read", "system/*.rs"],
                "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
            },
        )

    def _metadata(self, request: Request) -> Response:
        oauth = {
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "token", "valueUri": request.origin + self.auth_path}],
        }
        statement = {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": [FHIR_JSON],
            "rest": [{"mode": "server", "security": {"extension": [oauth]}}],
        }
        return json_response(200, statement, FHIR_JSON)

    def _token(self, request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            return oauth_error(400, "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        scope = form.get("scope", "")
        if not scope or not all(item.startswith("system/") for item in scope.split()):
            return oauth_error(400, "invalid_scope", "scope must be system-level, e.g. system/*.read")
        assert self.state.verifier is not None
        try:
            assertion_left = self.state.verifier.verify(form["client_assertion"], request.origin + self.auth_path)
        except AssertionRejectedError as rejected:
            return oauth_error(401, "invalid_client", str(rejected))
        config = self.state.config
        ttl = reference.token_ttl(self.state, assertion_left) if config.reference else config.token_ttl
        token = self.state.issuer.issue(self.state.client_id, self.state.now(), ttl, scope=scope)
        body = {"access_token": token, "token_type": "bearer", "expires_in": ttl, "scope": scope}
        return json_response(200, body).with_header("Cache-Control", "no-store")

    def _authorize(self, request: Request) -> Response | None:
        token = bearer(request.header("Authorization"))
        check = self.state.issuer.check(token, self.state.now()) if token else None
        if check is None or check.verdict != "ok" or scenarios.token_worn_out(self.state, check.jti):
            response = outcome(401, "Invalid or expired access token", "login")
            return response.with_header("WWW-Authenticate", 'Bearer error="invalid_token"')
        return None

    # ---- export
    def _validate(  # noqa: PLR0911 - one return per rule
        self, request: Request, group: str
    ) -> Response | tuple[tuple[str, ...], datetime | None]:
        if not accepts(request.header("Accept"), FHIR_JSON):
            return outcome(400, "Accept must be application/fhir+json", "invalid")
        if "respond-async" not in (request.header("Prefer") or ""):
            return outcome(400, "Prefer: respond-async is required", "invalid")
        if group not in ("", "Patient") and group not in self.group_ids:
            return outcome(404, f"Group/{group} is not known", "not-found")
        types = tuple((request.first("_type") or ",".join(TYPES)).split(","))
        unknown = [kind for kind in types if kind not in TYPES]
        if unknown:
            return outcome(400, f"Unsupported _type {unknown[0]}; supported: {', '.join(TYPES)}", "not-supported")
        fmt = request.first("_outputFormat")
        if fmt and fmt not in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
            return outcome(400, f"Unsupported _outputFormat {fmt}", "not-supported")
        for unsupported in ("_typeFilter", "_elements"):
            if unsupported in request.params:
                return outcome(400, f"{unsupported} is not supported by this server", "not-supported")
        since_text = request.first("_since")
        since = parse_rfc3339(since_text) if since_text else None
        if since_text and since is None:
            return outcome(400, "_since must be a FHIR instant (with a time zone)", "invalid")
        return types, since

    def _export(self, request: Request, group: str) -> Response:
        route = "system-export" if request.path.endswith("/fhir/$export") else "export"
        limited = self.limiter.refuse(route) if self.state.config.reference else None  # before anything else
        checked = limited or self._authorize(request) or self._validate(request, group)
        if isinstance(checked, Response):
            return checked
        types, since = checked
        fault = scenarios.kickoff_fault(self.state) or (
            reference.kickoff_fault(self.state) if self.state.config.reference else None
        )
        if fault:
            return fault
        if scenarios.kickoff_throttled(self.state):
            return outcome(429, "Too many requests", "throttled").with_header("Retry-After", "5")
        if self.state.scenario("kickoff-429-adopt") and self.state.bump("adopt-job") == 1:
            self._new_job(request, group, types, None)
        active = self.state.jobs.active()
        if active and self.state.scenario("kickoff-429-adopt"):
            response = outcome(429, "An export is already running", "throttled").with_header("Retry-After", "5")
            return response.with_header("Content-Location", ", ".join(job.status_url for job in active))
        job = self._new_job(request, group, types, since)
        response = scenarios.accepted(self.state, job.status_url)
        return reference.accepted(response, job.status_url) if self.state.config.reference else response

    def _new_job(self, request: Request, group: str, types: tuple[str, ...], since: datetime | None) -> Job:
        number = self.state.bump("smart-job")
        job_id = str(uuid.UUID(int=seeded("smart-job", self.state.config.seed, number).getrandbits(128), version=4))
        job = Job(
            id=job_id,
            version="",
            origin=request.origin,
            status_path=f"/fhir/bulkstatus/{job_id}",
            request_url=request.url,
            group=group or "system",
            types=types,
            since=since,
            created_at=self.state.now(),
            data_step=len(self.state.population.load_times) - 1,
        )
        job.transaction_time = job.created_at
        return self.state.jobs.add(job)

    def _job(self, request: Request, job_id: str) -> Job | Response:
        job = self._authorize(request) or self.state.jobs.get(job_id)
        return job if job is not None else outcome(404, f"No export job {job_id}", "not-found")

    def _status(self, request: Request, job_id: str) -> Response:  # noqa: PLR0911 - one per job state
        config = self.state.config
        limited = self.limiter.refuse("status") if config.reference else None  # before the token is looked at
        job = limited or self._job(request, job_id)
        if isinstance(job, Response):
            return job
        if config.reference and reference.expired(self.state, job):
            return reference.outcome(404, "The export was not found")  # deleted with its files
        fault = scenarios.status_fault(self.state, job.id) or (
            reference.status_fault(self.state, job) if config.reference else None
        )
        if fault:
            return fault
        self.state.jobs.poll(job, self.state.now(), config.polls_to_complete, config.job_min_seconds, self._finish)
        if job.active:
            return self._in_progress(job)
        if job.state == CANCELLED:
            return outcome(404, "The export was cancelled", "not-found")
        if job.state == FAILED:
            # Not `exception`: the Bulk Data spec keeps the codes of FHIR's transient branch for a poll
            # that failed while the export did not, which the client is to retry.
            return outcome(500, "The export failed", "processing")
        assert job.completed_at is not None
        expires = job.completed_at + timedelta(hours=FILES_TTL_HOURS)
        if config.reference:
            expires = job.created_at + reference.FILES_TTL
        if self.state.scenario("job-expired") or self.state.now() > expires:
            return outcome(410, "The export has expired; start a new one", "expired")
        body = scenarios.manifest_body(self.state, self._manifest(job))
        return Response(200, [("Content-Type", "application/json"), ("Expires", http_date(expires))], body)

    def _in_progress(self, job: Job) -> Response:
        percent = 0.0 if job.state == PENDING else scenarios.progress_percent(self.state, job)
        if self.state.config.reference:
            return Response(202, [("X-Progress", reference.progress(percent)), ("Retry-After", reference.RETRY_AFTER)])
        label = "QUEUED" if job.state == PENDING else "RUNNING"
        return Response(202, [("X-Progress", f"{label}: {percent:.2f}%"), ("Retry-After", RETRY_AFTER)])

    def _manifest(self, job: Job) -> dict[str, object]:
        assert job.completed_at is not None
        listed = {kind: scenarios.listed(self.state, job, kind) for kind in ("output", "error", "deleted")}
        if self.state.config.reference:
            entries = {kind: [reference.entry(f, self._url(f)) for f in files] for kind, files in listed.items()}
            when = scenarios.transaction_time(self.state, job.created_at)
            return {"transactionTime": reference.transaction_time(when), "request": job.request_url,
                    "requiresAccessToken": True, **entries}  # fmt: skip
        return {
            "transactionTime": rfc3339(scenarios.transaction_time(self.state, job.transaction_time or job.created_at)),
            "request": job.request_url,
            "requiresAccessToken": True,
            **{kind: [self._entry(f) for f in files] for kind, files in listed.items()},
            "extension": {
                "https://dpc.cms.gov/submit_time": rfc3339(job.created_at),
                "https://dpc.cms.gov/complete_time": rfc3339(job.completed_at),
            },
        }

    def _url(self, served: ServedFile) -> str:
        return scenarios.manifest_url(self.state, served)

    def _entry(self, served: ServedFile) -> dict[str, object]:
        extension = checksum_extensions(served, "dpc.cms.gov")
        return {"type": served.type, "url": self._url(served), "count": served.listed_count, "extension": extension}

    def _finish(self, job: Job) -> None:
        origin = self.state.file_origin(job.origin)
        failed = self.state.scenario("job-failed")
        members = self.state.population.group("all", job.data_step)
        if job.group == self.group_ids[1]:
            members = members[::2]  # the provider roster: half the population
        planned = [] if failed else self.state.exporter.smart(job, members)
        files = [
            ServedFile(
                p.kind,
                p.type,
                scenarios.file_url(self.state, f"{origin}/fhir/bulkfiles/{job.id}/{p.stored.name}"),
                p.stored,
                count,
            )
            for p, count in reference.with_failed_files(self.state, job, planned)
        ]
        self.state.jobs.complete(job, self.state.now(), files, failed)

    def _cancel(self, request: Request, job_id: str) -> Response:
        job = self._job(request, job_id)
        if isinstance(job, Response):
            return job
        with self.state.jobs.lock:
            if job.state == CANCELLED:
                return outcome(404, f"No export job {job_id}", "not-found")
            job.state, job.updated_at, job.files = CANCELLED, self.state.now(), []
        if self.state.config.reference:
            return reference.outcome(202, "The procedure was canceled", severity="information")
        return Response(202)

    # ---- files
    def _download(self, request: Request, job_id: str, name: str) -> Response:
        if request.listener == "api" or self.state.config.foreign_host_requires_token:
            problem = self._authorize(request)
            if problem:
                return problem
        job = self.state.jobs.get(job_id)
        served = job.file(name) if job is not None and job.state == COMPLETED else None
        if job is None or served is None or job.completed_at is None:
            return outcome(404, f"No file {name}", "not-found")
        if self.state.config.reference:
            return self._reference_download(request, job, served)
        return self._dpc_download(request, job, served)

    def _dpc_download(self, request: Request, job: Job, served: ServedFile) -> Response:
        assert job.completed_at is not None
        if self.state.now() > job.completed_at + timedelta(hours=FILES_TTL_HOURS):
            return outcome(410, "The file has expired", "expired")
        stored = served.stored
        policy = DownloadPolicy("qvalue", "both", True, self.state.config.empty_gzip_member)
        gz = wants_gzip(request.header("Accept-Encoding"), policy.gzip_match)
        etag = f'"{stored.gz_sha256 if gz else stored.digests.raw_sha256}"'  # one per representation
        headers = [("ETag", etag), ("Last-Modified", http_date(job.completed_at)), ("Vary", "Accept-Encoding")]
        if request.header("If-None-Match") in (etag, "*"):
            return Response(304, headers)
        return self._serve(request, job, served, policy, headers)

    def _reference_download(self, request: Request, job: Job, served: ServedFile) -> Response:
        if reference.expired(self.state, job):
            return reference.outcome(404, "The exported resources have been deleted")  # outcomes.exportDeleted
        return self._serve(request, job, served, reference.DOWNLOADS, [("Content-Disposition", "attachment")])

    def _serve(
        self, request: Request, job: Job, served: ServedFile, policy: DownloadPolicy, headers: list[tuple[str, str]]
    ) -> Response:
        refused = scenarios.signature_refused(self.state, request) or scenarios.block_page(self.state, job, served)
        if refused:
            return refused
        fault = scenarios.download_fault(self.state, f"{job.id}/{served.name}") if request.method == "GET" else None
        config = self.state.config
        return serve(
            request, served.stored, policy, headers, fault, range_reply=config.range_reply, drop_point=config.drop_point
        )
