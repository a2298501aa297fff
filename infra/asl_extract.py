"""Turn a synthesized CloudFormation template back into runnable values (pure, no CDK import).

The state machine's ``DefinitionString`` (and e.g. the functions' environment) are CloudFormation
intrinsics: ``Fn::Join`` of text with ``Ref`` / ``Fn::GetAtt`` of resources. :func:`resolve` evaluates
them, asking ``mapper(logical_id, attribute, resource)`` for each reference (``attribute`` is ``None``
for a ``Ref``); when the mapper returns ``None`` (or there is none) a plausible default is used: a
Lambda becomes ``arn:aws:lambda:us-east-1:123456789012:function:<LogicalId>``, a bucket's name is
its lower-cased logical id, and so on. :func:`extract_definition` gives the ASL as a dict, which the
local runner executes and the tests validate with asl-validator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

Mapper = Callable[[str, str | None, Mapping[str, Any]], str | None]

DEFAULT_PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "BulkFhirIngest",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/BulkFhirIngest/0",
}
STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
_HANDLER = re.compile(r"^ingest\.handlers\.([a-z_]+)\.handler$")
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


class ExtractError(ValueError):
    """The template has no such resource, or uses an intrinsic this resolver does not know."""


def resolve(
    node: Any,
    template: Mapping[str, Any],
    mapper: Mapper | None = None,
    pseudo_parameters: Mapping[str, str] | None = None,
) -> Any:
    """``node`` with every intrinsic function evaluated."""
    return _Resolver(template, mapper, {**DEFAULT_PSEUDO_PARAMETERS, **(pseudo_parameters or {})}).value(node)


def state_machine_ids(template: Mapping[str, Any]) -> list[str]:
    return [lid for lid, res in template.get("Resources", {}).items() if res.get("Type") == STATE_MACHINE_TYPE]


def extract_definition(
    template: Mapping[str, Any],
    logical_id: str | None = None,
    mapper: Mapper | None = None,
    pseudo_parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ASL of the state machine ``logical_id`` (default: the template's only one) as a dict."""
    if logical_id is None:
        ids = state_machine_ids(template)
        if len(ids) != 1:
            raise ExtractError(f"expected one state machine, found {ids}; pass logical_id")
        logical_id = ids[0]
    properties = template["Resources"][logical_id]["Properties"]
    resolver = _Resolver(template, mapper, {**DEFAULT_PSEUDO_PARAMETERS, **(pseudo_parameters or {})})
    text = resolver.value(properties["DefinitionString"])
    for name, value in resolver.value(properties.get("DefinitionSubstitutions", {})).items():
        text = text.replace("${" + name + "}", str(value))
    definition: dict[str, Any] = json.loads(text)
    return definition


def handler_logical_ids(template: Mapping[str, Any]) -> dict[str, str]:
    """Handler name (``start_run``...) to the logical id of the function that runs it."""
    found = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Lambda::Function":
            match = _HANDLER.match(str(resource.get("Properties", {}).get("Handler", "")))
            if match:
                found[match.group(1)] = logical_id
    return found


def default_reference(logical_id: str, attribute: str | None, resource_type: str, p: Mapping[str, str]) -> str:
    """What a ``Ref`` (``attribute is None``) or ``Fn::GetAtt`` of a resource stands for, made up."""
    partition, region, account = p["AWS::Partition"], p["AWS::Region"], p["AWS::AccountId"]

    def arn(service: str, resource: str, with_region: bool = True) -> str:
        return f"arn:{partition}:{service}:{region if with_region else ''}:{account}:{resource}"

    bucket = re.sub(r"[^a-z0-9-]", "-", logical_id.lower())[:63]
    refs: dict[str, tuple[str | None, dict[str, str]]] = {
        "AWS::Lambda::Function": (logical_id, {"Arn": arn("lambda", f"function:{logical_id}")}),
        "AWS::S3::Bucket": (bucket, {"Arn": f"arn:{partition}:s3:::{bucket}",
                                     "DomainName": f"{bucket}.s3.amazonaws.com"}),
        "AWS::DynamoDB::Table": (logical_id, {"Arn": arn("dynamodb", f"table/{logical_id}")}),
        "AWS::SecretsManager::Secret": (arn("secretsmanager", f"secret:{logical_id}"), {}),
        STATE_MACHINE_TYPE: (arn("states", f"stateMachine:{logical_id}"), {"Name": logical_id}),
        "AWS::KMS::Key": (logical_id, {"Arn": arn("kms", f"key/{logical_id}")}),
        "AWS::SNS::Topic": (arn("sns", logical_id), {"TopicName": logical_id}),
        "AWS::Logs::LogGroup": (logical_id, {"Arn": arn("logs", f"log-group:{logical_id}:*")}),
        "AWS::IAM::Role": (logical_id, {"Arn": arn("iam", f"role/{logical_id}", with_region=False)}),
    }  # fmt: skip
    ref, attributes = refs.get(resource_type, (logical_id, {}))
    if attribute is None:
        return ref or logical_id
    return attributes.get(attribute, f"{logical_id}.{attribute}")


class _Resolver:
    def __init__(self, template: Mapping[str, Any], mapper: Mapper | None, pseudo: Mapping[str, str]) -> None:
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.mapper = mapper
        self.pseudo = pseudo

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, argument), = node.items()  # fmt: skip
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(self, argument)
            if key.startswith("Fn::"):
                raise ExtractError(f"unsupported intrinsic {key}")
        return {key: self.value(item) for key, item in node.items()}

    def reference(self, logical_id: str, attribute: str | None) -> str:
        if attribute is None and logical_id in self.pseudo:
            return self.pseudo[logical_id]
        resource = self.resources.get(logical_id)
        if resource is None:
            raise ExtractError(f"reference to unknown resource {logical_id!r}")
        if self.mapper is not None:
            mapped = self.mapper(logical_id, attribute, resource)
            if mapped is not None:
                return mapped
        return default_reference(logical_id, attribute, resource.get("Type", ""), self.pseudo)

    def ref(self, argument: str) -> str:
        return self.reference(argument, None)

    def get_att(self, argument: Any) -> str:
        logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
        return self.reference(logical_id, self.value(attribute))

    def join(self, argument: list[Any]) -> str:
        separator, parts = argument
        return str(separator).join(str(self.value(part)) for part in self.value(parts))

    def select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self.value(items)[int(self.value(index))]

    def split(self, argument: list[Any]) -> list[str]:
        separator, text = argument
        return str(self.value(text)).split(separator)

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.value(value) for name, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name:
                return self.get_att(name)
            return self.ref(name)

        return _SUB_VARIABLE.sub(replace, text)


_INTRINSICS: dict[str, Callable[[_Resolver, Any], Any]] = {
    "Ref": _Resolver.ref,
    "Fn::GetAtt": _Resolver.get_att,
    "Fn::Join": _Resolver.join,
    "Fn::Select": _Resolver.select,
    "Fn::Split": _Resolver.split,
    "Fn::Sub": _Resolver.sub,
}
