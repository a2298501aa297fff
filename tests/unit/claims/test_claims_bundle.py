"""The curation function's bundle: what `claims` imports beyond the standard library is exactly
what lambdas/claims/requirements.txt pins, at the versions of constraints.txt, and none of it is
the download functions' (lambdas/requirements.txt)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLAIMS = ROOT / "lambdas" / "claims"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        requirement = raw.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[name.split("[")[0].lower()] = version
    return pins


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for path in CLAIMS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name not in ("claims", "__future__")}


def test_claims_needs_exactly_its_own_pinned_requirements() -> None:
    requirements = _pins(CLAIMS / "requirements.txt")
    assert _third_party_imports() == set(requirements) == {"orjson"}
    constraints = _pins(ROOT / "constraints.txt")
    assert {name: constraints[name] for name in requirements} == requirements


def test_the_download_bundle_and_the_curation_bundle_share_nothing() -> None:
    assert not set(_pins(CLAIMS / "requirements.txt")) & set(_pins(ROOT / "lambdas" / "requirements.txt"))
