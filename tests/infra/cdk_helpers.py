"""Synthesizing the app in tests, and reading the template."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template

from infra.app_factory import build_app
from infra.asl_extract import extract_definition
from infra.config import CONTEXT_KEY, DEFAULT_CONTEXT
from infra.stack import IngestStack


@dataclass
class Synth:
    """One synthesized configuration."""

    app: App
    stack: IngestStack
    json: dict[str, Any]
    template: Template
    #: What cdk-nag's validation raised at synth, or None when both packs passed.
    nag_error: Exception | None
    template_path: Path | None

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.json["Resources"].items() if r["Type"] == resource_type}

    def only(self, resource_type: str) -> dict[str, Any]:
        (resource,) = self.resources(resource_type).values()
        return resource

    def definition(self) -> dict[str, Any]:
        return extract_definition(self.json)


def synthesize(context: dict[str, Any] | None = None, outdir: Path | None = None) -> Synth:
    out = str(outdir) if outdir else None
    app, stack = build_app({**(context or {})}, bundling=False, nag=True, outdir=out)
    try:
        assembly = app.synth()
        nag_error = None
    except Exception as exc:  # cdk-nag findings: keep the error for the nag tests, synth again without
        nag_error = exc
        app, stack = build_app({**(context or {})}, bundling=False, nag=False, outdir=out)
        assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    template_json = artifact.template
    return Synth(
        app=app,
        stack=stack,
        json=template_json,
        template=Template.from_json(template_json),
        nag_error=nag_error,
        template_path=Path(assembly.directory) / artifact.template_file,
    )


def config_context(**changes: Any) -> dict[str, Any]:
    """The default ``"bulk-fhir-ingest"`` context with top-level keys replaced."""
    config = copy.deepcopy(DEFAULT_CONTEXT)
    config.update(copy.deepcopy(changes))
    return {CONTEXT_KEY: config}


#: A second source next to the default one, exercising the other branches of the config.
AB2D_SOURCE = {
    "name": "ab2d-prod",
    "api": "ab2d",
    "base_url": "https://api.ab2d.cms.gov",
    "token_url": "https://idm.cms.gov/oauth2/aus2ytanytjdaF9cr297/v1/token",
    "api_version": "v2",
    "export": "Patient",
    "types": ["ExplanationOfBenefit"],
    "schedule": "cron(30 4 ? * MON *)",
    "schedule_enabled": False,
    "download_concurrency": 3,
    "file_hosts": [],
    "secret_name": "cms/ab2d-prod",
}

#: The variant's catalog: other names (a second deployment in the account), other limits.
VARIANT_CATALOG = {
    "database": "claims_prod",
    "workgroup": "claims.prod-2",
    "bytes_scanned_cutoff_gb": 250,
    "results_expiry_days": 7,
}


def policy_documents(synth: Synth) -> dict[str, dict[str, Any]]:
    """Every identity policy document of the template, by a readable name."""
    documents = {}
    for lid, resource in synth.json["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents[lid] = props["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::Role":
            for inline in props.get("Policies", []):
                documents[f"{lid}/{inline['PolicyName']}"] = inline["PolicyDocument"]
    return documents


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
