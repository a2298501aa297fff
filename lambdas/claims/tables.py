"""The curated tables: name -> row type -> Parquet columns.

The columns are derived from the row NamedTuples; ``sql/schema.json`` (what the AWS catalog and
the local engine read) must say the same, which tests/unit/claims/test_schema_file.py checks.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import NamedTuple

from claims.parquet.writer import Column
from claims.rows import ClaimVersion, DeletedResource, PartialClaim, PatientMbi, Reject

CLAIM_VERSION_ROWS = "claim_version_rows"
PATIENTS = "patients"
PARTIAL_CLAIMS = "partial_claims"
DELETED_RESOURCES = "deleted_resources"
REJECTS = "rejects"

ROW_TYPES: dict[str, type[NamedTuple]] = {
    CLAIM_VERSION_ROWS: ClaimVersion,
    PATIENTS: PatientMbi,
    PARTIAL_CLAIMS: PartialClaim,
    DELETED_RESOURCES: DeletedResource,
    REJECTS: Reject,
}


def _column_type(hint: object) -> str:
    if isinstance(hint, types.UnionType):  # X | None: every column is nullable in Parquet anyway
        (hint,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is str:
        return "string"
    if hint is int:
        return "bigint"
    if hint is datetime:
        return "timestamp"
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...):
        return "array<string>"
    raise TypeError(f"no column type for {hint!r}")


def columns(table: str) -> tuple[Column, ...]:
    hints = typing.get_type_hints(ROW_TYPES[table])
    return tuple(Column(name, _column_type(hints[name])) for name in ROW_TYPES[table]._fields)
