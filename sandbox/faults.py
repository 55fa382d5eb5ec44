"""Latency and faults, drawn from seeded generators so a run can be repeated.

Each campaign create or update request takes one draw from `random.Random(seed)`; the
kinds share the unit interval in `FAULT_KINDS` order, so each fires with its own
probability and at most one fires. Prospect-list requests (create a list, add to a list)
draw the same way from their own table (`prospect_faults`) and their own generator, so
adding prospects to a run does not change which campaign requests fail. Latency draws
its jitter from a third generator, so turning jitter on does not change which requests
fail.

What a client sees for the two faults that do not answer normally:

- `drop_after`: the change (a campaign, an update, a list or its prospects) is stored,
  the status line and headers go out, then the app raises `SandboxDrop`. Over a socket
  uvicorn closes the connection with the body unsent, and httpx raises
  `httpx.RemoteProtocolError`. In process, `httpx.ASGITransport` passes the exception
  through, and `SandboxDrop` *is* an `httpx.RemoteProtocolError`, so the client code
  under test takes the same path.
- `timeout_after`: the change is stored, then the answer waits `hold_seconds` on the
  injected sleep (or until the client hangs up). Over a socket the client's read timeout
  fires first (`httpx.ReadTimeout`). `ASGITransport` enforces no timeouts, so in process
  the client gets its answer when the sleep returns; a test that wants the timeout
  injects a sleep that raises `httpx.ReadTimeout`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sandbox.config import FAULT_KINDS, FaultTarget, SandboxConfig

Sleep = Callable[[float], Awaitable[None]]

BAD_GATEWAY_HTML: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class SandboxDrop(httpx.RemoteProtocolError):
    """Raised by the sandbox app to drop a connection after the response has started.

    A subclass of `httpx.RemoteProtocolError` so that a client tested in process through
    `httpx.ASGITransport` sees what it would see over a socket.
    """


class DroppedResponse(Response):
    """Sends the status line and headers of `content`, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starting the response first matters: an exception before it makes Starlette
        # and uvicorn answer a tidy 500 instead of dropping the line.
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        raise SandboxDrop("sandbox fault drop_after: connection dropped after storing")


class _Draws:
    """One seeded sequence of draws over one table of fault probabilities."""

    def __init__(self, faults: Mapping[str, float], seed: int | str) -> None:
        self._seed = seed
        self._thresholds: list[tuple[float, str]] = []
        total = 0.0
        for kind in FAULT_KINDS:
            probability = faults.get(kind, 0.0)
            if probability > 0:
                total += probability
                self._thresholds.append((total, kind))
        self.reseed()

    def reseed(self) -> None:
        self._random = random.Random(self._seed)

    def draw(self) -> str | None:
        if not self._thresholds:
            return None
        point = self._random.random()
        for threshold, kind in self._thresholds:
            if point < threshold:
                return kind
        return None


class FaultPlan:
    """The seeded draws of one sandbox: which fault a campaign or prospect-list request
    gets, how late each API request answers."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._draws: dict[FaultTarget, _Draws] = {
            "campaigns": _Draws(config.faults, config.seed),
            "prospects": _Draws(config.prospect_faults, f"{config.seed}/prospects"),
        }
        self.reseed()

    def reseed(self) -> None:
        """Start the draws over, as a fresh sandbox with the same seed would."""
        for draws in self._draws.values():
            draws.reseed()
        self._jitter = random.Random(f"{self._config.seed}/jitter")

    def draw(self, target: FaultTarget = "campaigns") -> str | None:
        """The fault kind for the next request of `target` (campaign creates and updates,
        or list creates and adds), or None."""
        return self._draws[target].draw()

    def delay(self) -> float:
        """Seconds the next API request waits before it is handled."""
        millis = self._config.latency_ms
        if self._config.jitter_ms:
            millis += self._jitter.uniform(0, self._config.jitter_ms)
        return millis / 1000


async def hold(sleep: Sleep, seconds: float, receive: Receive) -> None:
    """Wait `seconds` on `sleep`, or less if the client hangs up first.

    Stopping at the hang-up keeps a held request from outliving its client, so the
    server can shut down promptly. An exception from `sleep` propagates.
    """

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    held = asyncio.ensure_future(sleep(seconds))
    gone = asyncio.ensure_future(until_disconnect())
    try:
        await asyncio.wait((held, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (held, gone):
            task.cancel()
        await asyncio.gather(held, gone, return_exceptions=True)
    if held.done() and not held.cancelled() and held.exception() is not None:
        held.result()
