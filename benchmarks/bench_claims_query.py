"""Benchmark: the claims views at 1, 3 and 10 million claim versions, as `bulk-ingest claims` prints
them, and the Resolve claims step that keeps their snapshot.

    .venv/bin/python benchmarks/bench_claims_query.py [--versions 1000000,3000000,10000000]
        [--runs 10] [--root benchmarks/results] [--threads 2] [--history]

Generates synthetic curated files once per size (by DuckDB, in the bucket's layout, under
ROOT/claims-<versions>/, kept out of git): families of three versions, the older two re-sent
cancelled, the newest active (every 25th family wholly cancelled), spread over --runs monthly runs;
1% of the records landed a second time by a later run (duplicates); one Patient record per 30
claim records carries the MBIs (BCDA's shape). Then, each in a fresh process (its peak RSS is its
own, read by wait4):

- Resolve claims (resolve.resolve_source, the step's own code, DuckDB limited to 2 GB as in the
  function): the first runs-1 runs from nothing (a rebuild), then the last run and the duplicates
  (a monthly run: incremental);
- every view as a user asks for it: `bulk-ingest claims --view current|versions|duplicates`
  (default table format, to /dev/null; the summary line included), and the view's query alone;
- the bytes Athena would scan for the view: the compressed column chunks of the columns its query
  reads, in the files it reads (the partition column comes from the path).

Prints seconds, peak RSS and bytes; asserts nothing. --history also runs history_claims_current,
the definition over every curated file, for comparison.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

import duckdb

RESULTS = ROOT / "benchmarks" / "results"
SOURCE = "bench"

CLAIM_SQL = """
SELECT
    '{source}' AS source,
    CAST(i // 3 AS VARCHAR) AS claim_group_id,
    CAST(1000000000 + i AS VARCHAR) AS claim_id,
    CASE WHEN i % 3 = 2 AND (i // 3) % 25 <> 0 THEN 'active' ELSE 'cancelled' END AS status,
    strftime(TIMESTAMP '2024-01-01' + to_seconds(i // 3) + to_days(CAST(i % 3 AS INTEGER)),
             '%Y-%m-%dT%H:%M:%S.000+00:00') AS last_updated,
    CAST(TIMESTAMP '2024-01-01' + to_seconds(i // 3) + to_days(CAST(i % 3 AS INTEGER)) AS TIMESTAMP_MS)
        AS last_updated_utc,
    epoch_us(TIMESTAMP '2024-01-01' + to_seconds(i // 3) + to_days(CAST(i % 3 AS INTEGER))) AS updated_us,
    'lastUpdated' AS updated_from,
    CAST(hash(i, i % 3 = 2) >> 1 AS BIGINT) AS content_digest,
    'CARRIER' AS claim_type,
    '2023-12-01' AS service_start,
    '2023-12-01' AS service_end,
    CAST(-10000000000000 - (i // 30) AS VARCHAR) AS patient,
    CAST(NULL AS VARCHAR) AS mbi,
    CAST([] AS VARCHAR[]) AS historic_mbis,
    'carrier-' || CAST(1000000000 + i AS VARCHAR) AS resource_id,
    '{run_id}' AS run_id,
    'fhir/{source}/ExplanationOfBenefit/run_date={day}/{run_id}/ExplanationOfBenefit-0001.ndjson.gz' AS object_key,
    CAST(i - {start} + 1 AS BIGINT) AS line
FROM range({start}, {end}) AS t(i)
"""
PATIENT_SQL = """
SELECT
    '{source}' AS source,
    CAST(-10000000000000 - p AS VARCHAR) AS patient_id,
    upper(substr(md5(CAST(p AS VARCHAR)), 1, 11)) AS mbi,
    [upper(substr(md5(CAST(-p AS VARCHAR)), 1, 11))] AS historic_mbis,
    '2023-12-01T00:00:00.000+00:00' AS last_updated,
    TIMESTAMP_MS '2023-12-01 00:00:00' AS last_updated_utc,
    epoch_us(TIMESTAMP '2023-12-01') AS updated_us,
    'lastUpdated' AS updated_from,
    '{run_id}' AS run_id,
    'fhir/{source}/Patient/run_date={day}/{run_id}/Patient-0001.ndjson.gz' AS object_key,
    CAST(p + 1 AS BIGINT) AS line
FROM range(0, {patients}) AS t(p)
"""


def _run_id(month: int) -> tuple[str, str]:
    """(run id, landing day) of the month's run."""
    year, month0 = 2024 + month // 12, month % 12 + 1
    return f"{year}{month0:02d}10T060000.000Z-bench{month:02d}", f"{year}-{month0:02d}-10"


def _copy(connection: duckdb.DuckDBPyConnection, select: str, root: Path, table: str, run: int, index: int) -> None:
    run_id, day = _run_id(run)
    folder = root / "curated" / SOURCE / table / f"run_month={day[:7]}"
    folder.mkdir(parents=True, exist_ok=True)
    connection.execute(f"COPY ({select}) TO '{folder}/{run_id}-{index:05d}.parquet' (FORMAT parquet)")


def generate(root: Path, versions: int, runs: int, phase: str) -> None:
    """phase 'history': the first runs-1 runs; 'last': the last run and 1% duplicates (a later run)."""
    marker = root / f".generated-{phase}"
    if marker.exists():
        return
    connection = duckdb.connect()
    step = -(-versions // runs)
    months = range(runs - 1) if phase == "history" else [runs - 1]
    for run in months:
        run_id, day = _run_id(run)
        start, end = run * step, min(versions, (run + 1) * step)
        _copy(connection, CLAIM_SQL.format(source=SOURCE, run_id=run_id, day=day, start=start, end=end),
              root, "claim_version_rows", run, 1)  # fmt: skip
        if run == 0:
            select = PATIENT_SQL.format(source=SOURCE, run_id=run_id, day=day, patients=versions // 30 + 1)
            _copy(connection, select, root, "patients", run, 2)
    if phase == "last":  # an overlapping _since: 1% of the records again, unchanged
        run_id, day = _run_id(runs)
        select = CLAIM_SQL.format(source=SOURCE, run_id=run_id, day=day, start=0, end=versions // 100)
        _copy(connection, select, root, "claim_version_rows", runs, 1)
    marker.write_text("ok\n")


def _isolated(args: list[str]) -> tuple[float, float, str]:
    """A child in a child: RUSAGE_CHILDREN of the middle process is exactly the grandchild's peak."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
        "s = time.perf_counter() - t; "
        "print(p.returncode, s, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
        "(p.stderr.strip().splitlines() or [''])[-1], sep='\\t', file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    returncode, seconds, peak_kib, last = ([*done.stderr.rstrip("\n").splitlines()[-1].split("\t", 3), ""])[:4]
    if int(returncode):
        raise SystemExit(f"{args} failed: {last}")
    return float(seconds), int(peak_kib) / 1024, last


def scanned_bytes(files: list[Path], columns: set[str]) -> int:
    """What Athena reads of these Parquet files for a query of these columns: their column chunks."""
    import pyarrow.parquet as pq

    total = 0
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                if chunk.path_in_schema.split(".")[0] in columns:
                    total += chunk.total_compressed_size
    return total


def _view_files(root: Path, view: str) -> tuple[list[Path], set[str]]:
    """The files a view's query reads in Athena, and the columns it reads of them (not source)."""
    from claims.catalog import load_catalog
    from local.claims.views import DISPLAY_COLUMNS, VIEWS
    from resolve import current_manifest_key

    name = VIEWS[view]
    if name in {snapshot.name for snapshot in load_catalog().snapshots}:
        manifest = (root / current_manifest_key(SOURCE, name)).read_text().split()
        return [root / uri.split("/", 3)[3] for uri in manifest], set(DISPLAY_COLUMNS[view]) - {"source"}
    files = sorted((root / "curated" / SOURCE / "claim_version_rows").rglob("*.parquet"))
    used = {"claim_group_id", "claim_id", "last_updated", "last_updated_utc", "updated_us", "content_digest",
            "object_key", "line", "run_id"}  # fmt: skip
    return files, used


def _size(count: int) -> str:
    return f"{count / 2**20:,.1f} MiB"


def measure(root: Path, versions: int, runs: int, threads: int, history: bool) -> None:
    me = str(Path(__file__).resolve())
    print(f"== {versions:,} claim versions ({runs} monthly runs + 1% duplicates) under {root}")
    for phase, label in (("history", f"first {runs - 1} runs, from nothing"), ("last", "the last run, incremental")):
        began = time.perf_counter()
        generate(root, versions, runs, phase)
        generated = time.perf_counter() - began
        seconds, peak, line = _isolated([sys.executable, me, "--resolve", str(root), "--threads", str(threads)])
        print(f"  resolve claims ({label}): {seconds:7.1f} s  peak RSS {peak:7,.0f} MiB  [{line}]"
              f"{f'  (data generated in {generated:.0f} s)' if generated > 1 else ''}")  # fmt: skip
    parquet = sum(path.stat().st_size for path in (root / "curated").rglob("*.parquet"))
    print(f"  curated + snapshot Parquet: {_size(parquet)}")
    bulk_ingest = str(Path(sys.executable).parent / "bulk-ingest")
    for view in ("current", "versions", "duplicates"):
        files, columns = _view_files(root, view)
        scanned = scanned_bytes(files, columns)
        seconds, peak, _ = _isolated(
            [sys.executable, me, "--query-only", str(root), "--view", view, "--threads", str(threads)]
        )
        print(
            f"  {view:10} query alone      {seconds:7.1f} s  peak RSS {peak:7,.0f} MiB  Athena scans {_size(scanned)}"
        )
        seconds, peak, line = _isolated([bulk_ingest, "claims", "--out", str(root), "--view", view])
        print(f"  {view:10} bulk-ingest claims {seconds:5.1f} s  peak RSS {peak:7,.0f} MiB  (table to /dev/null)")
    print(f"  summary line: {line.removeprefix('bulk-ingest claims: ')}")
    for view, label in (("resolved", "claims_current"), *((("history", "history_claims_current"),) if history else ())):
        seconds, peak, _ = _isolated([sys.executable, me, "--query-only", str(root), "--view", view,
                                      "--threads", str(threads)])  # fmt: skip
        print(f"  {label}, every family read in DuckDB (no row printed) {seconds:6.1f} s  peak RSS {peak:7,.0f} MiB")


def _resolve(root: Path, threads: int) -> None:
    from resolve import DirectoryStore, resolve_source

    generation = time.strftime("%Y%m%dT%H%M%S") + f"-{time.perf_counter_ns() % 10**6:06d}"
    report = resolve_source(DirectoryStore(root), SOURCE, root / "work", generation, memory_limit="2GB",
                            threads=threads)  # fmt: skip
    print(f"{report.mode}: {report.folded_files} files folded, touched {report.touched}, rows {report.rows}",
          file=sys.stderr)  # fmt: skip


def _query_only(root: Path, view: str, threads: int) -> None:
    from local.claims.query import ClaimsDatabase

    database = ClaimsDatabase(root, threads=threads)
    if view in ("history", "resolved"):  # every family resolved and every printed column read, no row shipped
        name = "history_claims_current" if view == "history" else "claims_current"
        database.connection.execute(
            "SELECT count(*), count_if(status = 'active'), max(length(mbi)), max(last_updated), max(versions), "
            f"max(len(flags)) FROM {name}"
        ).fetchall()
        return
    rows = 0
    for batch in database.stream(view)[1]:
        rows += len(batch)
    print(f"{rows:,} rows", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", default="1000000,3000000,10000000", help="comma-separated sizes")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--root", type=Path, default=RESULTS, help="where the data is generated (once per size)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the machine's cores: 2)")
    parser.add_argument("--history", action="store_true", help="also time history_claims_current")
    parser.add_argument("--resolve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--query-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--view", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.resolve:
        _resolve(args.resolve, args.threads)
    elif args.query_only:
        _query_only(args.query_only, args.view, args.threads)
    else:
        for versions in (int(size) for size in args.versions.split(",")):
            measure(args.root / f"claims-{versions}", versions, args.runs, args.threads, args.history)


if __name__ == "__main__":
    main()
