"""The local run caps glibc's malloc arenas (local/runner/malloc_arenas.py)."""

from __future__ import annotations

import platform

import pytest

from local.runner.malloc_arenas import limit_malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's arena limit is glibc's")
def test_glibc_accepts_the_arena_limit() -> None:
    assert limit_malloc_arenas() is True
