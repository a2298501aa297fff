"""The per-file step of the views: one pass over a landed file (the claims curation's own parse)
writes each view's Parquet, read back here by DuckDB with its declared types; a resource that breaks
a view lands in view_rejects with the reason, and the file goes on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from claims import DirectoryOutputs, LandedFile, curate_lines
from local.emulator.population import CLAIM_TYPES, Beneficiary, Revision
from local.emulator.resources import coverage, dumps
from tests.support.views import emulator_eobs
from views.catalog import ViewTable, _table, load_tables
from views.curate import ViewOutputs, curate_view_lines, prepare

LOADED = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
BENE = Beneficiary(3, "-10000000000066", "1S00E00AA66", None, LOADED, False, 0)
RUN = "20260601T000000.000Z-aaaaaa"


def _landed(kind: str, index: int) -> LandedFile:
    return LandedFile(
        "src", RUN, "2026-06-01", f"fhir/src/{kind}/run_date=2026-06-01/{RUN}/{kind}-0001.ndjson.gz", index
    )


def _eobs() -> list[dict[str, Any]]:
    return emulator_eobs(BENE, LOADED, CLAIM_TYPES, 6)


def _curate(root: Path, tables: list[ViewTable], resources: list[dict[str, Any]], extra: bytes = b"") -> ViewOutputs:
    landed = _landed("ExplanationOfBenefit", 1)
    outputs = ViewOutputs(prepare(tables), landed, DirectoryOutputs(root, landed))
    lines = [dumps(resource) + b"\n" for resource in resources] + ([extra] if extra else [])
    curate_lines(lines, landed, DirectoryOutputs(root, landed), observe=outputs.observe)
    outputs.commit()
    return outputs


def _sql(root: Path, table: str, query: str) -> list[tuple[Any, ...]]:
    files = f"{root}/curated/src/{table}/run_month=2026-06/*.parquet"
    return duckdb.sql(query.replace("{t}", f"read_parquet('{files}')")).fetchall()


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("out")
    resources = _eobs()
    _curate(root, list(load_tables()), resources)
    return root, resources


def test_claim_lines_has_one_row_per_item_with_the_keys_back_to_what_landed(curated: tuple[Path, Any]) -> None:
    root, resources = curated
    rows = _sql(root, "claim_lines", "SELECT source, claim_group_id, claim_id, resource_id, line, object_key FROM {t}")
    assert len(rows) == sum(len(resource["item"]) for resource in resources)
    first = resources[0]
    assert (
        "src",
        first["identifier"][1]["value"],
        first["identifier"][0]["value"],
        first["id"],
        1,
        _landed("ExplanationOfBenefit", 1).object_key,
    ) in rows
    (utc,) = _sql(root, "claim_headers", "SELECT DISTINCT last_updated_utc FROM {t}")
    assert utc == (LOADED.replace(tzinfo=None),)


def test_the_tables_have_the_declared_types_and_amounts_stay_exact(curated: tuple[Path, Any]) -> None:
    root, resources = curated
    described = dict((name, kind) for name, kind, *_ in _sql(root, "claim_lines", "DESCRIBE SELECT * FROM {t}"))
    assert (described["sequence"], described["paid_amount"], described["service_start"]) == (
        "INTEGER",
        "DECIMAL(18,6)",
        "DATE",
    )
    assert (described["modifiers"], described["line"], described["last_updated_utc"]) == (
        "VARCHAR[]",
        "BIGINT",
        "TIMESTAMP",
    )
    described = dict((name, kind) for name, kind, *_ in _sql(root, "claim_diagnoses", "DESCRIBE SELECT * FROM {t}"))
    assert described["principal"] == "BOOLEAN"
    expected = sum(
        Decimal(repr(entry["amount"]["value"]))
        for resource in resources
        for item in resource["item"]
        for entry in item["adjudication"]
        if entry["category"]["coding"][-1]["code"].endswith(
            ("line_nch_pmt_amt", "rev_cntr_pmt_amt_amt", "cvrd_d_plan_pd_amt")
        )
    )
    assert _sql(root, "claim_lines", "SELECT sum(paid_amount) FROM {t}") == [(expected,)]


def test_a_resource_that_breaks_a_view_is_a_reject_and_the_rest_goes_on(tmp_path: Path) -> None:
    several = {
        "name": "npis",
        "resource": "ExplanationOfBenefit",
        "select": [{"column": [{"name": "npi", "path": "careTeam.provider.identifier.value", "type": "string"}]}],
    }
    tables = [*load_tables(), _table(several, "npis", "test")]
    outputs = _curate(tmp_path, tables, _eobs(), extra=b'{"resourceType": "ExplanationOfBenefit", "id": "bare"}\n')
    several_npis = [e for e in _eobs() if len(e["careTeam"]) > 1]  # all but Part D events (one prescriber)
    assert outputs.report.rows["view_rejects"] == len(several_npis) > 0
    reason = _sql(tmp_path, "view_rejects", "SELECT DISTINCT view, reason FROM {t}")
    assert reason == [("npis", "column npi has 2 values but is not a collection (collection: true, or pick one)")] or (
        len(reason) > 1 and all(view == "npis" for view, _ in reason)
    )
    assert _sql(tmp_path, "claim_headers", "SELECT count(*) FROM {t}") == [(len(_eobs()) + 1,)]  # the bare EOB too


def test_a_value_its_column_type_cannot_hold_is_a_reject_never_rounded(tmp_path: Path) -> None:
    view = {
        "name": "amounts",
        "resource": "ExplanationOfBenefit",
        "select": [
            {
                "column": [
                    {
                        "name": "paid",
                        "path": "payment.amount.value",
                        "type": "decimal",
                        "tag": [{"name": "ansi/type", "value": "DECIMAL(10,1)"}],
                    }
                ]
            }
        ],
    }
    outputs = _curate(tmp_path, [_table(view, "amounts", "test")], _eobs()[:8])
    kept = _sql(tmp_path, "amounts", "SELECT paid FROM {t}") if outputs.report.rows.get("amounts") else []
    rejected = _sql(tmp_path, "view_rejects", "SELECT reason FROM {t}")
    assert len(kept) + len(rejected) == 8 and rejected
    assert all("has more than 1 decimal places (not rounded)" in reason for (reason,) in rejected)


def test_a_file_only_the_views_read(tmp_path: Path) -> None:
    landed = _landed("Coverage", 2)
    outputs = ViewOutputs(prepare(load_tables()), landed, DirectoryOutputs(tmp_path, landed))
    parts = [
        coverage(BENE, Revision("Coverage", f"{part}-{BENE.bene_id}", LOADED, n), True)
        for n, part in enumerate(("part-a", "part-b", "part-c", "part-d"))
    ]
    count = curate_view_lines([dumps(part) + b"\n" for part in parts] + [b"\n", b"not json\n"], outputs)
    report = outputs.commit()
    assert count == 6 and report.rows == {"coverage_periods": 4, "view_rejects": 1}
    rows = duckdb.sql(f"SELECT part, buyin_01 FROM '{tmp_path}/curated/src/coverage_periods/*/*.parquet' ORDER BY part")
    assert [part for part, _ in rows.fetchall()] == ["Part A", "Part B", "Part C", "Part D"]
