"""The writer's column types beyond the claims tables' four (the view tables use them), and its
dictionary encoding, read back by pyarrow and DuckDB."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from claims.parquet.writer import Column, ParquetWriter

COLUMNS = [
    Column("flag", "boolean"),
    Column("count", "int"),
    Column("ratio", "double"),
    Column("day", "date"),
    Column("amount", "decimal(18,6)"),
    Column("days", "array<date>"),
    Column("amounts", "array<decimal(18,2)>"),
    Column("same", "string"),
    Column("many", "string"),
]
ROWS = [
    (True, 1, 0.5, date(2025, 5, 1), 12_345_670_000, [date(1969, 12, 31)], [1999, -5], "src", "a"),
    (False, -(2**31), None, None, -1, [], None, "src", "b"),
    (None, 2**31 - 1, 1e300, date(2000, 2, 29), None, None, [0], "src", None),
]


@pytest.mark.parametrize("dictionary", [False, True])
def test_every_type_reads_back_exactly(tmp_path: Path, dictionary: bool) -> None:
    path = tmp_path / "t.parquet"
    with path.open("wb") as sink:
        writer = ParquetWriter(sink, COLUMNS, row_group_rows=2, dictionary=dictionary)
        for row in ROWS * 300:
            writer.write_row(row)
        writer.close()
    expected = [
        (
            True,
            1,
            0.5,
            date(2025, 5, 1),
            Decimal("12345.670000"),
            [date(1969, 12, 31)],
            [Decimal("19.99"), Decimal("-0.05")],
            "src",
            "a",
        ),
        (False, -(2**31), None, None, Decimal("-0.000001"), [], None, "src", "b"),
        (None, 2**31 - 1, 1e300, date(2000, 2, 29), None, None, [Decimal("0.00")], "src", None),
    ] * 300
    assert duckdb.sql(f"SELECT * FROM '{path}'").fetchall() == expected
    assert [tuple(row.values()) for row in pq.read_table(path).to_pylist()] == expected
    types = [kind for _, kind, *_ in duckdb.sql(f"DESCRIBE SELECT * FROM '{path}'").fetchall()]
    assert types == [
        "BOOLEAN",
        "INTEGER",
        "DOUBLE",
        "DATE",
        "DECIMAL(18,6)",
        "DATE[]",
        "DECIMAL(18,2)[]",
        "VARCHAR",
        "VARCHAR",
    ]
    # statistics prune row groups of the new types too
    assert duckdb.sql(f"SELECT count(*) FROM '{path}' WHERE day = DATE '2000-02-29' AND count > 0").fetchall() == [
        (300,)
    ]


def test_unknown_types_and_wrong_values_fail_loudly() -> None:
    with pytest.raises(ValueError, match="unsupported type"):
        Column("x", "decimal(19,2)")
    writer = ParquetWriter(io.BytesIO(), [Column("day", "date")])
    writer.write_row(("2025-01-01",))
    with pytest.raises(TypeError):
        writer.close()
