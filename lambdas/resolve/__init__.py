"""The resolved claims, materialized per run: the ``history_*`` views of ``claims/sql`` (the
definition, over every curated file) folded incrementally into snapshot tables, by DuckDB, the same
code in the AWS stack (the "Resolve claims" step) and on this machine. No boto3: the bucket is a
``SnapshotStore`` (``ingest.adapters`` implements it over S3, ``DirectoryStore`` over a folder).

    from resolve import DirectoryStore, resolve_source

    report = resolve_source(DirectoryStore(root), "bcda-prod", workdir, generation="20260601T...")
"""

from resolve.build import ResolveReport, resolve_source
from resolve.layout import current_manifest_key, generation_key, snapshot_prefix
from resolve.store import DirectoryStore, SnapshotStore

__all__ = [
    "DirectoryStore",
    "ResolveReport",
    "SnapshotStore",
    "current_manifest_key",
    "generation_key",
    "resolve_source",
    "snapshot_prefix",
]
