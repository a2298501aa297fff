"""Benchmark: the six default SQL on FHIR views over the emulator's EOBs, EOBs per second per core.

    .venv/bin/python benchmarks/bench_views.py [--eobs 4000] [--repeat 3] [--baselines]

The product's per-file work for an ExplanationOfBenefit file: parse each NDJSON line (orjson),
evaluate the four claim views of the six (claim_headers, claim_lines, claim_diagnoses,
claim_procedures; coverage_periods and patient_demographics read other files), write each view's
Parquet (into a sink that drops the bytes). Then the same with the claims curation in the same
pass (what "Curate file" does). CPU time of this process, best of --repeat; peak RSS of this
process for files 1, 4 and 12 times as large (memory is bounded by one row group of 32,768 rows
per view table: it grows until the first row group, then stays flat). Prints figures.

--baselines adds what the engine was chosen against, on the same EOBs, for claim_lines alone:
a per-resource FHIRPath interpreter (fhirpathpy from PyPI: ``pip install fhirpathpy``, not a
project dependency) and DuckDB over the NDJSON (read_json with the columns typed as the view
needs, then the same SQL over a Parquet copy of it).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from benchmarks.measure import DroppingSink, best_cpu_seconds, peak_rss_mib, reset_peak_rss
from claims import LandedFile, curate_lines
from local.emulator.claims import eob
from local.emulator.population import CLAIM_TYPES, CLAIM_WEIGHTS, Beneficiary, Revision, seeded
from local.emulator.resources import dumps
from views.catalog import load_tables
from views.curate import ViewOutputs, curate_view_lines, prepare

LANDED = LandedFile(
    "bench", "20260601T000000.000Z-aaaaaa", "2026-06-01", "fhir/bench/ExplanationOfBenefit-0001.ndjson.gz", 1
)


def emulator_eobs(count: int, seed: int = 7) -> list[bytes]:
    """R4 EOBs of every claim type in the emulator's mix (BFD V2 shapes), one NDJSON line each."""
    rng = seeded("bench-views", seed)
    loaded = datetime(2026, 1, 1, tzinfo=UTC)
    lines = []
    for number in range(count):
        bene = Beneficiary(number % 500, f"-{10**13 + number % 500}", "1S00E00AA66", None, loaded, False, 0)
        claim_type = rng.choices(CLAIM_TYPES, CLAIM_WEIGHTS)[0]
        clm_id, group = str(10**9 + number), str(10**8 + number)
        revision = Revision("ExplanationOfBenefit", f"{claim_type}-{clm_id}", loaded, rng.getrandbits(32), "active",
                            claim_type, clm_id, group, date(2025, 1 + number % 12, 1 + number % 28))  # fmt: skip
        lines.append(dumps(eob(bene, revision, True)) + b"\n")
    return lines


def _cpu_seconds(work: Callable[[], object], repeat: int) -> float:
    gc.collect()
    return best_cpu_seconds(work, repeat)


def _views_only(lines: Iterable[bytes], tables: list) -> None:  # type: ignore[type-arg]
    outputs = ViewOutputs(tables, LANDED, lambda table: DroppingSink())
    curate_view_lines(lines, outputs)
    outputs.commit()


def _claims_and_views(lines: Iterable[bytes], tables: list) -> None:  # type: ignore[type-arg]
    outputs = ViewOutputs(tables, LANDED, lambda table: DroppingSink())
    curate_lines(lines, LANDED, lambda table: DroppingSink(), observe=outputs.observe)
    outputs.commit()


def _report(name: str, seconds: float, eobs: int, megabytes: float) -> None:
    print(f"  {name:52s} {eobs / seconds:8,.0f} EOBs/s  {megabytes / seconds:6.1f} MB/s  ({seconds:.2f} CPU s)")


def _fhirpathpy(lines: list[bytes], view: dict) -> float | None:  # type: ignore[type-arg]
    try:
        from fhirpathpy import compile as fp_compile  # type: ignore[import-not-found]
    except ImportError:
        print("  fhirpathpy: not installed (pip install fhirpathpy): skipped")
        return None
    import orjson

    columns = view["select"][1]["column"]
    compiled = [(c["name"], fp_compile(c["path"].replace("%resource", "%context"))) for c in columns
                if "defineVariable" not in c["path"]]  # fmt: skip
    started = time.process_time()
    for line in lines:
        resource = orjson.loads(line)
        for item in resource.get("item", []):
            {name: function(item, {"context": resource}) for name, function in compiled}
    return time.process_time() - started


_ADJ = "list_filter(i.adjudication, lambda a: len(list_filter(a.category.coding, lambda c: c.code = '{}')) = 1)[1]"
_VAR = "https://bluebutton.cms.gov/resources/variables/"
_DUCKDB_LINES_TEMPLATE = """
SELECT e.id, i.sequence,
       list_filter(i.productOrService.coding, lambda c: c.system = 'HCPCS')[1].code AS hcpcs,
       i.servicedPeriod.start AS service_start, i.quantity.value AS units,
       ALLOWED.amount.value AS allowed, PAID.amount.value AS paid, SUBMITTED.amount.value AS submitted
FROM {source} AS e, unnest(e.item) AS t(i)
"""
_DUCKDB_LINES = (
    _DUCKDB_LINES_TEMPLATE.replace("ALLOWED", _ADJ.format(_VAR + "line_alowd_chrg_amt"))
    .replace("PAID", _ADJ.format(_VAR + "line_nch_pmt_amt"))
    .replace("SUBMITTED", _ADJ.format(_VAR + "line_sbmtd_chrg_amt"))
    .replace("HCPCS", _VAR + "hcpcs_cd")
)
_DUCKDB_TYPES = (
    "{'id': 'VARCHAR', 'item': 'STRUCT(sequence INTEGER, productOrService STRUCT(coding STRUCT(system VARCHAR, "
    "code VARCHAR)[]), servicedPeriod STRUCT(start VARCHAR), quantity STRUCT(value DOUBLE), adjudication "
    "STRUCT(category STRUCT(coding STRUCT(system VARCHAR, code VARCHAR)[]), amount STRUCT(value DOUBLE))[])[]'}"
)


def _duckdb(lines: list[bytes]) -> tuple[float, float, float] | None:
    try:
        import duckdb
    except ImportError:
        print("  duckdb: not installed: skipped")
        return None
    with tempfile.TemporaryDirectory() as folder:
        ndjson = Path(folder) / "eob.ndjson"
        ndjson.write_bytes(b"".join(lines))
        connection = duckdb.connect()
        connection.execute("SET threads = 1")
        raw = f"read_json('{ndjson}', format = 'newline_delimited')"
        typed = f"read_json('{ndjson}', format = 'newline_delimited', columns = {_DUCKDB_TYPES})"
        timings = []
        out = Path(folder) / "claim_lines.parquet"
        for source in (raw, typed):
            started = time.process_time()  # every column computed and written, as the product does
            connection.execute(f"COPY ({_DUCKDB_LINES.format(source=source)}) TO '{out}' (FORMAT parquet)")
            timings.append(time.process_time() - started)
        parquet = Path(folder) / "eob.parquet"
        connection.execute(f"COPY (SELECT * FROM {typed}) TO '{parquet}' (FORMAT parquet)")
        started = time.process_time()
        connection.execute(f"COPY ({_DUCKDB_LINES.format(source=repr(str(parquet)))}) TO '{out}' (FORMAT parquet)")
        timings.append(time.process_time() - started)
    return timings[0], timings[1], timings[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eobs", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baselines", action="store_true")
    args = parser.parse_args()

    lines = emulator_eobs(args.eobs)
    megabytes = sum(map(len, lines)) / 1e6
    tables = prepare(load_tables())
    print(f"{args.eobs:,} emulator EOBs (R4, every claim type), {megabytes:.1f} MB NDJSON, "
          f"{megabytes * 1e6 / args.eobs:,.0f} bytes each; CPU time of one process, best of {args.repeat}")  # fmt: skip
    seconds = _cpu_seconds(lambda: _views_only(lines, tables), args.repeat)
    _report("six default views: parse, evaluate, write Parquet", seconds, args.eobs, megabytes)
    seconds = _cpu_seconds(lambda: _claims_and_views(lines, tables), args.repeat)
    _report("... and the claims curation in the same pass", seconds, args.eobs, megabytes)

    for label, data in (("one file", lines), ("a file 4 times larger", lines * 4), ("12 times larger", lines * 12)):
        gc.collect()
        reset_peak_rss()
        _views_only(data, tables)
        print(f"  peak RSS, {label} ({len(data):,} EOBs): {peak_rss_mib():.0f} MiB")

    if args.baselines:
        claim_lines = json.loads((ROOT / "lambdas/views/defaults/claim_lines.json").read_text())
        print("baselines, claim_lines only:")
        sample = lines[: max(50, args.eobs // 20)]
        seconds = _fhirpathpy(sample, claim_lines)
        if seconds is not None:
            _report(
                "fhirpathpy (a FHIRPath interpreter per resource)", seconds, len(sample), sum(map(len, sample)) / 1e6
            )
        timings = _duckdb(lines)
        if timings is not None:
            names = ("DuckDB over raw JSON text", "DuckDB, typed read_json", "DuckDB over typed Parquet")
            for name, seconds in zip(names, timings, strict=True):
                _report(name + " (one thread)", seconds, args.eobs, megabytes)
        view = [table for table in tables if table.table.name == "claim_lines"]
        seconds = _cpu_seconds(lambda: _views_only(lines, view), args.repeat)
        _report("this engine (parse, evaluate, write Parquet)", seconds, args.eobs, megabytes)


if __name__ == "__main__":
    main()
