"""The Lambda code asset is bundled with pip for Linux on the target architecture, without Docker."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from infra.app_factory import build_app
from infra.bundling import LAMBDAS_DIR, pip_command
from infra.config import CONTEXT_KEY, DEFAULT_CONTEXT

ELF_MACHINES = {0xB7: "arm64", 0x3E: "x86_64"}


@pytest.mark.parametrize(("architecture", "platform"), [("arm64", "aarch64"), ("x86_64", "x86_64")])
def test_pip_installs_linux_wheels_for_the_lambda_runtime(architecture: str, platform: str) -> None:
    command = pip_command(LAMBDAS_DIR / "requirements.txt", "/out", architecture)
    # DuckDB ships manylinux_2_27/2_28 wheels only; Lambda's runtime (Amazon Linux 2023) runs them
    platforms = [command[index + 1] for index, option in enumerate(command) if option == "--platform"]
    assert platforms == [f"manylinux2014_{platform}", f"manylinux_2_28_{platform}"]
    assert command[command.index("--python-version") + 1] == "3.14"
    assert command[command.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in command
    assert command[command.index("-t") + 1] == "/out"


def elf_machine(path: Path) -> str:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return ELF_MACHINES[struct.unpack("<H", header[18:20])[0]]


@pytest.mark.slow
def test_synth_bundles_the_packages_for_the_configured_architecture(tmp_path: Path) -> None:
    app, stack = build_app({CONTEXT_KEY: DEFAULT_CONTEXT}, nag=False, outdir=str(tmp_path))
    assembly = app.synth()
    assert Path(assembly.directory) == tmp_path
    code = next(
        r["Properties"]["Code"]
        for r in assembly.get_stack_by_name(stack.stack_name).template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    )
    assets = json.loads((Path(assembly.directory) / f"{stack.stack_name}.assets.json").read_text())
    (asset,) = [a for key, a in assets["files"].items() if code["S3Key"].startswith(key)]
    bundle = Path(assembly.directory) / asset["source"]["path"]
    for package in ("bulkfhir", "ingest", "claims", "resolve", "requests", "jwt", "cryptography",
                    "aws_lambda_powertools", "duckdb", "sqlglot"):  # fmt: skip
        assert (bundle / package / "__init__.py").exists(), package
    assert (bundle / "ingest" / "settings.py").read_text() == (LAMBDAS_DIR / "ingest" / "settings.py").read_text()
    assert not list(bundle.rglob("__pycache__"))
    # the Lambda runtime provides boto3/botocore: not shipped twice
    assert not [name for name in ("boto3", "botocore", "s3transfer") if (bundle / name).exists()]
    size = sum(path.stat().st_size for path in bundle.rglob("*") if path.is_file())
    # Lambda's limit is 250 MB unzipped; DuckDB (the Resolve claims step) is most of it
    assert size < 120 * 1024**2, f"bundle is {size / 1024**2:.0f} MiB"
    native = sorted((bundle / "cryptography").rglob("*.so")) + sorted(bundle.glob("_duckdb*.so"))
    assert len(native) >= 2 and {elf_machine(path) for path in native} == {"arm64"}
