import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bulkfhir import (
    PROFILES,
    BulkDataClient,
    ClientCredentials,
    ExportInProgress,
    ServerConfig,
    TransientError,
    get_profile,
    next_poll_wait,
    parse_progress,
)
from bulkfhir._http import parse_retry_after
from tests.support.canned import Canned, CannedTransport, session_with

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


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_polls_at_most_every_five_seconds_whatever_the_server_asks(name):
    # the SMART reference server answers Retry-After: 1; AB2D refuses polls closer than 5 s; each poll
    # is state transitions and history events in AWS
    profile = get_profile(name)
    assert next_poll_wait(profile, 1, 3) == 5
    assert next_poll_wait(profile, 0, 0) == 5
    assert min(next_poll_wait(profile, None, polls) for polls in range(10)) >= 5


# ---- a moment in Retry-After is measured on the server's clock ----------------------------------

BASE = "https://bulk.example.org"
STATUS_URL = f"{BASE}/api/v2/jobs/7"
SERVER_NOW = NOW + timedelta(hours=2)  # the server's clock runs two hours ahead of ours


def _bcda(transport: CannedTransport) -> BulkDataClient:
    token = json.dumps({"access_token": "a.b.c", "expires_in": "1200"}).encode()
    transport.answer("POST", f"{BASE}/auth/token", Canned(200, {"Content-Type": "application/json"}, token))
    credentials = ClientCredentials.from_mapping({"client_id": "aco", "client_secret": "s"})
    return BulkDataClient(
        ServerConfig(api="bcda", base_url=BASE), credentials, session=session_with(transport), clock=lambda: NOW
    )


def test_a_rate_limit_until_an_epoch_is_a_wait_until_then_by_the_servers_clock():
    # the SMART reference server's 429: Retry-After is when its block lifts, in ms on the first 429
    # and in s after (bulk-data-server lib.ts rateLimiter)
    lifts = SERVER_NOW + timedelta(minutes=5)
    transport = CannedTransport()
    date = {"Date": format_datetime(SERVER_NOW, usegmt=True), "Content-Type": "text/plain"}
    transport.answer(
        "GET",
        STATUS_URL,
        Canned(429, {**date, "Retry-After": str(int(lifts.timestamp() * 1000))}, b"Too Many Requests."),
        Canned(429, {**date, "Retry-After": str(int(lifts.timestamp()))}, b"Too Many Requests."),
    )
    client = _bcda(transport)

    for _ in range(2):
        with pytest.raises(TransientError) as raised:
            client.check_status(STATUS_URL)
        assert raised.value.retry_after == pytest.approx(300)


def test_an_http_date_retry_after_is_measured_from_the_servers_date_header():
    transport = CannedTransport()
    headers = {"Date": format_datetime(SERVER_NOW, usegmt=True),
               "Retry-After": format_datetime(SERVER_NOW + timedelta(seconds=90), usegmt=True)}  # fmt: skip
    transport.answer("GET", STATUS_URL, Canned(202, headers))

    status = _bcda(transport).check_status(STATUS_URL)

    assert isinstance(status, ExportInProgress)
    assert status.retry_after == pytest.approx(90)


def test_without_a_date_header_a_moment_is_measured_from_our_clock():
    transport = CannedTransport()
    transport.answer("GET", STATUS_URL, Canned(202, {"Retry-After": str(int(NOW.timestamp()) + 60)}))

    status = _bcda(transport).check_status(STATUS_URL)

    assert isinstance(status, ExportInProgress)
    assert status.retry_after == pytest.approx(60)
