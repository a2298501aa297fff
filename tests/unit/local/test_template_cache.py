"""The local run's template cache: used while nothing that produces the template changed, rebuilt
when the configuration, the code or the CDK versions change."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from local.runner import template_cache
from local.runner.template_cache import CODE_ROOT, cache_directory, cached_template, template_key

CONFIG = {"sources": [{"name": "local-bcda", "api": "bcda", "base_url": "http://127.0.0.1:1"}]}


@pytest.fixture
def code(tmp_path: Path) -> Path:
    """A copy of the code the template is synthesized from (infra/, app.py, lambdas/, the runner's synth)."""
    root = tmp_path / "code"
    for part in ("infra", "lambdas"):
        shutil.copytree(CODE_ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CODE_ROOT / "app.py", root / "app.py")
    (root / "local" / "runner").mkdir(parents=True)
    shutil.copy(CODE_ROOT / "local" / "runner" / "synth.py", root / "local" / "runner" / "synth.py")
    return root


class CountingSynthesizer:
    def __init__(self) -> None:
        self.configs: list[dict[str, Any]] = []

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        self.configs.append(config)
        return {"Resources": {"Made": {"Type": "Test", "Properties": {"n": len(self.configs)}}}}


def test_the_key_is_stable_and_follows_every_configuration_value(code):
    assert template_key(CONFIG, code) == template_key(CONFIG, code)
    changed = {"sources": [{**CONFIG["sources"][0], "download_concurrency": 4}]}
    assert template_key(changed, code) != template_key(CONFIG, code)
    assert template_key({**CONFIG, "architecture": "x86_64"}, code) != template_key(CONFIG, code)


@pytest.mark.parametrize(
    "edited",
    ["infra/stack.py", "infra/constructs/workflow.py", "app.py", "lambdas/ingest/handlers/start_run.py",
     "lambdas/requirements.txt", "local/runner/synth.py"],
)  # fmt: skip
def test_the_key_changes_when_a_source_the_template_comes_from_changes(code, edited):
    before = template_key(CONFIG, code)
    with (code / edited).open("a") as source:
        source.write("\n# edited\n")
    assert template_key(CONFIG, code) != before


def test_compiled_files_and_new_unrelated_files_do_not_change_the_key(code):
    before = template_key(CONFIG, code)
    (code / "lambdas" / "ingest" / "__pycache__").mkdir()
    (code / "lambdas" / "ingest" / "__pycache__" / "settings.cpython-311.pyc").write_bytes(b"compiled")
    (code / "local" / "runner" / "report.py").write_text("# not part of the template\n")
    (code / "README.md").write_text("# docs\n")
    assert template_key(CONFIG, code) == before


def test_a_new_module_under_infra_changes_the_key(code):
    before = template_key(CONFIG, code)
    (code / "infra" / "constructs" / "extra.py").write_text("X = 1\n")
    assert template_key(CONFIG, code) != before


def test_the_key_follows_the_cdk_versions(code, monkeypatch):
    before = template_key(CONFIG, code)
    monkeypatch.setattr(template_cache, "_version", lambda name: "9.9.9" if name == "aws-cdk-lib" else "1")
    assert template_key(CONFIG, code) != before


def test_the_template_is_synthesized_once_then_read_from_the_cache_until_something_changes(code, tmp_path):
    cache, synthesize = tmp_path / "cache", CountingSynthesizer()
    first = cached_template(CONFIG, synthesize, cache, code)
    second = cached_template(CONFIG, synthesize, cache, code)
    assert (first.synthesized, second.synthesized) == (True, False)
    assert second.template == first.template and len(synthesize.configs) == 1

    # another configuration value: synthesized again
    changed = {"sources": [{**CONFIG["sources"][0], "download_concurrency": 4}]}
    assert cached_template(changed, synthesize, cache, code).synthesized
    assert synthesize.configs[-1] == changed
    # a source file changed: synthesized again, then cached under the new key
    (code / "infra" / "stack.py").write_text((code / "infra" / "stack.py").read_text() + "\n# edited\n")
    assert cached_template(CONFIG, synthesize, cache, code).synthesized
    assert not cached_template(CONFIG, synthesize, cache, code).synthesized
    assert len(synthesize.configs) == 3


def test_a_damaged_cache_entry_is_synthesized_again(code, tmp_path):
    cache, synthesize = tmp_path / "cache", CountingSynthesizer()
    entry = cache / f"{cached_template(CONFIG, synthesize, cache, code).key}.json"
    entry.write_text('{"Resources": ')  # e.g. a full disk
    again = cached_template(CONFIG, synthesize, cache, code)
    assert again.synthesized and again.template["Resources"]["Made"]["Properties"]["n"] == 2


def test_only_the_most_recently_used_templates_are_kept(code, tmp_path, monkeypatch):
    monkeypatch.setattr(template_cache, "KEEP", 2)
    cache, synthesize = tmp_path / "cache", CountingSynthesizer()
    for concurrency in (1, 2, 3):
        cached_template({"download_concurrency": concurrency}, synthesize, cache, code)
    assert len(list(cache.glob("*.json"))) == 2 and not list(cache.glob("*.tmp"))


def test_the_cache_lives_under_xdg_cache_home_or_the_home_cache():
    assert cache_directory({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/bulk-fhir-ingest/templates")
    assert cache_directory({}) == Path.home() / ".cache" / "bulk-fhir-ingest" / "templates"
