"""Least-privilege IAM statements, named by what a step needs.

Every statement lists its actions explicitly (no wildcard actions) and scopes its resources: object
prefixes of the landing bucket, the state table's items of the kinds a step owns (by partition-key
prefix, ``dynamodb:LeadingKeys``), the sources' secrets, the stack's key only through the service
that uses it (``kms:ViaService``), and the default event bus for this app's events only.
The functions' roles get these through one customer-managed policy each (no inline policies).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from aws_cdk import Aws
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import contract
from infra.constructs.storage import (
    CURATED_PREFIX,
    DATA_PREFIXES,
    ERRORS_PREFIX,
    RUNS_PREFIX,
    SIGNED_URLS_PREFIX,
    STAGING_PREFIX,
)


class Need(Enum):
    """One kind of access a step needs."""

    SECRETS = "read the sources' credentials"
    SIGNED_URLS_READ = "read a run's pre-signed file URLs under signed-urls/"
    SIGNED_URLS_WRITE = "read and write a run's pre-signed file URLs under signed-urls/"
    RUN_FILES_READ_WRITE = "read and write run files under runs/"
    TELL_MISSING = "tell a missing object (404) from a forbidden one (403)"
    CURATE = "read landed data and deleted files (fhir/, deleted/) and write the curated claims under curated/"
    PRUNE_CURATED = "list the curated claims under curated/ and delete those no landed file produces"
    RESOLVE = "read the curated claims, write and switch their snapshot under curated/<source>/_snapshot/ and _current/"
    LANDING = "land files under fhir/, errors/, deleted/ through staging/ (multipart, copy, checkpoints)"
    DISCARD = "delete what an abandoned run landed and curated (its export starts over and lands it all again)"
    EVENT_LANDED = "put ExportLanded on the default bus"
    EVENT_FAILED = "put ExportFailed on the default bus"


TABLE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
TABLE_WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                       "dynamodb:ConditionCheckItem")  # fmt: skip
# DynamoDB and S3 call KMS with the caller's identity; Secrets Manager only decrypts for it.
_KMS_FOR_TABLE = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
_KMS_FOR_OBJECTS = ("kms:Decrypt", "kms:GenerateDataKey")
_KMS_FOR_SECRETS = ("kms:Decrypt",)
_OBJECT_WRITE = ("s3:PutObject", "s3:AbortMultipartUpload")
# GetObject covers HeadObject (is it landed already?) and reading a staging object back (resume, copy).
_LANDING_OBJECT = ("s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")


@dataclass(frozen=True)
class Resources:
    """What the statements point at."""

    bucket: s3.IBucket
    table: dynamodb.ITable
    key: kms.IKey
    secrets: Mapping[str, secretsmanager.ISecret]
    #: Names of the secrets encrypted with ``key`` (those the stack created).
    secrets_with_key: frozenset[str]


@dataclass(frozen=True)
class TableItems:
    """The kinds of state items a step reads and writes (names of ``contract.TABLE_ITEMS``)."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


def statements_for(
    needs: Iterable[Need], resources: Resources, table: TableItems | None = None
) -> list[iam.PolicyStatement]:
    needs = set(needs)
    statements = _table(resources, table) if table else []
    statements += [statement for need in Need if need in needs for statement in _STATEMENTS[need](resources)]
    if needs & _OBJECT_NEEDS:
        statements.append(_kms_via("KeyForObjects", resources.key, _KMS_FOR_OBJECTS, "s3"))
    return statements


def _table(r: Resources, items: TableItems) -> list[iam.PolicyStatement]:
    statements = [
        _state_items(sid, r, actions, kinds)
        for sid, actions, kinds in (
            ("ReadStateItems", TABLE_READ_ACTIONS, items.reads),
            ("WriteStateItems", TABLE_WRITE_ACTIONS, items.writes),
        )
        if kinds
    ]
    return [*statements, _kms_via("KeyForState", r.key, _KMS_FOR_TABLE, "dynamodb")]


def _state_items(sid: str, r: Resources, actions: Iterable[str], kinds: Iterable[str]) -> iam.PolicyStatement:
    # ForAllValues: every partition key the request touches must start with one of the prefixes.
    prefixes = sorted(f"{contract.TABLE_ITEMS[kind]}*" for kind in kinds)
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=[r.table.table_arn],
        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": prefixes}},
    )


def _secrets(r: Resources) -> list[iam.PolicyStatement]:
    statements = [
        iam.PolicyStatement(
            sid="SourceCredentials",
            actions=["secretsmanager:GetSecretValue"],
            resources=[secret_resource(secret) for secret in r.secrets.values()],
        )
    ]
    if r.secrets_with_key:
        statements.append(_kms_via("KeyForCredentials", r.key, _KMS_FOR_SECRETS, "secretsmanager"))
    return statements


def _run_files_read_write(r: Resources) -> list[iam.PolicyStatement]:
    return [_objects("ReadWriteRunFiles", r.bucket, ("s3:GetObject", *_OBJECT_WRITE), [f"{RUNS_PREFIX}*"])]


def _signed_urls_read(r: Resources) -> list[iam.PolicyStatement]:
    return [_objects("ReadSignedUrls", r.bucket, ("s3:GetObject",), [f"{SIGNED_URLS_PREFIX}*"])]


def _signed_urls_write(r: Resources) -> list[iam.PolicyStatement]:
    actions = ("s3:GetObject", *_OBJECT_WRITE)
    return [_objects("ReadWriteSignedUrls", r.bucket, actions, [f"{SIGNED_URLS_PREFIX}*"])]


def _landing(r: Resources) -> list[iam.PolicyStatement]:
    prefixes = [f"{prefix}*" for prefix in (*DATA_PREFIXES, STAGING_PREFIX)]
    return [
        _objects("LandFiles", r.bucket, _LANDING_OBJECT, prefixes),
        _objects("DeleteStagingObjects", r.bucket, ("s3:DeleteObject",), [f"{STAGING_PREFIX}*"]),
    ]


def _curate(r: Resources) -> list[iam.PolicyStatement]:
    # what claims.curatable reads: output files under fhir/, a server's deleted files under deleted/
    read = [f"{prefix}*" for prefix in DATA_PREFIXES if prefix != ERRORS_PREFIX]
    return [
        _objects("ReadLandedData", r.bucket, ("s3:GetObject",), read),
        # GetObject also answers HeadObject: is a curated file of an earlier curation there to replace?
        _objects("WriteCuratedClaims", r.bucket, (*_OBJECT_WRITE, "s3:GetObject", "s3:DeleteObject",
                                                   "s3:ListMultipartUploadParts"), [f"{CURATED_PREFIX}*"]),
    ]  # fmt: skip


def _prune_curated(r: Resources) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(
            sid="ListCuratedClaims",
            actions=["s3:ListBucket"],
            resources=[r.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{CURATED_PREFIX}*"]}},
        ),
        _objects("DeleteCuratedClaims", r.bucket, ("s3:DeleteObject",), [f"{CURATED_PREFIX}*"]),
    ]


def _resolve(r: Resources) -> list[iam.PolicyStatement]:
    # GetObject also answers HeadObject; the snapshot's own files are deleted two generations on
    return [
        *_prune_curated(r),
        _objects("ReadWriteCuratedClaims", r.bucket, (*_OBJECT_WRITE, "s3:GetObject", "s3:ListMultipartUploadParts"),
                 [f"{CURATED_PREFIX}*"]),
    ]  # fmt: skip


def _discard(r: Resources) -> list[iam.PolicyStatement]:
    prefixes = [f"{prefix}*" for prefix in (*DATA_PREFIXES, CURATED_PREFIX)]
    return [_objects("DiscardAbandonedFiles", r.bucket, ("s3:DeleteObject",), prefixes)]


def _tell_missing(r: Resources) -> list[iam.PolicyStatement]:
    # "Is this file landed already?", "is there a file list of an earlier poll?" are HeadObjects; S3
    # answers 404 for a missing key only to a caller allowed to list the bucket (403 otherwise). No
    # s3:prefix condition: a HeadObject carries none, so the 404 would turn into a 403 again.
    return [
        iam.PolicyStatement(sid="TellMissingFromForbidden", actions=["s3:ListBucket"], resources=[r.bucket.bucket_arn])
    ]


def _event(detail_type: str) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(
            sid=f"Put{detail_type}",
            actions=["events:PutEvents"],
            resources=[default_bus_arn()],
            conditions={"StringEquals": {"events:source": contract.EVENT_SOURCE, "events:detail-type": detail_type}},
        )
    ]


#: The needs that read or write objects, and so use the bucket's key through S3.
_OBJECT_NEEDS = {
    Need.RUN_FILES_READ_WRITE, Need.SIGNED_URLS_READ, Need.SIGNED_URLS_WRITE, Need.LANDING, Need.CURATE, Need.RESOLVE,
}  # fmt: skip

_STATEMENTS = {
    Need.SECRETS: _secrets,
    Need.RUN_FILES_READ_WRITE: _run_files_read_write,
    Need.SIGNED_URLS_READ: _signed_urls_read,
    Need.SIGNED_URLS_WRITE: _signed_urls_write,
    Need.TELL_MISSING: _tell_missing,
    Need.CURATE: _curate,
    Need.PRUNE_CURATED: _prune_curated,
    Need.RESOLVE: _resolve,
    Need.LANDING: _landing,
    Need.DISCARD: _discard,
    Need.EVENT_LANDED: lambda _r: _event(contract.EXPORT_LANDED),
    Need.EVENT_FAILED: lambda _r: _event(contract.EXPORT_FAILED),
}


def service_role(
    scope: Construct, construct_id: str, *, service: str, description: str, policy: iam.ManagedPolicy
) -> iam.Role:
    """A role only ``service`` acting for this account may assume, with ``policy`` as its one policy."""
    return iam.Role(
        scope,
        construct_id,
        description=description,
        assumed_by=iam.ServicePrincipal(service, conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}),
        managed_policies=[policy],
    )


def secret_resource(secret: secretsmanager.ISecret) -> str:
    """A created secret's full ARN; for one imported by name, its ARN with the random suffix matched."""
    return secret.secret_full_arn or f"{secret.secret_arn}-??????"


def default_bus_arn() -> str:
    return f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/{contract.EVENT_BUS}"


def _objects(sid: str, bucket: s3.IBucket, actions: Iterable[str], patterns: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=sid, actions=list(actions), resources=[bucket.arn_for_objects(pattern) for pattern in patterns]
    )


def _kms_via(sid: str, key: kms.IKey, actions: Iterable[str], service: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"{service}.{Aws.REGION}.amazonaws.com"}},
    )
