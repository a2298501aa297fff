"""`bulk-ingest sql` as a user runs it, over what the curation wrote: the claims tables, the view
tables and their _current forms, which count an adjusted or re-sent claim once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from claims import DirectoryOutputs, LandedFile, curate_lines
from local.cli import main
from local.emulator.claims import eob
from local.emulator.population import Beneficiary, Revision
from local.emulator.resources import dumps
from views.catalog import load_tables
from views.curate import ViewOutputs, prepare

T0 = datetime(2026, 1, 5, tzinfo=UTC)
BENE = Beneficiary(3, "-10000000000066", "1S00E00AA66", None, T0, False, 0)


def _eob(claim_id: str, group: str, status: str, at: datetime, key: int) -> dict[str, Any]:
    revision = Revision("ExplanationOfBenefit", f"carrier-{claim_id}", at, key, status, "carrier", claim_id, group,
                        date(2025, 12, 1))  # fmt: skip
    return eob(BENE, revision, True)


def _land(root: Path, run: str, index: int, resources: list[dict[str, Any]]) -> None:
    key = f"fhir/src/ExplanationOfBenefit/run_date=2026-01-0{index}/{run}/ExplanationOfBenefit-0001.ndjson.gz"
    landed = LandedFile("src", run, f"2026-01-0{index}", key, index)
    outputs = ViewOutputs(prepare(load_tables()), landed, DirectoryOutputs(root, landed))
    curate_lines([dumps(r) + b"\n" for r in resources], landed, DirectoryOutputs(root, landed), observe=outputs.observe)
    outputs.commit()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Family 1: version A, then A cancelled (re-sent) and its successor B; family 2: C, landed twice."""
    out = tmp_path_factory.mktemp("out")
    a, c = _eob("1001", "G1", "active", T0, 11), _eob("2001", "G2", "active", T0, 22)
    _land(out, "20260105T000000.000Z-aaaaaa", 5, [a, c])
    later = T0 + timedelta(days=3)
    a_cancelled, b = _eob("1001", "G1", "cancelled", later, 11), _eob("1002", "G1", "active", later, 33)
    _land(out, "20260108T000000.000Z-bbbbbb", 8, [a_cancelled, b, c])
    items = {"a": len(a["item"]), "b": len(b["item"]), "c": len(c["item"])}
    return out, items


def _sql(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["sql", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_claim_lines_has_every_version_and_current_counts_each_family_once(
    root: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, items = root
    query = ("SELECT (SELECT count(*) FROM claim_lines) AS all_lines, (SELECT count(*) FROM claim_lines_current) AS "
             "current_lines, (SELECT count(*) FROM claim_headers_current) AS families")  # fmt: skip
    code, printed, err = _sql(capsys, "--out", str(out), "--format", "ndjson", query)
    assert (code, err) == (0, "")
    assert json.loads(printed) == {
        "all_lines": 2 * items["a"] + items["b"] + 2 * items["c"],  # every landed record's items
        "current_lines": items["b"] + items["c"],  # B replaced A; C once though it landed twice
        "families": 2,
    }
    per_claim = "SELECT claim_id, count(*) AS n FROM claim_lines_current GROUP BY claim_id ORDER BY claim_id"
    code, printed, _ = _sql(capsys, "--out", str(out), "--format", "csv", per_claim)  # fmt: skip
    assert printed.splitlines() == ["claim_id,n", f"1002,{items['b']}", f"2001,{items['c']}"]


def test_a_query_duckdb_refuses_is_one_line_and_own_arguments_exit_2(
    root: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = root
    code, _, err = _sql(capsys, "--out", str(out), "SELECT nope FROM claim_lines")
    assert code == 1 and err.count("\n") == 1 and err.startswith("bulk-ingest sql: Binder Error")
    code, _, err = _sql(capsys, "--out", str(out), "--region", "us-east-1", "SELECT 1")
    assert code == 2 and err == "bulk-ingest sql: --region and --profile go with --stack\n"
