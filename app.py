#!/usr/bin/env python3
"""The CDK app (``cdk synth`` / ``cdk deploy``; ``python app.py`` synthesizes into ./cdk.out too:
the CDK CLI names its own output folder in CDK_OUTDIR, and without it the CDK would pick a temporary one).

The configuration (context key ``"bulk-fhir-ingest"``) is read here as raw JSON, from the CDK CLI's
context (cdk.json and ``-c``) or, when run directly, from cdk.json: the CDK's own context API drops
``null`` members on the way into Python. ``-c bulk-fhir-ingest:skip-bundling=true`` synthesizes
without installing the Lambda dependencies (the CLI reserves the ``aws:`` context keys for itself).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.app_factory import build_app
from infra.config import CONTEXT_KEY

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"
SKIP_BUNDLING_KEY = f"{CONTEXT_KEY}:skip-bundling"
#: Where the CDK CLI puts the context for the app (a file holds what does not fit the variable).
CLI_CONTEXT_ENV = "CDK_CONTEXT_JSON"
CLI_CONTEXT_OVERFLOW_ENV = "CONTEXT_OVERFLOW_LOCATION_ENV"


def app_context(env: Mapping[str, str], cdk_json: Path = CDK_JSON) -> tuple[dict[str, Any], bool]:
    """cdk.json's context overlaid with the CLI's, and whether to bundle the Lambda code."""
    context: dict[str, Any] = json.loads(cdk_json.read_text()).get("context", {}) if cdk_json.exists() else {}
    context.update(json.loads(env.get(CLI_CONTEXT_ENV) or "{}"))
    overflow = env.get(CLI_CONTEXT_OVERFLOW_ENV)
    if overflow:
        context.update(json.loads(Path(overflow).read_text()))
    skip = context.pop(SKIP_BUNDLING_KEY, False)
    return context, str(skip).lower() != "true"


def main() -> None:
    context, bundling = app_context(os.environ)
    outdir = None if os.environ.get("CDK_OUTDIR") else str(CDK_JSON.parent / "cdk.out")
    app, _stack = build_app(context, bundling=bundling, outdir=outdir)
    app.synth()


if __name__ == "__main__":
    main()
