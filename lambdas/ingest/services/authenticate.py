"""Authenticate: prove the source's credentials work before anything is asked of the server."""

from __future__ import annotations

from typing import Any

from ingest.payloads import RunContext
from ingest.timeutil import utc_iso
from ingest.wiring import Deps


def authenticate(deps: Deps, state: dict[str, Any]) -> dict[str, Any]:
    run = RunContext.from_state(state)
    client = deps.clients.client_for(deps.settings.source(run.source))
    # Only the expiry leaves this function: the token stays inside the container's client.
    return {"expires_at": utc_iso(client.authenticate())}
