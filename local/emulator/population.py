"""The synthetic beneficiaries and the history of their records, deterministic by seed.

Nothing here is JSON yet: a beneficiary's history is a list of immutable `Revision`s (one per load
of one resource), built on first use from a per-beneficiary RNG. "What the server holds at time T"
is, per resource id, the latest revision loaded at or before T; `_since` then keeps those loaded
after `since`. Revisions are never changed, so a job built after `advance_data()` still sees its
own point in time.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

CLAIM_TYPES = ("carrier", "pde", "outpatient", "inpatient", "dme", "snf", "hha", "hospice")
CLAIM_WEIGHTS = (40, 30, 12, 5, 5, 3, 3, 2)
COVERAGE_PARTS = ("part-a", "part-b", "part-c", "part-d")
HISTORY_DAYS = 3 * 365  # lookback of the model (e.g. REACH: 3 years)
#: The share of beneficiaries with new claims in a data load whose MBI changes in that load (the old one
#: becomes historic): a Patient revision carries it (BCDA, SMART), and AB2D's EOBs from then on.
WITHDRAWAL_RATE = 0.04  # per beneficiary and data load: a family cancelled after it was exported
MBI_CHANGE_RATE = 0.05
_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # MBI letters (no S, L, O, I, B, Z)


@dataclass(frozen=True, slots=True)
class Beneficiary:
    index: int
    bene_id: str
    mbi: str
    historic_mbi: str | None
    attributed_at: datetime  # date of the first attribution file that lists them
    runout: bool  # attributed last year only
    created_step: int  # the data load (0 = initial) that first holds them


@dataclass(frozen=True, slots=True)
class Revision:
    """One loaded version of one resource."""

    resource_type: str
    id: str
    last_updated: datetime
    key: int  # drives the content, so equal keys give equal JSON
    status: str = "active"
    claim_type: str = ""
    clm_id: str = ""
    group_id: str = ""
    service_date: date | None = None
    #: Patient revisions of an MBI change: (current, *historic); empty means the beneficiary's first MBIs
    mbis: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FamilyTruth:
    """What a claim family really is at a data load (the emulator made it, so it knows)."""

    claim_id: str  # the current version
    status: str  # "active" | "cancelled"
    versions: int  # distinct claim ids
    claim_type: str  # upper-case, as in eob.type (CARRIER, PDE, ...)
    patient: str
    mbi: str | None  # the patient's current MBI as the exports showed it (None: no export showed one)


def seeded(*parts: object) -> random.Random:
    """A deterministic RNG for synthetic data (never for anything secret)."""
    return random.Random(":".join(str(part) for part in parts))  # noqa: S311


def _mbi(rng: random.Random) -> str:
    digit, letter = "123456789", _LETTERS
    alnum = letter + "0123456789"
    picks = (digit, letter, alnum, "0123456789", letter, alnum, "0123456789", letter, letter, "0123456789")
    return "".join(rng.choice(chars) for chars in (*picks, "0123456789"))


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = max((end - start).total_seconds(), 1.0)
    return start + timedelta(seconds=rng.uniform(0, span), microseconds=rng.randrange(1000) * 1000)


class Population:
    """Beneficiaries, attribution, and the revisions of their records over successive data loads."""

    def __init__(self, seed: int, patients: int, load_time: datetime) -> None:
        self.seed = seed
        self.load_times = [load_time]  # BFD data-load time of each step
        # Changes of a step are loaded after this moment: the previous load, or the clock when the
        # step began if that is later (so a kick-off-time watermark taken before it misses nothing).
        self.changes_after: list[datetime] = [load_time]
        self._lock = threading.RLock()
        self._history: dict[int, tuple[int, list[Revision]]] = {}
        self._mbi_changes: dict[int, list[tuple[int, tuple[str, ...]]]] = {}  # bene -> [(step, mbis)]
        first_file = load_time - timedelta(days=400)
        latest_file = self.attribution_file_date(0)
        runout = max(1, patients // 10)
        self.beneficiaries: list[Beneficiary] = []
        for index in range(patients + runout):
            rng = seeded("bene", seed, index)
            is_new = index < patients and rng.random() < 0.05
            self.beneficiaries.append(
                self._beneficiary(index, rng, latest_file if is_new else first_file, index >= patients, 0)
            )

    def _beneficiary(
        self, index: int, rng: random.Random, attributed: datetime, runout: bool, step: int
    ) -> Beneficiary:
        bene_id = str(-(10_000_000_000_000 + (self.seed % 1000) * 100_000 + index))
        historic = _mbi(rng) if rng.random() < 0.1 else None
        return Beneficiary(index, bene_id, _mbi(rng), historic, attributed, runout, step)

    # ---- time
    @property
    def load_time(self) -> datetime:
        return self.load_times[-1]

    def attribution_file_date(self, step: int) -> datetime:
        """The CCLF attribution file of a data load lands a day before it."""
        moment = self.load_times[step] - timedelta(days=1)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def runout_claims_through(self) -> date:
        return date(self.load_times[0].year - 1, 12, 31)

    def advance(self, load_time: datetime, changes_after: datetime) -> datetime:
        """A data load at `load_time` with changes loaded after `changes_after`: new claims,
        revisions, and newly attributed people."""
        with self._lock:
            if load_time <= self.load_time:
                raise ValueError("a data load must come after the previous one")
            step = len(self.load_times)
            self.load_times.append(load_time)
            self.changes_after.append(min(max(changes_after, self.load_times[step - 1]), load_time))
            attributed = self.attribution_file_date(step)
            current = sum(1 for bene in self.beneficiaries if not bene.runout)
            for _ in range(max(1, current // 50)):
                index = len(self.beneficiaries)
                rng = seeded("bene", self.seed, index)
                self.beneficiaries.append(self._beneficiary(index, rng, attributed, False, step))
            return self.load_time

    # ---- who is in an export
    def group(self, name: str, step: int) -> list[Beneficiary]:
        """Beneficiaries of `Group/all` (or Patient) or `Group/runout` as of data load `step`."""
        runout = name == "runout"
        with self._lock:
            members = list(self.beneficiaries)
        return [b for b in members if b.runout == runout and b.created_step <= step]

    # ---- what the server holds
    def revisions(self, bene: Beneficiary) -> list[Revision]:
        with self._lock:
            steps = len(self.load_times)
            done, history = self._history.get(bene.index, (bene.created_step, []))
            if not history:
                history = self._initial(bene)
            for step in range(done + 1, steps):
                history = history + self._step(bene, step, history)
            self._history[bene.index] = (steps - 1, history)
            return history

    def mbis(self, bene: Beneficiary, step: int) -> tuple[str, ...]:
        """The beneficiary's MBIs as of data load ``step``: (current, *historic)."""
        self.revisions(bene)  # makes the history (and its MBI changes) up to the latest load
        current = _first_mbis(bene)
        with self._lock:
            for changed_at, mbis in self._mbi_changes.get(bene.index, []):
                if changed_at <= step:
                    current = mbis
        return current

    def view(
        self,
        bene: Beneficiary,
        resource_type: str,
        until: datetime,
        since: datetime | None = None,
    ) -> list[Revision]:
        """The resources of one type held at `until`, loaded after `since` (None: full history)."""
        latest: dict[str, Revision] = {}
        for revision in self.revisions(bene):
            if revision.resource_type != resource_type or revision.last_updated > until:
                continue
            held = latest.get(revision.id)
            if held is None or held.last_updated <= revision.last_updated:
                latest[revision.id] = revision
        kept = [r for r in latest.values() if since is None or r.last_updated > since]
        return sorted(kept, key=lambda r: (r.service_date or date.min, r.id))

    # ---- history generation
    def _initial(self, bene: Beneficiary) -> list[Revision]:
        rng = seeded("history", self.seed, bene.index)
        load = self.load_times[bene.created_step]
        end = datetime.combine(self.runout_claims_through, datetime.min.time(), UTC) if bene.runout else load
        start = load - timedelta(days=HISTORY_DAYS)
        seen = _moment(rng, start, start + timedelta(days=60))
        history = [Revision("Patient", bene.bene_id, seen, rng.getrandbits(32))]
        history += [
            Revision("Coverage", f"{part}-{bene.bene_id}", _moment(rng, seen, load), rng.getrandbits(32))
            for part in COVERAGE_PARTS
        ]
        ids = _Ids(bene.index, history)
        for _ in range(rng.randint(6, 14)):
            history += self._claim_group(rng, ids, start, end - timedelta(days=3), load)
        if not bene.runout:
            for _ in range(rng.randint(0, 3)):
                history += self._partial_claim(rng, load - timedelta(days=60), load)
        return history

    def _claim_group(
        self,
        rng: random.Random,
        ids: _Ids,
        start: datetime,
        end: datetime,
        load: datetime,
        floor: datetime | None = None,
    ) -> list[Revision]:
        """One claim group: 1-3 versions, older ones cancelled, loaded after `floor` and by `load`."""
        claim_type = rng.choices(CLAIM_TYPES, CLAIM_WEIGHTS)[0]
        served = _moment(rng, start, end)
        group_id = ids.draw(rng, 9)
        loaded = served + timedelta(days=rng.uniform(3, 40))
        if floor is not None:
            loaded = max(loaded, floor + timedelta(hours=rng.uniform(1, 48)))
        loaded = min(loaded, load)
        versions = 1 + (rng.random() < 0.2) + (rng.random() < 0.05)
        fully_cancelled = rng.random() < 0.04
        out: list[Revision] = []
        for number in range(versions):
            clm_id = ids.draw(rng, 10)
            out.append(self._eob(rng, claim_type, clm_id, group_id, served, loaded, "active"))
            later = min(loaded + timedelta(days=rng.uniform(1, 30)), load)
            if number < versions - 1 or fully_cancelled:
                # a newer version supersedes this one (or the claim is withdrawn): BFD marks it cancelled
                out.append(self._eob(rng, claim_type, clm_id, group_id, served, later, "cancelled"))
            loaded = later
        return out

    def _eob(
        self,
        rng: random.Random,
        claim_type: str,
        clm_id: str,
        group_id: str,
        served: datetime,
        loaded: datetime,
        status: str,
    ) -> Revision:
        return Revision(
            "ExplanationOfBenefit",
            f"{claim_type}-{clm_id}",
            loaded,
            rng.getrandbits(32),
            status,
            claim_type,
            clm_id,
            group_id,
            served.date(),
        )

    def _partial_claim(self, rng: random.Random, start: datetime, load: datetime) -> list[Revision]:
        source = rng.choice(("f", "m"))  # FISS or MCS
        claim_id = f"{source}-{rng.randrange(10**6, 10**7)}"
        served = _moment(rng, start, load - timedelta(days=2))
        loaded = min(served + timedelta(days=rng.uniform(1, 5)), load)
        key = rng.getrandbits(32)
        return [
            Revision(kind, claim_id, loaded, key, "active", source, claim_id, "", served.date())
            for kind in ("Claim", "ClaimResponse")
        ]

    def _step(self, bene: Beneficiary, step: int, history: list[Revision]) -> list[Revision]:
        rng = seeded("step", self.seed, bene.index, step)
        previous, load = self.changes_after[step], self.load_times[step]
        if bene.runout:
            return []
        out: list[Revision] = []
        ids = _Ids(bene.index, history)
        if rng.random() < 0.6:
            for _ in range(rng.randint(1, 3)):
                start, end = previous - timedelta(days=20), load - timedelta(days=2)
                out += self._claim_group(rng, ids, start, end, load, previous)
        # versions whose latest revision is active: an adjustment cancels one of these (BFD never
        # adjusts a version it already cancelled), a revision in place revises one of these
        active = [r for r in _latest(history, "ExplanationOfBenefit").values() if r.status == "active"]
        revisable = active
        if active and rng.random() < 0.25:
            # an adjustment: the current version is cancelled and a new version of the group arrives
            old = rng.choice(active)
            when = _moment(rng, previous, load)
            out.append(replace_loaded(old, when, "cancelled"))
            new_id = ids.draw(rng, 10)
            served = datetime.combine(old.service_date or load.date(), datetime.min.time(), UTC)
            out.append(self._eob(rng, old.claim_type, new_id, old.group_id, served, when, "active"))
            # the version it cancelled is never revised back to active (the soak found two active
            # versions of one family, which the truth and the claims rules then resolve differently)
            revisable = [r for r in active if r.id != old.id]
        if revisable and rng.random() < 0.1:
            # revised in place: same id, later lastUpdated
            out.append(replace_loaded(rng.choice(revisable), _moment(rng, previous, load)))
        if rng.random() < 0.05:
            part = rng.choice(COVERAGE_PARTS)
            out.append(Revision("Coverage", f"{part}-{bene.bene_id}", _moment(rng, previous, load), step))
        if rng.random() < 0.3:
            out += self._partial_claim(rng, previous, load)
        if out and any(r.status == "active" for r in out if r.resource_type == "ExplanationOfBenefit"):
            out += self._mbi_change(rng, bene, step, previous, load)
        return out + self._withdrawal(bene, step, history, out, previous, load)

    def _withdrawal(
        self,
        bene: Beneficiary,
        step: int,
        history: list[Revision],
        changed: list[Revision],
        previous: datetime,
        load: datetime,
    ) -> list[Revision]:
        """A claim withdrawn after earlier loads showed it: the family's only active version cancelled,
        with no successor, so the whole family is cancelled (what a deleting server reports under
        deleted[]). Its own random stream, so the rest of the population stays as it was."""
        rng = seeded("withdrawal", self.seed, bene.index, step)
        if rng.random() >= WITHDRAWAL_RATE:
            return []
        latest = _latest(history, "ExplanationOfBenefit").values()
        active_per_group = Counter(r.group_id for r in latest if r.status == "active")
        touched = {r.group_id for r in changed if r.resource_type == "ExplanationOfBenefit"}
        candidates = sorted(
            (
                r
                for r in latest
                if r.status == "active" and active_per_group[r.group_id] == 1 and r.group_id not in touched
            ),
            key=lambda r: r.id,
        )
        if not candidates:
            return []
        return [replace_loaded(rng.choice(candidates), _moment(rng, previous, load), "cancelled")]

    def _mbi_change(
        self, rng: random.Random, bene: Beneficiary, step: int, previous: datetime, load: datetime
    ) -> list[Revision]:
        if rng.random() >= MBI_CHANGE_RATE:
            return []
        with self._lock:
            changes = self._mbi_changes.setdefault(bene.index, [])
            before = changes[-1][1] if changes else _first_mbis(bene)
            mbis = (_mbi(rng), *before)
            changes.append((step, mbis))
        return [Revision("Patient", bene.bene_id, _moment(rng, previous, load), rng.getrandbits(32), mbis=mbis)]

    # ---- the truth
    def truth(self, exports: list[ExportWindow]) -> dict[str, FamilyTruth]:
        """Every claim family as the given exports showed it, by claim group id: each version's state
        is its latest revision any export returned (later exports win), the family's current version
        and status follow CMS's rules, the MBI is the latest one an export showed for the patient.

        Made from the emulator's own data and the exports' parameters (which revisions fell in which
        window), independently of how a client stores or resolves what it received. A claim nobody
        exported (a newcomer's history before `_since` on AB2D, a claim a deleting server created and
        cancelled between two exports) is not in it: no client could know it."""
        versions: dict[tuple[int, str], Revision] = {}
        mbis: dict[int, tuple[str, ...]] = {}
        by_index = {bene.index: bene for bene in self.beneficiaries}
        for export in sorted(exports, key=lambda e: e.step):
            until = self.load_times[export.step]
            for index in sorted(export.members):
                bene = by_index[index]
                for revision in self.view(bene, "ExplanationOfBenefit", until, export.since):
                    unseen = export.since is None or (index, revision.id) not in versions
                    deletion = export.drops_cancelled and revision.status == "cancelled"
                    if deletion and unseen:
                        # a full export of a deleting server neither holds nor lists it; a _since export
                        # lists only its id under deleted[], which names no claim family unless an
                        # earlier export showed that version
                        continue
                    if "ExplanationOfBenefit" in export.failed_types and not deletion:
                        continue  # its output files failed; deleted[] is no output and still came
                    versions[(index, revision.id)] = revision  # a cancellation: a record, or a deletion
                    if export.mbis_on_claims:
                        mbis[index] = self.mbis(bene, export.step)
                if "Patient" in export.failed_types:
                    continue
                for revision in self.view(bene, "Patient", until, export.since):
                    mbis[index] = revision.mbis or _first_mbis(bene)
        families: dict[str, list[tuple[int, Revision]]] = {}
        for (index, _), revision in versions.items():
            families.setdefault(revision.group_id, []).append((index, revision))
        truth = {}
        for group, members in families.items():
            known = [revision for _, revision in members]
            active = [v for v in known if v.status == "active"]
            current = max(active or known, key=lambda v: (v.last_updated, int(v.clm_id)))
            index = members[0][0]
            truth[group] = FamilyTruth(
                claim_id=current.clm_id,
                status="active" if active else "cancelled",
                versions=len(known),
                claim_type=current.claim_type.upper(),
                patient=by_index[index].bene_id,
                # a server that exports only what changed since _since never sends the Patient of a
                # member attributed later whose record is older: no client could know their MBI
                mbi=mbis[index][0] if index in mbis else None,
            )
        return truth


@dataclass(frozen=True, slots=True)
class ExportWindow:
    """One export as the truth needs it: the data load it read, its `_since`, whose data it held."""

    step: int
    since: datetime | None
    members: frozenset[int]  # beneficiary indexes
    mbis_on_claims: bool = False  # AB2D: the MBIs travel on the EOBs (as of the export)
    drops_cancelled: bool = False  # a server that deletes cancelled claims (the smart flavour)
    #: types whose every output file failed (listed under error[] instead: a partial export)
    failed_types: frozenset[str] = frozenset()


class _Ids:
    """Claim ids and claim group ids of one beneficiary: random digits after the beneficiary's index, so
    that no two beneficiaries share one, and never one this beneficiary already has (BFD's are unique:
    the soak found two beneficiaries' families merged under one random group id)."""

    def __init__(self, owner: int, history: list[Revision]) -> None:
        self._owner = owner
        self._taken = {r.group_id for r in history} | {r.clm_id for r in history}

    def draw(self, rng: random.Random, digits: int) -> str:
        while True:
            value = str(self._owner * 10**digits + rng.randrange(10 ** (digits - 1), 10**digits))
            if value not in self._taken:
                self._taken.add(value)
                return value


def _first_mbis(bene: Beneficiary) -> tuple[str, ...]:
    return (bene.mbi, bene.historic_mbi) if bene.historic_mbi else (bene.mbi,)


def _latest(history: list[Revision], resource_type: str) -> dict[str, Revision]:
    """Each resource's latest revision (by lastUpdated; a later one in the list wins a tie)."""
    latest: dict[str, Revision] = {}
    for revision in history:
        if revision.resource_type == resource_type:
            held = latest.get(revision.id)
            if held is None or held.last_updated <= revision.last_updated:
                latest[revision.id] = revision
    return latest


def replace_loaded(revision: Revision, loaded: datetime, status: str | None = None) -> Revision:
    return Revision(
        revision.resource_type,
        revision.id,
        loaded,
        revision.key,
        status or revision.status,
        revision.claim_type,
        revision.clm_id,
        revision.group_id,
        revision.service_date,
    )
