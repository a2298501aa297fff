"""Checks of the `bulk-ingest` arguments that the commands share, made before any work and before
any heavy import (the CDK, moto): a bad argument is one line and exit 2 at once, never a traceback
after a synthesis or a whole run.

Each check returns the argument's value (normalised) or raises :class:`ArgumentProblem`, whose
message is the line to print.
"""

from __future__ import annotations

import argparse
import re
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

# the configuration's own rule for plain http (infra.config is plain Python: no CDK import)
from infra.config import _is_loopback

# As the state machine's Start run checks them (lambdas/ingest/payloads.py).
_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_TARGET = re.compile(r"^(Patient|system|Group/[A-Za-z0-9\-.]{1,64})$")
#: The export targets each API serves (bulkfhir.profiles; `Group/<id>`: any group id).
TARGETS = {
    "bcda": ("Patient", "Group/all", "Group/runout"),
    "ab2d": ("Patient", "Group/<id>"),
    "smart": ("Patient", "Group/<id>", "system"),
}
#: The configuration's range of download_concurrency (infra/config.py).
MAX_CONCURRENCY = 1000


class ArgumentProblem(Exception):
    """A bad argument: the message says which and what is expected."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (--help lists the options)\n")


def since(value: str, option: str = "--since") -> str:
    if value in ("auto", "none"):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ArgumentProblem(
            f"{option} {value!r}: expected auto (the watermark), none (full history) or an ISO 8601 instant with "
            "a zone, e.g. 2026-01-31T00:00:00Z"
        )
    return value


def export(value: str | None, api: str | None) -> str | None:
    if value is None:
        return None
    served = TARGETS.get(api or "")
    if not _TARGET.match(value):
        raise ArgumentProblem(f"--export {value!r}: expected Patient, Group/all, Group/runout, Group/<id> or system")
    if served is not None:
        group = value.startswith("Group/") and "Group/<id>" in served
        if value not in served and not group:
            raise ArgumentProblem(f"--export {value}: a {api} server exports {', '.join(served)}")
    return value


def types(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    bad = [name for name in names if not _TYPE.match(name)]
    if not names or bad:
        raise ArgumentProblem(
            f"--types {value!r}: expected comma-separated FHIR resource types, e.g. Patient,ExplanationOfBenefit"
        )
    return names


def in_range(option: str, value: float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        expected = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise ArgumentProblem(f"{option} {value:g}: expected {expected}")


def server_url(value: str, option: str = "--base-url") -> str:
    """https, or plain http on this machine only (as the stack's configuration requires)."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ArgumentProblem(f"{option} {value!r}: expected an https:// URL")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ArgumentProblem(f"{option} {value!r}: the port is not a number from 0 to 65535") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ArgumentProblem(f"{option} {value}: use https (plain http only for a server on this machine)")
    return value


def writable_directory(path: Path, option: str) -> None:
    """The directory (or the nearest existing parent that would hold it) takes a new file."""
    probe_dir = path
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise ArgumentProblem(f"{option} {path}: {probe_dir} is a file, not a directory")
    probe = probe_dir / f".bulk-ingest-probe-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ArgumentProblem(
            f"{option} {path} is not writable ({error.strerror}): make it writable or name another"
        ) from None


def fail(command: str, problem: ArgumentProblem) -> int:
    print(f"{command}: {problem}", file=sys.stderr)
    return 2
