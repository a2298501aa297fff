"""The worked examples of CMS's AB2D "Claims data details" page, as a population.

One beneficiary, one claim family (Claim Group ID 99995) whose versions arrive exactly as the page
tells it, so that an end-to-end test can run the page's exports (with their `_since` values, on
their dates) and compare what the claims views say with the page's tables:

- "updated": version 12987987 arrives on January 1, 2020; 54689123 replaces it on February 10 (the
  old one is re-sent cancelled); 34543 replaces that on March 31.
- "cancelled": 12987987 arrives on January 1; on February 10 it is cancelled, and 54689123 arrives
  already cancelled: the whole family is cancelled.
- "duplicate": 12987987 arrives on January 1, and two exports with the same `_since` both pull it.

The page gives dates only; each change lands at 10:00 US Eastern (15:00 UTC) on its date, and the
exports run late on theirs. Nothing else changes between loads: a data load only moves the time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from local.emulator.population import Beneficiary, Population, Revision

GROUP = "99995"
EXAMPLES = ("updated", "cancelled", "duplicate")
#: the first data load: the day of the page's "Export 1" (January 31, 2020)
FIRST_LOAD = datetime(2020, 1, 31, 23, 0, tzinfo=UTC)
SERVED = date(2019, 12, 20)

_ON = {
    "jan1": datetime(2020, 1, 1, 15, 0, tzinfo=UTC),
    "feb10": datetime(2020, 2, 10, 15, 0, tzinfo=UTC),
    "mar31": datetime(2020, 3, 31, 15, 0, tzinfo=UTC),
}
#: example -> (claim id, status, lastUpdated) revisions, in the order the page tells them
VERSIONS = {
    "updated": (
        ("12987987", "active", "jan1"),
        ("12987987", "cancelled", "feb10"),
        ("54689123", "active", "feb10"),
        ("54689123", "cancelled", "mar31"),
        ("34543", "active", "mar31"),
    ),
    "cancelled": (
        ("12987987", "active", "jan1"),
        ("12987987", "cancelled", "feb10"),
        ("54689123", "cancelled", "feb10"),
    ),
    "duplicate": (("12987987", "active", "jan1"),),
}


class ExamplePopulation(Population):
    """The page's beneficiary and claim family (Patient and Coverage as any population's)."""

    def __init__(self, seed: int, example: str) -> None:
        if example not in EXAMPLES:
            raise ValueError(f"cms_example must be one of {EXAMPLES}, got {example!r}")
        self.example = example
        super().__init__(seed, 1, FIRST_LOAD)

    def _initial(self, bene: Beneficiary) -> list[Revision]:
        kept = [r for r in super()._initial(bene) if r.resource_type in ("Patient", "Coverage")]
        if bene.runout:
            return kept
        return kept + [
            Revision(
                "ExplanationOfBenefit",
                f"carrier-{claim_id}",
                _ON[when],
                int(claim_id),
                status,
                "carrier",
                claim_id,
                GROUP,
                SERVED,
            )
            for claim_id, status, when in VERSIONS[self.example]
        ]

    def _step(self, bene: Beneficiary, step: int, history: list[Revision]) -> list[Revision]:
        return []  # the example's versions are all there from the start, dated as the page says

    def advance(self, load_time: datetime, changes_after: datetime) -> datetime:
        """A data load on the page's next export date: time moves on, nobody new is attributed."""
        with self._lock:
            if load_time <= self.load_time:
                raise ValueError("a data load must come after the previous one")
            self.load_times.append(load_time)
            self.changes_after.append(max(changes_after, self.load_times[-2]))
            return self.load_time
