"""What the emulator saw and served, as plain records for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.emulator.files import StoredFile


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request as the emulator received and answered it."""

    method: str
    path: str
    query: str
    host: str | None
    listener: str  # "api" | "file-host"
    authorization: str | None
    status: int
    bytes_sent: int
    at: datetime | None = None  # when it arrived, by the emulator's clock


@dataclass(frozen=True)
class ServedFile:
    """One file of a job's manifest. lines/gz_sha256/gz_length build the file on first use."""

    kind: str  # "output" | "error" | "deleted"
    type: str
    url: str
    stored: StoredFile = field(repr=False, compare=False)
    #: the manifest's count when it is not the file's lines (the SMART reference server's error entries
    #: carry the count of the output file they replace)
    count: int | None = None

    @property
    def name(self) -> str:
        return self.stored.name

    @property
    def lines(self) -> int:
        return self.stored.lines

    @property
    def listed_count(self) -> int:
        """The count a manifest lists for this file."""
        return self.lines if self.count is None else self.count

    @property
    def gz_sha256(self) -> str:
        return self.stored.gz_sha256

    @property
    def gz_length(self) -> int:
        return self.stored.gz_length


@dataclass(frozen=True)
class JobRecord:
    """A snapshot of one export job."""

    id: str
    status_url: str
    status: str
    request_url: str
    since: datetime | None
    types: tuple[str, ...]
    created_at: datetime
    transaction_time: datetime | None
    files: list[ServedFile]
