"""Least privilege: explicit actions everywhere, scoped resources, each role only what its step needs.

Wildcards the stack does contain, all in *resources* or in resource policies:
- object prefixes of the landing bucket (``fhir/*``, ``errors/*``, ``deleted/*``, ``runs/*``,
  ``staging/*``, ``runs/map-results/*``);
- ``*`` for X-Ray, Step Functions log delivery and (VPC mode) Lambda's network interfaces, whose
  actions take no resource;
- the query policy (attached to no one by the stack): the prefixes the Glue tables read (``curated/*``
  too), the workgroup's ``athena-results/*`` and the tables of the stack's Glue database;
- the Distributed Map's permissions on this state machine's own executions (``execution:<name>:*``
  and ``<name>/*:*``), exactly as CDK generates them for a DISTRIBUTED map;
- resource policies: the buckets' TLS-only ``Deny s3:*``, the key policy's ``kms:*`` for the account
  root (CDK's default key administration, without which the key could become unmanageable) and
  CDK's grant to the account root through Secrets Manager (``kms:GenerateDataKey*``,
  ``kms:ReEncrypt*``) that ``secretsmanager.Secret`` adds for a customer key.
"""

from __future__ import annotations

from typing import Any

import pytest
from cdk_helpers import Synth, as_list, policy_documents

from infra.asl_extract import handler_logical_ids
from infra.nag import flatten_reference

READ = "dynamodb:BatchGetItem dynamodb:GetItem dynamodb:Query"
WRITE = "dynamodb:BatchWriteItem dynamodb:ConditionCheckItem dynamodb:DeleteItem dynamodb:PutItem dynamodb:UpdateItem"
KMS_TABLE = "kms:Decrypt kms:DescribeKey kms:Encrypt kms:GenerateDataKey"
COMMON = {
    "WriteOwnLogs": "logs:CreateLogStream logs:PutLogEvents",
    "Tracing": "xray:PutTelemetryRecords xray:PutTraceSegments",
}
SECRETS = {"SourceCredentials": "secretsmanager:GetSecretValue", "KeyForCredentials": "kms:Decrypt"}
STATE_KEY = {"KeyForState": KMS_TABLE}
READS = {"ReadStateItems": READ}
WRITES = {"WriteStateItems": WRITE}
OBJECT_KEY = {"KeyForObjects": "kms:Decrypt kms:GenerateDataKey"}
READ_WRITE_RUN_FILES = {"ReadWriteRunFiles": "s3:AbortMultipartUpload s3:GetObject s3:PutObject"}
TELL_MISSING = {"TellMissingFromForbidden": "s3:ListBucket"}

#: handler -> statement id -> actions (space-separated, sorted)
EXPECTED = {
    "start_run": {**READS, **WRITES, **STATE_KEY},
    "authenticate": {**SECRETS},
    "kick_off": {**SECRETS, **READS, **WRITES, **STATE_KEY, "DiscardAbandonedFiles": "s3:DeleteObject"},
    "check_status": {
        **SECRETS,
        **WRITES,
        **STATE_KEY,
        **READ_WRITE_RUN_FILES,
        **TELL_MISSING,
        **OBJECT_KEY,
        "ReadWriteSignedUrls": "s3:AbortMultipartUpload s3:GetObject s3:PutObject",
    },
    "download_file": {
        **SECRETS,
        **READS,
        **WRITES,
        **STATE_KEY,
        "LandFiles": "s3:AbortMultipartUpload s3:GetObject s3:ListMultipartUploadParts s3:PutObject",
        "DeleteStagingObjects": "s3:DeleteObject",
        "ReadSignedUrls": "s3:GetObject",
        **TELL_MISSING,
        **OBJECT_KEY,
    },
    "finalize": {
        **READS,
        **WRITES,
        **STATE_KEY,
        **READ_WRITE_RUN_FILES,
        **OBJECT_KEY,
        "PutExportLanded": "events:PutEvents",
    },
    "record_failure": {**SECRETS, **READS, **WRITES, **STATE_KEY, "PutExportFailed": "events:PutEvents"},
}

#: handler -> (partition-key prefixes it may read, ... it may write): each step only its own items
TABLE_ITEMS = {
    "start_run": (["LEASE#*", "LEDGER#*", "OPENJOB#*", "WATERMARK#*"], ["LEASE#*", "LEDGER#*"]),
    "kick_off": (["LEDGER#*", "OPENJOB#*", "RUN#*", "SERVERJOB#*"], ["LEDGER#*", "OPENJOB#*", "SERVERJOB#*"]),
    "check_status": (None, ["LEDGER#*"]),
    "download_file": (["RUN#*"], ["RUN#*"]),
    "finalize": (["RUN#*", "WATERMARK#*"], ["LEASE#*", "LEDGER#*", "OPENJOB#*", "WATERMARK#*"]),
    "record_failure": (["RUN#*"], ["LEASE#*", "LEDGER#*", "OPENJOB#*"]),
}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(document["Statement"])


def function_policy(synth: Synth, handler: str) -> dict[str, dict[str, Any]]:
    function = synth.json["Resources"][handler_logical_ids(synth.json)[handler]]
    role = synth.json["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]
    (policy_ref,) = role["Properties"]["ManagedPolicyArns"]
    document = synth.json["Resources"][policy_ref["Ref"]]["Properties"]["PolicyDocument"]
    return {statement["Sid"]: statement for statement in statements(document)}


def actions(statement: dict[str, Any]) -> str:
    return " ".join(sorted(as_list(statement["Action"])))


def resources(statement: dict[str, Any]) -> list[str]:
    return sorted(flatten_reference(resource) for resource in as_list(statement["Resource"]))


@pytest.mark.parametrize("synth_name", ["default", "vpc", "variant"])
def test_no_wildcard_action_in_any_identity_policy(synth_name: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(synth_name)
    documents = policy_documents(synth)
    assert len(documents) >= 10
    wildcards = {
        name: action
        for name, document in documents.items()
        for statement in statements(document)
        for action in as_list(statement["Action"])
        if "*" in action
    }
    assert wildcards == {}


@pytest.mark.parametrize("handler", sorted(EXPECTED))
def test_each_function_gets_exactly_what_its_step_needs(default: Synth, handler: str) -> None:
    policy = function_policy(default, handler)
    assert {sid: actions(statement) for sid, statement in policy.items()} == {**EXPECTED[handler], **COMMON}


@pytest.mark.parametrize("handler", sorted(TABLE_ITEMS))
def test_each_function_reads_and_writes_only_the_state_items_its_step_owns(default: Synth, handler: str) -> None:
    # The download function talks to whatever file hosts a manifest names; it cannot touch a watermark,
    # a lease or the ledger. Nor can the status function.
    policy = function_policy(default, handler)
    table = next(lid for lid in default.json["Resources"] if lid.startswith("StorageState"))
    for sid, prefixes in zip(("ReadStateItems", "WriteStateItems"), TABLE_ITEMS[handler], strict=True):
        if prefixes is None:
            assert sid not in policy
            continue
        statement = policy[sid]
        assert resources(statement) == [f"<{table}.Arn>"]
        assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": prefixes}}


def test_object_access_is_scoped_to_prefixes(default: Synth) -> None:
    landing = next(lid for lid in default.json["Resources"] if lid.startswith("StorageLanding"))

    def prefixes(handler: str, sid: str) -> list[str]:
        found = resources(function_policy(default, handler)[sid])
        assert all(r.startswith(f"<{landing}.Arn>/") for r in found)
        return [r.removeprefix(f"<{landing}.Arn>/") for r in found]

    assert prefixes("check_status", "ReadWriteRunFiles") == ["runs/*"]
    assert prefixes("download_file", "ReadSignedUrls") == ["signed-urls/*"]
    assert prefixes("check_status", "ReadWriteSignedUrls") == ["signed-urls/*"]
    assert prefixes("finalize", "ReadWriteRunFiles") == ["runs/*"]
    assert prefixes("download_file", "LandFiles") == ["deleted/*", "errors/*", "fhir/*", "staging/*"]
    assert prefixes("download_file", "DeleteStagingObjects") == ["staging/*"]
    # listing: the bucket itself, so that HeadObject of a not-yet-landed file says 404, not 403
    assert resources(function_policy(default, "download_file")["TellMissingFromForbidden"]) == [f"<{landing}.Arn>"]


def test_secrets_are_only_the_sources_secrets(variant: Synth) -> None:
    created = next(lid for lid, r in variant.json["Resources"].items() if r["Type"] == "AWS::SecretsManager::Secret")
    found = resources(function_policy(variant, "authenticate")["SourceCredentials"])
    assert found == sorted(
        [
            f"<{created}>",
            "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:cms/ab2d-prod-??????",
        ]
    )


def test_key_use_only_through_the_service_that_needs_it(default: Synth) -> None:
    services = {"KeyForState": "dynamodb", "KeyForObjects": "s3", "KeyForCredentials": "secretsmanager"}
    for handler in EXPECTED:
        for sid, statement in function_policy(default, handler).items():
            if sid in services:
                via = statement["Condition"]["StringEquals"]["kms:ViaService"]
                assert flatten_reference(via) == f"{services[sid]}.<AWS::Region>.amazonaws.com"
                assert resources(statement) == [f"<{_key(default)}.Arn>"]


def test_events_only_this_apps_detail_type_on_the_default_bus(default: Synth) -> None:
    for handler, sid, detail_type in (
        ("finalize", "PutExportLanded", "ExportLanded"),
        ("record_failure", "PutExportFailed", "ExportFailed"),
    ):
        statement = function_policy(default, handler)[sid]
        assert resources(statement) == ["arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/default"]
        assert statement["Condition"]["StringEquals"] == {
            "events:source": "bulk-fhir-ingest",
            "events:detail-type": detail_type,
        }


def test_star_resources_only_where_the_action_takes_no_resource(default: Synth, vpc: Synth) -> None:
    for synth in (default, vpc):
        star = {
            sid_or_name(name, statement)
            for name, document in policy_documents(synth).items()
            for statement in statements(document)
            if "*" in as_list(statement["Resource"])
        }
        assert {sid for _name, sid in star} <= {"Tracing", "DeliverLogs", "VpcNetworkInterfaces"}
    vpc_sids = {sid for handler in EXPECTED for sid in function_policy(vpc, handler)}
    assert "VpcNetworkInterfaces" in vpc_sids


def sid_or_name(name: str, statement: dict[str, Any]) -> tuple[str, str]:
    return name, statement.get("Sid", "")


def test_state_machine_role(default: Synth) -> None:
    machine = default.only("AWS::StepFunctions::StateMachine")
    role = default.json["Resources"][machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert "Policies" not in role
    (policy_ref,) = role["ManagedPolicyArns"]
    policy = {
        s["Sid"]: s for s in statements(default.json["Resources"][policy_ref["Ref"]]["Properties"]["PolicyDocument"])
    }
    # the seven functions, unqualified: no "<function>:*"
    assert actions(policy["InvokeSteps"]) == "lambda:InvokeFunction"
    assert resources(policy["InvokeSteps"]) == sorted(
        f"<{lid}.Arn>" for lid in handler_logical_ids(default.json).values()
    )
    landing = next(lid for lid in default.json["Resources"] if lid.startswith("StorageLanding"))
    assert resources(policy["ReadFileLists"]) == [f"<{landing}.Arn>/runs/*"]
    assert resources(policy["WriteMapResults"]) == [f"<{landing}.Arn>/runs/map-results/*"]
    assert policy["KeyForObjects"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert set(policy) == {"InvokeSteps", "ReadFileLists", "WriteMapResults", "KeyForObjects", "DeliverLogs", "Tracing"}


def test_distributed_map_may_run_only_this_state_machine(default: Synth) -> None:
    machine_id = next(iter(default.resources("AWS::StepFunctions::StateMachine")))
    (policy,) = [
        p["Properties"]
        for lid, p in default.resources("AWS::IAM::ManagedPolicy").items()
        if lid.startswith("WorkflowDistributedMapPolicy")
    ]
    by_sid = {s["Sid"]: s for s in statements(policy["PolicyDocument"])}
    assert actions(by_sid["StartChildExecutions"]) == "states:StartExecution"
    assert resources(by_sid["StartChildExecutions"]) == [f"<{machine_id}>"]
    assert actions(by_sid["ManageChildExecutions"]) == "states:DescribeExecution states:StopExecution"
    assert all(machine_id in r for s in by_sid.values() for r in resources(s))
    assert policy["Roles"] == [
        {"Ref": next(lid for lid in default.json["Resources"] if lid.startswith("WorkflowStateMachineRole"))}
    ]


@pytest.mark.parametrize(
    ("handler", "policy_id"),
    [
        # to take over the lease of an execution stopped by hand or timed out (no catch path ran)
        ("start_run", "WorkflowLeaseCheckPolicy"),
        # to count the execution's history events for the run ledger
        ("finalize", "WorkflowFinalizeExecutionPolicy"),
        ("record_failure", "WorkflowFailureExecutionPolicy"),
    ],
)
def test_steps_may_only_read_this_state_machines_executions(default: Synth, handler: str, policy_id: str) -> None:
    machine_id = next(iter(default.resources("AWS::StepFunctions::StateMachine")))
    (policy,) = [
        p["Properties"] for lid, p in default.resources("AWS::IAM::ManagedPolicy").items() if lid.startswith(policy_id)
    ]
    (statement,) = statements(policy["PolicyDocument"])
    assert actions(statement) == "states:DescribeExecution states:GetExecutionHistory"
    (resource,) = resources(statement)
    assert machine_id in resource and resource.endswith(":*")
    role = default.json["Resources"][handler_logical_ids(default.json)[handler]]["Properties"]["Role"]
    assert policy["Roles"] == [{"Ref": role["Fn::GetAtt"][0]}]


def test_schedule_role_may_only_start_the_state_machine(default: Synth) -> None:
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for lid, p in default.resources("AWS::IAM::ManagedPolicy").items()
        if lid.startswith("SchedulesStartExecutionPolicy")
    ]
    by_sid = {s["Sid"]: s for s in statements(policy)}
    assert actions(by_sid["StartExport"]) == "states:StartExecution"
    assert resources(by_sid["StartExport"]) == [
        f"<{next(iter(default.resources('AWS::StepFunctions::StateMachine')))}>"
    ]
    assert actions(by_sid["ReadEncryptedSchedule"]) == "kms:Decrypt"


def test_resource_policy_wildcards_are_tls_denies_and_key_administration(default: Synth) -> None:
    for bucket_policy in default.resources("AWS::S3::BucketPolicy").values():
        for statement in statements(bucket_policy["Properties"]["PolicyDocument"]):
            if any("*" in a for a in as_list(statement["Action"])):
                assert statement["Effect"] == "Deny"
                assert statement["Condition"] in (
                    {"Bool": {"aws:SecureTransport": "false"}},
                    {"NumericLessThan": {"s3:TlsVersion": 1.2}},
                )
    root = "arn:<AWS::Partition>:iam::<AWS::AccountId>:root"
    for statement in statements(default.only("AWS::KMS::Key")["Properties"]["KeyPolicy"]):
        if any("*" in a for a in as_list(statement["Action"])):
            assert flatten_reference(statement["Principal"]["AWS"]) == root
            # the key administration statement, or CDK's grant to the account through Secrets Manager
            # for the secrets it encrypts (redundant with the first)
            assert (
                statement["Action"] == "kms:*"
                or flatten_reference(statement["Condition"]["StringEquals"]["kms:ViaService"])
                == "secretsmanager.<AWS::Region>.amazonaws.com"
            )


def test_no_aws_managed_policies_and_no_inline_policies(default: Synth, vpc: Synth) -> None:
    for synth in (default, vpc):
        assert synth.resources("AWS::IAM::Policy") == {}
        for lid, role in synth.resources("AWS::IAM::Role").items():
            if "CustomResourceProvider" in lid:
                continue  # CDK's own provider for restricting the default security group (VPC mode)
            assert "Policies" not in role["Properties"]
            for arn in role["Properties"].get("ManagedPolicyArns", []):
                assert "Ref" in arn, f"{lid} uses an AWS managed policy"


def _key(synth: Synth) -> str:
    return next(iter(synth.resources("AWS::KMS::Key")))
