"""HTTP plumbing: request/response values and a threaded HTTP/1.1 listener that writes them.

The listener does exactly what a response says: Content-Length when the body's length is known,
chunked transfer otherwise, `Connection: close` when asked, and a deliberate mid-body disconnect
(`cut_after`) for the drop-connection scenario. Bodies stream in large slices.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    query: str  # raw
    headers: Message
    body: bytes
    listener: str  # "api" | "file-host"
    params: dict[str, list[str]] = field(default_factory=dict)
    received_at: datetime | None = None  # by the emulator's clock

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def origin(self) -> str:
        """Scheme and host as the client addressed us: generated URLs must use them."""
        return f"http://{self.header('Host') or 'localhost'}"

    @property
    def url(self) -> str:
        return f"{self.origin}{self.path}" + (f"?{self.query}" if self.query else "")

    def first(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterable[bytes | memoryview] | None = None  # sent chunked unless content_length is set
    content_length: int | None = None
    cut_after: int | None = None  # close the socket after this many body bytes
    on_complete: Callable[[], None] | None = None  # called once the whole body went out

    def with_header(self, name: str, value: str) -> Response:
        self.headers.append((name, value))
        return self

    def has_header(self, name: str) -> bool:
        return any(key.lower() == name.lower() for key, _ in self.headers)


def json_response(status: int, document: Any, content_type: str = "application/json") -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", content_type)], body)


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, [("Content-Type", content_type)], text.encode())


def empty_response(status: int) -> Response:
    return Response(status)


#: Requests under this path (the emulator's admin endpoints) are never "in flight" for settle().
UNCOUNTED_PREFIX = "/_emulator/"


class _Cut(Exception):
    """The response was deliberately cut: close the connection."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Listener

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read emu.requests()
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def _serve(self) -> None:
        # The steering endpoints are not the traffic under test: `GET /_emulator/requests` settles the
        # listener, and counted it would wait for itself until the timeout.
        if self.path.startswith(UNCOUNTED_PREFIX):
            self._answer()
            return
        with self.server.busy:
            self.server.in_flight += 1
        try:
            self._answer()
        finally:
            with self.server.busy:
                self.server.in_flight -= 1
                self.server.busy.notify_all()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(split.path),
            query=split.query,
            headers=self.headers,
            body=body,
            listener=self.server.name,
            params=parse_qs(split.query, keep_blank_values=True),
            received_at=self.server.clock(),
        )
        try:
            response = self.server.app(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = text_response(500, "emulator error\n")
        sent = 0
        try:
            sent = self._send(response, head=self.command == "HEAD")
        except _Cut as cut:
            sent = int(str(cut))
            self.close_connection = True
            self._hard_close()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        self.server.record(request, response.status, sent)

    def _hard_close(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, response: Response, head: bool) -> int:
        chunked = self._send_head(response, head)
        if head:
            return 0
        return self._send_body(response, chunked)

    def _send_head(self, response: Response, head: bool) -> bool:
        """Status line and headers; True when the body goes chunked."""
        self.send_response_only(response.status)
        # The emulator's clock, not the machine's: tests move it forward instead of sleeping.
        self.send_header("Date", format_datetime(self.server.clock(), usegmt=True))
        chunked = response.stream is not None and response.content_length is None
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
        elif response.content_length is not None:
            self.send_header("Content-Length", str(response.content_length))
        elif not head:
            self.send_header("Transfer-Encoding", "chunked")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        return chunked

    def _send_body(self, response: Response, chunked: bool) -> int:
        pieces: Iterable[bytes | memoryview] = [response.body] if response.stream is None else response.stream
        sent = 0
        limit = response.cut_after
        write = self.wfile.write
        for piece in pieces:
            if not piece:
                continue
            if limit is not None and sent + len(piece) >= limit:
                piece = memoryview(piece)[: limit - sent]  # noqa: PLW2901
                if chunked:
                    write(b"%x\r\n" % len(piece))
                write(piece)
                raise _Cut(str(limit))
            if chunked:
                write(b"%x\r\n" % len(piece))
                write(piece)
                write(b"\r\n")
            else:
                write(piece)
            sent += len(piece)
        # before the last-chunk marker, so a client that saw the whole body sees its effect too
        if response.on_complete is not None:
            response.on_complete()
        if chunked:
            write(b"0\r\n\r\n")
        return sent


class Listener(ThreadingHTTPServer):
    """One loopback HTTP listener; `app` answers, `record` is told what was answered."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        host: str,
        port: int,
        name: str,
        app: Callable[[Request], Response],
        record: Callable[[Request, int, int], None],
        clock: Callable[[], datetime],
    ) -> None:
        self.name = name
        self.clock = clock
        self.app = app
        self.record = record
        self.in_flight = 0  # requests being answered right now
        self.busy = threading.Condition()
        super().__init__((host, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client hanging up (or resetting a keep-alive connection) is not our error
        super().handle_error(request, client_address)

    def settle(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until no request is being answered."""
        with self.busy:
            self.busy.wait_for(lambda: self.in_flight == 0, timeout)

    @property
    def port(self) -> int:
        return int(self.server_address[1])
