"""One Secrets Manager secret per source: created empty, or an existing one imported by name or ARN.

Put the credentials in with ``bulk-ingest secret set --source <name>`` (it finds the secret through the
stack's outputs); until then the functions fail with a ConfigurationError that says so.

A created secret is named by CloudFormation (its ARN is a stack output): it is retained when the stack
is deleted, so a fixed name would make the next deploy of the stack fail on the orphan
(ResourceExistsException).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import secret_ids
from infra.config import IngestConfig, SourceConfig
from infra.nag import acknowledge

#: The JSON each API's secret holds (docs/architecture.md §5); shown in the secret's description.
SECRET_SHAPES = {
    "bcda": '{"client_id": "...", "client_secret": "..."}',
    "ab2d": '{"client_id": "...", "client_secret": "..."}',
    "smart": '{"client_id": "...", "private_key_jwk": {"kty": "RSA", "kid": "...", "alg": "RS384", ...}}',
}


class Secrets(Construct):
    """``secrets[source name]`` is that source's secret."""

    def __init__(self, scope: Construct, construct_id: str, *, config: IngestConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[str, secretsmanager.ISecret] = {
            source.name: self._build_secret(source, key) for source in config.sources
        }
        #: Secrets this stack created (encrypted with the stack's key); the others are imported.
        self.created = {name for name, secret in self.secrets.items() if isinstance(secret, secretsmanager.Secret)}

    def _build_secret(self, source: SourceConfig, key: kms.IKey) -> secretsmanager.ISecret:
        if source.secret_name is not None and secret_ids.is_complete_arn(source.secret_name):
            return secretsmanager.Secret.from_secret_complete_arn(self, source.name, source.secret_name)
        if source.secret_name is not None:
            return secretsmanager.Secret.from_secret_name_v2(self, source.name, source.secret_name)
        secret = secretsmanager.Secret(
            self,
            source.name,
            description=(
                f"bulk-fhir-ingest credentials for source {source.name!r} ({source.api}). "
                f"Put this JSON: {SECRET_SHAPES[source.api]}"
            ),
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Created empty: no value in the template that a later deploy could write over the credentials
        # put in by hand (CDK would generate a random password here).
        cfn_secret = secret.node.default_child
        assert isinstance(cfn_secret, secretsmanager.CfnSecret)
        cfn_secret.add_property_deletion_override("GenerateSecretString")
        for rule in ("AwsSolutions-SMG4", "HIPAA.Security-SecretsManagerRotationEnabled"):
            acknowledge(
                secret,
                rule,
                "CMS issues these credentials: BCDA and AB2D secrets are rotated in the CMS portal (every 90 "
                "days for BCDA) and SMART keys with the server's administrator, so a rotation Lambda "
                "cannot create new ones.",
            )
        return secret
