"""A local run's out/logs/lambda.jsonl holds the services' and the client's own log lines (from INFO,
in the handlers' JSON format), as CloudWatch does in AWS: they went nowhere, or bare to the terminal."""

from __future__ import annotations

import io
import json
import logging

import ingest.observability  # noqa: F401 - configures the services' loggers, as every handler does
from local.runner.world import route_handler_logs


def test_the_services_loggers_write_json_lines_into_the_run_log_while_the_run_lasts():
    stream = io.StringIO()
    restore = route_handler_logs(stream)
    logging.getLogger("ingest.services.check_status").info("export complete", extra={"files": 6})
    logging.getLogger("bulkfhir.tokens").warning("token endpoint busy")
    logging.getLogger("ingest.services.check_status").debug("not kept")
    for handler, previous in restore:
        handler.setStream(previous)
    logging.getLogger("ingest.services.check_status").warning("after the run")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("INFO", "export complete"),
        ("WARNING", "token endpoint busy"),
    ]
    assert lines[0]["files"] == 6
