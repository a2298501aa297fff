"""Which files a finished job has, named and split the way each server does it.

BCDA: one file per (resource type, beneficiary batch) (EOB 50, Patient 5000, Coverage/Claim/
ClaimResponse 4000), named `<uuid>.ndjson`, empty batches dropped, errors in `<uuid>-error.ndjson`,
built lazily per file. AB2D: EOB only, `Z1001_0001.ndjson` rolling over at a size. SMART: one file
per type per N resources. AB2D and SMART files are built at completion (their manifests carry
checksums and counts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from local.emulator.config import EmulatorConfig
from local.emulator.files import Segment, StoredFile, gzip_bytes
from local.emulator.jobs import Job
from local.emulator.large import LargeFiles
from local.emulator.population import Beneficiary, Population, seeded
from local.emulator.render import render
from local.emulator.resources import deletion_bundle, dumps, error_outcome

BCDA_BATCH = {"ExplanationOfBenefit": 50, "Patient": 5000, "Coverage": 4000, "Claim": 4000, "ClaimResponse": 4000}
PARTIAL = ("Claim", "ClaimResponse")
EAGER_LIMIT = 5000  # up to this many beneficiaries, drop empty batches even without _since
V3_WARNING = "Default System-Type behavior includes only claims from NCH and DDPS in this export."


@dataclass(frozen=True)
class Planned:
    kind: str  # "output" | "error" | "deleted"
    type: str
    stored: StoredFile


class Exporter:
    """Plans and builds the files of finished jobs."""

    def __init__(self, population: Population, config: EmulatorConfig) -> None:
        self.population = population
        self.config = config
        self.large = LargeFiles(config.seed)

    # ---- helpers
    def _uuid(self, *parts: object) -> str:
        return str(uuid.UUID(int=seeded("file", self.config.seed, *parts).getrandbits(128), version=4))

    def _since_for(self, job: Job) -> Callable[[Beneficiary], datetime | None]:
        def since(bene: Beneficiary) -> datetime | None:
            # BCDA Group/all: beneficiaries first attributed after _since get their full history
            if job.since is not None and job.group == "all" and bene.attributed_at > job.since:
                return None
            return job.since

        return since

    def _lines(
        self,
        benes: list[Beneficiary],
        kind: str,
        until: datetime,
        since: Callable[[Beneficiary], datetime | None],
        r4: bool,
        tags: bool = False,
        mbi_extension: bool = False,
    ) -> list[bytes]:
        step = self.population.load_times.index(until) if until in self.population.load_times else None
        return [
            render(bene, revision, r4, tags, mbi_extension, self._mbis(bene, step) if mbi_extension else ())
            for bene in benes
            for revision in self.population.view(bene, kind, until, since(bene))
        ]

    def _mbis(self, bene: Beneficiary, step: int | None) -> tuple[str, ...]:
        """The MBIs an export as of data load ``step`` reports (the latest load when unknown)."""
        return self.population.mbis(bene, len(self.population.load_times) - 1 if step is None else step)

    def _count(
        self, benes: list[Beneficiary], kind: str, until: datetime, since: Callable[..., datetime | None]
    ) -> int:
        return sum(len(self.population.view(bene, kind, until, since(bene))) for bene in benes)

    def _failed(self, benes: list[Beneficiary], salt: object) -> list[Beneficiary]:
        """A deterministic few beneficiaries whose retrieval "fails" (they go to the error file)."""
        if not self.config.error_files or len(benes) < 20:
            return []
        rng = seeded("errors", self.config.seed, salt)
        return rng.sample(benes, max(1, len(benes) // 50))

    def _large(self, names: list[str], r4: bool) -> list[Planned]:
        return [
            Planned("output", "ExplanationOfBenefit", self.large.file(name, self.config.file_mb, r4, offset))
            for offset, name in enumerate(names)
        ]

    # ---- BCDA
    def bcda(self, job: Job) -> list[Planned]:
        r4, tags = job.version != "v1", job.version == "v3"
        members = self.population.group("runout" if job.group == "runout" else "all", job.data_step)
        load = self.population.load_times[job.data_step]
        since = self._since_for(job)
        eager = job.since is not None or len(members) <= EAGER_LIMIT
        outputs: list[Planned] = []
        errors: list[Planned] = []
        for kind in job.types:
            if kind == "ExplanationOfBenefit" and self.config.has("large-files"):
                count = self.config.large_file_count
                outputs += self._large([f"{self._uuid(job.id, kind, n)}.ndjson" for n in range(count)], r4)
                continue
            until = job.created_at if kind in PARTIAL else load
            size = BCDA_BATCH.get(kind, 4000)
            for number, start in enumerate(range(0, len(members), size)):
                batch = members[start : start + size]
                failed = self._failed(batch, (kind, number)) if kind == "ExplanationOfBenefit" else []
                batch = [bene for bene in batch if bene not in failed]
                if (eager or kind in PARTIAL) and self._count(batch, kind, until, since) == 0:
                    continue  # BCDA drops empty batches ("blank.ndjson")
                name = self._uuid(job.id, kind, number)

                def build(batch: list[Beneficiary] = batch, kind: str = kind, until: datetime = until) -> list[bytes]:
                    return self._lines(batch, kind, until, since, r4, tags)

                outputs.append(Planned("output", kind, StoredFile.from_lines(f"{name}.ndjson", build)))
                if failed:
                    lines = [error_outcome(kind, bene, "A9994") for bene in failed]
                    errors.append(Planned("error", "OperationOutcome", _eager(f"{name}-error.ndjson", lines)))
        if tags and "ExplanationOfBenefit" in job.types and "SharedSystem" not in (job.type_filter or ""):
            warning = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "warning",
                        "code": "processing",
                        "diagnostics": V3_WARNING,
                        "details": {"text": V3_WARNING},
                    }
                ],
            }
            stored = _eager("warnings-and-info.ndjson", [dumps(warning)])
            stored.gzip_on_disk = False  # BCDA writes this one uncompressed
            errors.append(Planned("error", "OperationOutcome", stored))
        return outputs + errors

    # ---- AB2D
    def ab2d(self, job: Job) -> list[Planned]:
        r4 = job.version != "v1"
        contract = self.config.ab2d_contract
        members = self.population.group("all", job.data_step)
        until = job.until or self.population.load_times[job.data_step]
        failed = self._failed(members, "ab2d")
        names = (f"{contract}_{n:04d}.ndjson" for n in range(1, 10_000))
        if self.config.has("large-files"):
            outputs = self._large([next(names) for _ in range(self.config.large_file_count)], r4)
        else:
            limit = int(self.config.ab2d_rollover_mb * (1 << 20))
            outputs, lines, size = [], [], 0
            for bene in members:
                if bene in failed:
                    continue
                for line in self._lines([bene], "ExplanationOfBenefit", until, lambda _: job.since, r4, False, True):
                    lines.append(line)
                    size += len(line) + 1
                    if size >= limit:
                        outputs.append(Planned("output", "ExplanationOfBenefit", _eager(next(names), lines)))
                        lines, size = [], 0
            if lines:
                outputs.append(Planned("output", "ExplanationOfBenefit", _eager(next(names), lines)))
        errors = []
        if failed:
            lines = [error_outcome("ExplanationOfBenefit", bene, contract) for bene in failed]
            errors.append(Planned("error", "OperationOutcome", _eager(f"{contract}_0001_error.ndjson", lines)))
        return outputs + errors

    # ---- SMART
    def smart(self, job: Job, members: list[Beneficiary]) -> list[Planned]:
        until = self.population.load_times[job.data_step]
        failed = self._failed(members, "smart")
        kept = [bene for bene in members if bene not in failed]
        outputs: list[Planned] = []
        for kind in job.types:
            if kind == "ExplanationOfBenefit" and self.config.has("large-files"):
                count = self.config.large_file_count
                outputs += self._large([f"{job.id}-{n}.explanationofbenefit.ndjson" for n in range(count)], True)
                continue
            # Unlike BFD, which keeps a cancelled claim marked "cancelled", this server deletes it:
            # its exports hold no cancelled ExplanationOfBenefit, and one with _since lists those
            # cancelled after it under deleted[] (Bulk Data: transaction Bundles of DELETE entries).
            lines = [
                render(bene, revision, True)
                for bene in kept
                for revision in self.population.view(bene, kind, until, job.since)
                if revision.status != "cancelled"
            ]
            step = self.config.smart_resources_per_file
            for seq, start in enumerate(range(0, len(lines), step)):
                name = f"{job.id}-{seq}.{kind.lower()}.ndjson"
                outputs.append(Planned("output", kind, _eager(name, lines[start : start + step])))
        errors = []
        if failed:
            lines = [error_outcome("ExplanationOfBenefit", bene, "roster") for bene in failed]
            errors.append(Planned("error", "OperationOutcome", _eager(f"{job.id}-0.operationoutcome.ndjson", lines)))
        return outputs + errors + self._smart_deleted(job, kept, until)

    def _smart_deleted(self, job: Job, members: list[Beneficiary], until: datetime) -> list[Planned]:
        if job.since is None or "ExplanationOfBenefit" not in job.types:
            return []  # the spec reports deletions only to a request with _since
        lines = [
            deletion_bundle("ExplanationOfBenefit", revision.id)
            for bene in members
            for revision in self.population.view(bene, "ExplanationOfBenefit", until, job.since)
            if revision.status == "cancelled"
        ]
        return [Planned("deleted", "Bundle", _eager(f"{job.id}-0.deleted.bundle.ndjson", lines))] if lines else []


def _eager(name: str, lines: list[bytes]) -> StoredFile:
    """A file built now from its lines."""
    segments = [Segment(gzip_bytes(b"".join(line + b"\n" for line in lines)))]
    return StoredFile(name, lambda: (segments, len(lines)))
