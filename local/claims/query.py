"""DuckDB over a folder laid out like the bucket (``<root>/curated/<source>/<table>/run_month=...``),
with the views of ``claims/sql`` rendered from their Trino SQL: the same definitions Athena runs."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from claims.catalog import Catalog, Table, load_catalog
from local.claims.formats import QueryResult
from local.claims.views import DISPLAY_COLUMNS, ORDER_BY, VIEWS, sql_literal
from resolve import current_manifest_key
from resolve.sql import DUCKDB_TYPES, render_for_duckdb

__all__ = ["ClaimsDatabase", "ClaimsSummary", "NoCuratedDataError", "render_for_duckdb"]


#: DuckDB's share of `bulk-ingest claims` (its peak RSS stays under 1 GiB at 10 million versions,
#: benchmarks/bench_claims_query.py); past it, DuckDB spills to disk.
MEMORY_LIMIT = "600MB"


class NoCuratedDataError(Exception):
    """The folder holds no curated Parquet file."""


@dataclass(frozen=True)
class ClaimsSummary:
    records: int  # claim-version records landed (every EOB line that yielded a row)
    versions: int  # distinct claim versions (claim ids)
    families: int
    active: int
    cancelled: int
    anomalies: int
    duplicates_dropped: int
    rejects: int
    deletions: int = 0  # DELETE entries of deleted files
    top_reject: tuple[str, int] | None = None  # the most frequent reason (ids and values blanked), its count

    def line(self) -> str:
        top = f' (most often, {self.top_reject[1]:,} times: "{self.top_reject[0]}")' if self.top_reject else ""
        return (
            f"claims: {self.records:,} versions seen ({self.versions:,} distinct), {self.families:,} families "
            f"({self.active:,} active, {self.cancelled:,} cancelled, {self.anomalies:,} anomalies), "
            f"{self.duplicates_dropped:,} duplicates dropped, {self.rejects:,} rejects{top}, "
            f"{self.deletions:,} deletions"
        )


class ClaimsDatabase:
    """An in-memory DuckDB whose tables are views over the curated files and whose views are the
    catalog's. ``root`` is the folder that holds ``curated/``. A source's snapshot tables
    (claims_current, claim_versions, patients_current) are its latest resolved snapshot where a run
    made one (``curated/<source>/_current/``), else their history_ view over every curated file."""

    def __init__(
        self,
        root: Path,
        catalog: Catalog | None = None,
        *,
        threads: int | None = None,
        memory_limit: str = MEMORY_LIMIT,
        snapshots: bool = True,
    ) -> None:
        self.root = root
        self.catalog = catalog or load_catalog()
        curated = root / "curated"
        if not any(curated.glob("*/*/run_month=*/*.parquet")):
            raise NoCuratedDataError(
                f"no curated claims under {curated}/ (expected "
                "curated/<source>/<table>/run_month=YYYY-MM/<run_id>-<file>.parquet)"
            )
        self.connection = duckdb.connect(":memory:")
        if threads:
            self.connection.execute(f"SET threads = {int(threads)}")
        # past the limit DuckDB spills its sorts, joins and aggregates to a folder of its own
        self._spill = tempfile.TemporaryDirectory(prefix="bulk-ingest-claims-")
        self.connection.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
        self.connection.execute(f"SET temp_directory = {sql_literal(self._spill.name)}")
        for table in self.catalog.tables:
            self.connection.execute(self._table_sql(curated, table))
        for view in self.catalog.views:
            self.connection.execute(f"CREATE VIEW {view.name} AS {render_for_duckdb(view.sql)}")
        resolved = self._snapshot_files(curated) if snapshots else {}
        # a source curated but never resolved (files a test curated, a run stopped before Resolve claims)
        unresolved = any(not (folder / "_current").is_dir() for folder in curated.iterdir() if folder.is_dir())
        for snapshot in self.catalog.snapshots:
            sql = self._snapshot_sql(snapshot.name, resolved, unresolved)
            self.connection.execute(f"CREATE VIEW {snapshot.name} AS {sql}")

    def _snapshot_files(self, curated: Path) -> dict[str, dict[str, list[str]]]:
        """source -> snapshot table -> its current files (the paths the manifests' s3:// URIs name here)."""
        found: dict[str, dict[str, list[str]]] = {}
        for marker in curated.glob("*/_current/generation.json"):
            source = str(json.loads(marker.read_text(encoding="utf-8"))["source"])
            tables = {}
            for snapshot in self.catalog.snapshots:
                manifest = self.root / current_manifest_key(source, snapshot.name)
                uris = manifest.read_text(encoding="utf-8").split() if manifest.is_file() else []
                tables[snapshot.name] = [str(self.root / uri.split("/", 3)[3]) for uri in uris]
            found[source] = tables
        return found

    def _snapshot_sql(self, name: str, resolved: dict[str, dict[str, list[str]]], unresolved: bool) -> str:
        """The sources' snapshots, and the history view for a source without one."""
        view = self.catalog.snapshot(name).view
        columns = ", ".join(column.name for column in self.catalog.columns(name))
        files = [path for tables in resolved.values() for path in tables.get(name, [])]
        if not files:
            return f"SELECT {columns} FROM {view}"
        snapshot = f"SELECT {columns} FROM read_parquet([{', '.join(sql_literal(path) for path in files)}])"
        if not unresolved:
            return snapshot
        without = ", ".join(sql_literal(source) for source in resolved)
        return f"{snapshot} UNION ALL SELECT {columns} FROM {view} WHERE source NOT IN ({without})"

    @staticmethod
    def _table_sql(curated: Path, table: Table) -> str:
        pattern = curated / "*" / table.name / "run_month=*" / "*.parquet"
        if any(curated.glob(f"*/{table.name}/run_month=*/*.parquet")):
            return (
                f"CREATE VIEW {table.name} AS SELECT * FROM read_parquet({sql_literal(str(pattern))}, "
                "hive_partitioning = true, hive_types = {'run_month': VARCHAR}, union_by_name = true)"
            )
        # an AB2D source lands no Patient: the table is there, empty, so the views still bind
        columns = ", ".join(f"{column.name} {DUCKDB_TYPES[column.type]}" for column in table.columns)
        return f"CREATE TABLE {table.name} ({columns}, run_month VARCHAR)"

    def sources(self) -> list[str]:
        """Every source with curated rows, rejects and deletions included (a server whose every line
        was rejected is a source to summarise, not an unknown one)."""
        union = " UNION ".join(f"SELECT DISTINCT source FROM {table.name}" for table in self.catalog.tables)
        return [row[0] for row in self.connection.execute(f"SELECT source FROM ({union}) ORDER BY source").fetchall()]

    def query(self, view: str, *, source: str | None = None, group: str | None = None) -> QueryResult:
        """``view``: current | versions | duplicates; rows ordered by source, family, claim id."""
        columns, batches = self.stream(view, source=source, group=group)
        return QueryResult(columns, [row for batch in batches for row in batch])

    def stream(
        self, view: str, *, source: str | None = None, group: str | None = None, batch_rows: int = 10_000
    ) -> tuple[tuple[str, ...], Iterator[list[tuple[Any, ...]]]]:
        """The view's display columns and its rows a batch at a time, in ``query``'s order."""
        columns = DISPLAY_COLUMNS[view]
        where, parameters = self._filters(source, group)
        sql = f"SELECT {', '.join(columns)} FROM {VIEWS[view]}{where} ORDER BY {', '.join(ORDER_BY)}"
        cursor = self.connection.cursor()  # its own result: other queries may run while it streams
        cursor.execute(sql, parameters)
        return columns, iter(lambda: cursor.fetchmany(batch_rows), [])

    @staticmethod
    def _filters(source: str | None, group: str | None) -> tuple[str, list[str]]:
        clauses, parameters = [], []
        if source is not None:
            clauses.append("source = ?")
            parameters.append(source)
        if group is not None:
            clauses.append("claim_group_id = ?")
            parameters.append(group)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), parameters

    def summary(self, source: str | None = None) -> ClaimsSummary:
        where, parameters = self._filters(source, None)

        def scalar(sql: str) -> int:
            row = self.connection.execute(sql, parameters).fetchone()
            return int(row[0] or 0) if row else 0

        # one pass over claims_current: the sum of its versions is the number of distinct versions
        families = self.connection.execute(
            "SELECT count(*), sum(versions), count_if(status = 'active'), count_if(status = 'cancelled'), "
            f"count_if(anomaly) FROM claims_current{where}",
            parameters,
        ).fetchone()
        assert families is not None
        return ClaimsSummary(
            records=scalar(f"SELECT count(*) FROM claim_version_rows{where}"),
            versions=int(families[1] or 0),
            families=int(families[0] or 0),
            active=int(families[2] or 0),
            cancelled=int(families[3] or 0),
            anomalies=int(families[4] or 0),
            duplicates_dropped=scalar(f"SELECT sum(dropped) FROM claim_duplicates{where}"),
            rejects=scalar(f"SELECT count(*) FROM rejects{where}"),
            deletions=scalar(f"SELECT count(*) FROM deleted_resources{where}"),
            top_reject=self._top_reject(where, parameters),
        )

    def _top_reject(self, where: str, parameters: list[str]) -> tuple[str, int] | None:
        """The most frequent reject reason, its quoted values and numbers blanked so that one cause
        counts once ("ExplanationOfBenefit … has no status")."""
        row = self.connection.execute(
            "SELECT regexp_replace(reason, '''[^'']*''|-?[0-9][0-9.:TZ+-]*', '…', 'g') AS cause, count(*) AS n "
            f"FROM rejects{where} GROUP BY cause ORDER BY n DESC, cause LIMIT 1",
            parameters,
        ).fetchone()
        return (str(row[0]), int(row[1])) if row else None
