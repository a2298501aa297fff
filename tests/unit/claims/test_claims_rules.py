"""The rules on their own, including what the page's examples do not show: anomalies, ties,
a version revised in place, the state of a version seen out of order, what a deletion names, the
freshest MBI's ties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from claims.mbi import Mbis
from claims.rows import ClaimVersion, DeletedResource
from claims.rules import ACTIVE, CANCELLED, duplicates, patient_mbis, resolve, version_states
from local.claims.query import ClaimsDatabase
from tests.support.claims import ab2d_eob, land

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def record(claim_id: str, status: str, days: int, run: str = "r1", line: int = 1, group: str = "g") -> ClaimVersion:
    moment = T0 + timedelta(days=days)
    return ClaimVersion(
        "s", group, claim_id, status, moment.isoformat(), moment, micros(moment), "lastUpdated",
        hash((claim_id, status)), "CARRIER", None, None, "p", None, (), claim_id, run, "key", line,
    )  # fmt: skip


def micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_a_versions_state_is_its_latest_record_even_when_it_arrives_first() -> None:
    states = version_states([record("1", CANCELLED, 5, run="r1"), record("1", ACTIVE, 0, run="r2")])
    version = states[("s", "g", "1")]
    assert (version.state.status, version.received_utc, version.records) == (CANCELLED, T0, 2)


def test_two_active_versions_keep_the_one_updated_last_and_flag_the_family() -> None:
    family = resolve([record("1", ACTIVE, 0), record("2", ACTIVE, 3)])[("s", "g")]
    assert (family.current.claim_id, family.status, family.versions, family.anomaly) == ("2", ACTIVE, 2, True)
    assert family.flags == ("two-active",)


def test_a_cancelled_family_reports_the_version_updated_last() -> None:
    family = resolve([record("1", CANCELLED, 4), record("2", CANCELLED, 2)])[("s", "g")]
    assert (family.current.claim_id, family.status, family.anomaly) == ("1", CANCELLED, False)


def test_a_version_revised_in_place_is_one_version_not_a_duplicate() -> None:
    records = [record("1", ACTIVE, 0), record("1", ACTIVE, 7)]  # BFD: same id, later lastUpdated
    family = resolve(records)[("s", "g")]
    assert (family.versions, family.current.last_updated_utc, duplicates(records)) == (1, T0 + timedelta(days=7), [])


def test_duplicates_keep_the_first_landed_copy() -> None:
    (found,) = duplicates([record("1", ACTIVE, 0, run="r2"), record("1", ACTIVE, 0, run="r1", line=3)])
    assert (found.kept.run_id, [d.run_id for d in found.dropped]) == ("r1", ["r2"])


def test_the_views_flag_an_anomaly_like_the_rules(tmp_path: Path) -> None:
    lines = [ab2d_eob("g", "11", "active", T0), ab2d_eob("g", "22", "active", T0 + timedelta(days=3))]
    land(tmp_path, "s", "20240510T000000.000Z-aaaaaa", "2024-05-10", lines)
    database = ClaimsDatabase(tmp_path)
    anomaly = database.connection.execute("SELECT claim_id, status, versions, anomaly FROM claims_current").fetchall()
    assert anomaly == [("22", "active", 2, True)]
    assert database.summary().anomalies == 1


def deletion(resource_id: str, run: str, resource_type: str = "ExplanationOfBenefit") -> DeletedResource:
    return DeletedResource("s", resource_type, resource_id, run, "deleted-key", 1)


def test_a_deletion_cancels_the_version_whose_resource_it_names_if_no_record_came_after() -> None:
    records = [record("1", ACTIVE, 0, run="r1"), record("2", ACTIVE, 1, run="r1"), record("3", ACTIVE, 2, run="r3")]
    records.append(record("4", ACTIVE, 3, run="r1")._replace(resource_id=None))  # nothing to name it by
    deletions = [deletion("1", "r2"), deletion("3", "r2"), deletion("4", "r2"), deletion("2", "r2", "Claim")]
    states = version_states(records, deletions)
    assert {key[2]: (state.status, state.deleted) for key, state in states.items()} == {
        "1": (CANCELLED, True),
        "2": (ACTIVE, False),  # a Claim of that id is another resource
        "3": (ACTIVE, False),  # delivered again by r3, after the deletion
        "4": (ACTIVE, False),
    }
    assert states[("s", "g", "1")].state.status == ACTIVE  # the record as landed is unchanged


def test_the_freshest_mbi_ties_go_to_the_later_object_and_line() -> None:
    first = record("1", ACTIVE, 0, run="r1", line=1)._replace(mbi="OLD")
    second = record("2", ACTIVE, 0, run="r1", line=2)._replace(mbi="NEW", historic_mbis=("OLD",))
    assert patient_mbis([second, first]) == {("s", "p"): Mbis("NEW", ("OLD",))}
    later_key = first._replace(object_key="key2")
    assert patient_mbis([second, later_key]) == {("s", "p"): Mbis("OLD", ())}
    family = resolve([first, second])[("s", "g")]
    assert (family.current.mbi, family.mbi, family.historic_mbis) == ("NEW", "NEW", ("OLD",))
