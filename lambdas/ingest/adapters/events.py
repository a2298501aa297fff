"""EventBridge: ExportLanded / ExportFailed on the configured bus."""

from __future__ import annotations

import json
from typing import Any

from bulkfhir import TransientError

EVENT_SOURCE = "bulk-fhir-ingest"


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        response = self._client.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, default=str),
                    "EventBusName": self._bus,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise TransientError(
                f"EventBridge did not accept the {detail_type} event: "
                f"{entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )
