"""Resolve a source's claims into a new snapshot generation: the old snapshot plus the curated files
it has not folded yet, through the ``history_*`` views' own SQL.

The views are folds: a claim version's state is the latest of its records (and a snapshot row is
the state of the records it has seen, with their count, earliest moment and latest run), a patient's
MBIs the latest of its records. So the snapshot's rows of the versions and patients a run touches,
together with the run's new records, resolve exactly as all their records would; every other row is
copied. Only the families of touched versions (and of patients whose MBIs may have moved) are
resolved again. A folded file that changed or disappeared (a rebuild, new rules) makes the
generation a full one, from every curated file: the result is always what the history views say.

DuckDB runs it under a memory limit, spilling to ``workdir``; every step streams to a Parquet file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from claims.catalog import Catalog, load_catalog
from claims.tables import CLAIM_VERSION_ROWS, DELETED_RESOURCES, PATIENTS
from resolve import layout
from resolve.sql import literal, relation, render_for_duckdb
from resolve.store import SnapshotStore

#: the curated tables a snapshot folds
FOLDED_TABLES = (CLAIM_VERSION_ROWS, PATIENTS, DELETED_RESOURCES)
VERSION_KEY = ("source", "claim_group_id", "claim_id")
FAMILY_KEY = ("source", "claim_group_id")


@dataclass
class ResolveReport:
    generation: str | None  # the current generation after the step (None: no claims at all)
    mode: str  # full | incremental | unchanged
    folded_files: int = 0  # curated files read for this generation (new ones, or all of them)
    rows: dict[str, int] = field(default_factory=dict)  # snapshot table -> rows
    touched: dict[str, int] = field(default_factory=dict)  # versions / patients / families resolved again
    removed_generations: int = 0


def _json(store: SnapshotStore, key: str) -> dict[str, object] | None:
    text = store.read_text(key)
    return json.loads(text) if text else None


def resolve_source(
    store: SnapshotStore,
    source: str,
    workdir: Path,
    generation: str,
    *,
    full: bool = False,
    memory_limit: str = "1GB",
    threads: int | None = None,
) -> ResolveReport:
    """Fold what was curated since the current generation into ``generation`` and make it current."""
    catalog = load_catalog()
    current = _json(store, layout.generation_key(source))
    folded: dict[str, str] = {}
    if current is not None and not full:
        folded = dict(_json(store, str(current["folded_key"])) or {})  # type: ignore[arg-type]
    curated = {key: print_ for table in FOLDED_TABLES for key, print_ in store.list_files(
        layout.table_prefix(source, table)).items()}  # fmt: skip
    changed = any(curated.get(key) != fingerprint for key, fingerprint in folded.items())
    full = full or current is None or changed
    new = sorted(curated) if full else sorted(key for key in curated if key not in folded)
    if not new and not full:
        return ResolveReport(str(current["generation"]) if current else None, "unchanged")
    if not curated and current is None:
        return ResolveReport(None, "unchanged")
    workdir.mkdir(parents=True, exist_ok=True)
    with _scratch(workdir) as scratch:
        inputs = _fetch_inputs(store, source, scratch, current if not full else None, new, curated)
        outputs, report = _build(catalog, scratch, inputs, memory_limit, threads)
        report.mode, report.folded_files, report.generation = ("full" if full else "incremental"), len(new), generation
        _publish(store, source, generation, outputs, curated)
        previous = str((current or {}).get("generation"))
        report.removed_generations = _remove_old(store, source, keep={generation, previous})
    return report


@contextmanager
def _scratch(workdir: Path) -> Iterator[Path]:
    scratch = workdir / "resolve"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class _Inputs:
    old: dict[str, list[Path]]  # snapshot table -> its current files (none: a full generation)
    new: dict[str, list[Path]]  # curated table -> the files not folded yet
    deletions: list[Path]  # every deleted_resources file of the source (a deletion names any version)


def _fetch_inputs(
    store: SnapshotStore, source: str, scratch: Path, current: dict[str, object] | None, new: list[str],
    curated: dict[str, str],
) -> _Inputs:  # fmt: skip
    def fetch(key: str) -> Path:
        path = scratch / "in" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            store.fetch(key, path)
        return path

    old: dict[str, list[Path]] = {}
    for table, keys in dict(current.get("tables") or {} if current else {}).items():  # type: ignore[call-overload]
        old[table] = [fetch(key) for key in keys]
    by_table: dict[str, list[Path]] = {table: [] for table in FOLDED_TABLES}
    for key in new:
        by_table[key.split("/")[2]].append(fetch(key))
    deletions = [fetch(key) for key in sorted(curated) if key.split("/")[2] == DELETED_RESOURCES]
    return _Inputs(old, by_table, deletions)


def _build(
    catalog: Catalog, scratch: Path, inputs: _Inputs, memory_limit: str, threads: int | None
) -> tuple[dict[str, Path], ResolveReport]:
    out = scratch / "out"
    out.mkdir()
    connection = duckdb.connect(str(scratch / "resolve.duckdb"))
    connection.execute(f"SET memory_limit = {literal(memory_limit)}")
    connection.execute(f"SET temp_directory = {literal(str(scratch / 'spill'))}")
    connection.execute("SET preserve_insertion_order = false")
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    sql = {view.name: render_for_duckdb(view.sql) for view in catalog.views}

    def bind(name: str, select: str) -> None:
        connection.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")

    def write(table: str, select: str) -> Path:
        path = out / f"{table}.parquet"
        connection.execute(f"COPY ({select}) TO {literal(str(path))} (FORMAT parquet, COMPRESSION zstd)")
        return path

    def old(table: str) -> str:
        return relation(inputs.old.get(table, []), catalog.columns(table))

    def names(table: str) -> str:
        return ", ".join(column.name for column in catalog.columns(table))

    bind("new_claims", relation(inputs.new[CLAIM_VERSION_ROWS], catalog.table(CLAIM_VERSION_ROWS).columns))
    bind("new_patients", relation(inputs.new[PATIENTS], catalog.table(PATIENTS).columns))
    bind("new_deletions", relation(inputs.new[DELETED_RESOURCES], catalog.table(DELETED_RESOURCES).columns))
    bind("deleted_resources", relation(inputs.deletions, catalog.table(DELETED_RESOURCES).columns))
    for table in ("claim_versions", "patients_current", "claim_mbis", "claims_current"):
        bind(f"old_{table}", old(table))

    # versions: those with new records, and those whose resource a new deletion names
    connection.execute(
        "CREATE TABLE touched_versions AS SELECT DISTINCT source, claim_group_id, claim_id FROM new_claims UNION "
        "SELECT v.source, v.claim_group_id, v.claim_id FROM old_claim_versions AS v JOIN (SELECT DISTINCT source, "
        "resource_id FROM new_deletions WHERE resource_type = 'ExplanationOfBenefit') AS d "
        "ON d.source = v.source AND d.resource_id = v.resource_id"
    )
    partial = names("history_claim_records").replace("status,", "record_status AS status,", 1)
    bind("claim_version_rows", "SELECT * FROM new_claims")
    bind("history_claim_records", f"SELECT {partial} FROM old_claim_versions SEMI JOIN touched_versions "
         f"USING ({', '.join(VERSION_KEY)}) UNION ALL {sql['history_claim_records']}")  # fmt: skip
    versions = write("claim_versions", f"SELECT * FROM old_claim_versions ANTI JOIN touched_versions USING "
                     f"({', '.join(VERSION_KEY)}) UNION ALL {sql['history_claim_versions']}")  # fmt: skip

    # patients: a Patient record's (patients_current), a claim record's (claim_mbis)
    connection.execute("CREATE TABLE touched_patients AS SELECT DISTINCT source, patient_id FROM new_patients")
    bind("patients", "SELECT * FROM old_patients_current SEMI JOIN touched_patients USING (source, patient_id) "
         "UNION ALL SELECT * FROM new_patients")  # fmt: skip
    patients = write("patients_current", "SELECT * FROM old_patients_current ANTI JOIN touched_patients USING "
                     f"(source, patient_id) UNION ALL {sql['history_patients_current']}")  # fmt: skip
    mbi_columns = names("claim_mbis")
    connection.execute(
        "CREATE TABLE touched_claim_patients AS SELECT DISTINCT source, patient FROM new_claims "
        "WHERE patient IS NOT NULL AND (mbi IS NOT NULL OR len(historic_mbis) > 0)"
    )
    bind("claim_version_rows", f"SELECT {mbi_columns} FROM old_claim_mbis SEMI JOIN touched_claim_patients "
         f"USING (source, patient) UNION ALL SELECT {mbi_columns} FROM new_claims")  # fmt: skip
    mbis = write("claim_mbis", "SELECT * FROM old_claim_mbis ANTI JOIN touched_claim_patients USING "
                 f"(source, patient) UNION ALL {sql['history_claim_mbis']}")  # fmt: skip

    # families: of the touched versions, and of the patients whose MBIs may have moved
    bind("history_claim_versions", f"SELECT * FROM read_parquet({literal(str(versions))})")
    bind("history_patients_current", f"SELECT * FROM read_parquet({literal(str(patients))})")
    bind("history_claim_mbis", f"SELECT * FROM read_parquet({literal(str(mbis))})")
    connection.execute(
        "CREATE TABLE touched_families AS SELECT DISTINCT source, claim_group_id FROM touched_versions UNION "
        "SELECT source, claim_group_id FROM history_claim_versions SEMI JOIN (SELECT source, patient_id AS patient "
        "FROM touched_patients UNION SELECT source, patient FROM touched_claim_patients) AS p USING (source, patient)"
    )
    bind("history_claim_versions", f"SELECT * FROM read_parquet({literal(str(versions))}) SEMI JOIN "
         f"touched_families USING ({', '.join(FAMILY_KEY)})")  # fmt: skip
    families = write("claims_current", "SELECT * FROM old_claims_current ANTI JOIN touched_families USING "
                     f"({', '.join(FAMILY_KEY)}) UNION ALL {sql['history_claims_current']}")  # fmt: skip

    outputs = {"claim_versions": versions, "patients_current": patients, "claim_mbis": mbis, "claims_current": families}
    report = ResolveReport(None, "")
    for table, path in outputs.items():
        row = connection.execute(f"SELECT count(*) FROM read_parquet({literal(str(path))})").fetchone()
        report.rows[table] = int(row[0]) if row else 0
    for what, table in (("versions", "touched_versions"), ("patients", "touched_patients"),
                        ("families", "touched_families")):  # fmt: skip
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        report.touched[what] = int(row[0]) if row else 0
    connection.close()
    return outputs, report


def _publish(
    store: SnapshotStore, source: str, generation: str, outputs: dict[str, Path], curated: dict[str, str]
) -> None:
    """The generation's files, then each table's manifest (one PUT: the switch), then generation.json."""
    tables = {}
    for table, path in outputs.items():
        key = layout.part_key(source, generation, table)
        store.publish(path, key)
        tables[table] = [key]
    folded = layout.folded_key(source, generation)
    store.write_text(folded, json.dumps(curated, sort_keys=True))
    for table, keys in tables.items():
        store.write_text(layout.current_manifest_key(source, table), "".join(f"{store.uri(key)}\n" for key in keys))
    document = {
        "source": source, "generation": generation, "tables": tables, "folded_key": folded,
        "folded_files": len(curated),
    }  # fmt: skip
    store.write_text(layout.generation_key(source), json.dumps(document, indent=1))


def _remove_old(store: SnapshotStore, source: str, keep: set[str]) -> int:
    """Generations before the previous one: a query that began before this switch may still read the
    previous generation's files, none reads an older one."""
    prefix = layout.snapshot_prefix(source)
    stale = [key for key in store.list_files(prefix) if key[len(prefix) :].split("/", 1)[0] not in keep]
    for key in stale:
        store.delete(key)
    return len({key[len(prefix) :].split("/", 1)[0] for key in stale})
