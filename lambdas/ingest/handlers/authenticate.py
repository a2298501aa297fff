from __future__ import annotations

from typing import Any

from ingest.observability import entrypoint
from ingest.services.authenticate import authenticate
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return authenticate(container(), event)
