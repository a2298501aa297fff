"""What the benchmarks measure a process by: its peak resident set (Linux VmHWM, resettable)."""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Callable
from pathlib import Path


def reset_peak_rss() -> None:
    """Restart the peak-RSS mark from the current RSS (Linux >= 4.0; a no-op elsewhere)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mib() -> float:
    """The process's peak RSS since start or since reset_peak_rss()."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class DroppingSink:
    """A curated file's sink that keeps nothing (the benchmarks measure the work, not the disk)."""

    def write(self, data: bytes, /) -> int:
        return len(data)

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


def best_cpu_seconds(work: Callable[[], object], repeat: int) -> float:
    """CPU seconds of this process (not wall time: the figure is per core, and a shared machine's
    other load would otherwise count against us), best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        work()
        best = min(best, time.process_time() - began)
    return best
