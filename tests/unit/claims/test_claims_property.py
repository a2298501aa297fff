"""Random populations from the emulator, landed over several months of incremental exports:
claims_current equals the pure rules' truth, whatever order the rows come in and however often
a file is landed again."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest

from claims import LandedFile
from claims.extract import claim_version
from claims.rows import ClaimVersion
from claims.rules import resolve
from local.claims.query import ClaimsDatabase
from local.emulator.config import DEFAULT_DATA_LOAD_TIME
from local.emulator.population import Population
from local.emulator.render import render
from tests.support.claims import land


def _monthly_exports(seed: int, patients: int, months: int) -> list[list[bytes]]:
    """Each month's incremental EOB export (_since = the previous load), the first one full."""
    population = Population(seed, patients, DEFAULT_DATA_LOAD_TIME)
    exports, since = [], None
    for month in range(months):
        if month:
            population.advance(population.load_time + timedelta(days=30), population.load_time)
        until = population.load_time
        exports.append(
            [
                render(bene, revision, r4=True)
                for bene in population.group("all", month)
                for revision in population.view(bene, "ExplanationOfBenefit", until, since)
            ]
        )
        since = until
    return exports


def _run_id(month: int) -> str:
    return f"2026{month + 1:02d}01T000000.000Z-prop{month:02d}"


def _truth(exports: list[list[bytes]]) -> list[tuple[object, ...]]:
    records: list[ClaimVersion] = []
    for month, lines in enumerate(exports):
        landed = LandedFile("rand", _run_id(month), f"2026-{month + 1:02d}-01", "k", 1)
        records += [claim_version(json.loads(line), landed, number) for number, line in enumerate(lines, 1)]
    families = resolve(records)
    return sorted(
        (source, group, family.current.claim_id, family.status, family.current.last_updated, family.versions)
        for (source, group), family in families.items()
    )


def _current(root: Path) -> list[tuple[object, ...]]:
    return sorted(row[:6] for row in ClaimsDatabase(root).query("current").rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_claims_current_is_the_rules_truth_whatever_the_order_and_repeats(seed: int, tmp_path: Path) -> None:
    exports = _monthly_exports(seed, patients=40, months=3)
    truth = _truth(exports)
    assert any(row[3] == "cancelled" for row in truth) and any(row[5] > 1 for row in truth)

    for month, lines in enumerate(exports):
        land(tmp_path / "in-order", "rand", _run_id(month), f"2026-{month + 1:02d}-01", lines)
    assert _current(tmp_path / "in-order") == truth

    rng = random.Random(seed)
    for month, lines in enumerate(exports):
        shuffled = rng.sample(lines, len(lines))
        chunks = [shuffled[i : i + 50] for i in range(0, len(shuffled), 50)]
        for index, chunk in enumerate(chunks, start=1):
            land(tmp_path / "shuffled", "rand", _run_id(month), f"2026-{month + 1:02d}-01", chunk, index)
            if rng.random() < 0.5:  # a retried curation of the same file
                land(tmp_path / "shuffled", "rand", _run_id(month), f"2026-{month + 1:02d}-01", chunk, index)
        # and the month's export landed once more by a later run (an overlapping _since)
        later = f"2026{month + 1:02d}15T000000.000Z-again{month:02d}"
        land(tmp_path / "shuffled", "rand", later, f"2026-{month + 1:02d}-15", rng.sample(lines, len(lines)), 1)
    assert _current(tmp_path / "shuffled") == truth
    summary = ClaimsDatabase(tmp_path / "shuffled").summary()
    assert summary.duplicates_dropped == sum(len(lines) for lines in exports)
