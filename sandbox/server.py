"""The sandbox's public entry point: its config, its app, and uvicorn to serve it.

    config = SandboxConfig(faults={"503": 0.1}, seed=7)
    with run_in_thread(config) as base_url:  # e.g. "http://127.0.0.1:53117"
        ...  # a client on base_url + "/api/client/v2", X-API-Key DEFAULT_API_KEY

In process, skip the socket: `httpx.AsyncClient(transport=httpx.ASGITransport(app=
create_app(config)))`. `sandbox.faults` says what a client sees of each fault both ways.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from sandbox.app import API_PREFIX, Clock, SandboxState, create_app
from sandbox.config import (
    DEFAULT_API_KEY,
    DEFAULT_MEMBERS,
    FAULT_KINDS,
    Member,
    SandboxConfig,
)
from sandbox.faults import SandboxDrop, Sleep

__all__ = [
    "API_PREFIX",
    "DEFAULT_API_KEY",
    "DEFAULT_MEMBERS",
    "FAULT_KINDS",
    "Member",
    "SandboxConfig",
    "SandboxDrop",
    "SandboxState",
    "base_url_of",
    "bind",
    "create_app",
    "run_in_thread",
    "serve",
]

STARTUP_TIMEOUT_SECONDS: Final = 10.0
# Held (`timeout_after`) requests end when their client hangs up; this bounds the rest.
GRACEFUL_SHUTDOWN_SECONDS: Final = 2
_BACKLOG: Final = 2048
_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (port 0: a free one); `OSError` if refused.

    Listening before uvicorn starts means a client that connects early waits in the
    backlog instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Naming IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say TCP,
    # and without it Nagle's algorithm adds ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def base_url_of(sock: socket.socket) -> str:
    """The base URL (everything before `/api/client/v2`) a bound socket serves."""
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for each deliberate `drop_after` fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SandboxDrop))


class _Server(uvicorn.Server):
    """uvicorn's server, stopped at once by `stop()` (from any thread).

    uvicorn itself notices `should_exit` at its next tick (every 0.1 s), then sleeps
    0.1 s for connections to finish even when none is left: a run that started a
    sandbox for itself waited up to 0.2 s for it at its end. Here `stop()` wakes the
    tick, and a shutdown with no connection and no request left skips that sleep; with
    some left it is uvicorn's own (`GRACEFUL_SHUTDOWN_SECONDS`).
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    def stop(self) -> None:
        """Shut the server down now, from any thread (`should_exit` alone waits for the
        next tick)."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with suppress(RuntimeError):  # its loop has closed: it has stopped already
                loop.call_soon_threadsafe(wake.set)

    async def main_loop(self) -> None:
        # uvicorn's loop (a tick every 0.1 s: the Date header, should_exit), but a tick
        # comes at once when `stop()` wakes it. Set before the first tick reads
        # should_exit, so a stop() that finds no loop yet is seen by that tick.
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets=sockets)
            return
        # Nothing in flight (a run's client has hung up): uvicorn's shutdown without its
        # wait for connections that are not there.
        logging.getLogger("uvicorn.error").info("Shutting down")
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        if not self.force_exit:
            await self.lifespan.shutdown()


def _uvicorn_server(app: Starlette, log_config: dict[str, Any] | None) -> _Server:
    config = uvicorn.Config(
        app,
        log_config=log_config,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in errors.filters):
        errors.addFilter(_QuietDrops())
    return _Server(config)


@contextmanager
def run_in_thread(
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> Iterator[str]:
    """Serve a sandbox from a background thread; yield its base URL once it is up.

    Port 0 picks a free port. On exit the server stops taking requests, finishes (or
    after `GRACEFUL_SHUTDOWN_SECONDS` cancels) those in flight and closes its store.
    Logging is left as the caller configured it. `RuntimeError` if it does not start.
    """
    app = create_app(config, clock=clock, sleep=sleep)
    sock = bind(host, port)
    url = base_url_of(sock)
    server = _uvicorn_server(app, log_config=None)
    try:
        with serving(server, sock, name="campaigns-sandbox", stop=server.stop):
            yield url
    finally:
        app.state.sandbox.close()


@contextmanager
def serving(
    server: uvicorn.Server,
    sock: socket.socket,
    *,
    name: str,
    stop: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Run `server` on `sock` in a daemon thread called `name` for the `with`, entered
    once it has started (`RuntimeError` if it has not after `STARTUP_TIMEOUT_SECONDS`).
    On exit `stop` (default: `should_exit`, seen at uvicorn's next tick) asks it to
    stop; the thread is joined and the socket closed."""
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {base_url_of(sock)} ({name}) did not start")
            thread.join(0.005)
        yield
    finally:
        if stop is not None:
            stop()
        else:
            server.should_exit = True
        thread.join()
        sock.close()


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    pass


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve `app` on `sock` until SIGINT or SIGTERM, shut down cleanly, then return.

    uvicorn handles both signals while it serves and raises them again once it has
    stopped; with no-op handlers in place that second delivery is harmless, so the
    caller returns normally (exit status 0) instead of dying of the signal.
    """
    server = _uvicorn_server(app, log_config=LOGGING_CONFIG)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _ignore_signal) for sig in _SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        app.state.sandbox.close()
