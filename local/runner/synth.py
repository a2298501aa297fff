"""Synthesize the CDK app (no bundling, no AWS account) and return its CloudFormation template.

:func:`synthesize` runs in the calling process (the tests synthesize many configurations in one);
:func:`synthesize_in_child` runs it in a child process (``python -m local.runner.synth``), so that
jsii's node process and the CDK's Python modules (hundreds of MiB) never live in the local run's
process, and are gone once the template is written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from local.runner.errors import LocalRunError

#: the child's exit status for a configuration the stack refuses (its message is the last line)
_CONFIG_ERROR = 3


def synthesize(config: dict[str, Any], outdir: str | None = None) -> dict[str, Any]:
    """The stack's template for this ``"bulk-fhir-ingest"`` configuration."""
    # Imported here: importing aws_cdk starts jsii's node process, which the caller may want quiet.
    from infra.config import CONTEXT_KEY, load_config  # noqa: PLC0415

    load_config(config)  # a refused configuration is said before jsii's node process starts
    from infra.app_factory import build_app  # noqa: PLC0415

    app, stack = build_app({CONTEXT_KEY: config}, bundling=False, nag=False, outdir=outdir)
    template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


def synthesize_in_child(config: dict[str, Any], code_root: Path) -> dict[str, Any]:
    """:func:`synthesize` in a child Python process; ``code_root`` holds ``infra/`` and ``lambdas/``.

    The child's standard error (jsii's Node end-of-life banner on Node 20) is shown only when
    synthesis fails.
    """
    path = [str(code_root), str(code_root / "lambdas"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    with tempfile.TemporaryDirectory(prefix="bulk-ingest-synth-") as workdir:
        target = Path(workdir) / "template.json"
        done = subprocess.run(  # noqa: S603 - this interpreter, a fixed module
            [sys.executable, "-m", "local.runner.synth", str(target)],
            input=json.dumps(config),
            capture_output=True,
            text=True,
            env=env,
            cwd=workdir,
            check=False,
        )
        if done.returncode == _CONFIG_ERROR:
            # the configuration local-run built was refused: one line, as the stack would say it
            raise LocalRunError(done.stderr.strip().splitlines()[-1])
        if done.returncode != 0 or not target.exists():
            raise LocalRunError(f"synthesizing the CDK app failed:\n{done.stderr[-4000:]}")
        template: dict[str, Any] = json.loads(target.read_text())
        return template


def _main(argv: list[str]) -> int:
    """``python -m local.runner.synth TARGET``: the configuration on stdin, the template into TARGET."""
    from infra.config import ConfigError  # noqa: PLC0415 - light

    config = json.loads(sys.stdin.read())
    with tempfile.TemporaryDirectory(prefix="cdk.out-") as outdir:
        try:
            template = synthesize(config, outdir=outdir)
        except ConfigError as error:
            sys.stderr.write(f"the configuration was refused: {error}\n")
            return _CONFIG_ERROR
    Path(argv[0]).write_text(json.dumps(template))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
