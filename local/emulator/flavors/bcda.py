"""The BCDA imitation: routes of bcda/web/router.go, SSAS-style tokens, status, data downloads."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from local.emulator import scenarios
from local.emulator.downloads import DownloadPolicy, serve
from local.emulator.flavors import bcda_kickoff
from local.emulator.flavors.bcda_responses import (
    SECURITY_HEADERS,
    capability,
    double_404,
    error,
    jobs_bundle,
    manifest,
    outcome,
)
from local.emulator.flavors.common import Route, basic_credentials, bearer, dispatch, rfc3339
from local.emulator.jobs import CANCELLED, COMPLETED, FAILED, PENDING, Job
from local.emulator.records import ServedFile
from local.emulator.state import State
from local.emulator.wire import Request, Response, json_response, text_response

JOB_STATUSES = (
    "Pending", "In Progress", "Completed", "Archived", "Expired",
    "Failed", "FailedExpired", "Cancelled", "CancelledExpired",
)  # fmt: skip
ARCHIVE_HOURS = 24
CLEANUP_LAG_HOURS = 1  # cleanup runs on a schedule: a job is archived a while after its 24 h


class Bcda:
    """Answers every request of the BCDA listener(s)."""

    auth_path = "/auth/token"

    def __init__(self, state: State) -> None:
        self.state = state
        self._token_calls: list[datetime] = []
        api = r"^/api/(v[123])"
        self.routes: list[Route] = [
            ("POST", re.compile(r"^/auth/token$"), self._token),
            ("GET", re.compile(r"^/auth/welcome$"), self._welcome),
            ("GET", re.compile(r"^/_version$"), lambda _r: json_response(200, {"version": "latest"})),
            ("GET", re.compile(r"^/_health$"), lambda _r: json_response(200, {"database": "ok", "ssas": "ok"})),
            ("GET", re.compile(api + r"/metadata$"), self._metadata),
            ("GET", re.compile(api + r"/Patient/\$export$"), self._patient_export),
            ("GET", re.compile(api + r"/Group/([^/]+)/\$export$"), self._group_export),
            ("GET", re.compile(api + r"/jobs/([^/]+)$"), self._status),
            ("DELETE", re.compile(api + r"/jobs/([^/]+)$"), self._cancel),
            ("GET", re.compile(api + r"/jobs$"), self._jobs),
            ("GET", re.compile(api + r"/attribution_status$"), self._attribution),
            ("GET", re.compile(r"^/data/([^/]+)/([^/]+)$"), self._data),
            ("HEAD", re.compile(r"^/data/([^/]+)/([^/]+)$"), self._data),
        ]

    def handle(self, request: Request) -> Response:
        response = self._route(request)
        for name, value in SECURITY_HEADERS:
            if not response.has_header(name):
                response.headers.append((name, value))
        return response

    def _route(self, request: Request) -> Response:
        routes = self.routes if request.listener == "api" else self.routes[-2:]
        return dispatch(routes, request, lambda: text_response(404, "404 page not found\n"))

    # ---- auth
    def _token(self, request: Request) -> Response:
        config = self.state.config
        credentials = basic_credentials(request.header("Authorization"))
        if credentials is None:
            return text_response(400, "Bad Request\n")
        if credentials != (self.state.client_id, self.state.client_secret):
            return text_response(401, "Unauthorized\n")
        now = self.state.now()
        with self.state.lock:
            self._token_calls = [t for t in self._token_calls if now - t < timedelta(minutes=5)]
            self._token_calls.append(now)
            calls = len(self._token_calls)
        if calls > config.bcda_token_rate_limit:
            message = (
                f"{self.state.client_id} exceeded the rate limit for /auth/token. "
                "Access tokens last 20 minutes; please cache and reuse them.\n"
            )
            return text_response(429, message).with_header("Retry-After", "300")
        token = self.state.issuer.issue(self.state.client_id, now, config.token_ttl)
        if config.auth_reply == "form":  # a proxy or a misconfigured server: the token, form-encoded
            form = f"access_token={token}&expires_in={config.token_ttl}&token_type=bearer".encode()
            return Response(200, [("Content-Type", "application/x-www-form-urlencoded")], form)
        # BCDA writes this JSON by hand: expires_in is a string, and the spacing is its own
        body = f'{{"access_token": "{token}", "expires_in": "{config.token_ttl}", "token_type":"bearer"}}'
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        return Response(200, headers, body.encode())

    def _authorize(self, request: Request, version: str) -> Response | None:
        token = bearer(request.header("Authorization"))
        if token is None:
            return error(version, 401, "Invalid Token")
        check = self.state.issuer.check(token, self.state.now())
        if check.verdict == "malformed":
            return error(version, 400, "Request Error")
        if check.verdict != "ok" or scenarios.token_worn_out(self.state, check.jti):
            return error(version, 401, "Expired Token")
        if version == "v3" and not self.state.config.v3_enabled:
            return error(version, 403, "V3 access not enabled for this ACO")
        return None

    def _welcome(self, request: Request) -> Response:
        token = bearer(request.header("Authorization"))
        if token is None or self.state.issuer.check(token, self.state.now()).verdict != "ok":
            return text_response(401, "Unauthorized\n")
        return json_response(200, {"success": "Welcome to the Beneficiary Claims Data API!"})

    # ---- API
    def _metadata(self, request: Request, version: str) -> Response:
        return json_response(200, capability(request.origin, version), "application/fhir+json")

    def _patient_export(self, request: Request, version: str) -> Response:
        return self._authorize(request, version) or bcda_kickoff.kickoff(self.state, request, version, "patient")

    def _group_export(self, request: Request, version: str, group: str) -> Response:
        return self._authorize(request, version) or bcda_kickoff.kickoff(self.state, request, version, group)

    def _job(self, version: str, job_id: str) -> Job | Response:
        if not job_id.isdigit():
            return error(version, 400, f'strconv.ParseUint: parsing "{job_id}": invalid syntax')
        job = self.state.jobs.get(job_id)
        if job is None or job.hidden:
            return error(version, 404, "", "not-found")
        return job

    def _age(self, job: Job) -> timedelta:
        return self.state.now() - (job.completed_at or job.created_at)

    def _archived(self, job: Job) -> bool:
        return job.state == COMPLETED and self._age(job) > timedelta(hours=ARCHIVE_HOURS + CLEANUP_LAG_HOURS)

    def _status(self, request: Request, version: str, job_id: str) -> Response:  # noqa: PLR0911 - one per job state
        job = self._authorize(request, version) or self._job(version, job_id)
        if isinstance(job, Response):
            return job
        if self._archived(job):
            return double_404(version)
        fault = scenarios.status_fault(self.state, job.id)
        if fault:
            return fault
        config = self.state.config
        self.state.jobs.poll(job, self.state.now(), config.polls_to_complete, config.job_min_seconds, self._finish)
        if job.state == PENDING:
            return Response(202, [("X-Progress", "Pending")])
        if job.active:
            percent = int(scenarios.progress_percent(self.state, job))
            return Response(202, [("X-Progress", f"In Progress ({percent}%)")])
        if job.state == FAILED:
            message = "Service encountered numerous errors. Job failed to complete."
            return error(version, 500, message, "exception")
        if job.state == CANCELLED:
            return error(version, 404, "Job has been cancelled.", "not-found")
        assert job.transaction_time is not None
        document, expires = manifest(
            job,
            scenarios.listed(self.state, job, "output"),
            scenarios.listed(self.state, job, "error"),
            lambda served: scenarios.manifest_url(self.state, served),
            scenarios.transaction_time(self.state, job.transaction_time),
        )
        if self.state.scenario("job-expired") or self._age(job) > timedelta(hours=ARCHIVE_HOURS):
            return error(version, 410, "", "not-found").with_header("Expires", expires)
        body = scenarios.manifest_body(self.state, document)
        return Response(200, [("Content-Type", "application/json"), ("Expires", expires)], body)

    def _finish(self, job: Job) -> None:
        origin = self.state.file_origin(job.origin)
        planned = self.state.exporter.bcda(job)
        files = [
            ServedFile(
                p.kind, p.type, scenarios.file_url(self.state, f"{origin}/data/{job.id}/{p.stored.name}"), p.stored
            )
            for p in planned
        ]
        # v1 accepts Observation at kick-off but the worker has no handler for it: the job fails
        failed = self.state.scenario("job-failed") or "Observation" in job.types
        self.state.jobs.complete(job, self.state.now(), files, failed=failed)

    def _cancel(self, request: Request, version: str, job_id: str) -> Response:
        job = self._authorize(request, version) or self._job(version, job_id)
        if isinstance(job, Response):
            return job
        with self.state.jobs.lock:
            if job.active:
                job.state, job.updated_at = CANCELLED, self.state.now()
                return Response(202)
        return error(version, 410, "job was not cancelled because it is not Pending or In Progress")

    def _jobs(self, request: Request, version: str) -> Response:
        problem = self._authorize(request, version) or bcda_kickoff.validate_headers(request, version)
        if problem:
            return problem
        wanted = list(JOB_STATUSES)
        if "_status" in request.params:
            wanted = request.params["_status"][0].split(",")
            for index, status in enumerate(wanted):
                if status not in JOB_STATUSES:
                    return error(version, 400, f"Invalid parameter: {status} is not a valid job status")
                if status in wanted[:index]:
                    return error(version, 400, f"Repeated job status {status}")
        jobs = [job for job in self.state.jobs.all() if not job.hidden and self._label(job) in wanted]
        bundle = jobs_bundle(jobs, request.origin, version)
        if not jobs:  # the handler writes the 404 and then, lacking a return, the bundle too
            body = json.dumps(outcome(version, "", "not-found")) + json.dumps(bundle)
            return Response(404, [("Content-Type", "application/fhir+json")], body.encode())
        return json_response(200, bundle)

    def _label(self, job: Job) -> str:
        if job.state == COMPLETED and self._archived(job):
            return "Archived"
        return job.state

    def _attribution(self, request: Request, version: str) -> Response:
        problem = self._authorize(request, version)
        if problem:
            return problem
        population = self.state.population
        latest = population.attribution_file_date(len(population.load_times) - 1)
        runout = latest.replace(month=1, day=15) if latest.month > 1 else latest
        dates = [
            {"timestamp": rfc3339(latest), "type": "last_attribution_update"},
            {"timestamp": rfc3339(runout), "type": "last_runout_update"},
        ]
        return json_response(200, {"ingestion_dates": dates})

    # ---- files
    def _data(self, request: Request, job_id: str, name: str) -> Response:
        if request.listener == "api" or self.state.config.foreign_host_requires_token:
            problem = self._authorize(request, "v1")
            if problem:
                return problem
        job = self.state.jobs.get(job_id) if job_id.isdigit() else None
        if job is None or job.hidden:
            return error("v1", 404, "", "not-found")
        if self._archived(job):
            return double_404("v1", b"Not Found\n")
        served = job.file(name)
        if served is None:
            return text_response(404, "Not Found\n")
        refused = scenarios.signature_refused(self.state, request) or scenarios.block_page(self.state, job, served)
        if refused:
            return refused
        fault = scenarios.download_fault(self.state, f"{job.id}/{name}") if request.method == "GET" else None
        config = self.state.config
        policy = DownloadPolicy("substring", "gzip-only", False, config.empty_gzip_member)
        return serve(
            request, served.stored, policy, [], fault, range_reply=config.range_reply, drop_point=config.drop_point
        )
