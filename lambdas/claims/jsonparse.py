"""The JSON parser of the curation: orjson.

Measured on the emulator's R4 EOB NDJSON (benchmarks/bench_claims_extract.py --patients 2000
--repeat 5, CPU time, one core, 88-95 MB): json parses 93-103 MB/s, orjson 186-247, msgspec
140-179; the whole curation (parse, extract, Parquet) runs 32-36 MB/s with json, 47-53 with
orjson, 46-55 with msgspec. Parsing is a third of the curation's time with json, so a faster
parser is worth its 0.3 MB in the curation bundle; orjson and msgspec are level, and orjson is the
drop-in (bytes in, plain dicts out). It raises orjson.JSONDecodeError (a ValueError) where json
would, and also on integers beyond 64 bits, which FHIR claims do not carry: such a line becomes a
reject.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson


def loads(line: bytes) -> Any:
    return orjson.loads(line)


def content_digest(resource: Mapping[str, Any]) -> int:
    """A 64-bit digest of the resource without ``meta`` (keys sorted, so key order does not count):
    two copies of a claim version with one lastUpdated are duplicates only when their content is
    equal. 64 bits, a signed BIGINT: two different copies of one claim id at one moment collide once
    in 2^64, and engines group a number far cheaper than a hex text (claim_duplicates)."""
    content = {key: value for key, value in resource.items() if key != "meta"}
    digest = hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
