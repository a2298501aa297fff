"""The synthesized stack's IAM, evaluated as AWS evaluates it, for the calls the functions really make.

moto allows every call, so a role that lacks a permission (the curation function reading ``deleted/``)
only fails in a real account. Here each function's role is resolved from the template (its managed
policies, with every ``Ref`` / ``Fn::GetAtt`` / ``Fn::Join`` turned into the emulated world's names),
each recorded AWS call (``local.runner.call_recorder``) becomes the IAM requests AWS would authorise
for it (the action, the resource ARN, the condition keys: ``dynamodb:LeadingKeys``, ``s3:prefix``,
``kms:ViaService``, ``events:source``; the KMS calls S3, DynamoDB and Secrets Manager make on the
caller's behalf), and each request is judged by the role's policies, the landing bucket's policy and
the KMS key's policy together: allowed only with an Allow and no Deny anywhere.

Only what this stack uses is modelled; an operation or a condition operator it does not know raises,
so a new kind of call fails the test until it is modelled rather than passing unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder

from local.runner.call_recorder import RecordedCall

REGION, ACCOUNT = "us-east-1", "123456789012"
#: What a Lambda function's HTTPS call looks like to a bucket policy.
_TRANSPORT = {"aws:SecureTransport": ("true",), "s3:TlsVersion": ("1.3",)}
_MISSING = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes: may the caller do ``action`` on ``resource`` in this context?"""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: "s3" / "kms": the resource policy (bucket policy, key policy) that also decides
    resource_policy: str | None = None

    def __str__(self) -> str:
        context = {key: list(values) for key, values in self.context.items()}
        return f"{self.action} on {self.resource}" + (f" with {context}" if context else "")


# -- the policy language ---------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


def _like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_pattern(pattern, ignore_case).match(value))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _number(text: str) -> float:
    return float(text)


_OPERATORS = {
    "StringEquals": lambda policy, value: policy == value,
    "StringNotEquals": lambda policy, value: policy == value,
    "StringEqualsIgnoreCase": lambda policy, value: policy.lower() == value.lower(),
    "StringLike": _like,
    "StringNotLike": _like,
    "ArnLike": _like,
    "ArnEquals": _like,
    "ArnNotLike": _like,
    "Bool": lambda policy, value: policy.lower() == value.lower(),
    "NumericLessThan": lambda policy, value: _number(value) < _number(policy),
    "NumericLessThanEquals": lambda policy, value: _number(value) <= _number(policy),
    "NumericGreaterThan": lambda policy, value: _number(value) > _number(policy),
    "NumericGreaterThanEquals": lambda policy, value: _number(value) >= _number(policy),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotLike"}


def _condition_holds(operator: str, key: str, policy_values: list[Any], context: Mapping[str, Sequence[str]]) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _OPERATORS:
        raise NotImplementedError(f"condition operator {operator} is not modelled")
    test = _OPERATORS[base]
    negated = base in _NEGATED
    values = [str(v) for v in context.get(key, ())]
    wanted = [str(v) for v in policy_values]

    def matches(value: str) -> bool:
        return any(test(policy, value) for policy in wanted)

    if qualifier == "ForAllValues":
        return all(matches(value) != negated for value in values)
    if qualifier == "ForAnyValue":
        return any(matches(value) != negated for value in values)
    if qualifier:
        raise NotImplementedError(f"condition qualifier {qualifier} is not modelled")
    if not values:
        return if_exists or negated
    return any(matches(value) for value in values) != negated


def _statement_applies(statement: Mapping[str, Any], request: Request, principal: str | None) -> bool:
    if principal is not None and not _principal_matches(statement, principal):
        return False
    if "Action" in statement:
        if not any(_like(a, request.action, ignore_case=True) for a in _listed(statement["Action"])):
            return False
    elif any(_like(a, request.action, ignore_case=True) for a in _listed(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_like(r, request.resource) for r in _listed(statement["Resource"])):
            return False
    elif any(_like(r, request.resource) for r in _listed(statement.get("NotResource", []))):
        return False
    return all(
        _condition_holds(operator, key, _listed(values), request.context)
        for operator, block in statement.get("Condition", {}).items()
        for key, values in block.items()
    )


def _principal_matches(statement: Mapping[str, Any], principal: str) -> bool:
    """In a resource policy: "*", the caller's role, or its account's root (which hands the decision
    to the account's IAM policies, evaluated beside it)."""
    named = statement.get("Principal")
    if named == "*":
        return True
    if not isinstance(named, Mapping):
        return False
    account_root = f"arn:aws:iam::{ACCOUNT}:root"
    return any(p in ("*", principal, account_root) for p in _listed(named.get("AWS", [])))


def decide(statements: Iterable[Mapping[str, Any]], request: Request, principal: str | None = None) -> str | None:
    """ "Deny" (an explicit Deny applies), "Allow" (an Allow and no Deny), or None (nothing applies)."""
    effects = {s["Effect"] for s in statements if _statement_applies(s, request, principal)}
    return "Deny" if "Deny" in effects else "Allow" if "Allow" in effects else None


# -- the stack's roles and resource policies -----------------------------------------------------------


def _ref_id(node: Any) -> str | None:
    if isinstance(node, Mapping) and "Ref" in node:
        return str(node["Ref"])
    if isinstance(node, Mapping) and "Fn::GetAtt" in node:
        target = node["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".", 1)[0])
    return None


class StackIam:
    """The IAM of a synthesized template, resolved against an emulated world (``LocalAws.resolve``)."""

    def __init__(self, template: Mapping[str, Any], resolve: Any) -> None:
        self._resources: Mapping[str, Any] = template["Resources"]
        self._resolve = resolve
        self._statements: dict[str, list[dict[str, Any]]] = {}
        self.bucket_statements = [
            statement
            for _, props in self._of("AWS::S3::BucketPolicy")
            for statement in resolve(props["PolicyDocument"])["Statement"]
        ]
        self.key_statements = {
            str(resolve({"Fn::GetAtt": [logical_id, "Arn"]})): resolve(props["KeyPolicy"]["Statement"])
            for logical_id, props in self._of("AWS::KMS::Key")
        }
        keys: dict[str, str] = {}
        for _, props in self._of("AWS::S3::Bucket"):
            for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                key = rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
                if key is not None:
                    keys["s3"] = str(resolve(key))
        tables = list(self._of("AWS::DynamoDB::Table"))
        for _, props in tables:
            key = props.get("SSESpecification", {}).get("KMSMasterKeyId")
            if key is not None:
                keys["dynamodb"] = str(resolve(key))
        for logical_id, props in self._of("AWS::SecretsManager::Secret"):
            if "KmsKeyId" in props:
                keys[str(resolve({"Ref": logical_id}))] = str(resolve(props["KmsKeyId"]))
        self.world = World(keys=keys)
        assert len(tables) == 1, "the stack has one state table"
        self.table_arn = str(resolve({"Fn::GetAtt": [tables[0][0], "Arn"]}))

    def _of(self, kind: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for logical_id, resource in self._resources.items():
            if resource.get("Type") == kind:
                yield logical_id, resource.get("Properties", {})

    def role_of(self, caller: str) -> str:
        """The role of a function or the state machine (by logical id)."""
        props = self._resources[caller]["Properties"]
        role = _ref_id(props.get("Role", props.get("RoleArn")))
        assert role is not None, f"{caller} has no role of the stack"
        return role

    def role_arn(self, role: str) -> str:
        return f"arn:aws:iam::{ACCOUNT}:role/{role}"

    def role_statements(self, role: str) -> list[dict[str, Any]]:
        """Every statement of the policies attached to ``role``: its managed policies, managed
        policies that name it in ``Roles``, and inline ``AWS::IAM::Policy`` resources."""
        if role not in self._statements:
            self._statements[role] = self._attached_statements(role)
        return self._statements[role]

    def _attached_statements(self, role: str) -> list[dict[str, Any]]:
        props = self._resources[role]["Properties"]
        attached = {_ref_id(arn) for arn in props.get("ManagedPolicyArns", [])}
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        for logical_id, policy in self._of("AWS::IAM::ManagedPolicy"):
            if logical_id in attached or role in {_ref_id(r) for r in policy.get("Roles", [])}:
                documents.append(policy["PolicyDocument"])
        for _, policy in self._of("AWS::IAM::Policy"):
            if role in {_ref_id(r) for r in policy.get("Roles", [])}:
                documents.append(policy["PolicyDocument"])
        return [statement for document in documents for statement in self._resolve(document)["Statement"]]

    def denied(self, function: str, call: RecordedCall) -> list[Request]:
        """The requests of ``call`` that ``function``'s role may not make."""
        role = self.role_of(function)
        return [r for r in requests_for(call, self.world, self.table_arn) if not self.allowed(role, r)]

    def allowed(self, role: str, request: Request) -> bool:
        principal = self.role_arn(role)
        if decide(self.role_statements(role), request) != "Allow":
            return False
        if request.resource_policy == "s3" and decide(self.bucket_statements, request, principal) == "Deny":
            return False
        if request.resource_policy == "kms":
            key_policy = self.key_statements.get(request.resource)
            if key_policy is None or decide(key_policy, request, principal) != "Allow":
                return False
        return True


# -- what AWS authorises for each call ------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """The names a call's parameters are turned into ARNs with."""

    keys: Mapping[str, str]  # "s3" / "dynamodb" / secret ARN -> the KMS key ARN that encrypts it


def _kms(service: str, key: str | None, *actions: str) -> list[Request]:
    if key is None:
        return []
    via = {"kms:ViaService": (f"{service}.{REGION}.amazonaws.com",)}
    return [Request(action, key, via, "kms") for action in actions]


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3(call: RecordedCall, world: World) -> list[Request]:
    p, op, kms_key = call.params, call.operation, world.keys.get("s3")

    def s3(action: str, resource: str, **context: str) -> Request:
        return Request(action, resource, {**_TRANSPORT, **{k: (v,) for k, v in context.items()}}, "s3")

    bucket = str(p["Bucket"])
    if op in ("ListObjectsV2", "ListObjects"):
        return [s3("s3:ListBucket", f"arn:aws:s3:::{bucket}", **{"s3:prefix": str(p.get("Prefix", ""))})]
    target = _object(bucket, str(p.get("Key", "")))
    if op in ("GetObject", "HeadObject"):
        requests = [s3("s3:GetObject", target)]
        if call.error in _MISSING:  # the 404 (rather than 403) comes from s3:ListBucket
            requests.append(s3("s3:ListBucket", f"arn:aws:s3:::{bucket}"))
        elif op == "GetObject" and call.error is None:
            requests += _kms("s3", kms_key, "kms:Decrypt")
        return requests
    if op == "PutObject":
        return [s3("s3:PutObject", target), *_kms("s3", kms_key, "kms:GenerateDataKey")]
    if op in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        # S3 reads the encrypted parts back to complete the upload: Decrypt as well as GenerateDataKey
        return [s3("s3:PutObject", target), *_kms("s3", kms_key, "kms:GenerateDataKey", "kms:Decrypt")]
    if op in ("CopyObject", "UploadPartCopy"):
        source = p["CopySource"]
        source_key = f"{source['Bucket']}/{source['Key']}" if isinstance(source, Mapping) else str(source)
        return [
            s3("s3:PutObject", target),
            s3("s3:GetObject", f"arn:aws:s3:::{source_key.lstrip('/').split('?')[0]}"),
            *_kms("s3", kms_key, "kms:GenerateDataKey", "kms:Decrypt"),
        ]
    if op == "AbortMultipartUpload":
        return [s3("s3:AbortMultipartUpload", target)]
    if op == "ListParts":
        return [s3("s3:ListMultipartUploadParts", target)]
    if op == "DeleteObject":
        return [s3("s3:DeleteObjectVersion" if p.get("VersionId") else "s3:DeleteObject", target)]
    if op == "DeleteObjects":
        return [s3("s3:DeleteObject", _object(bucket, str(o["Key"]))) for o in p["Delete"]["Objects"]]
    raise NotImplementedError(f"S3 {op} is not modelled")


def _plain(value: Any) -> str:
    """A key attribute's value, as the resource layer ("x") or the client ({"S": "x"}) passes it."""
    if isinstance(value, Mapping) and len(value) == 1:
        return str(next(iter(value.values())))
    return str(value)


def _query_partition_keys(params: Mapping[str, Any], partition_key: str) -> list[str]:
    expression = params["KeyConditionExpression"]
    names = dict(params.get("ExpressionAttributeNames", {}))
    values = dict(params.get("ExpressionAttributeValues", {}))
    if isinstance(expression, ConditionBase):
        built = ConditionExpressionBuilder().build_expression(expression, is_key_condition=True)
        expression = built.condition_expression
        names.update(built.attribute_name_placeholders)
        values.update(built.attribute_value_placeholders)
    found = []
    for name, placeholder in re.findall(r"(#?[\w]+)\s*=\s*(:[\w]+)", str(expression)):
        if names.get(name, name) == partition_key:
            found.append(_plain(values[placeholder]))
    return found


def _dynamodb(call: RecordedCall, world: World, table_arn: str, partition_key: str = "pk") -> list[Request]:
    p, op = call.params, call.operation
    if op in ("GetItem", "DeleteItem", "UpdateItem"):
        keys = [_plain(p["Key"][partition_key])]
    elif op == "PutItem":
        keys = [_plain(p["Item"][partition_key])]
    elif op == "Query":
        keys = _query_partition_keys(p, partition_key)
    elif op == "BatchGetItem":
        keys = [_plain(k[partition_key]) for t in p["RequestItems"].values() for k in t["Keys"]]
    elif op == "BatchWriteItem":
        keys = [
            _plain((w.get("PutRequest", {}).get("Item") or w["DeleteRequest"]["Key"])[partition_key])
            for t in p["RequestItems"].values()
            for w in t
        ]
    elif op == "Scan":
        keys = []
    else:
        raise NotImplementedError(f"DynamoDB {op} is not modelled")
    context = {"dynamodb:LeadingKeys": tuple(keys)} if keys else {}
    return [Request(f"dynamodb:{op}", table_arn, context), *_kms("dynamodb", world.keys.get("dynamodb"), "kms:Decrypt")]


def requests_for(call: RecordedCall, world: World, table_arn: str) -> list[Request]:
    """The authorisations AWS makes for one recorded call."""
    p = call.params
    if call.service == "s3":
        return _s3(call, world)
    if call.service == "dynamodb":
        return _dynamodb(call, world, table_arn)
    if call.service == "secretsmanager" and call.operation == "GetSecretValue":
        secret = str(p["SecretId"])
        return [
            Request("secretsmanager:GetSecretValue", secret),
            *_kms("secretsmanager", world.keys.get(secret), "kms:Decrypt"),
        ]
    if call.service == "events" and call.operation == "PutEvents":
        return [
            Request(
                "events:PutEvents",
                f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{entry.get('EventBusName', 'default')}",
                {"events:source": (entry["Source"],), "events:detail-type": (entry["DetailType"],)},
            )
            for entry in p["Entries"]
        ]
    if call.service == "stepfunctions" and call.operation in ("DescribeExecution", "GetExecutionHistory"):
        return [Request(f"states:{call.operation}", str(p["executionArn"]))]
    if call.service == "lambda" and call.operation == "Invoke":
        name = str(p["FunctionName"])
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        return [Request("lambda:InvokeFunction", arn)]
    raise NotImplementedError(f"{call.service} {call.operation} is not modelled")
