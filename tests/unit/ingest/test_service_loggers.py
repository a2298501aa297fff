"""In Lambda, the services' and the client's own loggers (created after Powertools is set up, since
every handler imports ``ingest.observability`` first) log JSON at INFO like the handlers' logger.
Before, Powertools configured only loggers that already existed: their records reached the runtime's
root logger at WARNING, so every INFO line was lost and the others were plain text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parents[3] / "lambdas"

_IN_A_FRESH_INTERPRETER = """
import logging
import ingest.handlers.download_file  # what Lambda imports: the handler module, first
logging.getLogger("ingest.services.download_file").info("landed", extra={"index": 3})
logging.getLogger("bulkfhir.tokens").warning("token endpoint busy")
"""


def test_a_handlers_services_log_json_at_info():
    done = subprocess.run(
        [sys.executable, "-c", _IN_A_FRESH_INTERPRETER],
        cwd=LAMBDAS, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["level"], line["message"], line["name"]) for line in lines] == [
        ("INFO", "landed", "ingest.services.download_file"),
        ("WARNING", "token endpoint busy", "bulkfhir.tokens"),
    ]
    assert lines[0]["index"] == 3 and lines[0]["service"] == "bulk-fhir-ingest"
