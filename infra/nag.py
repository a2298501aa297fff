"""cdk-nag at synth: the AwsSolutions and HIPAA.Security packs, and narrowly scoped acknowledgements.

cdk-nag 3 runs as a CDK policy-validation plugin: ``app.synth()`` raises when a pack reports a finding
that no ``Validations.of(construct).acknowledge(...)`` covers, so a new finding fails the build.
Every acknowledgement sits next to the resource it concerns, with its reason. Wildcard resources in
IAM policies (AwsSolutions-IAM5) are acknowledged one by one, by their exact finding id.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks
from constructs import IConstruct


def add_nag_packs(app: App) -> None:
    """Check every stack of ``app`` with both packs when it is synthesized."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), HIPAASecurityChecks(app))


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding (``Rule`` or ``Rule[Finding]``) on ``construct`` and its children."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def acknowledge_wildcard_resources(policy: iam.ManagedPolicy, reason: str) -> list[str]:
    """Acknowledge AwsSolutions-IAM5 for each wildcard *resource* of ``policy``, by its finding id.

    Call it once the policy has all its statements. A wildcard *action* is never acknowledged: it
    raises here, so a policy with one cannot be synthesized. Returns the acknowledged resources.
    """
    document = Stack.of(policy).resolve(policy.document)
    acknowledged = []
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        wildcard_actions = [action for action in _as_list(statement.get("Action")) if "*" in action]
        if wildcard_actions:
            raise ValueError(f"{policy.node.path}: wildcard action(s) {wildcard_actions}; list the actions")
        for resource in _as_list(statement.get("Resource")):
            flat = flatten_reference(resource)
            if "*" in flat and flat not in acknowledged:
                acknowledge(policy, f"AwsSolutions-IAM5[Resource::{flat}]", reason)
                acknowledged.append(flat)
    return acknowledged


def flatten_reference(node: Any) -> str:
    """A resource as cdk-nag names it in a finding id (port of its ``flattenCfnReference``)."""
    if node is None or isinstance(node, str):
        return (node or "").replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
        for unwrapped in ("Fn::Sub", "Fn::ImportValue"):
            if unwrapped in node:
                return flatten_reference(node[unwrapped])
    return json.dumps(node, separators=(",", ":"))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
