"""A loopback HTTP server that answers from a script, for protocol-violation tests.

The emulator reproduces what the CMS servers do; this server produces what they must never do
(HTML pages, malformed JSON, missing headers) so the client's error paths see real sockets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: close the socket after sending this many body bytes (simulates a cut connection)
    cut_after: int | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Seen], Reply]


class ScriptedServer:
    """``server.route("GET", "/path", Reply(...), Reply(...))`` answers the replies in turn (the last repeats)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._routes: dict[tuple[str, str], list[Reply | Responder]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                outer.seen.append(seen)
                path = self.path.split("?", 1)[0]
                replies = outer._routes.get((self.command, path)) or outer._routes.get((self.command, "*"))
                if not replies:
                    reply = Reply(404, {"Content-Type": "text/plain"}, b"Not Found")
                else:
                    item = replies.pop(0) if len(replies) > 1 else replies[0]
                    reply = item(seen) if callable(item) else item
                self.send_response_only(reply.status)
                headers = {"Date": self.date_time_string(), "Content-Length": str(len(reply.body)), **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if reply.cut_after is not None:
                    self.wfile.write(reply.body[: reply.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(reply.body)

            do_GET = do_POST = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def route(self, method: str, path: str, *replies: Reply | Responder) -> None:
        self._routes[(method, path)] = list(replies)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
