"""A server's `deleted` files (Bulk Data IG: transaction Bundles of DELETE entries, as the emulator's
SMART flavour writes them) -> one deleted_resources row per DELETE entry; every other entry, and
every Bundle of another shape, a reject with its object key and line. And which landed files the
claims layer reads at all."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from claims import DELETED_RESOURCES, REJECTS, DeletedResource, DirectoryOutputs, LandedFile, curatable, curate_lines
from claims.rows import Reject
from local.emulator.resources import deletion_bundle, dumps

RUN = "20260701T000000.000Z-dddddd"
DELETED = LandedFile("src", RUN, "2026-07-01", f"deleted/src/Bundle/run_date=2026-07-01/{RUN}/Bundle-0001.ndjson.gz", 4)


def _bundle(*entries: object, type_: object = "transaction") -> bytes:
    return dumps({"resourceType": "Bundle", "type": type_, "entry": list(entries)})


def _delete(url: str, method: str = "DELETE") -> dict[str, object]:
    return {"request": {"method": method, "url": url}}


def _curated(tmp_path: Path, lines: list[bytes]) -> dict[str, list[tuple[object, ...]]]:
    report = curate_lines(lines, DELETED, DirectoryOutputs(tmp_path, DELETED))
    tables = {}
    for table in (DELETED_RESOURCES, REJECTS):
        path = tmp_path / DELETED.output_key(table)
        tables[table] = (
            duckdb.sql(f"SELECT * FROM read_parquet('{path}', hive_partitioning = false)").fetchall()
            if path.exists()
            else []
        )
        assert report.rows.get(table, 0) == len(tables[table])
    return tables


def test_the_emulators_deletion_line_gives_one_row_with_where_it_landed(tmp_path: Path) -> None:
    lines = [deletion_bundle("ExplanationOfBenefit", "carrier-9991831999"), deletion_bundle("Patient", "-1000")]
    tables = _curated(tmp_path, lines)
    assert [DeletedResource(*row) for row in tables[DELETED_RESOURCES]] == [
        DeletedResource("src", "ExplanationOfBenefit", "carrier-9991831999", RUN, DELETED.object_key, 1),
        DeletedResource("src", "Patient", "-1000", RUN, DELETED.object_key, 2),
    ]
    assert tables[REJECTS] == []
    assert (tmp_path / "curated/src/deleted_resources/run_month=2026-07" / f"{RUN}-00004.parquet").is_file()


def test_each_delete_entry_is_a_row_and_each_other_entry_a_reject_of_the_same_line(tmp_path: Path) -> None:
    line = _bundle(
        _delete("ExplanationOfBenefit/pde-89"),
        _delete("https://smart.example/fhir/ExplanationOfBenefit/carrier-1.2"),  # absolute URL
        _delete("ExplanationOfBenefit/pde-90", method="POST"),
        {"fullUrl": "urn:uuid:1"},
        "not an entry",
        _delete("ExplanationOfBenefit?identifier=clm_id|9"),
        _delete("ExplanationOfBenefit/pde-91/_history/2"),
        _delete(""),
    )
    tables = _curated(tmp_path, [deletion_bundle("Coverage", "part-a-1"), line])
    assert [row[1:3] + row[5:] for row in tables[DELETED_RESOURCES]] == [
        ("Coverage", "part-a-1", 1),
        ("ExplanationOfBenefit", "pde-89", 2),
        ("ExplanationOfBenefit", "carrier-1.2", 2),
    ]
    rejects = [Reject(*row) for row in tables[REJECTS]]
    assert all(
        (r.run_id, r.object_key, r.line, r.resource_type) == (RUN, DELETED.object_key, 2, "Bundle") for r in rejects
    )
    assert [r.reason for r in rejects] == [
        "Bundle entry 3: request.method POST is not DELETE",
        "Bundle entry 4: no request",
        "Bundle entry 5: not an object but str",
        "Bundle entry 6: request.url 'ExplanationOfBenefit?identifier=clm_id|9' is not <resourceType>/<id>",
        "Bundle entry 7: request.url 'ExplanationOfBenefit/pde-91/_history/2' is not <resourceType>/<id>",
        "Bundle entry 8: request.url '' is not <resourceType>/<id>",
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_bundle(_delete("ExplanationOfBenefit/1"), type_="searchset"), "Bundle type searchset is not transaction"),
        (_bundle(_delete("ExplanationOfBenefit/1"), type_=None), "Bundle type (none) is not transaction"),
        (_bundle(), "Bundle has no entry"),
        (dumps({"resourceType": "Bundle", "type": "transaction", "entry": {"request": {}}}), "Bundle has no entry"),
        (dumps({"resourceType": "Bundle", "type": "transaction"}), "Bundle has no entry"),
    ],
    ids=["searchset", "no type", "empty entry", "entry not a list", "no entry"],
)
def test_a_bundle_of_another_shape_is_one_reject(tmp_path: Path, line: bytes, reason: str) -> None:
    tables = _curated(tmp_path, [deletion_bundle("ExplanationOfBenefit", "pde-1"), line, b"{not json"])
    assert [row[2] for row in tables[DELETED_RESOURCES]] == ["pde-1"]  # the file's good line still counts
    rejects = [Reject(*row) for row in tables[REJECTS]]
    assert [(r.object_key, r.line, r.resource_type, r.reason) for r in rejects[:1]] == [
        (DELETED.object_key, 2, "Bundle", reason)
    ]
    assert (rejects[1].line, rejects[1].reason.startswith("not JSON")) == (3, True)


def test_a_deletion_bundle_line_counts_every_row_it_gives() -> None:
    committed: list[str] = []

    class Sink:
        def __init__(self, table: str) -> None:
            self.table = table

        def write(self, data: bytes, /) -> int:
            return len(data)

        def commit(self) -> None:
            committed.append(self.table)

        def abort(self) -> None:
            raise AssertionError("nothing should abort here")

    line = _bundle(_delete("ExplanationOfBenefit/a"), _delete("ExplanationOfBenefit/b"), _delete("x", method="PUT"))
    report = curate_lines([line, b"\n"], DELETED, Sink)
    assert (report.lines, report.blank_lines, report.rows) == (2, 1, {DELETED_RESOURCES: 2, REJECTS: 1})
    assert sorted(committed) == [DELETED_RESOURCES, REJECTS]


@pytest.mark.parametrize(
    ("kind", "resource_type", "expected"),
    [
        ("output", "ExplanationOfBenefit", True),
        ("output", "Patient", True),
        ("output", "Claim", True),
        ("output", "ClaimResponse", True),
        ("output", "Coverage", False),
        ("output", "Bundle", False),  # only a deleted file's Bundles are deletions
        ("deleted", "Bundle", True),
        ("deleted", "ExplanationOfBenefit", False),
        ("error", "OperationOutcome", False),
        ("error", "ExplanationOfBenefit", False),
    ],
)
def test_which_landed_files_the_claims_layer_reads(kind: str, resource_type: str, expected: bool) -> None:
    assert curatable(kind, resource_type) is expected
