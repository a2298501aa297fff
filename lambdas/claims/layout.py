"""Where curated files live: one deterministic key per (landed file, table), so that a retried or
redriven curation overwrites its own output instead of adding a second copy."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")

#: Month folders: a query enumerates one folder per month of the projection (Athena), not one a day.
KEY_TEMPLATE = "curated/{source}/{table}/run_month={run_month}/{run_id}-{file_index:05d}.parquet"
_RUN_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def safe_part(part: str) -> str:
    """The landing layout's rule for a key segment (ingest.layout does the same for fhir/...)."""
    return _UNSAFE.sub("_", part) or "_"


@dataclass(frozen=True, slots=True)
class LandedFile:
    """One NDJSON file as the run landed it: what the curated rows say about where they came from."""

    source: str
    run_id: str
    run_date: str  # YYYY-MM-DD: the landing date (the run's partition in fhir/...)
    object_key: str  # the landed object's key, e.g. fhir/<source>/ExplanationOfBenefit/run_date=.../...
    file_index: int  # the file's index in the run's manifest
    # the export's transactionTime as the manifest gave it: what orders a resource without
    # meta.lastUpdated (None, or not an instant as AB2D's: the run's start, from its id)
    transaction_time: str | None = None

    def __post_init__(self) -> None:
        if not _RUN_DATE.match(self.run_date):
            raise ValueError(f"run_date must be YYYY-MM-DD, got {self.run_date!r}")
        if self.file_index < 0:
            raise ValueError("file_index must not be negative")
        if not self.run_id or "/" in self.run_id:
            raise ValueError(f"run_id must be one key segment, got {self.run_id!r}")

    def output_key(self, table: str) -> str:
        return KEY_TEMPLATE.format(
            source=safe_part(self.source),
            table=table,
            run_month=self.run_date[:7],
            run_id=self.run_id,  # as in the landing keys (fhir/.../<run_id>/...): ours, always key-safe
            file_index=self.file_index,
        )
