"""`bulk-ingest claims --stack`: the same views, answered by Athena in the deployed stack's account.

The stack's outputs name the Glue database and the workgroup; the query runs through that workgroup
(whose enforced settings put the results, KMS-encrypted, in the landing bucket and cap the bytes a
query scans). Athena returns every value as text: arrays are asked for as JSON, and each value is
turned back into the type the local engine gives (the view's column types in schema.json), so both
engines print the same rows the same way.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from claims.catalog import load_catalog
from infra import outputs
from local import stack_access
from local.claims import formats
from local.claims.formats import QueryResult
from local.claims.views import BENEATH, DISPLAY_COLUMNS, ORDER_BY, VIEWS, sql_literal
from local.stack_access import DeployedError

CATALOG = "AwsDataCatalog"
_RUNNING = ("QUEUED", "RUNNING")
_FIRST_WAIT, _LONGEST_WAIT = 0.25, 2.0  # seconds between looks at a running query
_INTEGERS = ("tinyint", "smallint", "integer", "bigint")


class AthenaQueryError(DeployedError):
    """Athena failed or cancelled the query; the message carries Athena's reason."""


@dataclass(frozen=True)
class AthenaTarget:
    stack: str
    database: str
    workgroup: str
    sources: tuple[str, ...]  # the stack's sources (its Sources output)


@dataclass(frozen=True)
class AthenaAnswer:
    result: QueryResult
    query_id: str
    scanned_bytes: int


def athena_target(stack_outputs: dict[str, str], stack: str) -> AthenaTarget:
    missing = [key for key in (outputs.GLUE_DATABASE, outputs.ATHENA_WORKGROUP) if key not in stack_outputs]
    if missing:
        raise DeployedError(
            f"stack {stack} has no output {', '.join(missing)}: it predates the claims catalog; "
            "deploy it again with `npx cdk deploy`"
        )
    return AthenaTarget(
        stack,
        stack_outputs[outputs.GLUE_DATABASE],
        stack_outputs[outputs.ATHENA_WORKGROUP],
        tuple(json.loads(stack_outputs.get(outputs.SOURCES) or "{}")),
    )


def view_sql(view: str, *, source: str | None = None, group: str | None = None) -> str:
    """What ``--view`` selects, as the local engine does, in Trino SQL; arrays as JSON text."""
    types = _column_types(view)
    selects = [
        f"json_format(CAST({name} AS JSON)) AS {name}" if types[name].startswith("array(") else name
        for name in DISPLAY_COLUMNS[view]
    ]
    clauses = [f"{column} = {sql_literal(value)}" for column, value in (("source", source), ("claim_group_id", group))
               if value is not None]  # fmt: skip
    where = f"\nWHERE {' AND '.join(clauses)}" if clauses else ""
    return f"SELECT {', '.join(selects)}\nFROM {VIEWS[view]}{where}\nORDER BY {', '.join(ORDER_BY)}"


def _column_types(view: str) -> dict[str, str]:
    return {column.name: column.presto_type for column in load_catalog().columns(VIEWS[view])}


def from_athena(datum: dict[str, str], presto_type: str) -> Any:
    """One value of GetQueryResults as the local engine gives it (a NULL has no VarCharValue)."""
    if "VarCharValue" not in datum:
        return None
    text = datum["VarCharValue"]
    if presto_type in _INTEGERS:
        return int(text)
    if presto_type == "boolean":
        return text == "true"
    if presto_type.startswith("array("):
        return json.loads(text)
    return text  # varchar; a timestamp stays Athena's text


class AthenaClaims:
    """Runs a claims view through the stack's workgroup and waits for its rows."""

    def __init__(
        self, athena: Any, target: AthenaTarget, *, sleep: Callable[[float], None] = time.sleep, page_size: int = 1000
    ) -> None:
        self.athena, self.target, self.sleep, self.page_size = athena, target, sleep, page_size

    def query(self, view: str, *, source: str | None = None, group: str | None = None) -> AthenaAnswer:
        if source is not None and source not in self.target.sources:
            known = ", ".join(self.target.sources) or "none"
            raise DeployedError(f"stack {self.target.stack} has no source {source!r} (sources: {known})")
        query_id = self.athena.start_query_execution(
            QueryString=view_sql(view, source=source, group=group),
            QueryExecutionContext={"Catalog": CATALOG, "Database": self.target.database},
            WorkGroup=self.target.workgroup,
        )["QueryExecutionId"]
        try:
            execution = self._wait(query_id)
        except KeyboardInterrupt:  # stop the scan (and the bill) with the command
            self.athena.stop_query_execution(QueryExecutionId=query_id)
            raise
        types = _column_types(view)
        columns = DISPLAY_COLUMNS[view]
        rows = list(self._rows(query_id, columns, [types[name] for name in columns]))
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        return AthenaAnswer(QueryResult(columns, rows), query_id, scanned)

    def _wait(self, query_id: str) -> dict[str, Any]:
        wait = _FIRST_WAIT
        while True:
            execution: dict[str, Any] = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            state = execution["Status"]["State"]
            if state not in _RUNNING:
                break
            self.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)
        if state == "SUCCEEDED":
            return execution
        status = execution["Status"]
        reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or "no reason"
        if state == "CANCELLED":
            raise AthenaQueryError(self._cancelled(query_id, reason, execution.get("Statistics", {})))
        raise AthenaQueryError(f"Athena query {query_id} {state.lower()}: {reason}")

    def _cancelled(self, query_id: str, reason: str, statistics: dict[str, Any]) -> str:
        """Athena cancels a query that scans past the workgroup's limit; say so when that is why."""
        scanned = int(statistics.get("DataScannedInBytes", 0))
        limit = self._cutoff()
        message = f"Athena cancelled query {query_id} after scanning {_size(scanned)}: {reason}"
        if (limit is not None and scanned >= limit) or "limit" in reason.lower():
            message += (
                f". The workgroup {self.target.workgroup} cancels a query that scans more than "
                f"{_size(limit) if limit else 'its limit'} (cdk.json catalog.bytes_scanned_cutoff_gb): "
                "narrow it with --source or --group, or raise the limit and deploy"
            )
        return message

    def _cutoff(self) -> int | None:
        try:
            workgroup = self.athena.get_work_group(WorkGroup=self.target.workgroup)["WorkGroup"]
        except (ClientError, BotoCoreError):  # only to explain a cancellation: say what we can without it
            return None
        cutoff = workgroup.get("Configuration", {}).get("BytesScannedCutoffPerQuery")
        return int(cutoff) if cutoff else None

    def _rows(self, query_id: str, columns: tuple[str, ...], types: list[str]) -> Iterator[tuple[Any, ...]]:
        pages = self.athena.get_paginator("get_query_results").paginate(
            QueryExecutionId=query_id, PaginationConfig={"PageSize": self.page_size}
        )
        first = True
        for page in pages:
            rows = page["ResultSet"]["Rows"]
            if first and rows:  # a SELECT's first row holds the column names
                header = tuple(datum.get("VarCharValue") for datum in rows[0]["Data"])
                if header != columns:
                    raise AthenaQueryError(f"Athena query {query_id} answered columns {header}, not {columns}")
                rows = rows[1:]
            first = False
            for row in rows:
                yield tuple(from_athena(datum, kind) for datum, kind in zip(row["Data"], types, strict=True))


def _size(count: int | None) -> str:
    return f"{(count or 0) / 10**9:,.2f} GB" if (count or 0) >= 10**7 else f"{count or 0:,} bytes"


def run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    return stack_access.exit_code("bulk-ingest claims", err, lambda: _run(args, out, err))


def _run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    aws = stack_access.connect(args)
    target = athena_target(stack_access.stack_outputs(aws.client("cloudformation"), args.stack), args.stack)
    err.write(
        f"bulk-ingest claims: {aws.where(f'stack {args.stack}')}: Athena workgroup {target.workgroup}, "
        f"database {target.database}\n"
    )
    answer = AthenaClaims(aws.client("athena"), target).query(args.view, source=args.source, group=args.group)
    formats.write(answer.result, args.format, out, BENEATH.get(args.view, ()))
    err.write(
        f"bulk-ingest claims: {len(answer.result.rows):,} rows; Athena query {answer.query_id} scanned "
        f"{_size(answer.scanned_bytes)}\n"
    )
    return 0
