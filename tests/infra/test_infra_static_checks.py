"""cfn-lint on the synthesized templates; asl-validator on the state machine definition."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cdk_helpers import Synth

ROOT = Path(__file__).resolve().parents[2]
ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def cfn_lint(*templates: Path) -> subprocess.CompletedProcess[str]:
    command = str(CFN_LINT) if CFN_LINT.exists() else shutil.which("cfn-lint")
    assert command, "cfn-lint is a dev dependency (pip install -e '.[dev]')"
    # W3005: CDK writes DependsOn that CloudFormation would infer anyway.
    return subprocess.run(
        [command, "--ignore-checks", "W3005", "--", *map(str, templates)], capture_output=True, text=True, check=False
    )


def asl_validator(definition: dict[str, Any], path: Path) -> subprocess.CompletedProcess[str]:
    if not ASL_VALIDATOR.exists():
        pytest.skip("asl-validator is not installed: run scripts/bootstrap (npm ci)")
    path.write_text(json.dumps(definition))
    return subprocess.run([str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, check=False)


def test_cfn_lint_passes_for_every_configuration(default: Synth, vpc: Synth, variant: Synth, tmp_path: Path) -> None:
    templates = []
    for name, synth in (("default", default), ("vpc", vpc), ("variant", variant)):
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(synth.json))
        templates.append(path)
    result = cfn_lint(*templates)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_catches_a_broken_template(default: Synth, tmp_path: Path) -> None:
    broken = json.loads(json.dumps(default.json))
    table = next(r for r in broken["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")
    table["Properties"]["BillingMode"] = "FREE"
    path = tmp_path / "broken.template.json"
    path.write_text(json.dumps(broken))
    assert cfn_lint(path).returncode != 0


def test_asl_validator_accepts_the_definition(default: Synth, variant: Synth, tmp_path: Path) -> None:
    for name, synth in (("default", default), ("variant", variant)):
        result = asl_validator(synth.definition(), tmp_path / f"{name}.asl.json")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "is valid" in result.stdout


def test_asl_validator_rejects_a_dangling_state(default: Synth, tmp_path: Path) -> None:
    definition = default.definition()
    del definition["States"]["Export failed"]
    result = asl_validator(definition, tmp_path / "broken.asl.json")
    assert result.returncode != 0
