"""Builds the CDK app from a context dict: used by ``app.py``, the tests and the local runner."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import App

from infra.config import CONTEXT_KEY, load_config
from infra.nag import add_nag_packs
from infra.stack import STACK_ID, IngestStack

#: CDK feature flags this stack's resources depend on. They are set here, not only in cdk.json, so
#: that an app built from a plain dict (tests, the local runner) synthesizes the same template.
FEATURE_FLAGS: dict[str, Any] = {
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/core:target-partitions": ["aws", "aws-cn"],
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/aws-s3:publicAccessBlockedByDefault": True,
    "@aws-cdk/aws-ec2:restrictDefaultSecurityGroup": True,
    "@aws-cdk/aws-kms:aliasNameRef": True,
    "@aws-cdk/aws-kms:reduceCrossAccountRegionPolicyScope": True,
    "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2": True,
    "@aws-cdk/aws-lambda:useCdkManagedLogGroup": True,
    "@aws-cdk/core:explicitStackTags": True,
}
#: Context that makes CDK skip asset bundling (no pip, no network).
SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}


def build_app(
    context: dict[str, Any] | None = None, *, bundling: bool = True, nag: bool = True, outdir: str | None = None
) -> tuple[App, IngestStack]:
    """The app and its one stack; ``context`` may hold ``"bulk-fhir-ingest"`` (else the default config).

    The configuration goes in as JSON text with the highest precedence: context values that cross
    from the CDK's JavaScript side into Python lose their ``null`` members (``"glacier_days": null``
    would silently become the default), so ``app.py`` hands over the raw JSON it read itself.
    ``outdir`` defaults to the CLI's (``CDK_OUTDIR``) or a temporary directory.
    """
    context = dict(context or {})
    final: dict[str, Any] = {} if bundling else dict(SKIP_BUNDLING)
    if CONTEXT_KEY in context:
        raw = context.pop(CONTEXT_KEY)
        final[CONTEXT_KEY] = raw if isinstance(raw, str) else json.dumps(raw)
    app = App(context={**FEATURE_FLAGS, **context}, post_cli_context=final or None, outdir=outdir)
    config = load_config(app.node.try_get_context(CONTEXT_KEY))
    stack = IngestStack(app, STACK_ID, config=config)
    if nag:
        add_nag_packs(app)
    return app, stack
