"""The JSON parser of the curation: orjson.

Measured on the emulator's EOB NDJSON (benchmarks/bench_claims_extract.py, CPU time, one core):
the standard library parses about 80-95 MB/s, orjson 150-165 MB/s; the whole curation goes from
about 32-37 MB/s to 41-44 MB/s (parsing is a third of its time with json). orjson adds 388 KB to
the curation bundle. It raises orjson.JSONDecodeError (a ValueError) where json would, and also on
integers beyond 64 bits, which FHIR claims do not carry: such a line becomes a reject.
"""

from __future__ import annotations

from typing import Any

import orjson


def loads(line: bytes) -> Any:
    return orjson.loads(line)
