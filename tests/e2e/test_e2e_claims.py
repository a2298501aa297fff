"""Claims you can query, end to end: every export on the real state machine curates its claims, and the
claims views over the curated files say what CMS's rules say — for the worked examples of CMS's AB2D
"Claims data details" page (exact ids and dates, export by export), and for random populations whose
true state the emulator knows, month after month."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.claims.query import ClaimsDatabase
from local.claims.truth import export_windows, truth_mismatches, view_rows
from local.emulator.examples import GROUP
from local.emulator.population import ExportWindow

SOURCE = "e2e"


def views(s: Any, view: str = "current") -> list[dict[str, Any]]:
    """A claims view over what the stack curated so far (the bucket's curated/ files, on disk)."""
    with tempfile.TemporaryDirectory() as root:
        for key in s.aws.list_keys(f"curated/{SOURCE}/"):
            s.aws.download(key, Path(root) / key)
        return view_rows(Path(root), SOURCE, view)


def _day(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).date().isoformat()


def _page_rows(s: Any) -> list[tuple[str, str, str]]:
    """claim_versions as the page's tables show them: (claim id, status, last updated day)."""
    return sorted((r["claim_id"], r["status"], _day(r["last_updated"])) for r in views(s, "versions"))


def _current(s: Any) -> tuple[str, str, int]:
    (family,) = [r for r in views(s) if r["claim_group_id"] == GROUP]
    return family["claim_id"], family["status"], family["versions"]


#: (run on, _since) of the page's exports; an export runs late on its day
def _export(s: Any, run_on: str, since: str) -> None:
    load = datetime.fromisoformat(f"{run_on}T23:00:00+00:00")
    if load > s.emu.state.population.load_time:
        s.emu.load_data_at(load)
    execution = s.run(since=f"{since}T00:00:00-05:00")
    assert execution.status == "SUCCEEDED", execution.cause


@pytest.mark.parametrize("flavor", ["bcda", "ab2d"])
def test_the_updated_claim_of_the_cms_page_export_by_export(stack, flavor):
    s = stack(flavor, scenario="cms-examples", cms_example="updated")
    _export(s, "2020-01-31", "2020-01-01")  # Export 1
    assert _page_rows(s) == [("12987987", "active", "2020-01-01")]
    assert _current(s) == ("12987987", "active", 1)

    _export(s, "2020-02-28", "2020-01-31")  # Export 2: 12987987 again, cancelled; 54689123 arrives
    assert _page_rows(s) == [("12987987", "cancelled", "2020-02-10"), ("54689123", "active", "2020-02-10")]
    assert _current(s) == ("54689123", "active", 2)

    _export(s, "2020-03-15", "2020-02-14")  # Export 3a: nothing new about claim 99995
    assert _page_rows(s) == [("12987987", "cancelled", "2020-02-10"), ("54689123", "active", "2020-02-10")]
    assert _current(s) == ("54689123", "active", 2)

    _export(s, "2020-03-31", "2020-02-28")  # Export 3b: 54689123 again, cancelled; 34543 arrives
    assert _page_rows(s) == [
        ("12987987", "cancelled", "2020-02-10"),
        ("34543", "active", "2020-03-31"),
        ("54689123", "cancelled", "2020-03-31"),
    ]
    assert _current(s) == ("34543", "active", 3)
    assert views(s, "duplicates") == []


@pytest.mark.parametrize("flavor", ["bcda", "ab2d"])
def test_the_cancelled_claim_of_the_cms_page(stack, flavor):
    s = stack(flavor, scenario="cms-examples", cms_example="cancelled")
    _export(s, "2020-01-31", "2020-01-01")
    assert _current(s) == ("12987987", "active", 1)
    _export(s, "2020-02-28", "2020-01-31")  # every version cancelled: the whole claim is cancelled
    assert _page_rows(s) == [("12987987", "cancelled", "2020-02-10"), ("54689123", "cancelled", "2020-02-10")]
    claim_id, status, versions = _current(s)
    assert (status, versions) == ("cancelled", 2)
    assert claim_id == "54689123"  # updated last (a tie on February 10: the later received, then the larger id)


@pytest.mark.parametrize("flavor", ["bcda", "ab2d"])
def test_the_duplicate_of_the_cms_page_from_an_overlapping_since(stack, flavor):
    s = stack(flavor, scenario="cms-examples", cms_example="duplicate")
    _export(s, "2020-01-31", "2020-01-01")
    _export(s, "2020-02-28", "2020-01-01")  # the same _since again: the same version, pulled twice
    assert _current(s) == ("12987987", "active", 1)
    assert _page_rows(s) == [("12987987", "active", "2020-01-01")]
    (duplicate,) = views(s, "duplicates")
    assert (duplicate["claim_id"], duplicate["copies"], duplicate["dropped"]) == ("12987987", 2, 1)
    assert _day(duplicate["last_updated"]) == "2020-01-01"


# ---- random populations: the emulator knows each claim family's true state at every data load --------


def _exports_of(s: Any) -> list[ExportWindow]:
    """What each completed export of the emulator held: its data load, its _since, its members."""
    return export_windows(s.emu.state)


def _assert_views_tell_the_truth(s: Any) -> int:
    seen = views(s)
    wrong = truth_mismatches(s.emu.state, seen, _exports_of(s))
    assert not wrong, f"{len(wrong)} differences, e.g. {wrong[:3]}"
    return len(seen)


def _months(s: Any, scope_runs: Any, months: int = 3) -> None:
    for _ in range(months):
        s.emu.advance_data(days=30)
        scope_runs()


def _population_facts(s: Any) -> dict[str, int]:
    """How much of what the issue asks for the months produced (so the test cannot pass on nothing)."""
    population = s.emu.state.population
    step = len(population.load_times) - 1
    truth = population.truth(_exports_of(s))
    members = population.group("all", step) + population.group("runout", step)
    return {
        "adjusted": sum(1 for f in truth.values() if f.versions > 1 and f.status == "active"),
        "cancelled": sum(1 for f in truth.values() if f.status == "cancelled"),
        "mbi_changes": sum(1 for bene in members if len(population.mbis(bene, step)) > 1 + bool(bene.historic_mbi)),
        "newcomers": sum(1 for bene in members if bene.created_step > 0),
    }


def test_bcda_claims_current_is_the_truth_over_months_of_loads_newcomers_and_runout(stack):
    s = stack("bcda", patients=120, concurrency=4, error_files=False)
    assert s.run().status == "SUCCEEDED"
    assert s.run(export="Group/runout").status == "SUCCEEDED"  # last year's beneficiaries, once

    def scheduled() -> None:
        assert s.run().status == "SUCCEEDED"

    _months(s, scheduled)
    families = _assert_views_tell_the_truth(s)
    facts = _population_facts(s)
    assert families > 500 and all(facts.values()), facts


def _scheduled_months(stack: Any, flavor: str) -> tuple[Any, int, dict[str, int]]:
    """A full-history run, then three months of scheduled runs; the views checked against the truth."""
    s = stack(flavor, patients=120, concurrency=4, error_files=False)

    def scheduled() -> None:
        assert s.run().status == "SUCCEEDED"

    scheduled()
    _months(s, scheduled)
    return s, _assert_views_tell_the_truth(s), _population_facts(s)


def test_ab2d_claims_current_is_the_truth_over_months_with_mbis_on_the_claims(stack):
    # AB2D: the MBIs (current and historic) ride on each EOB, so a beneficiary's changed MBI reaches
    # their older claims only through the freshest record of the patient
    _, families, facts = _scheduled_months(stack, "ab2d")
    assert families > 500 and facts["mbi_changes"] > 0 and facts["cancelled"] > 0 and facts["adjusted"] > 0, facts


def test_smart_claims_current_is_the_truth_over_months_with_deletions_for_cancellations(stack):
    # a generic server deletes a cancelled claim, and a _since export lists it under deleted[]
    s, families, facts = _scheduled_months(stack, "smart")
    assert families > 500 and facts["cancelled"] > 0 and facts["adjusted"] > 0, facts
    deleted = [key for key in s.aws.list_keys("curated/") if "/deleted_resources/" in key]
    assert deleted, "the deletions reached the curated data"


# ---- idempotent and rebuildable -----------------------------------------------------------------------


def _curated_rows(s: Any) -> int:
    with tempfile.TemporaryDirectory() as root:
        for key in s.aws.list_keys(f"curated/{SOURCE}/"):
            s.aws.download(key, Path(root) / key)
        database = ClaimsDatabase(Path(root))
        return database.summary(SOURCE).records


def _eob_lines(s: Any, execution: Any) -> int:
    return sum(f["lines"] for f in s.run_manifest(execution)["files"] if f["type"] == "ExplanationOfBenefit")


def test_a_retried_curation_and_a_resumed_run_never_double_a_row(stack, monkeypatch):
    from bulkfhir import BulkDataClient, TransientError

    s = stack("bcda", patients=150, concurrency=2, error_files=False)
    dispatcher = s.aws.dispatcher
    real = dispatcher._handler("ingest.handlers.curate_file.handler")
    retried: list[int] = []

    def lost_answer(event: dict[str, Any], context: Any) -> Any:
        result = real(event, context)
        if not retried:  # the work is done, but its answer never reaches Step Functions: the task is retried
            retried.append(event["file"]["index"])
            raise TransientError("simulated: the invocation's response was lost")
        return result

    dispatcher._handlers["ingest.handlers.curate_file.handler"] = lost_answer
    real_open = BulkDataClient.open_file

    def last_file_breaks(self: BulkDataClient, url: str, **kwargs: Any) -> Any:
        if url.split("?", maxsplit=1)[0] == s.emu.jobs()[-1].files[-1].url:
            raise TransientError("simulated: the file server keeps failing", bytes_received=None)
        return real_open(self, url, **kwargs)

    monkeypatch.setattr(BulkDataClient, "open_file", last_file_breaks)
    failed = s.run()
    assert failed.status == "FAILED" and retried
    monkeypatch.undo()
    rerun = s.run()  # resumes the job: landed (and curated) files are neither fetched nor curated again
    assert rerun.status == "SUCCEEDED", rerun.cause
    assert _curated_rows(s) == _eob_lines(s, rerun)  # one row per landed EOB line, none twice
    assert views(s, "duplicates") == []


def _curated_files(s: Any) -> list[str]:
    """The curated tables' files (not the snapshot's, under curated/<source>/_snapshot/ and _current/)."""
    return [key for key in s.aws.list_keys(f"curated/{SOURCE}/") if "/_" not in key]


def test_a_claims_rebuild_derives_the_curated_data_again_from_what_landed(stack):
    s = stack("bcda", patients=120, concurrency=4, error_files=False)
    assert s.run().status == "SUCCEEDED"
    s.emu.advance_data(days=30)
    assert s.run().status == "SUCCEEDED"
    before = views(s)
    keys = _curated_files(s)
    some_file = s.aws.s3.get_object(Bucket=s.aws.bucket, Key=keys[1])["Body"].read()
    # the rules changed: what the old ones wrote is gone (and a stale file of a table the rules no
    # longer produce for a landed file lies where the rebuild must remove it)
    for key in keys:
        s.aws.s3.delete_object(Bucket=s.aws.bucket, Key=key)
    stale = keys[0].replace("/claim_version_rows/", "/rejects/")
    s.aws.s3.put_object(Bucket=s.aws.bucket, Key=stale, Body=b"PAR1 not a real file PAR1")
    # and the file of a run no longer in the ledger, which no landed file produces (issue #14, item 14)
    orphan = keys[0].rsplit("/", 1)[0] + "/20200101T000000.000Z-gone00-00001.parquet"
    s.aws.s3.put_object(Bucket=s.aws.bucket, Key=orphan, Body=some_file)

    rebuild = s.run(rebuild_claims=True)
    assert rebuild.status == "SUCCEEDED", rebuild.cause
    assert sorted(_curated_files(s)) == sorted(keys)
    assert rebuild.output["poll"]["pruned"] == 1
    assert views(s) == before
    assert rebuild.output["final"]["files"] == len({key.rsplit("/", 1)[1] for key in keys})  # each landed file
    assert s.watermark("Group/all") is not None and s.lease("claims-rebuild") is None
    assert len(s.emu.jobs()) == 2  # a rebuild asks the server nothing
    again = s.run(rebuild_claims=True)  # and again: the same files, nothing doubled
    assert again.status == "SUCCEEDED"
    assert views(s) == before and views(s, "duplicates") == []


def test_a_rebuild_takes_no_export_parameters(stack):
    s = stack("bcda", patients=20)
    refused = s.run(rebuild_claims=True, since="none")
    assert refused.status == "FAILED" and refused.error == "ConfigurationError"
    assert "rebuild_claims" in refused.cause


# ---- the page's examples from a server that deletes what BFD re-sends cancelled ------------------------


# a generic Bulk Data server has no cancelled EOBs: a cancelled version is gone from its data, and a
# _since export lists its id under deleted[]; a version created already cancelled is never seen


def test_the_updated_claim_of_the_cms_page_from_a_deleting_server(stack):
    s = stack("smart", scenario="cms-examples", cms_example="updated")
    _export(s, "2020-01-31", "2020-01-01")
    assert _current(s) == ("12987987", "active", 1)
    _export(s, "2020-02-28", "2020-01-31")  # 12987987 deleted, 54689123 arrives
    assert _current(s) == ("54689123", "active", 2)
    _export(s, "2020-03-15", "2020-02-14")
    assert _current(s) == ("54689123", "active", 2)
    _export(s, "2020-03-31", "2020-02-28")  # 54689123 deleted, 34543 arrives
    assert _current(s) == ("34543", "active", 3)
    versions = sorted((r["claim_id"], r["status"]) for r in views(s, "versions"))
    assert versions == [("12987987", "cancelled"), ("34543", "active"), ("54689123", "cancelled")]


def test_the_cancelled_claim_of_the_cms_page_from_a_deleting_server(stack):
    s = stack("smart", scenario="cms-examples", cms_example="cancelled")
    _export(s, "2020-01-31", "2020-01-01")
    _export(s, "2020-02-28", "2020-01-31")  # 12987987 deleted; 54689123 was born cancelled: never seen
    assert _current(s) == ("12987987", "cancelled", 1)


def test_the_duplicate_of_the_cms_page_from_a_deleting_server(stack):
    s = stack("smart", scenario="cms-examples", cms_example="duplicate")
    _export(s, "2020-01-31", "2020-01-01")
    _export(s, "2020-02-28", "2020-01-01")
    assert _current(s) == ("12987987", "active", 1)
    (copy,) = views(s, "duplicates")
    assert (copy["claim_id"], copy["copies"], copy["dropped"]) == ("12987987", 2, 1)
