"""One signal for "stop this run": why, the HTTP status behind it, and whether a person
interrupted it; a count of the requests in flight; and a sleep that a stop cuts short.

The first reason given wins: a 401 that arrives after Ctrl-C does not rename the stop.
A stop has two levels. Once `Stop` is set nothing new starts and the requests already
in flight finish. `abort()` (a second Ctrl-C) also cancels those: each request is made
through `unless_aborted`, which counts it in `in_flight` and gives up on it at an abort
(its row is then `unknown`: it may have been created).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, TypeVar

from pipeline.model import EXIT_INTERRUPTED

INTERRUPTED: Final = "interrupted (Ctrl-C)"
# The error of a row whose request an abort cancelled.
ABORTED_IN_FLIGHT: Final = "interrupted while the request was in flight: it may have been created"

T = TypeVar("T")


class Stop:
    """Set once, by a 401/403, the circuit breaker, an unexpected error, or Ctrl-C;
    aborted (requests in flight cancelled) only by a person, a second time."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._sleep = sleep
        self._event = asyncio.Event()
        self._aborting = asyncio.Event()
        self.reason = ""
        self.http_status: int | None = None
        self.interrupted = False
        self.aborted = False
        # The exit code the person's stop asks for (130; a caller may give 143 for SIGTERM).
        self.exit_code = EXIT_INTERRUPTED
        # Requests made through `unless_aborted` whose answer is not back yet.
        self.in_flight = 0

    def __bool__(self) -> bool:
        return bool(self.reason)

    def set(self, reason: str, http_status: int | None = None) -> None:
        """Stop the run for `reason` (kept only if it is the first)."""
        if not self.reason:
            self.reason = reason
            self.http_status = http_status
            self._event.set()

    def interrupt(self, reason: str = INTERRUPTED, exit_code: int = EXIT_INTERRUPTED) -> None:
        """A person asked to stop (Ctrl-C, SIGTERM): requests in flight finish. The first
        interrupt's `exit_code` is the run's."""
        if not self.interrupted:
            self.interrupted = True
            self.exit_code = exit_code
        self.set(reason)

    def abort(self, reason: str = INTERRUPTED, exit_code: int = EXIT_INTERRUPTED) -> None:
        """A person asked to stop now: as `interrupt`, and the requests in flight are
        cancelled (their rows are `unknown`)."""
        self.interrupt(reason, exit_code)
        self.aborted = True
        self._aborting.set()

    async def unless_aborted(self, request: Coroutine[Any, Any, T]) -> T | None:
        """Await `request`, counted in `in_flight` until it is back; None when the run is
        aborted first (the request is cancelled: it may or may not have reached the API)."""
        if self.aborted:
            request.close()
            return None
        self.in_flight += 1
        task = asyncio.ensure_future(request)
        aborting = asyncio.ensure_future(self._aborting.wait())
        try:
            await asyncio.wait({task, aborting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.in_flight -= 1
            aborting.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, aborting, return_exceptions=True)
        if task.cancelled():
            return None
        return task.result()

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

    The caller (the CLI's signal handlers, a web page's button) holds one and calls
    `set()` (requests in flight finish; calling it again changes nothing) and, to stop
    at once, `abort()` (requests in flight are cancelled); the run attaches its `Stop`
    while it goes on, and `in_flight` reads how many requests it has out. A request made
    before the run attaches stops it as soon as it does. No lock: a signal handler may
    run between any two lines of the thread it interrupts, so `set` and `attach` each
    write their own attributes first and read the other's after; whichever runs second
    sees both.
    """

    def __init__(self) -> None:
        self._requested = False
        self._aborted = False
        self._reason = INTERRUPTED
        self._exit_code = EXIT_INTERRUPTED
        self._target: tuple[asyncio.AbstractEventLoop, Stop] | None = None

    def set(self, reason: str = INTERRUPTED, exit_code: int = EXIT_INTERRUPTED) -> None:
        """Stop the run, letting requests in flight finish. `reason` is what rows not
        sent say; `exit_code` the run's (130; 143 suits SIGTERM). The first call's stand."""
        if not self._requested:
            self._reason, self._exit_code = reason, exit_code
        self._requested = True
        self._send(Stop.interrupt)

    def abort(self) -> None:
        """Stop the run at once: as `set`, and the requests in flight are cancelled."""
        self._aborted = True
        self._requested = True
        self._send(Stop.abort)

    def _send(self, method: Callable[[Stop, str, int], None]) -> None:
        target = self._target
        if target is not None:
            loop, stop = target
            loop.call_soon_threadsafe(method, stop, self._reason, self._exit_code)

    def is_set(self) -> bool:
        return self._requested

    def is_aborted(self) -> bool:
        return self._aborted

    @property
    def attached(self) -> bool:
        """True while a run listens (between `attach` and `detach`)."""
        return self._target is not None

    @property
    def in_flight(self) -> int:
        """Requests the attached run has out right now (0 when none is attached)."""
        target = self._target
        return target[1].in_flight if target is not None else 0

    def attach(self, stop: Stop) -> None:
        """Route `set()` and `abort()` to `stop` (call from inside the run's event loop)."""
        self._target = (asyncio.get_running_loop(), stop)
        if self._aborted:
            stop.abort(self._reason, self._exit_code)
        elif self._requested:
            stop.interrupt(self._reason, self._exit_code)

    def detach(self) -> None:
        self._target = None
