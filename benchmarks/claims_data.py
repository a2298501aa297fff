"""Realistic claims NDJSON for the claims benchmarks, made by the emulator's own builders."""

from __future__ import annotations

from local.emulator.config import DEFAULT_DATA_LOAD_TIME
from local.emulator.population import Population
from local.emulator.render import render


def eob_lines(patients: int, *, r4: bool = True, ab2d: bool = False, seed: int = 7) -> list[bytes]:
    """Every ExplanationOfBenefit of ``patients`` beneficiaries' full history (about 12 each), as
    BCDA (R4 or STU3) or AB2D (with its MBI extension) serve them."""
    population = Population(seed, patients, DEFAULT_DATA_LOAD_TIME)
    return [
        render(bene, revision, r4, False, ab2d)
        for bene in population.group("all", 0)
        for revision in population.view(bene, "ExplanationOfBenefit", DEFAULT_DATA_LOAD_TIME)
    ]
