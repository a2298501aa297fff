"""Loopback-only steering endpoints, for an emulator running as a separate process.

POST /_emulator/clock {"advance_seconds": N} · POST /_emulator/advance-data {"days": N}
GET /_emulator/requests · GET /_emulator/jobs
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from local.emulator.wire import Request, Response, json_response

if TYPE_CHECKING:
    from local.emulator.server import Emulator


def _number(request: Request, key: str) -> float | None:
    try:
        value = json.loads(request.body or b"{}").get(key)
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _clock(emulator: Emulator, request: Request) -> Response:
    seconds = _number(request, "advance_seconds")
    if seconds is None or seconds < 0:
        return json_response(400, {"error": 'expected {"advance_seconds": N} with N >= 0'})
    emulator.clock.advance(seconds)
    return json_response(200, {"now": emulator.clock.now().isoformat()})


def _advance_data(emulator: Emulator, request: Request) -> Response:
    days = _number(request, "days")
    if days is None or days <= 0:
        return json_response(400, {"error": 'expected {"days": N} with N > 0'})
    emulator.advance_data(days)
    return json_response(200, {"now": emulator.clock.now().isoformat()})


def _requests(emulator: Emulator, _request: Request) -> Response:
    records: list[dict[str, Any]] = [
        {**asdict(record), "at": record.at.isoformat() if record.at else None} for record in emulator.requests()
    ]
    return json_response(200, records)


def _jobs(emulator: Emulator, _request: Request) -> Response:
    return json_response(200, emulator.job_dicts())


_ROUTES: dict[tuple[str, str], Callable[[Emulator, Request], Response]] = {
    ("POST", "/_emulator/clock"): _clock,
    ("POST", "/_emulator/advance-data"): _advance_data,
    ("GET", "/_emulator/requests"): _requests,
    ("GET", "/_emulator/jobs"): _jobs,
}


def admin_response(emulator: Emulator, request: Request) -> Response:
    handler = _ROUTES.get((request.method, request.path))
    if handler is None:
        return json_response(404, {"error": f"no admin endpoint {request.method} {request.path}"})
    return handler(emulator, request)
