"""Large EOB files made instantly from a few pre-gzipped members, repeated.

Each member holds about 1 MiB of EOB lines padded with pseudo-random base64 (an extension), so it
compresses poorly and the gzip size stays close to the NDJSON size, like a real download would.
A file of N MB is a list of references to the shared members: no memory per file, any size.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, date, datetime

from local.emulator.claims import eob
from local.emulator.files import Segment, StoredFile, gzip_bytes
from local.emulator.population import Beneficiary, Revision, seeded
from local.emulator.resources import dumps

MEMBER_BYTES = 1 << 20
POOL_SIZE = 4
PADDING_URL = "https://bulk-fhir-ingest.invalid/emulator/padding"


def _member(seed: int, number: int, r4: bool) -> Segment:
    rng = seeded("large", seed, number)
    lines: list[bytes] = []
    size = 0
    while size < MEMBER_BYTES:
        index = len(lines)
        bene = Beneficiary(index, str(-(20_000_000_000_000 + index)), "1S00E00AA66", None, _EPOCH, False, 0)
        clm_id = str(rng.randrange(10**9, 10**10))
        revision = Revision(
            "ExplanationOfBenefit", f"carrier-{clm_id}", _EPOCH, rng.getrandbits(32), "active",
            "carrier", clm_id, str(rng.randrange(10**8, 10**9)), date(2025, 1, 1 + index % 28),
        )  # fmt: skip
        resource = eob(bene, revision, r4)
        # these files are about bytes on the wire: the padding, not the claim, makes them big and
        # incompressible (about 72 % of their NDJSON once gzipped), so the EOB keeps its claim facts only
        for bulky in ("contained", "careTeam", "supportingInfo", "diagnosis", "procedure", "benefitBalance", "total"):
            resource.pop(bulky, None)
        resource["item"] = [{"sequence": 1, "servicedDate": str(revision.service_date)}]
        padding = base64.b64encode(rng.randbytes(24_000)).decode()
        resource["extension"] = [{"url": PADDING_URL, "valueBase64Binary": padding}]
        line = dumps(resource) + b"\n"
        lines.append(line)
        size += len(line)
    raw = b"".join(lines)
    return Segment(gzip_bytes(raw), raw)


_EPOCH = datetime(2025, 6, 1, tzinfo=UTC)


class LargeFiles:
    """Builds the shared member pool once per (seed, FHIR version) and hands out big files."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._pools: dict[bool, list[Segment]] = {}

    def pool(self, r4: bool) -> list[Segment]:
        if r4 not in self._pools:
            self._pools[r4] = [_member(self.seed, number, r4) for number in range(POOL_SIZE)]
        return self._pools[r4]

    def file(self, name: str, megabytes: float, r4: bool, offset: int = 0) -> StoredFile:
        """A file of about `megabytes` MB of NDJSON; `offset` varies which member starts it."""

        def build() -> tuple[list[Segment], int]:
            pool = self.pool(r4)
            count = max(1, math.ceil(megabytes * (1 << 20) / len(pool[0].raw or b"")))
            segments = [pool[(offset + i) % len(pool)] for i in range(count)]
            lines = sum((segment.raw or b"").count(b"\n") for segment in segments)
            return segments, lines

        return StoredFile(name, build)
