"""Which AWS profile, region and stack the deployed-stack commands talk to, and the stack's outputs.

The region is ``--region``, else the region of a given state machine ARN, else ``AWS_REGION``, else
boto3's (``AWS_DEFAULT_REGION`` or the profile's). The commands say which stack and region
they used, so that "stack not found" never hides a wrong region.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

#: infra.stack.STACK_ID (not imported: that would start the CDK's JavaScript runtime).
STACK = "BulkFhirIngest"


class DeployedError(Exception):
    """Printed as one line; the command exits 2."""


@dataclass(frozen=True)
class AwsTarget:
    session: boto3.Session
    region: str
    profile: str | None

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def where(self, what: str) -> str:
        """``what`` plus the region (and profile) the command used."""
        return f"{what} in {self.region}" + (f" (profile {self.profile})" if self.profile else "")


def add_arguments(parser: argparse.ArgumentParser, *, region_from_arn: bool = True) -> None:
    parser.add_argument("--stack", default=STACK, help=f"the deployed stack (default {STACK})")
    default = (
        "the state machine ARN's, the profile's or AWS_REGION" if region_from_arn else "the profile's or AWS_REGION"
    )
    parser.add_argument("--region", help=f"AWS region (default: {default})")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or the default credentials)")


def region_of_arn(arn: str | None) -> str | None:
    """``arn:aws:states:eu-west-1:123456789012:stateMachine:x`` -> ``eu-west-1``."""
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" and parts[3] else None


def connect(args: argparse.Namespace) -> AwsTarget:
    from_arn = region_of_arn(getattr(args, "state_machine_arn", None))
    if args.region and from_arn and args.region != from_arn:
        raise DeployedError(f"--region {args.region} does not match the state machine ARN's region {from_arn}")
    # boto3 reads only AWS_DEFAULT_REGION; the AWS CLI and the other SDKs also AWS_REGION, before it.
    region = args.region or from_arn or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.Session(profile_name=args.profile, region_name=region)
    except ProfileNotFound:
        raise DeployedError(f"AWS profile {args.profile!r} not found in your AWS config") from None
    if not session.region_name:
        raise DeployedError("no AWS region: pass --region, set AWS_REGION, or give your AWS profile a region")
    return AwsTarget(session=session, region=session.region_name, profile=args.profile)


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's outputs by key; a missing stack names the region it was looked for in."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise DeployedError(
            f"stack {stack} not found in {cloudformation.meta.region_name} "
            f"({error.response['Error'].get('Message', 'unknown error')}); deploy it with `npx cdk deploy`, "
            "or pass --region, --profile or --stack"
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


NO_CREDENTIALS = (
    "no AWS credentials found: pass --profile NAME (or set AWS_PROFILE), export AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or sign in with `aws configure` / `aws sso login`"
)


def exit_code(command: str, err: IO[str], action: Callable[[], int]) -> int:
    """``action()``'s exit code; a ``DeployedError`` or a failed AWS call is one line on ``err``, exit 2."""
    try:
        return action()
    except DeployedError as error:
        err.write(f"{command}: {error}\n")
    except NoCredentialsError:
        err.write(f"{command}: {NO_CREDENTIALS}\n")
    except (ClientError, BotoCoreError) as error:
        err.write(f"{command}: the AWS call failed: {error}\n")
    return 2
