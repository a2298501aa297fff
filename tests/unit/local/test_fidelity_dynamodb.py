"""local-run's DynamoDB applies each request whole while parallel downloads write (local/runner/fidelity.py)."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from local.runner.fidelity import DYNAMODB_REQUEST_LOCK, aws_semantics


def _held_by_another_thread() -> bool:
    """Whether a thread other than the caller finds the request lock taken."""
    taken: list[bool] = []
    probe = threading.Thread(target=lambda: taken.append(not _try_lock()))
    probe.start()
    probe.join()
    return taken[0]


def _try_lock() -> bool:
    if DYNAMODB_REQUEST_LOCK.acquire(blocking=False):
        DYNAMODB_REQUEST_LOCK.release()
        return True
    return False


def test_every_dynamodb_request_runs_under_the_one_lock() -> None:
    seen: dict[str, bool] = {}
    put_item, query = DynamoDBBackend.put_item, DynamoDBBackend.query

    def watched_put(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        seen["put_item"] = _held_by_another_thread()
        return put_item(self, *args, **kwargs)

    def watched_query(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        seen["query"] = _held_by_another_thread()
        return query(self, *args, **kwargs)

    with mock_aws(), aws_semantics():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        with (
            mock.patch.object(DynamoDBBackend, "put_item", watched_put),
            mock.patch.object(DynamoDBBackend, "query", watched_query),
        ):
            table.put_item(Item={"pk": "RUN#1", "sk": "FILE#0001"})
            assert (
                table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "RUN#1"})["Count"] == 1
            )
    assert seen == {"put_item": True, "query": True}
    assert _try_lock()  # released after each request
