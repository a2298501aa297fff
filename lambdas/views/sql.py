"""The ``_current`` form of each view table, in Trino (Athena engine v3) SQL; the local engine runs
the same text through sqlglot into DuckDB.

- a claim view (resource ExplanationOfBenefit): only the rows of each claim family's current
  version (joined to ``claims_current`` by source, claim group and claim id), from that version's
  latest record (a version landed twice, or re-sent with a newer lastUpdated, counts once);
- any other view: the rows of each resource's latest record (Patient, Coverage: revised in place).
"""

from __future__ import annotations

from views.catalog import CURRENT_SUFFIX, ViewTable

RECORD_ORDER = "t.last_updated_utc DESC, t.run_id DESC, t.object_key DESC, t.line DESC"


def current_name(table: ViewTable) -> str:
    return table.name + CURRENT_SUFFIX


def current_view_sql(table: ViewTable) -> str:
    columns = ", ".join(f"v.{column.name}" for column in table.columns)
    if table.claim_view:
        partition = "t.source, t.claim_group_id, t.claim_id"
        source = (
            f"{table.name} AS t\n    JOIN claims_current AS c\n"
            "        ON c.source = t.source AND c.claim_group_id = t.claim_group_id AND c.claim_id = t.claim_id"
        )
    else:
        partition = "t.source, t.resource_id"
        source = f"{table.name} AS t"
    return (
        f"SELECT {columns}\nFROM (\n"
        f"    SELECT t.*, dense_rank() OVER (PARTITION BY {partition} ORDER BY {RECORD_ORDER}) AS record_rank\n"
        f"    FROM {source}\n) AS v\nWHERE v.record_rank = 1"
    )
