#!/usr/bin/env python3
"""The CDK app (``cdk synth`` / ``cdk deploy``; ``python app.py`` synthesizes into ./cdk.out too).

Run by the CDK CLI, the context comes from cdk.json and ``-c``; run directly, cdk.json's context is
read here so both ways build the same stack.
"""

from __future__ import annotations

import json
from pathlib import Path

from infra.app_factory import build_app

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def main() -> None:
    context = json.loads(CDK_JSON.read_text()).get("context", {}) if CDK_JSON.exists() else {}
    app, _stack = build_app(context)
    app.synth()


if __name__ == "__main__":
    main()
