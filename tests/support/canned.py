"""A requests transport that answers from a script, for hosts a test cannot run a server on.

The client talks to ``https://bulk.example.org`` as it would in production (no loopback
allowances); bodies are streamed lazily, so a test can send "four gigabytes" and count how much of
it the client actually read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import requests
from requests.adapters import BaseAdapter
from urllib3 import HTTPResponse


class EndlessBody(io.RawIOBase):
    """``size`` bytes of ``fill``, produced on demand; ``read_bytes`` says how many were taken."""

    def __init__(self, size: int, fill: bytes = b"x") -> None:
        self.size = size
        self.fill = fill
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.size - self.read_bytes)
        buffer[:count] = (self.fill * (count // len(self.fill) + 1))[:count]
        self.read_bytes += count
        return count


@dataclass
class Canned:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | io.RawIOBase = b""


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | str | None


class CannedTransport(BaseAdapter):
    """``transport.answer("GET", "https://host/path", Canned(...), ...)``: replies in turn (the last repeats)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []
        self._routes: dict[tuple[str, str], list[Canned | Callable[[Sent], Canned]]] = {}

    def answer(self, method: str, url: str, *replies: Canned | Callable[[Sent], Canned]) -> None:
        self._routes[(method, url)] = list(replies)

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
        url = str(request.url)
        sent = Sent(str(request.method), url, dict(request.headers), request.body)
        self.sent.append(sent)
        replies = self._routes.get((sent.method, url.split("?", 1)[0]))
        if not replies:
            reply = Canned(404, {"Content-Type": "text/plain"}, b"Not Found")
        else:
            item = replies.pop(0) if len(replies) > 1 else replies[0]
            reply = item(sent) if callable(item) else item
        body = reply.body if isinstance(reply.body, io.RawIOBase) else io.BytesIO(reply.body)
        raw = HTTPResponse(body=body, headers=reply.headers, status=reply.status, preload_content=False)
        response = requests.Response()
        response.status_code = reply.status
        response.headers = requests.structures.CaseInsensitiveDict(reply.headers)
        response.raw = raw
        response.url = url
        response.request = request
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        return response

    def close(self) -> None:
        pass


def session_with(transport: CannedTransport, prefixes: Iterable[str] = ("https://",)) -> requests.Session:
    session = requests.Session()
    for prefix in prefixes:
        session.mount(prefix, transport)
    return session
