"""Resolving CloudFormation intrinsics back into a runnable definition (reused by the local runner)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_helpers import Synth

from infra.asl_extract import ExtractError, extract_definition, handler_logical_ids, resolve, state_machine_ids
from infra.contract import HANDLERS

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Fn1": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "ingest.handlers.kick_off.handler"}},
        "Bucket9": {"Type": "AWS::S3::Bucket"},
        "Secret1": {"Type": "AWS::SecretsManager::Secret"},
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "DefinitionString": {
                    "Fn::Join": [
                        "",
                        ['{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"', {"Fn::GetAtt": ["Fn1", "Arn"]},
                         '","Comment":"${Note}","End":true}}}'],
                    ]
                },
                "DefinitionSubstitutions": {"Note": {"Ref": "Bucket9"}},
            },
        },
    }
}  # fmt: skip


def test_joins_refs_and_attributes_with_made_up_defaults() -> None:
    definition = extract_definition(TEMPLATE)
    assert definition["States"]["A"]["Resource"] == "arn:aws:lambda:us-east-1:123456789012:function:Fn1"
    assert definition["States"]["A"]["Comment"] == "bucket9"  # substitution, bucket name lower-cased


def test_mapper_decides_first_and_pseudo_parameters_can_change() -> None:
    def mapper(logical_id: str, attribute: str | None, resource: dict[str, Any]) -> str | None:
        return "arn:local:fn" if resource["Type"] == "AWS::Lambda::Function" else None

    definition = extract_definition(TEMPLATE, mapper=mapper)
    assert definition["States"]["A"]["Resource"] == "arn:local:fn"
    value = {"Fn::Sub": ["${AWS::Region}/${Secret1}/${X}", {"X": {"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}}]}
    assert (
        resolve(value, TEMPLATE, pseudo_parameters={"AWS::Region": "eu-west-1"})
        == "eu-west-1/arn:aws:secretsmanager:eu-west-1:123456789012:secret:Secret1/b"
    )


def test_unknown_things_are_errors() -> None:
    with pytest.raises(ExtractError, match="unknown resource 'Nope'"):
        resolve({"Ref": "Nope"}, TEMPLATE)
    with pytest.raises(ExtractError, match="unsupported intrinsic Fn::If"):
        resolve({"Fn::If": ["c", 1, 2]}, TEMPLATE)
    with pytest.raises(ExtractError, match="expected one state machine"):
        extract_definition({"Resources": {}})


def test_finds_the_functions_by_handler_and_the_state_machine(default: Synth) -> None:
    assert state_machine_ids(TEMPLATE) == ["Machine"]
    assert handler_logical_ids(TEMPLATE) == {"kick_off": "Fn1"}
    assert len(handler_logical_ids(default.json)) == len(HANDLERS)
    # the real definition resolves to plain JSON with no leftover intrinsic
    assert "Fn::" not in json.dumps(default.definition())
