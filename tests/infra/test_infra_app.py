"""The app synthesizes offline, with no AWS account: ``python app.py`` and the pinned CDK CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import app as cdk_app
from infra.config import CONTEXT_KEY, DEFAULT_CONTEXT
from infra.stack import STACK_ID

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
SKIP_BUNDLING = {"bulk-fhir-ingest:skip-bundling": "true"}
SKIP_BUNDLING_KEY = "bulk-fhir-ingest:skip-bundling"


def offline_env(**extra: str) -> dict[str, str]:
    """This environment without AWS credentials or profile, and no metadata service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env.update(extra)
    return env


def template(outdir: Path) -> dict[str, Any]:
    return json.loads((outdir / f"{STACK_ID}.template.json").read_text())


def test_python_app_py_synthesizes_the_cdk_json_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=offline_env(CDK_CONTEXT_JSON=json.dumps(SKIP_BUNDLING), CDK_OUTDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    synthesized = template(tmp_path)
    assert "SecretArnBcdaSandbox" in synthesized["Outputs"]  # the source in cdk.json
    assert (tmp_path / "manifest.json").exists()


def test_cli_context_overrides_cdk_json_and_keeps_its_nulls(tmp_path: Path) -> None:
    """The CDK CLI passes cdk.json and -c as JSON; a null (no Glacier transition) must stay null."""
    config = json.loads(json.dumps(DEFAULT_CONTEXT))
    config["lifecycle"] = {"infrequent_access_days": 60, "glacier_days": None}
    overflow = tmp_path / "context-overflow.json"
    overflow.write_text(json.dumps({CONTEXT_KEY: config}))
    context, bundling = cdk_app.app_context(
        {"CDK_CONTEXT_JSON": json.dumps(SKIP_BUNDLING), "CONTEXT_OVERFLOW_LOCATION_ENV": str(overflow)}
    )
    assert context[CONTEXT_KEY]["lifecycle"] == {"infrequent_access_days": 60, "glacier_days": None}
    assert bundling is False
    assert SKIP_BUNDLING_KEY not in context


def test_without_the_cli_cdk_json_is_the_configuration(tmp_path: Path) -> None:
    context, bundling = cdk_app.app_context({})
    assert context[CONTEXT_KEY] == DEFAULT_CONTEXT
    assert bundling is True
    assert cdk_app.app_context({}, cdk_json=tmp_path / "missing.json") == ({}, True)


@pytest.mark.slow
def test_cdk_cli_synth(tmp_path: Path) -> None:
    if not CDK.exists():
        pytest.skip("the CDK CLI is not installed: run scripts/bootstrap (npm ci)")
    venv_bin = str(Path(sys.executable).parent)
    result = subprocess.run(
        [str(CDK), "synth", "--quiet", "--output", str(tmp_path), "-c", f"{SKIP_BUNDLING_KEY}=true"],
        cwd=ROOT,
        env=offline_env(PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}", CDK_DISABLE_VERSION_CHECK="true"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    synthesized = template(tmp_path)
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in synthesized["Resources"].values())
