"""Benchmark: which Parquet writer for the curation function (bundle size, import time, throughput).

    .venv/bin/python benchmarks/bench_parquet_writers.py [--rows 200000] [--bundles]
    # polars and fastparquet are not project dependencies; to include them:
    pip install --target /tmp/parquet-extra polars fastparquet && PARQUET_EXTRA=/tmp/parquet-extra ...

Rows: the claim-version rows the curation extracts from the emulator's EOBs (16 columns, one a
list), repeated to --rows. Each writer writes them to a Parquet file (row groups of 32,768 where
it has the knob): CPU seconds (all threads) and wall seconds, best of 3, and the file size.
Import time: a fresh interpreter importing the writer, best of 5. --bundles also installs each
candidate for the Lambda (arm64, Python 3.14 wheels) under benchmarks/results/bundles/ and prints
its unzipped size. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]
EXTRA = os.environ.get("PARQUET_EXTRA")
if EXTRA:
    sys.path.append(EXTRA)

from benchmarks.claims_data import eob_lines
from claims import LandedFile, columns
from claims.extract import claim_version
from claims.parquet.writer import ParquetWriter

RESULTS = ROOT / "benchmarks" / "results"
ROW_GROUP = 32_768
IMPORTS = {
    "ours (claims.parquet)": "import claims.parquet.writer",
    "pyarrow": "import pyarrow, pyarrow.parquet",
    "duckdb": "import duckdb",
    "polars": "import polars",
    "fastparquet": "import fastparquet, pandas",
}
BUNDLES = {
    "pyarrow": "pyarrow",
    "duckdb": "duckdb",
    "polars": "polars",
    "fastparquet": "fastparquet",
    "orjson": "orjson",
}
Rows = list[tuple[object, ...]]


def _rows(count: int) -> Rows:
    landed = LandedFile("bench", "20260601T000000.000Z-bench", "2026-06-01", "fhir/bench/x.ndjson.gz", 1)
    base = [tuple(claim_version(json.loads(line), landed, n)) for n, line in enumerate(eob_lines(500), 1)]
    return [base[i % len(base)] for i in range(count)]


def ours(rows: Rows, path: Path) -> None:
    with path.open("wb") as sink:
        writer = ParquetWriter(sink, columns("claim_version_rows"), row_group_rows=ROW_GROUP)
        for row in rows:
            writer.write_row(row)
        writer.close()


def with_pyarrow(rows: Rows, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {
        "string": pa.string(),
        "bigint": pa.int64(),
        "timestamp": pa.timestamp("ms"),
        "array<string>": pa.list_(pa.string()),
    }
    schema = pa.schema([(c.name, kinds[c.type]) for c in columns("claim_version_rows")])
    with pq.ParquetWriter(path, schema, compression="gzip") as writer:
        for start in range(0, len(rows), ROW_GROUP):
            chunk = rows[start : start + ROW_GROUP]
            arrays = [pa.array([list(v) if isinstance(v, tuple) else v for v in values], type=field.type)
                      for values, field in zip(zip(*chunk, strict=True), schema, strict=True)]  # fmt: skip
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def with_duckdb(rows: Rows, path: Path) -> None:
    """Without pyarrow or pandas DuckDB takes Python rows through a file: NDJSON, then COPY."""
    import duckdb

    names = [c.name for c in columns("claim_version_rows")]
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as temp:
        for row in rows:
            temp.write(json.dumps(dict(zip(names, row, strict=True)), default=str) + "\n")
    try:
        duckdb.execute(f"COPY (SELECT * FROM read_json('{temp.name}')) TO '{path}' (FORMAT parquet, COMPRESSION gzip)")
    finally:
        os.unlink(temp.name)


def with_polars(rows: Rows, path: Path) -> None:
    import polars as pl

    kinds = {
        "string": pl.String,
        "bigint": pl.Int64,
        "timestamp": pl.Datetime("ms", "UTC"),
        "array<string>": pl.List(pl.String),
    }
    schema = {c.name: kinds[c.type] for c in columns("claim_version_rows")}
    frame = pl.DataFrame(
        [[list(v) if isinstance(v, tuple) else v for v in row] for row in rows], schema=schema, orient="row"
    )
    frame.write_parquet(path, compression="gzip", row_group_size=ROW_GROUP)


def with_fastparquet(rows: Rows, path: Path) -> None:
    import fastparquet
    import pandas as pd

    frame = pd.DataFrame(rows, columns=[c.name for c in columns("claim_version_rows")])
    frame["historic_mbis"] = frame["historic_mbis"].map(list)
    # fastparquet writes no Parquet LIST: a list column can only become JSON text
    fastparquet.write(str(path), frame, compression="GZIP", row_group_offsets=ROW_GROUP,
                      object_encoding={"historic_mbis": "json"})  # fmt: skip


WRITERS: dict[str, Callable[[Rows, Path], None]] = {
    "ours (claims.parquet)": ours,
    "pyarrow": with_pyarrow,
    "duckdb": with_duckdb,
    "polars": with_polars,
    "fastparquet": with_fastparquet,
}


def import_seconds(statement: str) -> float | None:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lambdas"), EXTRA or ""]))
    best = None
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            return None
        seconds = float(done.stdout)
        best = seconds if best is None else min(best, seconds)
    return best


def bundles() -> None:
    folder = RESULTS / "bundles"
    for name, package in BUNDLES.items():
        target = folder / name
        shutil.rmtree(target, ignore_errors=True)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--platform", "manylinux2014_aarch64", "--platform", "manylinux_2_28_aarch64",
                   "--only-binary=:all:", "--python-version", "3.14", "-t", str(target), package]  # fmt: skip
        if subprocess.run(command, capture_output=True, check=False).returncode:
            print(f"  bundle {name:12} could not be installed for arm64 / 3.14")
            continue
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"  bundle {name:12} {size / 1e6:7.1f} MB unzipped (arm64, Python 3.14)")
    ours_size = sum(p.stat().st_size for p in (ROOT / "lambdas" / "claims").rglob("*.py"))
    print(f"  bundle {'claims code':12} {ours_size / 1e6:7.2f} MB (the package itself, writer included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--bundles", action="store_true", help="also measure the Lambda bundle sizes (pip, network)")
    args = parser.parse_args()
    rows = _rows(args.rows)
    print(f"{len(rows):,} claim-version rows, 16 columns")
    with tempfile.TemporaryDirectory() as folder:
        for name, write in WRITERS.items():
            seconds = import_seconds(IMPORTS[name])
            if seconds is None:
                print(f"  {name:22} not installed: skipped")
                continue
            path = Path(folder) / f"{name.split()[0]}.parquet"
            cpu = wall = float("inf")
            for _ in range(3):
                began_cpu, began_wall = time.process_time(), time.perf_counter()
                write(rows, path)
                cpu = min(cpu, time.process_time() - began_cpu)
                wall = min(wall, time.perf_counter() - began_wall)
            print(
                f"  {name:22} import {seconds * 1000:6.0f} ms   write {len(rows) / cpu / 1000:6.0f} k rows/CPU-s "
                f"({wall:5.2f} s wall)   file {path.stat().st_size / 1e6:5.1f} MB"
            )
    if args.bundles:
        bundles()


if __name__ == "__main__":
    main()
