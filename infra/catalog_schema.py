"""What the Glue catalog holds, as data: the claims tables and views of ``lambdas/claims/sql/schema.json``
(read by path: ``infra`` never imports the Lambda code), the raw landed tables, and the text Athena
stores for a view. No CDK import, so tests can decode what the template holds with the same rules.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra.config import SourceConfig

SQL_DIR = Path(__file__).resolve().parent.parent / "lambdas" / "claims" / "sql"
SCHEMA_FILE = SQL_DIR / "schema.json"
#: What a source that asks for every type (``"types": []``) may land: the CMS claims types (BCDA,
#: AB2D) and BCDA v2's partially adjudicated claims. Types a source names are added to these.
USUAL_TYPES = ("Patient", "Coverage", "ExplanationOfBenefit", "Claim", "ClaimResponse")
RAW_PREFIX = "raw_"
#: The raw table over ``errors/`` (the servers' OperationOutcome files).
RAW_ERRORS_TABLE = RAW_PREFIX + "errors"
#: The raw tables' one column: each NDJSON line, a JSON text for json_extract / json_extract_scalar.
RAW_COLUMN = "resource"
#: Athena's name for the Glue Data Catalog in a Presto view's definition.
ATHENA_CATALOG = "awsdatacatalog"
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
_CAPITAL = re.compile(r"(?<!^)(?=[A-Z])")


def load_schema(schema_file: Path = SCHEMA_FILE) -> dict[str, Any]:
    """schema.json as it is, each view's ``sql`` replaced by the text of its file."""
    document: dict[str, Any] = json.loads(schema_file.read_text(encoding="utf-8"))
    for view in document["views"]:
        view["sql"] = (schema_file.parent / view["sql"]).read_text(encoding="utf-8")
    return document


def key_segment(name: str) -> str:
    """A source name as the landing and the curation write it into keys (ingest.layout, claims.layout)."""
    return _UNSAFE.sub("_", name) or "_"


def raw_types(sources: Iterable[SourceConfig]) -> tuple[str, ...]:
    """The resource types with a raw table: every type a source names, and the usual ones when a
    source asks for all types."""
    sources = tuple(sources)
    types = {kind for source in sources for kind in source.types}
    if any(not source.types for source in sources):
        types.update(USUAL_TYPES)
    return tuple(sorted(types))


def raw_table_name(resource_type: str) -> str:
    """``raw_explanation_of_benefit`` for ExplanationOfBenefit (types are ``[A-Z][A-Za-z]+``)."""
    return RAW_PREFIX + _CAPITAL.sub("_", resource_type).lower()


def presto_view_text(sql: str, database: str, columns: Iterable[dict[str, str]]) -> str:
    """A Glue VIRTUAL_VIEW's ``ViewOriginalText`` as Athena writes it: the view's SQL, the schema
    that resolves its bare table names, and its output columns with their Presto/Trino types."""
    definition = {
        "originalSql": sql,
        "catalog": ATHENA_CATALOG,
        "schema": database,
        "columns": [{"name": column["name"], "type": column["presto_type"]} for column in columns],
    }
    encoded = base64.b64encode(json.dumps(definition).encode("utf-8")).decode("ascii")
    return f"/* Presto View: {encoded} */"
