"""--types, --export and --concurrency do not change the template: one synthesis serves them all
(each new combination used to cost a fresh 17-48 s synthesis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.runner import local_run
from local.runner.local_run import LocalRunOptions, _source_config, _template


def test_run_options_that_are_execution_input_share_one_template(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    synthesized: list[dict[str, Any]] = []

    def synthesize(config: dict[str, Any], _root: Path) -> dict[str, Any]:
        # what matters of the real template: the functions' BULK_SOURCES carries each source's config
        synthesized.append(config)
        sources = json.dumps({source["name"]: source for source in config["sources"]})
        return {"Resources": {"Fn": {"Properties": {"Environment": {"Variables": {"BULK_SOURCES": sources}}}}}}

    monkeypatch.setattr(local_run, "synthesize_in_child", synthesize)
    source = {"name": "local-bcda", "api": "bcda", "base_url": "http://127.0.0.1:4321", "token_url": None}
    runs = [
        LocalRunOptions(concurrency=8),
        LocalRunOptions(types=("Patient",), export="Group/runout", concurrency=3),
        LocalRunOptions(types=("Coverage", "Patient"), concurrency=16),
    ]

    templates = [
        _template({"sources": [_source_config(source, run)]}, "http://127.0.0.1:4321", print, run.concurrency)
        for run in runs
    ]

    assert len(synthesized) == 1
    for run, template in zip(runs, templates, strict=True):
        variables = template["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]
        config = json.loads(variables["BULK_SOURCES"])["local-bcda"]
        assert config["download_concurrency"] == run.concurrency
        assert config["base_url"] == "http://127.0.0.1:4321"
        assert "types" not in config and "export" not in config  # the execution input carries them


def test_a_configuration_the_stack_refuses_is_one_line_not_the_synthesis_traceback(tmp_path: Path) -> None:
    from local.runner.errors import LocalRunError
    from local.runner.synth import synthesize_in_child

    bad = {"sources": [{"name": "local-bcda", "api": "bcda", "base_url": "https://x.example"}], "vpc": {"max_azs": 9}}
    with pytest.raises(LocalRunError) as raised:
        synthesize_in_child(bad, Path(__file__).resolve().parents[3])
    message = str(raised.value)
    assert message.startswith("the configuration was refused: bulk-fhir-ingest.vpc") and "\n" not in message
    assert "Traceback" not in message
