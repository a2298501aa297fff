"""The claims summary line of `bulk-ingest local-run`, computed in a child process.

DuckDB is loaded only here: the local run's own process stays as light as the client it imitates,
and it learns the line (or why there is none) from the child's standard output.

    python -m local.claims.summary <root holding curated/> <source>
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: A summary is a handful of small queries; a child that takes this long is stuck, not slow.
_TIMEOUT_SECONDS = 600


def summary_line(root: Path, source: str) -> str:
    """ "claims: N versions seen ..." for ``source``'s curated data under ``root``, or why there is none."""
    if not (root / "curated").is_dir():
        return "claims: none curated"
    done = subprocess.run(  # noqa: S603 - this interpreter, this module, our arguments
        [sys.executable, "-m", "local.claims.summary", str(root), source],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"claims: not summarised ({last[:200]})"
    return done.stdout.strip()


def main(argv: list[str]) -> int:
    from local.claims.query import ClaimsDatabase, NoCuratedDataError  # noqa: PLC0415 - duckdb in the child only

    root, source = Path(argv[0]), argv[1]
    try:
        database = ClaimsDatabase(root)
    except NoCuratedDataError:
        print("claims: none curated")
        return 0
    if source not in database.sources():
        print("claims: none curated for this source (no row, no reject, no deletion)")
        return 0
    print(database.summary(source).line())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
