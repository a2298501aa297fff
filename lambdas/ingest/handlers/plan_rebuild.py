from __future__ import annotations

from typing import Any

from ingest.observability import entrypoint
from ingest.services.plan_rebuild import plan_rebuild
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return plan_rebuild(container(), event)
