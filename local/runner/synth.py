"""Synthesize the CDK app (no bundling, no AWS account) and return its CloudFormation template."""

from __future__ import annotations

from typing import Any


def synthesize(config: dict[str, Any], outdir: str | None = None) -> dict[str, Any]:
    """The stack's template for this ``"bulk-fhir-ingest"`` configuration."""
    # Imported here: importing aws_cdk starts jsii's node process, which the caller may want quiet.
    from infra.app_factory import build_app  # noqa: PLC0415
    from infra.config import CONTEXT_KEY  # noqa: PLC0415

    app, stack = build_app({CONTEXT_KEY: config}, bundling=False, nag=False, outdir=outdir)
    template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template
