"""`bulk-ingest emulator` as a separate process: its one JSON line, its admin endpoints, its exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def process(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    flavor = request.param
    command = [sys.executable, "-m", "local.cli", "emulator", "--flavor", flavor, "--port", "0", "--patients", "20"]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        yield child, json.loads(line)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("process", ["bcda"], indirect=True)
def test_cli_prints_one_json_line_and_stops_on_sigterm(process: tuple[subprocess.Popen[str], dict[str, str]]) -> None:
    child, described = process

    token = requests.post(described["token_url"], auth=(described["client_id"], described["client_secret"]), data="")
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=10)

    assert set(described) == {"base_url", "token_url", "client_id", "client_secret"}
    assert described["token_url"] == described["base_url"] + "/auth/token"
    assert token.status_code == 200
    assert child.returncode == 0
    assert out == ""  # exactly one line was printed


@pytest.mark.parametrize("process", ["smart"], indirect=True)
def test_cli_for_smart_names_the_private_key(process: tuple[subprocess.Popen[str], dict[str, str]]) -> None:
    child, described = process

    key = json.loads(Path(described["private_key"]).read_text())
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=10)

    assert "client_secret" not in described
    assert described["base_url"].endswith("/fhir")
    assert key["kid"] and key["alg"] == "RS384"
    assert child.returncode == 0


@pytest.mark.parametrize("process", ["ab2d"], indirect=True)
def test_admin_endpoints(process: tuple[subprocess.Popen[str], dict[str, str]]) -> None:
    child, described = process
    base = described["base_url"]
    form = {"grant_type": "client_credentials", "scope": "clientCreds"}
    token = requests.post(described["token_url"], auth=(described["client_id"], described["client_secret"]), data=form)
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    status_url = requests.get(f"{base}/api/v2/fhir/Patient/$export", headers=headers).headers["Content-Location"]

    first = requests.get(status_url, headers=headers)
    clock = requests.post(f"{base}/_emulator/clock", json={"advance_seconds": 5})
    second = requests.get(status_url, headers=headers)
    data = requests.post(f"{base}/_emulator/advance-data", json={"days": 30})
    jobs = requests.get(f"{base}/_emulator/jobs").json()
    # answered at once: it used to wait for the requests in flight, itself included, for 60 s
    log = requests.get(f"{base}/_emulator/requests", timeout=10).json()
    bad = requests.post(f"{base}/_emulator/clock", json={"advance_seconds": "soon"})
    child.terminate()
    child.communicate(timeout=10)

    assert (first.status_code, clock.status_code, second.status_code) == (202, 200, 202)
    assert data.status_code == 200
    assert [job["status_url"] for job in jobs] == [status_url]
    assert [entry["status"] for entry in log] == [200, 202, 202, 202]
    assert log[0]["path"].endswith("/v1/token")
    assert bad.status_code == 400
