"""The Lambda bundle (one code asset for every function): what `claims` imports beyond the standard
library is pinned in lambdas/requirements.txt at the versions of constraints.txt (0.3 MB: orjson),
and the download function never imports it, so its cold start is what it was."""

from __future__ import annotations

import ast
import subprocess
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
            pins[name.split("[")[0].lower().replace("_", "-")] = version
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


def test_claims_needs_only_what_the_bundle_pins() -> None:
    pins = _pins(ROOT / "lambdas" / "requirements.txt")
    assert _third_party_imports() == {"orjson"}
    assert "orjson" in pins
    constraints = _pins(ROOT / "constraints.txt")
    assert {name: constraints[name] for name in pins} == pins


def test_the_download_function_never_loads_the_claims_layer() -> None:
    code = (
        "import sys, ingest.handlers.download_file as h; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('claims', 'orjson')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "lambdas", capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(ROOT / "lambdas"), "POWERTOOLS_TRACE_DISABLED": "true", "PATH": ""},
    )  # fmt: skip
    assert done.stdout.strip() == "[]"
