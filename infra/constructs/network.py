"""Optional VPC mode: the functions egress through one NAT gateway with a fixed Elastic IP.

BCDA and AB2D production allow-list caller IPs, so the EIP is a stack output to register with them.
S3 and DynamoDB traffic goes through (free) gateway endpoints instead of the NAT gateway.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import VpcConfig
from infra.nag import acknowledge

FLOW_LOGS_PREFIX = "vpc-flow-logs/"


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: VpcConfig, log_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.elastic_ip = ec2.CfnEIP(self, "EgressIp", domain="vpc")
        self.vpc = self._build_vpc(config, log_bucket)
        self.function_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.function_security_group = self._build_security_group()

    def _build_vpc(self, config: VpcConfig, log_bucket: s3.IBucket) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=config.max_azs,
            nat_gateways=1,
            nat_gateway_provider=ec2.NatProvider.gateway(eip_allocation_ids=[self.elastic_ip.attr_allocation_id]),
            subnet_configuration=[
                # Only the NAT gateway lives here, and it brings its own Elastic IP.
                ec2.SubnetConfiguration(
                    name="Egress", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26, map_public_ip_on_launch=False
                ),
                ec2.SubnetConfiguration(name="Functions", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
            flow_logs={
                "ToS3": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(log_bucket, FLOW_LOGS_PREFIX),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        for subnet in vpc.public_subnets:
            acknowledge(
                subnet,
                "HIPAA.Security-VPCNoUnrestrictedRouteToIGW",
                "The public subnet holds only the NAT gateway, which needs the route to the internet gateway "
                "to reach the CMS APIs; no function or instance runs in it.",
            )
        return vpc

    def _build_security_group(self) -> ec2.SecurityGroup:
        group = ec2.SecurityGroup(
            self,
            "Functions",
            vpc=self.vpc,
            description="bulk-fhir-ingest functions: HTTPS and DNS out, nothing in",
            allow_all_outbound=False,
        )
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the bulk FHIR APIs and AWS")
        cidr = ec2.Peer.ipv4(self.vpc.vpc_cidr_block)
        group.add_egress_rule(cidr, ec2.Port.udp(53), "DNS to the VPC resolver")
        group.add_egress_rule(cidr, ec2.Port.tcp(53), "DNS to the VPC resolver")
        return group
