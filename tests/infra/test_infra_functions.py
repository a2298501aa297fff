"""The Lambdas (one per handler): runtime, architecture, sizes, tracing, logs."""

from __future__ import annotations

from cdk_helpers import Synth, dumps

from infra.asl_extract import handler_logical_ids
from infra.contract import HANDLERS


def test_one_function_per_handler(default: Synth) -> None:
    assert sorted(handler_logical_ids(default.json)) == sorted(HANDLERS)
    default.template.resource_count_is("AWS::Lambda::Function", len(HANDLERS))


def test_runtime_architecture_and_code_are_shared(default: Synth, variant: Synth) -> None:
    for synth, architecture in ((default, "arm64"), (variant, "x86_64")):
        functions = synth.resources("AWS::Lambda::Function").values()
        assert {f["Properties"]["Runtime"] for f in functions} == {"python3.14"}
        assert {tuple(f["Properties"]["Architectures"]) for f in functions} == {(architecture,)}
        assert len({dumps(f["Properties"]["Code"]) for f in functions}) == 1  # one asset


def test_download_and_curation_are_big_and_long_the_others_small(default: Synth) -> None:
    ids = handler_logical_ids(default.json)
    functions = default.resources("AWS::Lambda::Function")
    for name, logical_id in ids.items():
        props = functions[logical_id]["Properties"]
        if name == "download_file":
            assert (props["MemorySize"], props["Timeout"]) == (1024, 900)
        elif name == "curate_file":
            # JSON parsing is CPU-bound: 1,769 MB is one full vCPU; one file per invocation
            assert (props["MemorySize"], props["Timeout"]) == (1769, 900)
        elif name == "check_status":
            # the largest manifest the client accepts (tests/infra/test_infra_timeouts_nest.py)
            assert props["MemorySize"] == 1024
        else:
            assert props["MemorySize"] == 256
            assert props["Timeout"] <= 720  # room for their requests' HTTP bounds (test_infra_timeouts_nest.py)


def test_tracing_and_encrypted_log_groups_with_retention(default: Synth) -> None:
    log_groups = default.resources("AWS::Logs::LogGroup")
    assert len(log_groups) == len(HANDLERS) + 1  # the functions and the state machine
    for group in log_groups.values():
        assert group["Properties"]["RetentionInDays"] == 365
        assert "StorageKey" in dumps(group["Properties"]["KmsKeyId"])
    for function in default.resources("AWS::Lambda::Function").values():
        props = function["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["LoggingConfig"]["LogGroup"]["Ref"] in log_groups


def test_each_function_has_its_own_role_with_one_managed_policy(default: Synth) -> None:
    roles = default.resources("AWS::IAM::Role")
    managed_policies = default.resources("AWS::IAM::ManagedPolicy")
    role_ids = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in default.resources("AWS::Lambda::Function").values()]
    assert len(set(role_ids)) == len(HANDLERS)
    for role_id in role_ids:
        props = roles[role_id]["Properties"]
        assert "Policies" not in props  # no inline policy
        (policy,) = props["ManagedPolicyArns"]
        assert policy["Ref"] in managed_policies
        assert props["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_no_function_runs_in_a_vpc_unless_vpc_mode_is_on(default: Synth) -> None:
    for function in default.resources("AWS::Lambda::Function").values():
        assert "VpcConfig" not in function["Properties"]
