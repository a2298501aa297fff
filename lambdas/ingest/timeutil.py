"""UTC timestamps as the strings stored in state, DynamoDB and S3 (sortable, ISO 8601, ``Z``)."""

from __future__ import annotations

from datetime import UTC, datetime

from bulkfhir import parse_instant


def utc_iso(moment: datetime) -> str:
    """``2026-11-25T06:48:00.123456Z``: fixed width, so string order is time order (watermarks rely on it)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(value: str | None) -> datetime | None:
    return parse_instant(value) if value else None


def utcnow() -> datetime:
    return datetime.now(UTC)
