"""Reading an export's progress and choosing the next wait."""

from __future__ import annotations

import re

from bulkfhir.profiles import SourceProfile

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")

#: never wait longer than this between polls, whatever the server says
MAX_POLL_SECONDS = 3600.0


def parse_progress(value: str | None) -> float | None:
    """The percentage in an X-Progress header, whatever its dialect, or None.

    BCDA: "Pending", "In Progress (80%)" (its docs show "In Progress, 80%"); AB2D: "80% complete";
    DPC: "RUNNING: 42.50%", "QUEUED: 0.00%".
    """
    if not value:
        return None
    match = _PERCENT.search(value)
    if not match:
        return None
    return max(0.0, min(100.0, float(match.group(1))))


def next_poll_wait(profile: SourceProfile, retry_after: float | None, polls_so_far: int) -> float:
    """Seconds to wait before the next status poll.

    The server's Retry-After wins, clamped to [profile minimum, one hour]. BCDA sends none, so
    then the wait grows by half each poll from the profile's start value up to its cap.
    """
    if retry_after is not None:
        return min(MAX_POLL_SECONDS, max(profile.min_poll_seconds, retry_after))
    wait = profile.backoff_start_seconds * (1.5 ** max(0, polls_so_far))
    return max(profile.min_poll_seconds, min(profile.backoff_max_seconds, wait))
