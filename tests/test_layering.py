"""The layering rules of docs/architecture.md §1, enforced on the source's import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: what a pure curation package (claims; views, whose Parquet writer is claims') never imports: nothing
#: of AWS, of the download path or of the local tools (the curation runs in its own function)
PURE = {
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "ingest",
    "bulkfhir",
    "infra",
    "local",
    "aws_cdk",
    "requests",
    "duckdb",
    "sqlglot",
    "pyarrow",
}
# package folder -> top-level modules it must never import
FORBIDDEN = {
    "lambdas/bulkfhir": {"boto3", "botocore", "aws_lambda_powertools", "ingest", "claims", "infra", "local", "aws_cdk"},
    "lambdas/ingest": {"infra", "local", "aws_cdk", "cdk_nag", "moto"},
    # the curation runs in its own function: no engine either
    "lambdas/claims": PURE | {"views", "resolve"},
    "lambdas/views": PURE | {"resolve"},
    # the resolution: DuckDB over the bucket's files through a port
    "lambdas/resolve": PURE - {"duckdb", "sqlglot"},
    "infra": {"bulkfhir", "ingest", "claims", "resolve", "views", "local", "lambdas", "boto3", "moto"},
}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_top_levels(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}
