"""VPC mode: private subnets, one NAT gateway with a fixed Elastic IP, egress-only functions."""

from __future__ import annotations

import pytest
from cdk_helpers import Synth, config_context, dumps

from infra.app_factory import build_app
from infra.config import ConfigError


def test_vpc_mode_is_off_by_default(default: Synth) -> None:
    assert default.resources("AWS::EC2::VPC") == {}
    assert "EgressIp" not in default.json["Outputs"]


def test_one_nat_gateway_with_the_allocated_elastic_ip(vpc: Synth) -> None:
    (eip_id,) = vpc.resources("AWS::EC2::EIP")
    (nat,) = vpc.resources("AWS::EC2::NatGateway").values()
    assert nat["Properties"]["AllocationId"] == {"Fn::GetAtt": [eip_id, "AllocationId"]}
    assert vpc.json["Outputs"]["EgressIp"]["Value"] == {"Fn::GetAtt": [eip_id, "PublicIp"]}


def test_two_availability_zones_at_most_and_never_silently_fewer(vpc: Synth) -> None:
    # Environment-agnostic, CDK knows two AZs: a larger max_azs fails the config check instead of
    # being ignored, and max_azs 2 gives a public and a private subnet in each of two zones.
    vpc.template.resource_count_is("AWS::EC2::Subnet", 4)
    zones = {dumps(s["Properties"]["AvailabilityZone"]) for s in vpc.resources("AWS::EC2::Subnet").values()}
    assert len(zones) == 2
    with pytest.raises(ConfigError, match=r"vpc.max_azs: 3 is outside 1..2"):
        build_app(config_context(vpc={"enabled": True, "max_azs": 3}), bundling=False, nag=False)


def test_every_private_subnet_routes_through_the_one_nat_gateway(vpc: Synth) -> None:
    (nat_id,) = vpc.resources("AWS::EC2::NatGateway")
    routes = [r["Properties"] for r in vpc.resources("AWS::EC2::Route").values()]
    to_nat = [r for r in routes if "NatGatewayId" in r]
    assert len(to_nat) == 2 and all(r["NatGatewayId"] == {"Ref": nat_id} for r in to_nat)
    subnets = vpc.resources("AWS::EC2::Subnet").values()
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)


def test_functions_run_in_the_private_subnets_with_an_egress_only_group(vpc: Synth) -> None:
    private = {lid for lid in vpc.resources("AWS::EC2::Subnet") if "Functions" in lid}
    (group_id, group) = next(iter(vpc.resources("AWS::EC2::SecurityGroup").items()))
    for function in vpc.resources("AWS::Lambda::Function").values():
        if not function["Properties"].get("Handler", "").startswith("ingest."):
            continue
        config = function["Properties"]["VpcConfig"]
        assert {s["Ref"] for s in config["SubnetIds"]} == private
        assert config["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]
    assert "SecurityGroupIngress" not in group["Properties"]
    egress = {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in group["Properties"]["SecurityGroupEgress"]}
    assert egress == {("tcp", 443, 443), ("udp", 53, 53), ("tcp", 53, 53)}
    https = next(r for r in group["Properties"]["SecurityGroupEgress"] if r["FromPort"] == 443)
    assert https["CidrIp"] == "0.0.0.0/0"


def test_flow_logs_and_free_gateway_endpoints(vpc: Synth) -> None:
    (flow_log,) = vpc.resources("AWS::EC2::FlowLog").values()
    assert flow_log["Properties"]["LogDestinationType"] == "s3"
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    assert "StorageAccessLogs" in dumps(flow_log["Properties"]["LogDestination"])
    endpoints = {dumps(e["Properties"]["ServiceName"]) for e in vpc.resources("AWS::EC2::VPCEndpoint").values()}
    assert any(".s3" in e for e in endpoints) and any(".dynamodb" in e for e in endpoints)
