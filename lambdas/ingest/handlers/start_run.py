from __future__ import annotations

from typing import Any

from ingest.observability import entrypoint, logger
from ingest.services.start_run import start_run
from ingest.wiring import container


@entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The state machine may wrap the input as {"input": ..., "execution": $$.Execution.Id}.
    state = event.get("input", event) if isinstance(event.get("input"), dict) else event
    execution = str(event.get("execution") or getattr(context, "aws_request_id", "unknown"))
    run = start_run(container(), state, execution)
    logger.append_keys(run_id=run.run_id, source=run.source)
    logger.info("run started", extra={"scope": run.scope, "since": run.since, "resumed": bool(run.resume_job_url)})
    # The whole state from here on: the raw input is gone, only its validated copy ($.run.input) stays.
    return {"run": run.to_state()}
