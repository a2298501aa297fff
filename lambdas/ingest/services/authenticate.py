"""Authenticate: prove the source's credentials work before anything is asked of the server."""

from __future__ import annotations

import logging
import math
from typing import Any

from bulkfhir import TransientError
from ingest.payloads import RunContext
from ingest.timeutil import utc_iso
from ingest.wiring import Deps

logger = logging.getLogger(__name__)

#: Waits the token endpoint may ask for (Retry-After) before the run gives up.
MAX_TOKEN_WAITS = 4
MAX_WAIT_SECONDS = 3600


def authenticate(deps: Deps, state: dict[str, Any]) -> dict[str, Any]:
    run = RunContext.from_state(state)
    previous = state.get("auth")
    waits = int(previous.get("waits") or 0) if isinstance(previous, dict) else 0
    client = deps.clients.client_for(deps.settings.source(run.source))
    try:
        expires_at = client.authenticate()
    except TransientError as error:
        if error.retry_after is None or waits >= MAX_TOKEN_WAITS:
            raise
        # BCDA's token endpoint (SSAS) answers a burst with 429 and Retry-After: 300: the task retry's
        # 5-40 s back-off would spend itself inside that window. Wait as asked, in the state machine.
        wait = math.ceil(min(MAX_WAIT_SECONDS, max(5.0, error.retry_after)))
        logger.warning("the token endpoint asked to wait", extra={"wait": wait, "status": error.status})
        return {"status": "wait", "wait_seconds": wait, "waits": waits + 1}
    # Only the expiry leaves this function: the token stays inside the container's client.
    return {"status": "ok", "expires_at": utc_iso(expires_at), "waits": waits}
