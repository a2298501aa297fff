"""BCDA's response shapes: OperationOutcome per API version, security headers, manifest, Task bundle."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from local.emulator.flavors.common import go_time_string, rfc3339
from local.emulator.jobs import CANCELLED, COMPLETED, FAILED, PENDING, Job
from local.emulator.records import ServedFile
from local.emulator.wire import Response

FHIR_JSON = "application/fhir+json"
# bcda/web/middleware: SecurityHeader + ConnectionClose on every router
SECURITY_HEADERS = (
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload"),
    ("Cache-Control", "no-cache; no-store; must-revalidate; max-age=0"),
    ("Pragma", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
    ("Connection", "close"),
)
_ISSUE_CODE = {400: "structure", 401: "forbidden", 403: "forbidden", 404: "not-found", 410: "not-found"}


def outcome(version: str, diagnostics: str, code: str, severity: str = "error") -> dict[str, Any]:
    """v1: diagnostics only; v2: + details.coding ("Request Error") and text; v3: + details.text."""
    issue: dict[str, Any] = {"severity": severity, "code": code}
    if diagnostics:
        issue["diagnostics"] = diagnostics
    if version == "v2":
        coding = {"system": "http://hl7.org/fhir/ValueSet/operation-outcome", "code": "Request Error"}
        issue["details"] = {"coding": [coding | {"display": diagnostics}], "text": diagnostics}
    elif version == "v3":
        issue["details"] = {"text": diagnostics}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def error(version: str, status: int, diagnostics: str, code: str | None = None) -> Response:
    document = outcome(version, diagnostics, code or _ISSUE_CODE.get(status, "exception"))
    return Response(status, [("Content-Type", FHIR_JSON)], _dumps(document))


def double_404(version: str, tail: bytes | None = None) -> Response:
    """RequireTokenJobMatch writes a 404 and does not return; the handler writes a second body."""
    first = _dumps(outcome(version, "", "not-found"))
    return Response(404, [("Content-Type", FHIR_JSON)], first + (tail or first))


def manifest(
    job: Job, output: list[ServedFile], errors: list[ServedFile], url: Callable[[ServedFile], str], when: datetime
) -> tuple[dict[str, Any], str]:
    """The 200 body (field order as Go's BulkResponseBody; ``url`` gives a file's URL in this answer,
    ``when`` is its transactionTime) and the Expires header."""
    assert job.completed_at is not None
    body = {
        "transactionTime": rfc3339(when),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [{"type": f.type, "url": url(f)} for f in output],
        "error": [{"type": f.type, "url": url(f)} for f in errors],
        "JobID": int(job.id),
    }
    return body, go_time_string(job.completed_at + timedelta(hours=24))


_TASK_STATUS = {PENDING: "accepted", "In Progress": "in-progress", COMPLETED: "completed", FAILED: "failed"}


def jobs_bundle(jobs: list[Job], origin: str, version: str) -> dict[str, Any]:
    entries = []
    for job in jobs:
        updated = job.updated_at or job.created_at
        entries.append(
            {
                "resource": {
                    "resourceType": "Task",
                    "identifier": [{"use": "official", "system": f"{origin}/api/{version}/jobs", "value": job.id}],
                    "status": _TASK_STATUS.get(job.state, "cancelled" if job.state == CANCELLED else "completed"),
                    "intent": "order",
                    "input": [{"type": {"text": "BULK FHIR Export"}, "valueString": f"GET {job.request_url}"}],
                    "executionPeriod": {
                        "start": job.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "end": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                }
            }
        )
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def capability(origin: str, version: str) -> dict[str, Any]:
    exports = [("patient-export", "Patient/$export"), ("group-export", "Group/[id]/$export")]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-08-21",
        "publisher": "Centers for Medicare & Medicaid Services",
        "kind": "instance",
        "software": {"name": "Beneficiary Claims Data API", "version": "latest"},
        "implementation": {"url": origin},
        "fhirVersion": "3.0.1" if version == "v1" else "4.0.1",
        "format": ["application/json", FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": f"{origin}/auth/token"}],
                        }
                    ],
                    "service": [{"coding": [{"code": "OAuth"}], "text": "OAuth"}],
                },
                "interaction": [{"code": "batch"}, {"code": "search-system"}],
                "operation": [
                    {"name": name, "definition": {"reference": f"{origin}/api/{version}/{path}"}}
                    for name, path in exports
                ],
            }
        ],
    }
