"""A partial run (the server's error[] reports failed outputs) is not a success for whoever runs it."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from local.runner import cli, local_run
from local.runner.local_run import LocalRunResult
from local.runner.report import exit_code_of

WHY = "the server reported 2 failed outputs of Patient in its error files (#3, #5): those resources are in no file"


def record(**fields: Any) -> dict[str, Any]:
    return {"status": "SUCCEEDED", "error": None, "partial": None, **fields}


def test_a_partial_run_exits_1_and_a_complete_one_0():
    assert exit_code_of(record()) == 0
    assert exit_code_of(record(partial=WHY)) == 1
    assert exit_code_of(record(status="FAILED", error={"name": "X", "cause": "y"})) == 1


def test_a_partial_run_says_in_one_line_that_the_next_run_asks_again(monkeypatch, capsys, tmp_path):
    result = LocalRunResult(exit_code=1, record=record(partial=WHY), seconds=1, execution_seconds=1, waits=[],
                            history_events=10)  # fmt: skip
    monkeypatch.setattr(local_run, "run_local", lambda options: result)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    given = ["--scenario", "failed-outputs", "--flavor", "smart", "--out", str(tmp_path)]
    assert cli.run(parser.parse_args(given)) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("bulk-ingest local-run: the export landed in part: the server reported 2 failed outputs")
    assert "next run asks again" in line


def test_scenarios_are_given_as_names_joined_by_commas(capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert (
        parser.parse_args(["--scenario", "signed-urls,query-named-files"]).scenario == "signed-urls,query-named-files"
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--scenario", "signed-urls,no-such-fault"])
    assert "unknown scenario 'no-such-fault'" in capsys.readouterr().err
