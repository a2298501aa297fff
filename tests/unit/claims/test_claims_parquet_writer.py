"""The pure-Python Parquet writer, read back by two independent readers (pyarrow and DuckDB)."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from claims.parquet import thrift
from claims.parquet.writer import Column, ParquetWriter

COLUMNS = [
    Column("name", "string"),
    Column("count", "bigint"),
    Column("at", "timestamp"),
    Column("tags", "array<string>"),
]
ROWS = [
    ("alpha", 1, datetime(2020, 1, 1, tzinfo=UTC), ("x", "y")),
    (None, None, None, ()),
    ("é ünïcode 🚑", -5, datetime(2020, 2, 10, 12, 0, 0, 123000, tzinfo=UTC), None),
    ("zz", 2**40, datetime(1969, 12, 31, 23, 59, 59, 999000), ("q",)),
]


def _write(path: Path, rows: list[tuple[object, ...]], **options: int) -> Path:
    with path.open("wb") as sink:
        writer = ParquetWriter(sink, COLUMNS, **options)
        for row in rows:
            writer.write_row(row)
        writer.close()
    return path


def _expected(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """What a reader returns: naive UTC timestamps, lists as lists."""
    out = []
    for name, count, at, tags in rows:
        naive = at.astimezone(UTC).replace(tzinfo=None) if isinstance(at, datetime) and at.tzinfo else at
        out.append((name, count, naive, list(tags) if tags is not None else None))
    return out


@pytest.mark.parametrize("row_group_rows", [1, 3, 1000])
def test_pyarrow_and_duckdb_read_back_every_value(tmp_path: Path, row_group_rows: int) -> None:
    path = _write(tmp_path / "t.parquet", ROWS, row_group_rows=row_group_rows)

    table = pq.read_table(path)
    assert [tuple(row.values()) for row in table.to_pylist()] == _expected(ROWS)
    assert str(table.schema.field("at").type) == "timestamp[ms]"
    assert pq.ParquetFile(path).metadata.num_row_groups == -(-len(ROWS) // row_group_rows)
    assert duckdb.sql(f"SELECT * FROM '{path}'").fetchall() == _expected(ROWS)


def test_column_types_as_duckdb_and_pyarrow_see_them(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.parquet", ROWS)
    described = duckdb.sql(f"DESCRIBE SELECT * FROM '{path}'").fetchall()
    assert [(name, kind) for name, kind, *_ in described] == [
        ("name", "VARCHAR"),
        ("count", "BIGINT"),
        ("at", "TIMESTAMP"),
        ("tags", "VARCHAR[]"),
    ]
    schema = pq.read_schema(path)
    types = [str(field.type) for field in schema]
    assert types == ["string", "int64", "timestamp[ms]", "list<element: string not null>"]


def test_statistics_are_right_so_row_group_pruning_keeps_the_right_rows(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = [
        (f"name-{rng.randrange(10_000):05d}", rng.randrange(-(10**12), 10**12), None, ())
        if rng.random() > 0.1
        else (None, None, None, None)
        for _ in range(5000)
    ]
    path = _write(tmp_path / "t.parquet", rows, row_group_rows=700)
    metadata = pq.ParquetFile(path).metadata
    for group in range(metadata.num_row_groups):
        chunk_rows = rows[group * 700 : (group + 1) * 700]
        names = [row[0] for row in chunk_rows if row[0] is not None]
        stats = metadata.row_group(group).column(0).statistics
        assert (stats.min, stats.max, stats.null_count) == (min(names), max(names), len(chunk_rows) - len(names))
        counts = [row[1] for row in chunk_rows if row[1] is not None]
        stats = metadata.row_group(group).column(1).statistics
        assert (stats.min, stats.max) == (min(counts), max(counts))
    # DuckDB prunes row groups by those statistics: a wrong min/max would lose rows here
    for probe in rng.sample([row for row in rows if row[0] is not None], 25):
        found = duckdb.execute(f"SELECT count(*) FROM '{path}' WHERE name = ?", [probe[0]]).fetchone()
        assert found == (sum(1 for row in rows if row[0] == probe[0]),)
        found = duckdb.execute(f"SELECT name FROM '{path}' WHERE count = ?", [probe[1]]).fetchall()
        assert probe[0] in [name for (name,) in found]


def test_many_rows_many_groups_and_long_strings(tmp_path: Path) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        (
            ("v" * (index % 300)) + str(index),
            index,
            base + timedelta(milliseconds=index),
            tuple(map(str, range(index % 20))),
        )
        for index in range(20_000)
    ]
    path = _write(tmp_path / "t.parquet", rows, row_group_rows=4096)
    assert duckdb.sql(f"SELECT * FROM '{path}' ORDER BY count").fetchall() == _expected(rows)
    assert pq.read_table(path).num_rows == len(rows)


def test_a_file_without_rows_is_valid_and_empty(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.parquet", [])
    assert pq.read_table(path).num_rows == 0
    assert duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall() == [(0,)]


def test_same_rows_give_the_same_bytes_and_metadata_is_kept() -> None:
    def render() -> bytes:
        sink = io.BytesIO()
        writer = ParquetWriter(sink, COLUMNS, metadata={"run_id": "r-1"})
        for row in ROWS:
            writer.write_row(row)
        writer.close()
        return sink.getvalue()

    first = render()
    assert first == render()
    assert pq.read_metadata(io.BytesIO(first)).metadata[b"run_id"] == b"r-1"


@pytest.mark.parametrize(
    "row",
    [
        (1, 1, None, ()),  # an int for a string
        ("a", "1", None, ()),  # a string for a bigint
        ("a", True, None, ()),  # a bool is not a bigint
        ("a", 1, "2020-01-01", ()),  # a string for a timestamp
        ("a", 1, None, ("x", 2)),  # a list item that is not a string
    ],
)
def test_a_wrong_type_fails_loudly(row: tuple[object, ...]) -> None:
    writer = ParquetWriter(io.BytesIO(), COLUMNS)
    writer.write_row(row)
    with pytest.raises(TypeError):
        writer.close()


def test_a_row_of_the_wrong_width_or_after_close_is_refused() -> None:
    writer = ParquetWriter(io.BytesIO(), COLUMNS)
    with pytest.raises(ValueError, match="4 columns"):
        writer.write_row(("a", 1))
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write_row(ROWS[0])


def test_compact_protocol_field_headers_short_and_long_form() -> None:
    # field 1 i32 = 150 -> short header 0x15, zigzag varint 300 = ac 02; then field 20 (delta 19 > 15):
    # long form: type byte, zigzag varint id 40 = 0x28, then the value; then stop
    assert thrift.encode_struct([(1, thrift.I32, 150), (20, thrift.BINARY, "ab")]) == bytes.fromhex(
        "15ac02" + "0828" + "026162" + "00"
    )
    assert thrift.encode_struct([(1, thrift.BOOL, True), (2, thrift.BOOL, False)]) == bytes.fromhex("111200")
    with pytest.raises(ValueError, match="increasing"):
        thrift.encode_struct([(2, thrift.I32, 1), (1, thrift.I32, 1)])
