"""What moto's Athena cannot do by itself, added around it for the tests of `bulk-ingest claims --stack`.

moto runs no SQL: a test queues the result a query answers (through moto's own API, as its docs say),
every execution succeeds having scanned nothing, and GetQueryResults answers in one page. Athena
answers in pages of ``MaxResults`` rows with a ``NextToken``, and a query may fail or be cancelled
with a reason: these context managers make moto do the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

import requests
from moto.athena.models import athena_backends
from moto.athena.responses import AthenaResponse

ACCOUNT = "123456789012"


def queue_result(region: str, columns: Sequence[str], rows: Sequence[Sequence[str | None]]) -> None:
    """The next query's answer: a header row with the column names, then ``rows`` (None: NULL)."""
    data = [{"Data": [{"VarCharValue": name} for name in columns]}]
    data += [{"Data": [{} if value is None else {"VarCharValue": value} for value in row]} for row in rows]
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/athena/query-results",
        json={
            "account_id": ACCOUNT,
            "region": region,
            "results": [{"rows": data, "column_info": [{"Name": name, "Type": "varchar"} for name in columns]}],
        },
        timeout=10,
    )
    assert response.status_code == 201


def executions(region: str) -> list[Any]:
    """moto's record of each query started: its ``query``, ``context``, ``workgroup`` and ``status``."""
    return list(athena_backends[ACCOUNT][region].executions.values())


@contextmanager
def paged_results() -> Iterator[list[str | None]]:
    """GetQueryResults in pages of MaxResults rows; yields the NextToken of each request."""
    original = AthenaResponse.get_query_results
    tokens: list[str | None] = []

    def paged(self: AthenaResponse) -> str:
        body = json.loads(original(self))
        size, token = int(self._get_param("MaxResults") or 1000), self._get_param("NextToken")
        tokens.append(token)
        start = int(token or 0)
        rows = body["ResultSet"]["Rows"]
        body["ResultSet"]["Rows"] = rows[start : start + size]
        if start + size < len(rows):
            body["NextToken"] = str(start + size)
        return json.dumps(body)

    with mock.patch.object(AthenaResponse, "get_query_results", paged):
        yield tokens


@contextmanager
def query_ends(state: str, reason: str, scanned_bytes: int) -> Iterator[None]:
    """Every query ends ``state`` (FAILED, CANCELLED) with Athena's ``reason`` after ``scanned_bytes``."""
    original = AthenaResponse.get_query_execution

    def ended(self: AthenaResponse) -> str:
        body = json.loads(original(self))
        body["QueryExecution"]["Status"].update(State=state, StateChangeReason=reason)
        body["QueryExecution"]["Statistics"]["DataScannedInBytes"] = scanned_bytes
        return json.dumps(body)

    with mock.patch.object(AthenaResponse, "get_query_execution", ended):
        yield
