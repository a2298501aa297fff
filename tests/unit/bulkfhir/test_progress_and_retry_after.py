from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bulkfhir import get_profile, next_poll_wait, parse_progress
from bulkfhir._http import parse_retry_after

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "percent"),
    [
        ("Pending", None),  # BCDA before the job starts
        ("In Progress", None),  # BCDA with JobCount 0
        ("In Progress (80%)", 80.0),  # BCDA code
        ("In Progress, 80%", 80.0),  # BCDA docs
        ("45% complete", 45.0),  # AB2D
        ("RUNNING: 42.50%", 42.5),  # DPC
        ("QUEUED: 0.00%", 0.0),  # DPC
        (None, None),
        ("", None),
    ],
)
def test_every_x_progress_dialect(header, percent):
    assert parse_progress(header) == percent


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),  # BCDA's default CLIENT_RETRY_AFTER_IN_SECONDS
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds_or_http_date(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


def test_bcda_sends_no_retry_after_so_the_wait_grows_to_a_cap():
    bcda = get_profile("bcda")
    waits = [next_poll_wait(bcda, None, polls) for polls in range(8)]
    assert waits[0] == 15
    assert waits == sorted(waits)
    assert max(waits) == 60


def test_retry_after_is_clamped_to_the_profiles_floor_and_an_hour():
    ab2d = get_profile("ab2d")
    assert next_poll_wait(ab2d, 0, 3) == 5  # AB2D throttles polls closer than 5 s
    assert next_poll_wait(ab2d, 30, 3) == 30
    assert next_poll_wait(ab2d, 10**6, 3) == 3600
