"""Export jobs: their lifecycle (pending → in progress → completed | failed | cancelled) and store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from local.emulator.records import JobRecord, ServedFile

PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = "Pending", "In Progress", "Completed", "Failed", "Cancelled"
ACTIVE = (PENDING, IN_PROGRESS)


@dataclass
class Job:
    id: str
    version: str  # "v1" | "v2" | "v3" ("" for SMART)
    origin: str  # scheme://host of the kick-off request
    status_path: str
    request_url: str
    group: str  # "patient" | "all" | "runout" | a group id
    types: tuple[str, ...]
    since: datetime | None
    created_at: datetime
    data_step: int = 0  # the data load the job reads (later loads are invisible to it)
    until: datetime | None = None
    raw_types: str | None = None  # BCDA's duplicate-job rule compares the raw _type string
    type_filter: str | None = None
    state: str = PENDING
    polls: int = 0
    last_poll_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    transaction_time: datetime | None = None
    files: list[ServedFile] = field(default_factory=list)
    downloads: dict[str, int] = field(default_factory=dict)  # AB2D's per-file counter
    refusals: int = 0  # kickoff-429-adopt: kick-offs refused because of this job
    hidden: bool = False  # the pre-existing job of kickoff-429-adopt (BCDA does not say its URL)

    @property
    def status_url(self) -> str:
        return self.origin + self.status_path

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def file(self, name: str) -> ServedFile | None:
        return next((f for f in self.files if f.name == name), None)

    def record(self) -> JobRecord:
        return JobRecord(
            id=self.id,
            status_url=self.status_url,
            status=self.state,
            request_url=self.request_url,
            since=self.since,
            types=self.types,
            created_at=self.created_at,
            transaction_time=self.transaction_time,
            files=list(self.files),
        )


class JobStore:
    """All jobs of one emulator, in creation order."""

    def __init__(
        self, clock: Callable[[], datetime] | None = None, unattended_seconds: Callable[[], float] | None = None
    ) -> None:
        self._jobs: dict[str, Job] = {}
        self.lock = threading.RLock()
        self._clock = clock
        self._unattended = unattended_seconds

    def _done_unattended(self, job: Job, now: datetime) -> bool:
        """Real workers finish a job whether or not anyone polls it: one older than the
        unattended limit is no longer running (it completes on its next poll)."""
        return self._unattended is not None and now - job.created_at >= timedelta(seconds=self._unattended())

    def add(self, job: Job) -> Job:
        with self.lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self.lock:
            return list(self._jobs.values())

    def active(self) -> list[Job]:
        if self._clock is None:
            return [job for job in self.all() if job.active]
        now = self._clock()
        return [job for job in self.all() if job.active and not self._done_unattended(job, now)]

    def complete(self, job: Job, now: datetime, files: list[ServedFile], failed: bool) -> None:
        with self.lock:
            job.completed_at = job.updated_at = now
            job.files = [] if failed else files
            job.state = FAILED if failed else COMPLETED

    def poll(
        self,
        job: Job,
        now: datetime,
        polls_to_complete: int,
        min_seconds: float,
        finish: Callable[[Job], None],
    ) -> None:
        """Count a status poll; complete the job (via `finish`) once it has been polled enough."""
        with self.lock:
            job.last_poll_at = now
            if not job.active:
                return
            job.polls += 1
            job.updated_at = now
            elapsed = now - job.created_at >= timedelta(seconds=min_seconds)
            if (job.polls > polls_to_complete and elapsed) or self._done_unattended(job, now):
                finish(job)
            elif job.polls > 1 or polls_to_complete == 0:
                job.state = IN_PROGRESS
