from __future__ import annotations

from typing import Any

from ingest.observability import entrypoint, logger
from ingest.services.check_status import check_status
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    poll = check_status(container(), event)
    logger.info("status checked", extra={"state": poll.state, "progress": poll.progress, "wait": poll.wait_seconds})
    return poll.to_state()
