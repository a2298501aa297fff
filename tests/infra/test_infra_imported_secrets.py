"""A source's existing secret given by its complete ARN: imported exactly, never as a partial ARN."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from cdk_helpers import Synth, config_context, synthesize

from infra.app_factory import build_app
from infra.asl_extract import handler_logical_ids, resolve
from infra.config import ConfigError

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bcda-prod01-AbC123"


@pytest.fixture(scope="module")
def by_arn(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    source = {"name": "bcda-prod", "api": "bcda", "base_url": "https://api.bcda.cms.gov", "secret_name": ARN}
    return synthesize(config_context(sources=[source]), tmp_path_factory.mktemp("by-arn"))


def test_a_secret_given_by_its_arn_is_imported_not_created(by_arn: Synth) -> None:
    assert by_arn.nag_error is None, str(by_arn.nag_error)
    by_arn.template.resource_count_is("AWS::SecretsManager::Secret", 0)
    by_arn.template.has_output("SecretArnBcdaProd", {"Value": ARN})


def test_the_functions_read_and_may_read_exactly_that_arn(by_arn: Synth) -> None:
    function = by_arn.json["Resources"][handler_logical_ids(by_arn.json)["authenticate"]]
    sources = json.loads(resolve(function["Properties"]["Environment"]["Variables"]["BULK_SOURCES"], by_arn.json))
    assert sources["bcda-prod"]["secret_arn"] == ARN
    by_arn.template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "SourceCredentials",
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": ARN,  # not ARN-??????: the suffix is part of it
                        }
                    ]
                )
            }
        },
    )


def test_synth_refuses_a_name_that_secrets_manager_would_read_as_a_partial_arn() -> None:
    source = {"name": "bcda-prod", "api": "bcda", "base_url": "https://api.bcda.cms.gov", "secret_name": "bcda-prod01"}
    with pytest.raises(ConfigError, match=r"secret_name: 'bcda-prod01' ends in a hyphen and six characters"):
        build_app(config_context(sources=[source]), bundling=False, nag=False)
