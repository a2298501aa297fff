"""What the resolution reads and writes: the bucket (S3 in the stack, a folder on this machine)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol


class SnapshotStore(Protocol):
    def list_files(self, prefix: str) -> dict[str, str]:
        """key -> a fingerprint that changes when the object does (S3: its ETag)."""

    def fetch(self, key: str, path: Path) -> None:
        """Copy the object to a local file (streaming)."""

    def publish(self, path: Path, key: str) -> None:
        """Put a local file at ``key`` (replacing one there)."""

    def read_text(self, key: str) -> str | None: ...
    def write_text(self, key: str, text: str) -> None: ...
    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str:
        """The ``s3://bucket/key`` a manifest lists."""


class DirectoryStore:
    """A folder laid out like the bucket (``local-run``'s mirror, a test's temp dir)."""

    def __init__(self, root: Path, bucket: str = "local") -> None:
        self.root, self.bucket = root, bucket

    def list_files(self, prefix: str) -> dict[str, str]:
        base = self.root / prefix
        folder = base if prefix.endswith("/") else base.parent
        if not folder.is_dir():
            return {}
        found = {}
        for path in folder.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.startswith("."):
                stat = path.stat()
                found[key] = f"{stat.st_size}:{stat.st_mtime_ns}"
        return found

    def fetch(self, key: str, path: Path) -> None:
        shutil.copyfile(self.root / key, path)

    def publish(self, path: Path, key: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(path, partial)
        os.replace(partial, target)

    def read_text(self, key: str) -> str | None:
        path = self.root / key
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def write_text(self, key: str, text: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
