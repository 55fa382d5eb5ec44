"""The page's gate: what every request must show before the app sees it.

`Guard` wraps the whole app (ASGI middleware) and refuses, before any route runs:

| what                                        | answer |
|---------------------------------------------|--------|
| a Host other than `127.0.0.1:PORT` or `localhost:PORT` (DNS rebinding) | 400 |
| `?token=` that is not the launch token      | 403    |
| no cookie holding the launch token          | 403    |
| a request that changes something (not GET or HEAD) whose Origin is not this page | 403 |
| a body longer than the limit (by Content-Length, or counted as it is read) | 413 |

The right `?token=` sets the cookie (HttpOnly, SameSite=Strict; named after the port, so
that two servers on one machine keep theirs apart) and redirects to the same address
without it, so the token leaves the address bar and the history (to a path on this
page only: `//evil.example/` goes to `/evil.example/`, never to another host). The
page speaks plain HTTP only: a WebSocket is closed before it opens (403), and nothing
but the server's own lifespan passes without a request's checks. The CSRF token that
forms carry is checked where a form is read (`csrf_ok`); a body found too long while it is
read raises `TooLarge`, which the app answers with its 413 page. Every answer gets headers
that keep the page to itself: no framing, no referrer to other sites, nothing loaded from elsewhere
(`Content-Security-Policy`), no caching.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlencode

from starlette.datastructures import URL, Headers, QueryParams
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_PARAMETER: Final = "token"
CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "x-csrf-token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
# Room in a request for the form around an uploaded file (boundaries, the other fields).
FORM_ROOM: Final = 64 * 1024

SECURITY_HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


class TooLarge(Exception):
    """A request body longer than the page accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload is larger than {limit:,} bytes")
        self.limit = limit


def cookie_name(port: int) -> str:
    return f"campaigns-serve-{port}"


def csrf_ok(given: object, expected: str) -> bool:
    """True when a form's (or htmx's header's) CSRF token is the page's."""
    return isinstance(given, str) and secrets.compare_digest(given.encode(), expected.encode())


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


class Guard:
    """The middleware (see the module docstring). `max_body` is the upload limit in bytes."""

    def __init__(self, app: ASGIApp, *, token: str, port: int, max_body: int) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_name(port)
        self.hosts = frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the server itself, not a request
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a WebSocket (or what ASGI adds later): refused
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        send = _with_headers(send)
        connection = HTTPConnection(scope)
        headers = connection.headers
        host = headers.get("host", "")
        if host not in self.hosts:
            await _refuse(
                send,
                400,
                "Wrong address",
                "This page answers only at 127.0.0.1 or localhost and the port "
                "`campaigns serve` printed.",
            )
            return
        given = connection.query_params.get(TOKEN_PARAMETER)
        if given is not None:
            await self._welcome(send, connection.url, connection.query_params, given)
            return
        if not _same(connection.cookies.get(self.cookie, ""), self.token):
            await _refuse(
                send,
                403,
                "Open the link campaigns serve printed",
                "This page needs the secret link that `campaigns serve` printed when it "
                "started (it opens the page in this browser). Open that link again, or "
                "restart `campaigns serve` for a new one.",
            )
            return
        if scope["method"] not in SAFE_METHODS and headers.get("origin") != f"http://{host}":
            await _refuse(
                send,
                403,
                "Refused",
                "This request did not come from this page, so it was not carried out.",
            )
            return
        if not self._fits(headers):
            await _refuse(send, 413, "Too large", too_large_message(self.max_body))
            return
        await self.app(scope, self._counted(receive), send)

    async def _welcome(self, send: Send, url: URL, query: QueryParams, given: str) -> None:
        """The first visit: the token becomes the cookie, and the address loses it."""
        if not _same(given, self.token):
            await _refuse(
                send,
                403,
                "This link is not valid",
                "The secret in this link is not the one of the running `campaigns serve` "
                "(was it restarted?). Open the link it printed last.",
            )
            return
        rest = urlencode([(k, v) for k, v in query.multi_items() if k != TOKEN_PARAMETER])
        # One leading "/": "//host/" would send the browser to another site.
        location = "/" + url.path.lstrip("/") + (f"?{rest}" if rest else "")
        cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1", "replace")),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    def _fits(self, headers: Headers) -> bool:
        length = headers.get("content-length", "")
        return not length.isdigit() or int(length) <= self.max_body + FORM_ROOM

    def _counted(self, receive: Receive) -> Receive:
        """`receive`, raising `TooLarge` once the body passes the limit, before reading on."""
        limit = self.max_body + FORM_ROOM
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise TooLarge(self.max_body)
            return message

        return counted


def too_large_message(limit: int) -> str:
    """What the page says about an upload past the limit."""
    return (
        f"The file is larger than this page accepts ({limit:,} bytes). Split the sheet, "
        "or start `campaigns serve` with a larger --max-bytes."
    )


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", ())}
            extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return sending


async def _refuse(send: Send, status: int, title: str, text: str) -> None:
    """A small page of its own (the app's templates are behind this gate)."""
    body = _REFUSAL.format(title=html.escape(title), text=html.escape(text)).encode()
    headers: Mapping[bytes, bytes] = {
        b"content-type": b"text/html; charset=utf-8",
        b"content-length": str(len(body)).encode(),
    }
    await send({"type": "http.response.start", "status": status, "headers": list(headers.items())})
    await send({"type": "http.response.body", "body": body})


_REFUSAL: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - campaigns</title>
<link rel="icon" href="data:,"></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""
