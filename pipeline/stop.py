"""One signal for "stop this run": why, the HTTP status behind it, and whether a person
interrupted it; and a sleep that a stop cuts short.

The first reason given wins: a 401 that arrives after Ctrl-C does not rename the stop.
Requests already in flight finish; nothing new starts once `Stop` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

INTERRUPTED = "interrupted (Ctrl-C)"


class Stop:
    """Set once, by a 401/403, the circuit breaker, an unexpected error, or Ctrl-C."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._sleep = sleep
        self._event = asyncio.Event()
        self.reason = ""
        self.http_status: int | None = None
        self.interrupted = False

    def __bool__(self) -> bool:
        return bool(self.reason)

    def set(self, reason: str, http_status: int | None = None) -> None:
        """Stop the run for `reason` (kept only if it is the first)."""
        if not self.reason:
            self.reason = reason
            self.http_status = http_status
            self._event.set()

    def interrupt(self) -> None:
        """A person asked to stop (Ctrl-C, SIGTERM)."""
        self.interrupted = True
        self.set(INTERRUPTED)

    async def nap(self, seconds: float) -> None:
        """Sleep `seconds`, but wake at once when the run stops (a pause can be long)."""
        if self._event.is_set():
            return
        napping = asyncio.ensure_future(self._sleep(seconds))
        stopping = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({napping, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (napping, stopping):
                task.cancel()
            await asyncio.gather(napping, stopping, return_exceptions=True)


class Interrupt:
    """A person's "please stop", safe to give from a signal handler or another thread.

    The caller (the CLI's SIGINT handler, a web page's button) holds one and calls
    `set()`; the run attaches its `Stop` while it goes on. A request made before the run
    attaches stops it as soon as it does. No lock: a signal handler may run between any
    two lines of the thread it interrupts, so `set` and `attach` each write their own
    attribute first and read the other's after; whichever runs second sees both.
    """

    def __init__(self) -> None:
        self._requested = False
        self._target: tuple[asyncio.AbstractEventLoop, Stop] | None = None

    def set(self) -> None:
        self._requested = True
        target = self._target
        if target is not None:
            loop, stop = target
            loop.call_soon_threadsafe(stop.interrupt)

    def is_set(self) -> bool:
        return self._requested

    @property
    def attached(self) -> bool:
        """True while a run listens (between `attach` and `detach`)."""
        return self._target is not None

    def attach(self, stop: Stop) -> None:
        """Route `set()` to `stop` (call from inside the run's event loop)."""
        self._target = (asyncio.get_running_loop(), stop)
        if self._requested:
            stop.interrupt()

    def detach(self) -> None:
        self._target = None
