"""files.json keeps query-named files apart and re-signed files together (issue #14, item 1); a
transactionTime in the server's future is clamped to the kick-off time (item 3); failed outputs hold
the watermark (item 4)."""

from __future__ import annotations

from datetime import UTC, datetime

from bulkfhir import Manifest, ManifestFile
from ingest.payloads import JobState, LandedFile
from ingest.services.check_status import _with_urls_version, file_items, watermark_candidate
from ingest.services.finalize import _partial
from tests.unit.ingest.test_file_items import RUN

SERVER_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
JOB = JobState(status="accepted", job_url="https://x/jobs/1", kicked_off_at="2026-12-01T11:00:00.000000Z")


def manifest(*outputs: ManifestFile, transaction_time: datetime | None = None) -> Manifest:
    moment = transaction_time or datetime(2026, 12, 1, tzinfo=UTC)
    return Manifest(
        transaction_time=moment,
        transaction_time_raw=moment.isoformat(),
        request="https://x/$export",
        requires_access_token=True,
        output=outputs,
    )


def test_query_named_files_get_an_item_and_a_key_each_and_keep_them_on_a_re_poll():
    named = [ManifestFile("Patient", f"https://x/download?file={n}") for n in "ABCDEF"]
    first, _ = file_items(RUN, manifest(*named), [])
    assert len({item.key for item in first}) == 6
    again, _ = file_items(RUN, manifest(*reversed(named)), first)
    assert {item.url: (item.index, item.key) for item in again} == {item.url: (item.index, item.key) for item in first}


def test_a_file_signed_again_at_a_re_poll_is_the_same_file_with_a_fresh_url():
    def signed(day: int) -> ManifestFile:
        return ManifestFile(
            "Patient", f"https://x/download?file=A&X-Amz-Date=202612{day:02d}T000000Z&X-Amz-Signature={day}"
        )

    first, first_urls = file_items(RUN, manifest(signed(1)), [])
    again, again_urls = file_items(RUN, manifest(signed(2)), first)
    assert [(item.index, item.key, item.url) for item in again] == [(item.index, item.key, item.url) for item in first]
    assert first[0].url == "https://x/download?file=A" and first[0].signed
    assert first_urls != again_urls == {"1": signed(2).url}
    # the download function re-reads the URLs when their version changes
    assert (
        _with_urls_version(first, first_urls)[0].urls_version != _with_urls_version(again, again_urls)[0].urls_version
    )


def test_a_transaction_time_in_the_servers_future_is_clamped_to_the_kick_off_time():
    future = manifest(transaction_time=datetime(2099, 1, 1, tzinfo=UTC))
    candidate, clamped = watermark_candidate("transaction_time", future, JOB, SERVER_NOW)
    assert candidate == JOB.kicked_off_at
    assert clamped is not None and "2099-01-01T00:00:00" in clamped and "clamped to the kick-off time" in clamped


def test_a_future_transaction_time_with_no_kick_off_time_gives_no_watermark():
    future = manifest(transaction_time=datetime(2099, 1, 1, tzinfo=UTC))
    adopted = JobState(status="accepted", job_url="https://x/jobs/1", adopted=True)
    candidate, clamped = watermark_candidate("transaction_time", future, adopted, SERVER_NOW)
    assert candidate is None and clamped is not None and "kick-off time is unknown" in clamped


def test_a_transaction_time_up_to_the_servers_clock_is_the_watermark():
    for moment in (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 12, 1, 12, 0, 0, 900_000, tzinfo=UTC)):
        candidate, clamped = watermark_candidate("transaction_time", manifest(transaction_time=moment), JOB, SERVER_NOW)
        assert (candidate, clamped) == (moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), None)


def _landed(index: int, failed: int = 0, types: tuple[str, ...] = ()) -> LandedFile:
    return LandedFile(
        index=index,
        kind="error",
        type="OperationOutcome",
        url=f"https://x/{index}",
        key=f"k{index}",
        bytes=1,
        lines=1,
        sha256="0",
        landed_at="",
        failed_outputs=failed,
        failed_types=list(types),
    )


def test_failed_outputs_make_the_run_partial_and_per_record_errors_do_not():
    assert _partial([_landed(1), _landed(2)]) is None
    why = _partial([_landed(1), _landed(2, 2, ("Patient",)), _landed(3, 1, ("Claim", "Patient"))])
    assert why is not None
    assert why.startswith("the server reported 3 failed outputs of Patient, Claim in its error files (#2, #3)")
