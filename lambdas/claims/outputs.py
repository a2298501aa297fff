"""Where a curated Parquet file goes: a sink per (landed file, table) that publishes on commit.

The AWS side implements ``TableSink`` over an S3 multipart upload (commit = complete, abort =
abort); ``DirectoryOutputs`` is the same on a local folder laid out like the bucket.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from claims.layout import LandedFile


class TableSink(Protocol):
    def write(self, data: bytes, /) -> object: ...

    def commit(self) -> None:
        """Every byte is written: publish the file (replacing an earlier one at the same key)."""

    def abort(self) -> None:
        """Curation failed: leave no partial file and keep an earlier complete one."""


OpenSink = Callable[[str], TableSink]  # table name -> the sink of that table's file


class FileSink:
    """Writes next to the target and renames on commit, so a reader never sees half a file."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.target = target
        self._partial = target.with_name(f".{target.name}.partial")
        self._stream = self._partial.open("wb")

    def write(self, data: bytes, /) -> int:
        return self._stream.write(data)

    def commit(self) -> None:
        self._stream.close()
        os.replace(self._partial, self.target)

    def abort(self) -> None:
        self._stream.close()
        self._partial.unlink(missing_ok=True)


class DirectoryOutputs:
    """``root/curated/<source>/<table>/run_month=YYYY-MM/<run_id>-<index>.parquet`` for one landed file."""

    def __init__(self, root: Path, landed: LandedFile) -> None:
        self.root = root
        self.landed = landed

    def __call__(self, table: str) -> FileSink:
        return FileSink(self.root / self.landed.output_key(table))
