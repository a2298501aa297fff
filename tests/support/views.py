"""Emulator EOBs for the views' tests: every claim type, BFD V2 shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from local.emulator.claims import eob
from local.emulator.population import Beneficiary, Revision


def emulator_eobs(
    bene: Beneficiary, loaded: datetime, claim_types: tuple[str, ...], count: int
) -> list[dict[str, Any]]:
    """``count`` R4 EOBs of each claim type, served 2025-05-01, each with its own content."""
    return [
        eob(
            bene,
            Revision("ExplanationOfBenefit", f"{kind}-{n}", loaded, n * 7919 + len(kind), "active", kind,
                     str(10**9 + n), str(10**8 + n), date(2025, 5, 1)),
            True,
        )
        for kind in claim_types
        for n in range(count)
    ]  # fmt: skip
