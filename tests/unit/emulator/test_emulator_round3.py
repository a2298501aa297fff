"""The issue-#14 scenarios of the emulator, on the wire, and how they compose."""

from __future__ import annotations

import argparse
import json

import pytest

from local.emulator import EmulatorConfig
from local.emulator.config import scenario_argument


def test_scenarios_compose_and_each_name_is_checked():
    config = EmulatorConfig(flavor="smart", scenario="query-named-files,signed-urls,drop-connection")
    assert config.names_files_by_query and config.signs_urls and config.has("drop-connection")
    assert EmulatorConfig(scenario="malformed-signed-manifest").has("malformed-manifest")
    with pytest.raises(ValueError, match="use flavor smart"):
        EmulatorConfig(flavor="bcda", scenario="signed-urls,failed-outputs")
    with pytest.raises(argparse.ArgumentTypeError, match="unknown scenario 'nope'"):
        scenario_argument("signed-urls,nope")
    assert scenario_argument(" signed-urls , none ") == "signed-urls"


def test_query_named_files_are_served_by_their_query_string(start, client):
    bcda = client(start(flavor="bcda", scenario="query-named-files", patients=120)).login()
    manifest = bcda.manifest(path="Group/all/$export")
    urls = [entry["url"] for entry in manifest["output"] + manifest["error"]]
    assert len(set(urls)) == len(urls) > 3
    assert all(url.startswith(f"{bcda.emu.origin}/download?file=%2Fdata%2F") for url in urls)
    for url in urls:
        response = bcda.download(url)
        assert response.status_code == 200 and bcda.body(response) == bcda.emu.file_gzip(url)


def test_signed_urls_are_signed_afresh_at_every_answer_and_expire(start, client):
    smart = client(start(flavor="smart", scenario="signed-urls", patients=20, signed_url_seconds=600)).login()
    status_url = smart.kickoff()
    first = smart.poll(status_url).json()["output"][0]["url"]
    smart.emu.clock.advance(601)
    smart.login()  # the token lives 300 s
    expired = smart.download(first)
    assert expired.status_code == 403 and b"Request has expired" in smart.body(expired)
    again = smart.get(status_url).json()["output"][0]["url"]
    assert again != first and again.split("?")[0] == first.split("?")[0]
    assert smart.download(again).status_code == 200
    assert smart.download(first.split("?")[0]).status_code == 403  # no signature at all


@pytest.mark.parametrize(
    ("kind", "media"), [("html", "text/html"), ("text", "text/plain"), ("html-as-ndjson", "application/fhir+ndjson")]
)
def test_a_block_page_answers_200_for_the_coverage_files_only(start, client, kind, media):
    bcda = client(start(flavor="bcda", block_page=kind, patients=40)).login()
    manifest = bcda.manifest(path="Group/all/$export")
    for entry in manifest["output"]:
        response = bcda.download(entry["url"])
        assert response.status_code == 200
        if entry["type"] == "Coverage":
            assert response.headers["Content-Type"].startswith(media)
            assert bcda.body(response).endswith(b"\n") and b"resourceType" not in bcda.body(response)
        else:
            assert bcda.body(response) == bcda.emu.file_gzip(entry["url"])


def test_a_future_transaction_time_is_in_2099_while_the_servers_clock_is_not(start, client):
    smart = client(start(flavor="smart", scenario="future-transaction-time", patients=20)).login()
    response = smart.poll(smart.kickoff())
    assert response.json()["transactionTime"].startswith("2099-01-01T00:00:00")
    assert "2099" not in response.headers["Date"]


def test_failed_outputs_are_listed_as_the_reference_server_lists_them(start, client):
    smart = client(start(flavor="smart", scenario="failed-outputs", patients=60, error_files=False)).login()
    manifest = smart.manifest()
    assert {entry["type"] for entry in manifest["output"]} == {"Coverage"}
    assert manifest["error"] and all(entry["type"] == "OperationOutcome" for entry in manifest["error"])
    texts = [json.loads(smart.emu.file_ndjson(e["url"]))["issue"][0]["diagnostics"] for e in manifest["error"]]
    assert any(text.endswith(".Patient.ndjson") for text in texts)
    assert any(text.endswith(".ExplanationOfBenefit.ndjson") for text in texts)
    assert all(text.startswith("Failed to export ") for text in texts)


def test_a_malformed_signed_manifest_breaks_after_its_first_signed_url(start, client):
    bcda = client(start(flavor="bcda", scenario="malformed-signed-manifest", patients=20)).login()
    response = bcda.poll(bcda.kickoff(path="Group/all/$export"))
    assert response.status_code == 200
    text = response.text
    with pytest.raises(ValueError):
        json.loads(text)
    assert text.startswith('{"output":[') and "X-Amz-Credential=ASIA" in text[:160]
    assert "X-Amz-Signature=" in text
