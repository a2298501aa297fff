"""The ports the services depend on. Adapters implement them with boto3; tests may use fakes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from bulkfhir import ClientCredentials
from ingest.payloads import LandedFile


@dataclass(frozen=True)
class Lease:
    run_id: str
    execution: str
    acquired_at: str
    expires_at_epoch: int


@dataclass(frozen=True)
class OpenJob:
    """A server job recorded at kick-off, so a re-run can resume it instead of starting another.

    ``request`` is everything that shapes the export (see ``ingest.services.start_run.request_of``):
    a re-run resumes the job only when its own request is exactly this one."""

    run_id: str
    job_url: str
    kicked_off_at: str | None
    request: dict[str, Any]
    run_date: str
    adopted: bool = False


@dataclass(frozen=True)
class ServerJob:
    """A server job claimed by one run of this stack, keyed by its status URL (without query).

    AB2D's 429 names every active job of the organisation: a run adopts a job only when it is the
    claim's own run, or nobody's and its request is exactly the run's; a job is cancelled only when
    this stack started it."""

    job_url: str
    source: str
    run_id: str
    request_url: str
    started_by_us: bool


class RunStore(Protocol):
    """Watermarks, leases, open jobs, the run ledger and landed-file records (DynamoDB)."""

    def acquire_lease(
        self, source: str, scope: str, run_id: str, execution: str, now_epoch: int, seconds: int
    ) -> None: ...
    def take_over_lease(
        self, source: str, scope: str, run_id: str, execution: str, now_epoch: int, seconds: int, ended: Lease
    ) -> bool: ...
    def release_lease(self, source: str, scope: str, run_id: str) -> bool: ...
    def get_lease(self, source: str, scope: str) -> Lease | None: ...

    def get_watermark(self, source: str, scope: str) -> str | None: ...
    def advance_watermark(self, source: str, scope: str, watermark: str, run_id: str, now: str) -> bool: ...

    def get_open_job(self, source: str, scope: str) -> OpenJob | None: ...
    def put_open_job(self, source: str, scope: str, job: OpenJob) -> None: ...
    def clear_open_job(self, source: str, scope: str, run_id: str) -> None: ...

    def claim_server_job(self, job: ServerJob) -> bool: ...
    def get_server_job(self, job_url: str) -> ServerJob | None: ...

    def put_run(self, source: str, run_id: str, attributes: dict[str, Any]) -> None: ...
    def update_run(self, source: str, run_id: str, attributes: dict[str, Any]) -> None: ...
    def get_run(self, source: str, run_id: str) -> dict[str, Any] | None: ...

    def put_landed_file(self, run_id: str, landed: LandedFile) -> None: ...
    def get_landed_file(self, run_id: str, index: int) -> LandedFile | None: ...
    def list_landed_files(self, run_id: str) -> list[LandedFile]: ...
    def count_download(self, run_id: str, index: int) -> int: ...
    def put_file_failure(self, run_id: str, index: int, error: str, message: str, url: str, at: str) -> None: ...
    def clear_file_failure(self, run_id: str, index: int) -> None: ...
    def file_failures(self, run_id: str) -> list[dict[str, Any]]: ...


class Executions(Protocol):
    """The state machine's executions (Step Functions)."""

    def status(self, execution: str) -> str | None: ...
    def history_events(self, execution: str) -> int | None: ...


class ObjectWriter(Protocol):
    """A streaming upload of one file's bytes (see adapters.s3_landing.StreamingUpload)."""

    def write(self, data: bytes) -> None: ...
    def checkpoint(self) -> str: ...
    def land(self, key: str, metadata: dict[str, str]) -> None: ...
    def abort(self) -> None: ...

    @property
    def size(self) -> int: ...


class Landing(Protocol):
    """The landing bucket (S3)."""

    def put_json(self, key: str, document: Any) -> None: ...
    def get_json(self, key: str) -> Any: ...
    def head_metadata(self, key: str) -> dict[str, str] | None: ...
    def open_upload(self, staging_key: str) -> ObjectWriter: ...
    def read_stream(self, key: str, chunk_size: int) -> Iterator[bytes]: ...
    def delete(self, key: str) -> None: ...


class CredentialSource(Protocol):
    def credentials(self, secret_arn: str) -> ClientCredentials: ...


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: dict[str, Any]) -> None: ...
