from __future__ import annotations

from typing import Any

from ingest.observability import entrypoint
from ingest.services.resolve_claims import resolve_claims
from ingest.wiring import container, snapshot_store


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve_claims(container(), event, snapshot_store())
