"""Reading an export's progress and choosing the next wait."""

from __future__ import annotations

import re

from bulkfhir.profiles import SourceProfile

_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")

#: never wait longer than this between polls, whatever the server says
MAX_POLL_SECONDS = 3600.0
#: nor shorter, whatever the server: AB2D answers a poll sooner than 5 s after the last with 429; the
#: SMART reference server answers Retry-After: 1 and blocks a client for five minutes once it sends
#: more than 60 requests a minute to one route (bulk-data-server lib.ts rateLimiter). At most 12 polls
#: a minute stay clear of both, and each poll is state transitions and history events in AWS.
MIN_POLL_SECONDS = 5.0
#: Once an export has been waited on for a while, polls thin out to this fraction of the time waited
#: so far, up to STRETCHED_POLL_MAX_SECONDS apart. AB2D answers every poll with Retry-After: 5 and its
#: jobs may run 30 hours: polled every 5 s, that is 21,600 polls, and a state machine execution dies
#: at 25,000 history events (about 9 per poll). Stretched, a 30-hour wait is under 300 polls, and a
#: job is noticed complete within 5 % of its run time (at most 10 minutes) after it finishes.
STRETCH_FRACTION = 0.05
STRETCHED_POLL_MAX_SECONDS = 600.0


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


def next_poll_wait(
    profile: SourceProfile, retry_after: float | None, polls_so_far: int, waited_seconds: float = 0.0
) -> float:
    """Seconds to wait before the next status poll.

    The server's Retry-After wins, clamped to [MIN_POLL_SECONDS, MAX_POLL_SECONDS]. BCDA sends none,
    so then the wait grows by half each poll from the profile's start value up to its cap. Either way,
    a long wait stretches the interval past what the server asks (see STRETCH_FRACTION).
    """
    if retry_after is not None:
        wait = min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, retry_after))
    else:
        backoff = profile.backoff_start_seconds * (1.5 ** max(0, polls_so_far))
        wait = max(MIN_POLL_SECONDS, min(profile.backoff_max_seconds, backoff))
    stretched = min(STRETCHED_POLL_MAX_SECONDS, STRETCH_FRACTION * max(0.0, waited_seconds))
    return max(wait, stretched)
