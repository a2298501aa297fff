"""cdk-nag AwsSolutions and HIPAA.Security pass at synth, every acknowledgement is narrow, and the gate bites."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_helpers import Synth

from infra.nag import acknowledge, acknowledge_wildcard_resources, add_nag_packs

#: Rule -> the constructs (path below the stack, numbers collapsed) that acknowledge it, VPC mode on.
EXPECTED_ACKNOWLEDGEMENTS = {
    "AwsSolutions-S1": {"Storage/AccessLogs"},
    "HIPAA.Security-S3BucketLoggingEnabled": {"Storage/AccessLogs"},
    "HIPAA.Security-S3DefaultEncryptionKMS": {"Storage/AccessLogs"},
    "HIPAA.Security-S3BucketReplicationEnabled": {"Storage/AccessLogs", "Storage/Landing"},
    "HIPAA.Security-DynamoDBInBackupPlan": {"Storage/State"},
    "HIPAA.Security-VPCNoUnrestrictedRouteToIGW": {"Network/Vpc/EgressSubnet#"},
    "AwsSolutions-SMG4": {"Secrets/bcda-sandbox"},
    "HIPAA.Security-SecretsManagerRotationEnabled": {"Secrets/bcda-sandbox"},
    "HIPAA.Security-LambdaDLQ": {"Functions/<function>"},
    "HIPAA.Security-LambdaConcurrency": {"Functions/<function>"},
    "AwsSolutions-IAM5": {
        "Functions/<function>Policy",
        "Workflow/StateMachinePolicy",
        "Workflow/DistributedMapPolicy",
        "Workflow/LeaseCheckPolicy",
        "Workflow/FinalizeExecutionPolicy",
        "Workflow/FailureExecutionPolicy",
        "Query/QueryPolicy",
    },
}
FUNCTIONS = (
    "StartRun|Authenticate|KickOff|CheckStatus|DownloadFile|CurateFile|PlanRebuild|ResolveClaims|Finalize|RecordFailure"
)


def acknowledgements(synth: Synth) -> dict[str, dict[str, str]]:
    """rule id (with finding) -> construct path below the stack -> reason, for the two packs."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            for qualified_id, reason in entry.data.items():
                rule_id = qualified_id.removeprefix("Annotation::")
                if rule_id.startswith(("AwsSolutions-", "HIPAA.Security-")):
                    found[rule_id][construct.node.path.removeprefix(f"{synth.stack.node.path}/")] = reason
    return found


def generalize(path: str) -> str:
    return re.sub(r"\d+$", "#", re.sub(rf"^Functions/({FUNCTIONS})", "Functions/<function>", path))


@pytest.mark.parametrize("synth_name", ["default", "vpc", "variant"])
def test_both_packs_pass_at_synth(synth_name: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(synth_name)
    assert synth.nag_error is None, str(synth.nag_error)


def test_acknowledgements_are_the_reviewed_ones_on_single_resources(vpc: Synth) -> None:
    found = acknowledgements(vpc)
    by_rule: dict[str, set[str]] = defaultdict(set)
    for rule_id, paths in found.items():
        by_rule[rule_id.split("[")[0]].update(generalize(path) for path in paths)
        for path, reason in paths.items():
            assert "/" in path, f"{rule_id} acknowledged on a whole construct group: {path}"
            assert len(reason) > 40, f"{rule_id} on {path}: say why"
    assert dict(by_rule) == EXPECTED_ACKNOWLEDGEMENTS


def test_wildcard_resources_are_acknowledged_one_by_one(vpc: Synth) -> None:
    iam5 = sorted(rule for rule in acknowledgements(vpc) if rule.startswith("AwsSolutions-IAM5"))
    assert "AwsSolutions-IAM5" not in iam5  # never the whole rule
    resources = {rule.removeprefix("AwsSolutions-IAM5[Resource::").removesuffix("]") for rule in iam5}
    landing = next(lid for lid in vpc.json["Resources"] if lid.startswith("StorageLanding"))
    objects = {r.removeprefix(f"<{landing}.Arn>/") for r in resources if r.startswith(f"<{landing}.Arn>/")}
    assert objects == {"fhir/*", "errors/*", "deleted/*", "staging/*", "runs/*", "runs/map-results/*"} | {
        "curated/*",  # written by curation, read by the query policy
        "athena-results/*",
        "signed-urls/*",  # a run's pre-signed file URLs
    }
    executions = {r for r in resources if ":execution:" in r}
    assert len(executions) == 2 and all(r.endswith((":*", "/*:*")) for r in executions)
    tables = {"arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/bulk_fhir_ingest/*"}
    assert resources == objects_with(landing, objects) | executions | tables | {"*"}


def objects_with(landing: str, prefixes: set[str]) -> set[str]:
    return {f"<{landing}.Arn>/{prefix}" for prefix in prefixes}


def test_lambda_outside_a_vpc_is_acknowledged_only_when_vpc_mode_is_off(default: Synth, vpc: Synth) -> None:
    assert set(acknowledgements(default)["HIPAA.Security-LambdaInsideVPC"]) == {
        f"Functions/{name}" for name in FUNCTIONS.split("|")
    }
    assert "HIPAA.Security-LambdaInsideVPC" not in acknowledgements(vpc)


def test_the_gate_fails_synth_on_a_new_finding(tmp_path: object) -> None:
    """A bucket that is compliant but for TLS enforcement fails synth with exactly the TLS findings."""
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Throwaway")
    bucket = s3.Bucket(
        stack,
        "NotTlsOnly",
        enforce_ssl=False,
        encryption_key=kms.Key(stack, "Key", enable_key_rotation=True),
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        versioned=True,
    )
    for rule in (
        "AwsSolutions-S1",
        "HIPAA.Security-S3BucketLoggingEnabled",
        "HIPAA.Security-S3BucketReplicationEnabled",
    ):
        acknowledge(bucket, rule, "not what this test is about")
    add_nag_packs(app)
    with pytest.raises(Exception, match="ValidationFailed") as failure:
        app.synth()
    findings = set(re.findall(r"Acknowledge with '[^:']+::([^']+)'", str(failure.value)))
    assert findings == {"AwsSolutions-S10", "HIPAA.Security-S3BucketSSLRequestsOnly"}


def test_a_wildcard_action_is_never_acknowledged() -> None:
    stack = Stack(App(), "Throwaway")
    policy = iam.ManagedPolicy(
        stack, "Broad", statements=[iam.PolicyStatement(actions=["s3:PutObject*"], resources=["arn:aws:s3:::b/*"])]
    )
    with pytest.raises(ValueError, match=r"wildcard action\(s\) \['s3:PutObject\*'\]"):
        acknowledge_wildcard_resources(policy, "no")
