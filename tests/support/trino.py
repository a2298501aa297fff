"""The check a claims view passes, wherever its SQL comes from (``lambdas/claims/sql`` or the view
the catalog's template stores): one SELECT in sqlglot's Trino grammar (Athena engine v3), over the
known tables and the views before it, whose output columns are the recorded ones, in order."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import sqlglot
from sqlglot import exp


def assert_trino_view(
    sql: str, columns: Sequence[str], *, tables: Collection[str], views: Collection[str], earlier: Collection[str]
) -> None:
    (statement,) = sqlglot.parse(sql, read="trino")
    assert isinstance(statement, exp.Select)
    referenced = {table.name for table in statement.find_all(exp.Table)}
    assert referenced <= set(tables) | set(views)
    assert referenced & set(views) <= set(earlier), "views must come in dependency order"
    assert [select.alias_or_name for select in statement.selects] == list(columns)
