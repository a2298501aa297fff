"""The Lambda code asset, bundled with pip on this machine (no Docker).

``pip install --platform manylinux... --only-binary=:all:`` fetches the Linux wheels for the Lambda
architecture and Python version whatever the build machine is, so C extensions (cryptography) are the
right ones. ``try_bundle`` returns True, so CDK never falls back to its Docker image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
PACKAGES = ("bulkfhir", "ingest", "claims", "resolve", "views")
PYTHON_VERSION = "3.14"
#: The Lambda Python runtime ships boto3 and its dependencies; aws-xray-sdk (Powertools' tracer)
#: pulls them in again, which would more than double the bundle. They are removed after pip.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six")
#: Lambda's Python 3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34), which runs manylinux2014
#: (glibc 2.17) and manylinux_2_28 wheels; DuckDB publishes only the latter. pip matches each
#: --platform exactly (no older tag implied), so both are named.
_PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}


def pip_command(requirements: Path, output_dir: str, architecture: str) -> list[str]:
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "-r", str(requirements), "-t", output_dir,
        *(option for platform in _PLATFORMS[architecture] for option in ("--platform", platform)),
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION, "--only-binary=:all:", "--no-compile",
    ]  # fmt: skip


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Installs ``lambdas/requirements.txt`` for the target platform, then copies our packages."""

    def __init__(self, architecture: str, source_dir: Path = LAMBDAS_DIR) -> None:
        self.architecture = architecture
        self.source_dir = source_dir

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        subprocess.run(  # noqa: S603 - a fixed pip command line, no shell
            pip_command(self.source_dir / "requirements.txt", output_dir, self.architecture), check=True
        )
        _remove_runtime_provided(Path(output_dir))
        for package in PACKAGES:
            shutil.copytree(
                self.source_dir / package,
                Path(output_dir) / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                dirs_exist_ok=True,
            )
        return True


def _remove_runtime_provided(output_dir: Path) -> None:
    for name in RUNTIME_PROVIDED:
        for path in [output_dir / name, output_dir / f"{name}.py", *output_dir.glob(f"{name}-*.dist-info"),
                     *output_dir.glob(f"python_{name}-*.dist-info")]:  # fmt: skip
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def lambda_code(architecture: str) -> lambda_.Code:
    """The one code asset all seven functions share."""
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        exclude=["**/__pycache__", "**/*.pyc"],
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds, and CDK only needs a value here.
            image=DockerImage.from_registry("local-bundling-only"),
            command=["false"],
            local=PipLocalBundling(architecture),
        ),
    )
