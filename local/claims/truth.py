"""Does ``claims_current`` say what the emulator knows? For the end-to-end tests and the fault soak.

The emulator made every claim family, so it knows each one's true state as a set of exports showed
it (``Population.truth``). Here the exports a run of the stack really landed are described to it
(:func:`export_windows`), and the rows a claims view returned are compared with that truth
(:func:`truth_mismatches`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from local.claims.query import ClaimsDatabase
from local.emulator.population import ExportWindow
from local.emulator.state import State


def export_windows(
    state: State, job_ids: Iterable[str] | None = None, failed_types: Mapping[str, Iterable[str]] | None = None
) -> list[ExportWindow]:
    """What each completed export held (its data load, its _since, its members); with ``job_ids``,
    only those jobs' exports (the ones whose files all landed); ``failed_types``: job id -> the types
    whose every output the server failed to generate (a partial export)."""
    population = state.population
    flavor = state.config.flavor
    wanted = set(job_ids) if job_ids is not None else None
    windows = []
    for job in state.jobs.all():
        if job.state != "Completed" or (wanted is not None and job.id not in wanted):
            continue
        members = population.group("runout" if job.group == "runout" else "all", job.data_step)
        # BCDA's Group/all: a beneficiary first attributed after _since gets their full history
        newcomers = {b.index for b in members if job.since and job.group == "all" and b.attributed_at > job.since}
        failed = frozenset((failed_types or {}).get(job.id, ()))
        for since, indexes in ((None, newcomers), (job.since, {b.index for b in members} - newcomers)):
            windows.append(
                ExportWindow(job.data_step, since, frozenset(indexes), flavor == "ab2d", flavor == "smart", failed)
            )
    return windows


_COMPARED = ("claim_id", "status", "versions", "mbi", "patient", "claim_type")


def truth_mismatches(state: State, rows: Iterable[Mapping[str, Any]], windows: list[ExportWindow]) -> list[str]:
    """How ``claims_current`` rows differ from the truth of ``windows``: one line per family (empty: none)."""
    truth = state.population.truth(windows)
    seen = {str(row["claim_group_id"]): row for row in rows}
    problems = [f"family {group}: in the views, not in the truth" for group in sorted(set(seen) - set(truth))]
    problems += [f"family {group}: in the truth, not in the views" for group in sorted(set(truth) - set(seen))]
    for group in sorted(set(seen) & set(truth)):
        row, family = seen[group], truth[group]
        got = tuple(row[name] for name in _COMPARED)
        want = tuple(getattr(family, name) for name in _COMPARED)
        if got != want:
            problems.append(f"family {group}: views {dict(zip(_COMPARED, got, strict=True))}, truth {family}")
    return problems


def view_rows(root: Path, source: str, view: str = "current", snapshots: bool = True) -> list[dict[str, Any]]:
    """A claims view over the curated files under ``root`` (laid out like the bucket); ``snapshots``
    False: the history_ view over every curated file instead of the resolved snapshot."""
    if not (root / "curated").exists():
        return []
    result = ClaimsDatabase(root, snapshots=snapshots).query(view, source=source)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]
