"""The synthesized template, cached by everything that produces it.

Synthesis costs seconds of CPU and a Node process; the template only changes when the code or
the configuration that produce it change. The key hashes:

- the configuration (``"bulk-fhir-ingest"`` context) the template is synthesized from;
- ``infra/`` and ``app.py``, and how the runner synthesizes (``local/runner/synth.py``);
- ``lambdas/`` as the code asset sees it (everything but ``__pycache__`` and ``*.pyc``): the
  asset's hash is part of the template;
- the versions of aws-cdk-lib, constructs, cdk-nag and jsii.

Templates live in ``$XDG_CACHE_HOME/bulk-fhir-ingest/templates/`` (``~/.cache/...`` without it),
one file per key; the least recently used beyond :data:`KEEP` are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import infra

#: Where ``infra/``, ``app.py`` and ``lambdas/`` are.
CODE_ROOT = Path(infra.__file__).resolve().parent.parent
#: Bumped when what is stored changes shape.
FORMAT = "1"
KEEP = 16
_DISTRIBUTIONS = ("aws-cdk-lib", "constructs", "cdk-nag", "jsii")
_SKIPPED_PARTS = ("__pycache__",)

Synthesizer = Callable[[dict[str, Any]], dict[str, Any]]


def cache_directory(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bulk-fhir-ingest" / "templates"


def _source_files(root: Path) -> Iterator[Path]:
    yield root / "app.py"
    yield root / "local" / "runner" / "synth.py"
    yield from sorted((root / "infra").rglob("*.py"))
    for path in sorted((root / "lambdas").rglob("*")):
        if path.is_file() and path.suffix != ".pyc" and not set(_SKIPPED_PARTS) & set(path.parts):
            yield path


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def template_key(config: Mapping[str, Any], root: Path = CODE_ROOT) -> str:
    """The cache key of the template this configuration and this code synthesize to."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT, "config": config}, sort_keys=True).encode())
    for distribution in _DISTRIBUTIONS:
        digest.update(f"\0{distribution}=={_version(distribution)}".encode())
    for path in _source_files(root):
        if path.is_file():
            digest.update(f"\0{path.relative_to(root).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    views_folder = (config.get("catalog") or {}).get("views_folder")
    if views_folder:  # the user's views shape the template too (their tables, the files curated)
        for path in sorted(Path(views_folder).glob("*.json")):
            digest.update(f"\0views/{path.name}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


@dataclass
class CachedTemplate:
    template: dict[str, Any]
    key: str
    #: True when it was synthesized now (and stored for the next run)
    synthesized: bool


def cached_template(
    config: dict[str, Any], synthesize: Synthesizer, directory: Path | None = None, root: Path = CODE_ROOT
) -> CachedTemplate:
    """The template for ``config``: from the cache, or from ``synthesize(config)`` (then stored)."""
    directory = directory or cache_directory()
    key = template_key(config, root)
    path = directory / f"{key}.json"
    with contextlib.suppress(OSError, ValueError):
        template = json.loads(path.read_text())
        os.utime(path)  # recently used
        return CachedTemplate(template, key, synthesized=False)
    template = synthesize(config)
    _store(directory, path, template)
    return CachedTemplate(template, key, synthesized=True)


def _store(directory: Path, path: Path, template: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a run that reads the cache never sees half a template.
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False) as partial:
        json.dump(template, partial)
    os.replace(partial.name, path)
    stored = sorted(directory.glob("*.json"), key=_last_used, reverse=True)
    for old in stored[KEEP:]:
        old.unlink(missing_ok=True)


def _last_used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another run
        return 0.0
