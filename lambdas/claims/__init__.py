"""Claims you can query: landed ExplanationOfBenefit / Patient / Claim NDJSON (and the Bundles of
``deleted`` files) -> curated Parquet rows, and CMS's claim-version rules. Pure Python (no boto3,
no Powertools, nothing of ``ingest``).

    from claims import LandedFile, curatable, curate_lines, DirectoryOutputs

    if curatable(kind, resource_type):  # the manifest's file kind and type
        landed = LandedFile(source, run_id, run_date, object_key, file_index)
        with gzip.open(path) as stream:
            report = curate_lines(bounded_lines(stream), landed, DirectoryOutputs(root, landed))

The table and view definitions are data: ``claims/sql/schema.json`` and ``claims/sql/*.sql``.
"""

from claims.catalog import SCHEMA_FILE, SQL_DIR, Catalog, load_catalog
from claims.curate import CurationReport, curate_lines
from claims.extract import CURATED_TYPES, DELETION_TYPE, Rejected, curatable
from claims.layout import KEY_TEMPLATE, LandedFile
from claims.lines import MAX_LINE_BYTES, LineTooLong, bounded_lines
from claims.outputs import DirectoryOutputs, FileSink, OpenSink, TableSink
from claims.parquet.writer import Column, ParquetWriter
from claims.rows import ClaimVersion, DeletedResource, PartialClaim, PatientMbi, Reject
from claims.tables import (
    CLAIM_VERSION_ROWS,
    DELETED_RESOURCES,
    PARTIAL_CLAIMS,
    PATIENTS,
    REJECTS,
    ROW_TYPES,
    columns,
)

__all__ = [
    "CLAIM_VERSION_ROWS",
    "CURATED_TYPES",
    "DELETED_RESOURCES",
    "DELETION_TYPE",
    "KEY_TEMPLATE",
    "MAX_LINE_BYTES",
    "PARTIAL_CLAIMS",
    "PATIENTS",
    "REJECTS",
    "ROW_TYPES",
    "SCHEMA_FILE",
    "SQL_DIR",
    "Catalog",
    "ClaimVersion",
    "Column",
    "CurationReport",
    "DeletedResource",
    "DirectoryOutputs",
    "FileSink",
    "LandedFile",
    "LineTooLong",
    "OpenSink",
    "ParquetWriter",
    "PartialClaim",
    "PatientMbi",
    "Reject",
    "Rejected",
    "TableSink",
    "bounded_lines",
    "columns",
    "curatable",
    "curate_lines",
    "load_catalog",
]
