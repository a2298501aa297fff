"""`bulk-ingest views eval` as a user runs it: rows out, one clear line when the view or a
resource is wrong, exit 2 for its own arguments."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from local.cli import main

PATIENTS = [
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "F1", "given": ["A", "B"]}], "active": True},
    {"resourceType": "Observation", "id": "o1", "status": "final"},
    {"resourceType": "Patient", "id": "p2"},
]
VIEW = {
    "resource": "Patient",
    "select": [
        {
            "column": [
                {"name": "id", "path": "getResourceKey()", "type": "id"},
                {"name": "given", "path": "name.given", "type": "string", "collection": True},
                {"name": "active", "path": "active", "type": "boolean"},
            ]
        },
        {"forEachOrNull": "name", "column": [{"name": "family", "path": "family", "type": "string"}]},
    ],
}


def _files(tmp_path: Path, view: dict[str, Any], resources: list[dict[str, Any]], gz: bool = False) -> list[str]:
    view_file = tmp_path / "patient_names.json"
    view_file.write_text(json.dumps(view))
    data = tmp_path / ("in.ndjson.gz" if gz else "in.ndjson")
    text = "".join(json.dumps(resource) + "\n" for resource in resources).encode()
    data.write_bytes(gzip.compress(text) if gz else text)
    return ["--view", str(view_file), "--input", str(data)]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["views", "eval", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ndjson_rows_have_the_columns_in_order_collections_as_arrays_and_nulls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, *_files(tmp_path, VIEW, PATIENTS, gz=True), "--format", "ndjson")
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [list(row) for row in rows] == [["id", "given", "active", "family"]] * 2
    assert rows == [
        {"id": "p1", "given": ["A", "B"], "active": True, "family": "F1"},
        {"id": "p2", "given": [], "active": None, "family": None},
    ]


def test_csv_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _files(tmp_path, VIEW, PATIENTS)
    code, out, _ = _run(capsys, *files, "--format", "csv")
    assert code == 0
    assert out.splitlines() == ["id,given,active,family", 'p1,"[""A"",""B""]",true,F1', "p2,[],,"]
    code, out, _ = _run(capsys, *files, "--format", "table")
    assert out.splitlines()[0].split() == ["id", "given", "active", "family"]


def test_an_invalid_view_is_one_line_naming_the_view_and_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = {**VIEW, "select": [{"column": [{"name": "id", "path": "name.where(", "type": "id"}]}]}
    code, out, err = _run(capsys, *_files(tmp_path, broken, PATIENTS))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("bulk-ingest views eval: view patient_names: column id: 'name.where('")


def test_several_values_in_a_non_collection_column_is_an_error_never_a_pick(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    several = {**VIEW, "select": [{"column": [{"name": "given", "path": "name.given", "type": "string"}]}]}
    code, _, err = _run(capsys, *_files(tmp_path, several, PATIENTS))
    assert code == 1 and err.count("\n") == 1
    assert "Patient/p1" in err and "line 1" in err and "column given has 2 values" in err


def test_its_own_arguments_exit_2_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--view", str(tmp_path / "missing.json"), "--input", str(tmp_path / "x.ndjson"))
    assert code == 2 and err == f"bulk-ingest views eval: --view {tmp_path / 'missing.json'}: no such file\n"


def test_a_pipe_is_read_as_input_and_a_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--input <(zcat export.ndjson.gz)`` is a pipe, not a regular file: it was refused as no such file."""
    import os
    import threading

    view, data = _files(tmp_path, VIEW, PATIENTS)[1], tmp_path / "in.ndjson"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # gzip through a pipe (no name to say so): `--input <(cat export.ndjson.gz)`
    writer = threading.Thread(target=lambda: fifo.write_bytes(gzip.compress(data.read_bytes())))
    writer.start()
    code, out, err = _run(capsys, "--view", view, "--input", str(fifo))
    writer.join(5)
    assert (code, err) == (0, "") and len(out.splitlines()) == 2

    # and gzip on standard input: `zcat -f … | gzip | bulk-ingest views eval --input -`
    import io
    import sys

    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(gzip.compress(data.read_bytes()))))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", stdin)
        code, out, err = _run(capsys, "--view", view, "--input", "-")
    assert (code, err) == (0, "") and len(out.splitlines()) == 2

    code, _, err = _run(capsys, "--view", view, "--input", str(tmp_path))
    assert code == 2 and err == f"bulk-ingest views eval: --input {tmp_path}: a folder, not a file\n"
