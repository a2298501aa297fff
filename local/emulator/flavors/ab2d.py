"""The AB2D imitation: an Okta-like token endpoint and the /api/{v}/fhir routes of the Spring API."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs

from local.emulator import scenarios
from local.emulator.downloads import NDJSON, DownloadPolicy, serve
from local.emulator.flavors import ab2d_kickoff
from local.emulator.flavors.ab2d_kickoff import fhir_error
from local.emulator.flavors.common import (
    Route,
    accepts,
    basic_credentials,
    checksum_extensions,
    dispatch,
    http_date,
    java_human,
)
from local.emulator.jobs import CANCELLED, COMPLETED, FAILED, Job
from local.emulator.records import ServedFile
from local.emulator.state import State
from local.emulator.wire import Request, Response, json_response

OKTA_SERVER = "aus2r7y3gdaFMKBol297"  # the sandbox authorization server id
FILES_TTL_HOURS = 72
JSON_TYPES = ("application/json", "application/fhir+json")
_STATE_NAMES = {"Pending": "SUBMITTED", "In Progress": "IN_PROGRESS", COMPLETED: "SUCCESSFUL", FAILED: "FAILED"}


class Ab2d:
    """Answers every request of the AB2D listener(s)."""

    auth_path = f"/oauth2/{OKTA_SERVER}/v1/token"

    def __init__(self, state: State) -> None:
        self.state = state
        api = r"^/api/(v[123])/fhir"
        job = api + r"/Job/([^/]+)"
        self.routes: list[Route] = [
            ("POST", re.compile(f"^{self.auth_path}$"), self._token),
            ("GET", re.compile(r"^/(health|status)$"), lambda _r, _n: json_response(200, {"status": "UP"})),
            ("GET", re.compile(api + r"/metadata$"), self._metadata),
            ("GET", re.compile(api + r"/Patient/\$export$"), self._patient_export),
            ("GET", re.compile(api + r"/Group/([^/]+)/\$export$"), self._group_export),
            ("GET", re.compile(job + r"/\$status$"), self._status),
            ("DELETE", re.compile(job + r"/\$status$"), self._cancel),
            ("GET", re.compile(job + r"/file/([^/]+)$"), self._download),
        ]

    def handle(self, request: Request) -> Response:
        routes = self.routes if request.listener == "api" else self.routes[-1:]
        return dispatch(routes, request, lambda: json_response(404, {"error": "Not Found", "path": request.path}))

    # ---- Okta
    def _token(self, request: Request) -> Response:
        credentials = basic_credentials(request.header("Authorization"))
        form = parse_qs(request.body.decode(errors="replace")) | request.params
        if credentials != (self.state.client_id, self.state.client_secret):
            return json_response(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "The client secret supplied for a confidential client is invalid.",
                },
            )
        if form.get("grant_type", [""])[0] != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The authorization grant type is not supported by the authorization "
                    "server. Configured grant types: [client_credentials].",
                },
            )
        if form.get("scope", [""])[0] != "clientCreds":
            return json_response(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": "One or more scopes are not configured for the authorization server resource.",
                },
            )
        ttl = self.state.config.token_ttl
        token = self.state.issuer.issue(self.state.client_id, self.state.now(), ttl, aud="AB2D", scp=["clientCreds"])
        body = {"token_type": "Bearer", "expires_in": ttl, "access_token": token, "scope": "clientCreds"}
        return (
            json_response(200, body)
            .with_header("Cache-Control", "no-cache, no-store")
            .with_header("Pragma", "no-cache")
        )

    def _authorize(self, request: Request, version: str) -> Response | None:
        """JwtTokenAuthenticationFilter: 401 without a Bearer token, 403 for a bad or expired one."""
        header = request.header("Authorization") or ""
        if not header.startswith("Bearer ") or not header[7:].strip():
            return Response(401)
        check = self.state.issuer.check(header[7:].strip(), self.state.now())
        if check.verdict != "ok" or scenarios.token_worn_out(self.state, check.jti):
            return Response(403)
        if version == "v3" and not self.state.config.v3_enabled:
            return fhir_error(403, "The V3 API is currently unavailable")
        return None

    # ---- API
    def _metadata(self, request: Request, version: str) -> Response:
        statement = {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "3.0.1" if version == "v1" else "4.0.1",
            "format": ["application/json", "application/fhir+json"],
            "implementation": {"url": f"{request.origin}/api/{version}/fhir"},
        }
        return json_response(200, statement)

    def _patient_export(self, request: Request, version: str) -> Response:
        problem = self._authorize(request, version) or self._accept_json(request)
        return problem or ab2d_kickoff.kickoff(self.state, request, version, "patient")

    def _group_export(self, request: Request, version: str, contract: str) -> Response:
        problem = self._authorize(request, version) or self._accept_json(request)
        if problem:
            return problem
        if contract != self.state.config.ab2d_contract:
            return Response(403)
        return ab2d_kickoff.kickoff(self.state, request, version, contract)

    def _accept_json(self, request: Request) -> Response | None:
        return None if accepts(request.header("Accept"), *JSON_TYPES) else Response(406)

    def _job(self, request: Request, version: str, job_id: str) -> Job | Response:
        problem = self._authorize(request, version)
        if problem:
            return problem
        job = self.state.jobs.get(job_id)
        if job is None:
            return fhir_error(404, f"No job with jobUuid {job_id} was found")
        return job

    def _status(self, request: Request, version: str, job_id: str) -> Response:  # noqa: PLR0911 - one per job state
        job = self._job(request, version, job_id)
        if isinstance(job, Response):
            return job
        if not accepts(request.header("Accept"), *JSON_TYPES):
            return Response(406)
        fault = scenarios.status_fault(self.state, job.id)
        if fault:
            return fault
        now, config = self.state.now(), self.state.config
        if job.last_poll_at and now - job.last_poll_at < timedelta(seconds=config.poll_throttle_seconds):
            return fhir_error(429, "You are polling too frequently").with_header("Retry-After", "5")
        self.state.jobs.poll(job, now, config.polls_to_complete, config.job_min_seconds, self._finish)
        if job.active:
            progress = f"{int(scenarios.progress_percent(self.state, job))}% complete"
            return Response(202, [("X-Progress", progress), ("Retry-After", "5")])
        if job.state == CANCELLED:
            return fhir_error(404, "Job is canceled.", "deleted")
        if job.state == FAILED:
            return fhir_error(500, "Job failed while processing")
        assert job.completed_at is not None
        document = {
            "transactionTime": java_human(scenarios.transaction_time(self.state, job.created_at)),
            "request": job.request_url,
            "requiresAccessToken": True,
            "output": [self._entry(f) for f in scenarios.listed(self.state, job, "output")],
            "error": [self._entry(f) for f in scenarios.listed(self.state, job, "error")],
        }
        expires = http_date(job.completed_at + timedelta(hours=FILES_TTL_HOURS))
        body = scenarios.manifest_body(self.state, document)
        return Response(200, [("Content-Type", "application/json"), ("Expires", expires)], body)

    def _entry(self, served: ServedFile) -> dict[str, object]:
        url = scenarios.manifest_url(self.state, served)
        return {"type": served.type, "url": url, "extension": checksum_extensions(served, "ab2d.cms.gov")}

    def _finish(self, job: Job) -> None:
        origin = self.state.file_origin(job.origin)
        prefix = f"{origin}/api/{job.version}/fhir/Job/{job.id}/file/"
        failed = self.state.scenario("job-failed")
        planned = [] if failed else self.state.exporter.ab2d(job)
        files = [
            ServedFile(p.kind, p.type, scenarios.file_url(self.state, prefix + p.stored.name), p.stored)
            for p in planned
        ]
        self.state.jobs.complete(job, self.state.now(), files, failed)

    def _cancel(self, request: Request, version: str, job_id: str) -> Response:
        job = self._job(request, version, job_id)
        if isinstance(job, Response):
            return job
        with self.state.jobs.lock:
            if job.active:
                job.state, job.updated_at = CANCELLED, self.state.now()
                return Response(202)
        status = _STATE_NAMES.get(job.state, job.state.upper())
        return fhir_error(400, f"Job has a status of {status}, so it cannot be cancelled")

    # ---- files
    def _download(self, request: Request, version: str, job_id: str, name: str) -> Response:  # noqa: PLR0911 - one per server rule
        if request.listener == "api" or self.state.config.foreign_host_requires_token:
            job = self._job(request, version, job_id)
        else:
            job = self.state.jobs.get(job_id) or fhir_error(404, f"No job with jobUuid {job_id} was found")
        if isinstance(job, Response):
            return job
        if not accepts(request.header("Accept"), NDJSON):
            return Response(406)  # the download endpoint produces only application/fhir+ndjson
        served = job.file(name)
        if served is None:
            return fhir_error(404, f"No Job Output with the file name {name} exists in our records")
        now = self.state.now()
        expired = job.completed_at is not None and now - job.completed_at > timedelta(hours=FILES_TTL_HOURS)
        if expired or self.state.scenario("job-expired"):
            return fhir_error(500, "The file is not present as it has expired. Please resubmit the job.")
        refused = scenarios.signature_refused(self.state, request) or scenarios.block_page(self.state, job, served)
        if refused:
            return refused
        if job.downloads.get(name, 0) >= self.state.config.max_downloads:
            return fhir_error(500, "The file has already been download the maximum number of allowed times.")
        fault = scenarios.download_fault(self.state, f"{job.id}/{name}")
        policy = DownloadPolicy("exact-token", "none", False, self.state.config.empty_gzip_member)
        disposition = f'inline; swaggerDownload="attachment"; filename="{name}"'
        config = self.state.config
        response = serve(
            request,
            served.stored,
            policy,
            [("Content-Disposition", disposition)],
            fault,
            range_reply=config.range_reply,
            drop_point=config.drop_point,
        )
        if fault is None:
            response.on_complete = lambda: self._downloaded(job, name)
        return response

    def _downloaded(self, job: Job, name: str) -> None:
        """Count a finished download; a job whose data files all went out once sets the v2 default _since."""
        with self.state.lock:
            job.downloads[name] = job.downloads.get(name, 0) + 1
            outputs = [f.name for f in job.files if f.kind == "output"]
            if all(job.downloads.get(output, 0) > 0 for output in outputs):
                current = self.state.last_since_default
                if current is None or job.created_at > current:
                    self.state.last_since_default = job.created_at
