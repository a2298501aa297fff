"""The SQL on FHIR view tables of a deployment, as data: asked of the views engine itself
(``python -m views.catalog``, in a child process: ``infra`` imports nothing of ``lambdas``), so the
default views and the user's folder (cdk.json ``catalog.views_folder``) are checked by the engine
the curation runs, and an invalid view fails synthesis with its one-line message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from infra.config import CONTEXT_KEY, ConfigError

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
#: where the Lambdas find the user's views: the stack's layer of them (Lambda extracts layers to /opt)
USER_VIEWS_MOUNT = "/opt/views"


def user_views_folder(folder: str | None) -> Path | None:
    """cdk.json's folder, relative to the directory synthesis runs in (the app's)."""
    return Path(folder).expanduser().resolve() if folder else None


def _fingerprint(folder: Path | None) -> tuple[tuple[str, int, int], ...]:
    if folder is None or not folder.is_dir():
        return ()
    return tuple((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in sorted(folder.glob("*.json")))


def load_view_catalog(folder: str | None) -> dict[str, Any]:
    """``views.catalog.describe`` of the default views and the user's folder."""
    path = user_views_folder(folder)
    return _load(str(path) if path else None, _fingerprint(path))


@lru_cache(maxsize=8)
def _load(folder: str | None, fingerprint: tuple[tuple[str, int, int], ...]) -> dict[str, Any]:
    command = [sys.executable, "-m", "views.catalog", *(["--user-views", folder] if folder else [])]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(LAMBDAS_DIR), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)  # noqa: S603
    if done.returncode != 0:
        problem = (done.stderr.strip().splitlines() or ["the views engine failed"])[-1]
        raise ConfigError(f"{CONTEXT_KEY}.catalog.views_folder: {problem}")
    catalog: dict[str, Any] = json.loads(done.stdout)
    return catalog
