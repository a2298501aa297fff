"""What a Lambda container builds once: settings, adapters, the client cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import boto3
from botocore.config import Config

from ingest.adapters.dynamo_store import DynamoRunStore
from ingest.adapters.events import EventBridgePublisher
from ingest.adapters.executions import StepFunctionsExecutions
from ingest.adapters.s3_landing import S3Landing
from ingest.adapters.s3_snapshots import S3Snapshots
from ingest.adapters.secrets import SecretsManagerCredentials
from ingest.clients import ClientCache
from ingest.ports import EventPublisher, Executions, Landing, RunStore
from ingest.settings import Settings, load_settings
from ingest.timeutil import utcnow


@dataclass(frozen=True)
class Deps:
    settings: Settings
    store: RunStore
    landing: Landing
    events: EventPublisher
    clients: ClientCache
    executions: Executions
    clock: Callable[[], datetime] = utcnow
    #: how a handler pauses in its own time (a broken download's back-off): a local run fast-forwards it
    #: as it does Wait states (local/runner/clockwork.py)
    sleep: Callable[[float], None] = time.sleep


def build_deps(settings: Settings) -> Deps:
    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
    session = boto3.session.Session()
    return Deps(
        settings=settings,
        store=DynamoRunStore(session.resource("dynamodb", config=config).Table(settings.table_name)),
        # CompleteMultipartUpload and the server-side copy of a multi-GB file can take minutes (S3
        # documents it; moto under load too): a 60 s read timeout would retry a request that succeeded.
        landing=S3Landing(session.client("s3", config=config.merge(Config(read_timeout=600))), settings.bucket_name),
        events=EventBridgePublisher(session.client("events", config=config), settings.event_bus_name),
        clients=ClientCache(SecretsManagerCredentials(session.client("secretsmanager", config=config))),
        executions=StepFunctionsExecutions(session.client("stepfunctions", config=config)),
    )


@lru_cache(maxsize=1)
def container() -> Deps:
    """The dependencies of this Lambda container, built on first use."""
    return build_deps(load_settings())


@lru_cache(maxsize=1)
def snapshot_store() -> S3Snapshots:
    """The bucket as the Resolve claims step sees it (built there only: no other function pays for it)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=8)
    return S3Snapshots(boto3.session.Session().client("s3", config=config), load_settings().bucket_name)
