"""uvicorn on a loopback socket: `serve` in the foreground until Ctrl-C, `run_in_thread`
for tests. The socket is bound first (`sandbox.server.bind`, port 0: a free one), so the
app can be made for the port it really has (the Host check needs it).

Ctrl-C (or SIGTERM) in the foreground: uvicorn stops taking requests, the app's lifespan
closes its workspace (a running apply is stopped as the first Ctrl-C stops a run: its
requests in flight finish and every row is reported), and `serve` returns normally.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from sandbox.server import base_url_of, bind

LOOPBACK: Final = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS: Final = 10.0
_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)

__all__ = ["LOOPBACK", "base_url_of", "bind_loopback", "run_in_thread", "serve"]


def bind_loopback(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: a free one); `OSError` if refused.
    The page never listens anywhere else."""
    return bind(LOOPBACK, port)


def _server(app: Starlette, log_config: dict[str, Any] | None) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=log_config,
            log_level="warning",
            access_log=False,  # addresses would carry the launch token on a first visit
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    pass


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve `app` on `sock` until SIGINT or SIGTERM, shut down cleanly, then return
    (uvicorn raises the signal again once it has stopped: no-op handlers take it)."""
    server = _server(app, LOGGING_CONFIG)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _ignore_signal) for sig in _SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


@contextmanager
def run_in_thread(app: Starlette, sock: socket.socket) -> Iterator[str]:
    """Serve `app` on `sock` from a background thread; yield its base URL once it is up.
    On exit the server stops (its lifespan closes the workspace) and the socket closes."""
    server = _server(app, None)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="campaigns-serve", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the page's server did not start")
            thread.join(0.005)
        yield base_url_of(sock)
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
