"""A web server on 127.0.0.1 for the tests that read sheets by URL: each test says what
each path (or path and query) answers (`Reply`), and sees what was asked and sent
(`Served`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# What a signed link carries in its query: never to be shown or written anywhere.
SECRET = "s3cr3t-t0ken"


@dataclass
class Reply:
    """What the test server answers for one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    length: bool = True  # send Content-Length (else the body ends when the connection does)
    endless: bool = False  # keep sending until the client hangs up
    # Seconds between bytes: the body sent one byte at a time (a server that never
    # stalls long enough for a read timeout, and would take ages to finish).
    trickle: float = 0.0


class Served:
    """The test server's routes (path -> Reply), the requests it saw, the bytes it sent."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.replies: dict[str, Reply] = {}
        self.requests: list[str] = []
        self.sent = 0

    def serve(self, path: str, reply: Reply) -> str:
        """Answer `path` with `reply`; its URL, with a secret in the query. A `path` with a
        query of its own (`/export?gid=1`) answers only that query, and is its URL."""
        self.replies[path] = reply
        if "?" in path:
            return f"{self.base}{path}"
        return f"{self.base}{path}?format=xlsx&token={SECRET}"


class _Handler(BaseHTTPRequestHandler):
    served: Served

    def do_GET(self) -> None:
        self.served.requests.append(self.path)
        replies = self.served.replies
        reply = replies.get(self.path) or replies.get(self.path.split("?", 1)[0])
        reply = reply or Reply(404, b"not here")
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.length and not reply.endless:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        try:
            if reply.trickle:
                for byte in reply.body:  # until the client hangs up, or the body ends
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    self.served.sent += 1
                    time.sleep(reply.trickle)
            elif reply.endless:
                chunk = b"x" * 65536
                while self.served.sent < 500_000_000:
                    self.wfile.write(chunk)
                    self.served.sent += len(chunk)
            else:
                self.wfile.write(reply.body)
                self.served.sent += len(reply.body)
        except OSError:  # the client hung up (as it should, past --max-bytes)
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Served]:
    """A threaded HTTP server on 127.0.0.1, for this test only."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    served = Served(httpd.server_address[1])
    httpd.RequestHandlerClass = type("Handler", (_Handler,), {"served": served})
    # shutdown() waits for serve_forever to look again: every 10 ms, not its default 0.5 s.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
