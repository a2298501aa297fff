"""Every bad input is one line on stderr and exit 2 (1 for `claims` finding nothing), with no
traceback, said before any work and before the heavy imports (the CDK, moto, DuckDB).

The inputs run in one child interpreter, one after another, so that what each has imported is
known (this test process has imported everything already)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.claims import land_bcda_and_ab2d

HEAVY = ("aws_cdk", "moto", "duckdb", "jsii")

_CHILD = r"""
import contextlib, io, json, sys, traceback
from local.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
        except BaseException:
            code, _ = "traceback", traceback.print_exc(file=err)
    heavy = [name for name in %r if name in sys.modules]
    results.append({"argv": argv, "code": code, "stderr": err.getvalue(), "heavy": heavy})
print(json.dumps(results))
""" % (HEAVY,)  # noqa: UP031 - a literal tuple into the child's source


def _run_all(cases: list[list[str]], cwd: Path) -> list[dict[str, object]]:
    env = {**os.environ, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    env["AWS_REGION"] = "us-east-1"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(cases)], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=300, check=True,
    )  # fmt: skip
    return list(json.loads(done.stdout))


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, busy_port: int) -> dict[str, dict[str, object]]:
    where = tmp_path_factory.mktemp("inputs")
    (where / "a-file").write_text("")
    damaged = where / "damaged-state"
    damaged.mkdir()
    (damaged / "table.json").write_text('[{"pk": "WATERMARK#x", "sk": "Group/all"')
    bad_views = where / "bad-views"
    bad_views.mkdir()
    (bad_views / "lines.json").write_text('{"resourceType": "ViewDefinition", "resource": "Patient", "select": []}')
    claims = land_bcda_and_ab2d(where / "claims")
    corrupt = where / "corrupt"
    part = next((claims / "curated").rglob("*.parquet"))
    target = corrupt / part.relative_to(claims)
    target.parent.mkdir(parents=True)
    target.write_bytes(part.read_bytes()[:200])
    cases = {
        "export": ["local-run", "--export", "Bogus/1"],
        "export-for-api": ["local-run", "--export", "system"],
        "concurrency": ["local-run", "--concurrency", "0"],
        "concurrency-not-a-number": ["local-run", "--concurrency", "eight"],
        "plain-http": ["local-run", "--api", "bcda", "--base-url", "http://example.org"],
        "api-without-base-url": ["local-run", "--api", "bcda"],
        "base-url-without-api": ["local-run", "--base-url", "https://sandbox.bcda.cms.gov"],
        "emulator-option-with-api": [
            "local-run",
            "--api",
            "smart",
            "--base-url",
            "https://x.org/fhir",
            "--patients",
            "5",
        ],
        "advance-days": ["local-run", "--advance-days", "-3"],
        "reference-scenario": ["local-run", "--scenario", "rate-limit"],
        "export-hours": ["local-run", "--export-hours", "3"],
        "patients-0": ["local-run", "--patients", "0"],
        "patients-negative": ["local-run", "--patients", "-5"],
        "since": ["local-run", "--since", "yesterday"],
        "since-without-zone": ["local-run", "--since", "2026-01-01T00:00:00"],
        "types": ["local-run", "--types", "patient"],
        "types-not-served": ["local-run", "--types", "Patient,Bogus"],
        "source-name": ["local-run", "--source-name", "BAD_NAME"],
        "views-missing": ["local-run", "--views", str(where / "missing")],
        "views-invalid": ["local-run", "--views", str(bad_views)],
        "api-without-client-id": ["local-run", "--api", "smart", "--base-url", "https://x.org/fhir"],
        "private-key-missing": [
            "local-run",
            "--api",
            "smart",
            "--base-url",
            "https://x.org/fhir",
            "--client-id",
            "c",
            "--private-key",
            str(where / "missing.jwk.json"),
        ],
        "types-not-served-ab2d": ["local-run", "--flavor", "ab2d", "--types", "Patient"],
        "claims-state-dir-missing": ["claims", "--state-dir", str(where / "missing")],
        "sql-state-dir-missing": ["sql", "--state-dir", str(where / "missing"), "SELECT 1"],
        "sql-out-is-a-file": ["sql", "--out", str(where / "a-file"), "SELECT 1"],
        "out-is-a-file": ["local-run", "--out", str(where / "a-file")],
        "out-read-only": ["local-run", "--out", "/sys/kernel/bulk-ingest-out"],
        "state-dir-is-a-file": ["local-run", "--state-dir", str(where / "a-file")],
        "state-dir-damaged": ["local-run", "--state-dir", str(damaged)],
        "emulator-busy-port": ["emulator", "--port", str(busy_port)],
        "emulator-port-range": ["emulator", "--port", "70000"],
        "start-since": ["start", "--source", "s", "--since", "yesterday"],
        "start-export": ["start", "--source", "s", "--export", "Bogus/1"],
        "runs-limit": ["runs", "--source", "s", "--limit", "0"],
        "secret-missing-file": ["secret", "set", "--source", "s", "--file", str(where / "missing.json")],
        "no-aws-credentials": ["watermarks"],
        "claims-unknown-group": ["claims", "--out", str(claims), "--group", "nope"],
        "claims-corrupt-parquet": ["claims", "--out", str(corrupt)],
    }
    answered = _run_all(list(cases.values()), where)
    return dict(zip(cases, answered, strict=True))


ARGUMENT_ERRORS = {
    "export": "--export 'Bogus/1': expected Patient, Group/all, Group/runout, Group/<id> or system",
    "export-for-api": "--export system: a bcda server exports Patient, Group/all, Group/runout",
    "concurrency": "--concurrency 0: expected from 1 to 1000",
    "concurrency-not-a-number": "argument --concurrency: invalid int value: 'eight'",
    "plain-http": "--base-url http://example.org: use https",
    "api-without-base-url": "--api bcda needs --base-url",
    "base-url-without-api": "--base-url goes with --api",
    "emulator-option-with-api": "--patients is for the built-in emulator",
    "advance-days": "--advance-days -3: expected at least 0",
    "reference-scenario": "--scenario rate-limit imitates the SMART reference server: add --flavor smart",
    "export-hours": "--export-hours goes with --scenario slow-export",
    "patients-0": "--patients 0: expected at least 1",
    "patients-negative": "--patients -5: expected at least 1",
    "since": "--since 'yesterday': expected auto (the watermark), none (full history) or an ISO 8601 instant",
    "since-without-zone": "an ISO 8601 instant with a zone",
    "types": "--types 'patient': expected comma-separated FHIR resource types",
    # the built-in emulator's types are known: not a kick-off refused after the synthesis
    "types-not-served": "--types Bogus: the built-in bcda v2 emulator exports Patient, Coverage, ExplanationOfBenefit",
    # these ended in a synthesis traceback (infra.config.ConfigError) or came after the start-up
    "source-name": "--source-name 'BAD_NAME': must be 1-40 lower-case letters, digits or inner hyphens",
    "views-missing": "/missing: no such folder",
    "views-invalid": "bad-views: view lines: select must list at least one select",
    "api-without-client-id": "a client id is needed: --client-id or BULK_CLIENT_ID",
    "private-key-missing": "cannot read --private-key",
    "types-not-served-ab2d": "--types Patient: the built-in ab2d emulator exports ExplanationOfBenefit",
    "claims-state-dir-missing": "bulk-ingest claims: --state-dir ",
    "sql-state-dir-missing": "/missing: no such folder",
    "sql-out-is-a-file": "bulk-ingest sql: --out ",
    "out-is-a-file": "is a file, not a directory",
    "out-read-only": "is not writable",
    "state-dir-is-a-file": "is a file, not a directory",
    "state-dir-damaged": "table.json is not valid JSON",
    "emulator-busy-port": "cannot listen on 127.0.0.1:",
    "emulator-port-range": "--port 70000: expected 0 (any free port) to 65535",
    "start-since": "bulk-ingest start: --since 'yesterday'",
    "start-export": "bulk-ingest start: --export 'Bogus/1'",
    "runs-limit": "bulk-ingest runs: --limit 0: expected at least 1",
    "secret-missing-file": "cannot read --file",
    "no-aws-credentials": "no AWS credentials found: pass --profile NAME",
}
FOUND_NOTHING = {
    "claims-unknown-group": "no claim family 'nope' in the current view",
    "claims-corrupt-parquet": "cannot read the curated claims under",
}


@pytest.mark.parametrize("case", sorted(ARGUMENT_ERRORS))
def test_a_bad_argument_is_one_line_and_exit_2_before_any_heavy_import(
    results: dict[str, dict[str, object]], case: str
) -> None:
    result = results[case]
    stderr = str(result["stderr"])
    assert result["code"] == 2, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert ARGUMENT_ERRORS[case] in stderr
    assert "Traceback" not in stderr
    assert result["heavy"] == [], f"{case} imported {result['heavy']} before saying so"


@pytest.mark.parametrize("case", sorted(FOUND_NOTHING))
def test_claims_that_find_nothing_say_so_in_one_line(results: dict[str, dict[str, object]], case: str) -> None:
    result = results[case]
    stderr = str(result["stderr"])
    assert result["code"] == 1, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert FOUND_NOTHING[case] in stderr


_CLOSED_PIPE = r"""
import os, sys
from local.cli import main
read, write = os.pipe()
os.close(read)  # `| head` has read what it wanted and gone
os.dup2(write, 1)
sys.stdout = os.fdopen(1, "w", buffering=1)
sys.exit(main(sys.argv[1:]))
"""


def test_claims_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    claims = land_bcda_and_ab2d(tmp_path / "claims")
    argv = ["claims", "--out", str(claims), "--view", "versions"]
    done = subprocess.run(
        [sys.executable, "-c", _CLOSED_PIPE, *argv], capture_output=True, text=True, timeout=120, check=False
    )

    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 0


def test_a_server_address_where_nothing_listens_is_said_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # it used to be silent for 75 s of retries
    from local.cli import main

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        argv = ["local-run", "--api", "bcda", "--base-url", f"http://127.0.0.1:{port}", "--client-id", "a",
                "--client-secret", "b", "--out", str(tmp_path)]  # fmt: skip
        code = main(argv)

    said = capsys.readouterr().err
    assert code == 2
    assert (
        said == f"bulk-ingest local-run: nothing answers at 127.0.0.1:{port} (Connection refused): check --base-url\n"
    )
