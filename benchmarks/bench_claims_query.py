"""Benchmark: `claims_current` over 10 million claim versions with the local engine (DuckDB).

    .venv/bin/python benchmarks/bench_claims_query.py [--rows 10000000] [--files 40] [--threads N]

Generates synthetic claim_version_rows Parquet files once (by DuckDB itself, in the curated
layout, under benchmarks/results/claims-<rows>/, kept out of git): families of three versions,
the older two cancelled, the newest active (every 25th family wholly cancelled), 1% of the
records landed a second time (duplicates). Then, in a fresh process, opens ClaimsDatabase on
it (the real view definitions), resolves every family of claims_current, then the summary line.
Prints seconds and the process's peak RSS; asserts nothing.
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

from benchmarks.measure import peak_rss_mib

RESULTS = ROOT / "benchmarks" / "results"

ROW_SQL = """
SELECT
    'bench' AS source,
    CAST(i // 3 AS VARCHAR) AS claim_group_id,
    CAST(1000000000 + i AS VARCHAR) AS claim_id,
    CASE WHEN i % 3 = 2 AND (i // 3) % 25 <> 0 THEN 'active' ELSE 'cancelled' END AS status,
    strftime(TIMESTAMP '2024-01-01' + to_seconds(i // 3) + to_days(CAST(i % 3 AS INTEGER)),
             '%Y-%m-%dT%H:%M:%S.000+00:00') AS last_updated,
    CAST(TIMESTAMP '2024-01-01' + to_seconds(i // 3) + to_days(CAST(i % 3 AS INTEGER)) AS TIMESTAMP_MS)
        AS last_updated_utc,
    'CARRIER' AS claim_type,
    '2023-12-01' AS service_start,
    '2023-12-01' AS service_end,
    CAST(-10000000000000 - (i // 30) AS VARCHAR) AS patient,
    upper(substr(md5(CAST(i // 30 AS VARCHAR)), 1, 11)) AS mbi,
    CAST([] AS VARCHAR[]) AS historic_mbis,
    'carrier-' || CAST(1000000000 + i AS VARCHAR) AS resource_id,
    '{run_id}' AS run_id,
    'fhir/bench/ExplanationOfBenefit/run_date=2026-06-01/{run_id}/ExplanationOfBenefit-'
        || lpad(CAST({index} AS VARCHAR), 4, '0') || '.ndjson.gz' AS object_key,
    CAST(i - {start} + 1 AS BIGINT) AS line
FROM range({start}, {end}) AS t(i)
"""


def generate(root: Path, rows: int, files: int) -> None:
    marker = root / ".complete"
    if marker.exists():
        return
    folder = root / "curated" / "bench" / "claim_version_rows" / "run_date=2026-06-01"
    folder.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    step = -(-rows // files)
    for index, start in enumerate(range(0, rows, step), start=1):
        run_id = "20260601T000000.000Z-bench0"
        select = ROW_SQL.format(run_id=run_id, index=index, start=start, end=min(start + step, rows))
        connection.execute(f"COPY ({select}) TO '{folder}/{run_id}-{index:05d}.parquet' (FORMAT parquet)")
    # 1% of the records landed again by a later run (an overlapping _since)
    run_id = "20260701T000000.000Z-bench1"
    select = ROW_SQL.format(run_id=run_id, index=1, start=0, end=rows // 100)
    connection.execute(f"COPY ({select}) TO '{folder}/{run_id}-00001.parquet' (FORMAT parquet)")
    marker.write_text("ok\n")


def measure(root: Path, threads: int | None) -> None:
    from local.claims.query import ClaimsDatabase

    began = time.perf_counter()
    database = ClaimsDatabase(root, threads=threads)
    opened = time.perf_counter() - began
    began = time.perf_counter()
    # every family resolved and every printed column read, without shipping 3 million rows to Python
    families = database.connection.execute(
        "SELECT count(*), count_if(status = 'active'), max(length(mbi)), max(last_updated), max(versions) "
        "FROM claims_current"
    ).fetchone()
    current_s = time.perf_counter() - began
    began = time.perf_counter()
    summary = database.summary()
    summary_s = time.perf_counter() - began
    print(f"  open + create views      {opened:6.2f} s")
    print(f"  claims_current ({families[0] if families else 0:,} families) {current_s:6.2f} s")
    print(f"  summary line             {summary_s:6.2f} s")
    print(f"  {summary.line()}")
    print(f"  peak RSS                 {peak_rss_mib():,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: DuckDB's, one per core)")
    parser.add_argument("--measure-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_only:
        measure(args.measure_only, args.threads)
        return
    root = RESULTS / f"claims-{args.rows}"
    began = time.perf_counter()
    generate(root, args.rows, args.files)
    size = sum(path.stat().st_size for path in root.rglob("*.parquet")) / 1e6
    print(
        f"input: {args.rows:,} claim versions (+1% duplicates) in {size:,.0f} MB of Parquet under {root} "
        f"(ready in {time.perf_counter() - began:.1f} s)"
    )
    command = [sys.executable, __file__, "--measure-only", str(root)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    subprocess.run(command, check=True)  # a fresh process: its peak RSS is the query's


if __name__ == "__main__":
    main()
