"""`bulk-ingest sql --stack`: the query through the stack's Athena workgroup (its enforced settings
encrypt the results in the landing bucket and cap the bytes a query scans), rows typed from
Athena's result metadata as the local engine types them."""

from __future__ import annotations

import argparse
from typing import IO, Any

from local import stack_access
from local.claims import formats
from local.claims.athena import CATALOG, AthenaClaims, AthenaQueryError, _size, athena_target, from_athena
from local.claims.formats import QueryResult

_TYPES = {"integer": "integer", "bigint": "bigint", "smallint": "smallint", "tinyint": "tinyint",
          "boolean": "boolean", "array": "array(varchar)"}  # fmt: skip


class AthenaSql(AthenaClaims):
    """Any SQL (the claims views' waiting and cancellation messages reused)."""

    def run_sql(self, sql: str) -> tuple[QueryResult, str, int]:
        query_id = self.athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Catalog": CATALOG, "Database": self.target.database},
            WorkGroup=self.target.workgroup,
        )["QueryExecutionId"]
        try:
            execution = self._wait(query_id)
        except KeyboardInterrupt:
            self.athena.stop_query_execution(QueryExecutionId=query_id)
            raise
        pages = self.athena.get_paginator("get_query_results").paginate(
            QueryExecutionId=query_id, PaginationConfig={"PageSize": self.page_size}
        )
        columns: tuple[str, ...] = ()
        kinds: list[str] = []
        rows: list[tuple[Any, ...]] = []
        for number, page in enumerate(pages):
            if number == 0:
                info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
                columns = tuple(column["Name"] for column in info)
                kinds = [_TYPES.get(column["Type"], "varchar") for column in info]
            data = page["ResultSet"]["Rows"][1 if number == 0 else 0 :]
            rows += [tuple(from_athena(d, k) for d, k in zip(row["Data"], kinds, strict=True)) for row in data]
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        return QueryResult(columns, rows), query_id, scanned


def run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    return stack_access.exit_code("bulk-ingest sql", err, lambda: _run(args, out, err))


def _run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    aws = stack_access.connect(args)
    target = athena_target(stack_access.stack_outputs(aws.client("cloudformation"), args.stack), args.stack)
    err.write(f"bulk-ingest sql: {aws.where(f'stack {args.stack}')}: Athena workgroup {target.workgroup}\n")
    result, query_id, scanned = AthenaSql(aws.client("athena"), target).run_sql(args.query)
    formats.write(result, args.format, out)
    err.write(f"bulk-ingest sql: {len(result.rows):,} rows; Athena query {query_id} scanned {_size(scanned)}\n")
    return 0


__all__ = ["AthenaQueryError", "AthenaSql", "run"]
