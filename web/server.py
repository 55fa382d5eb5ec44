"""uvicorn on a loopback socket: `serve` in the foreground until Ctrl-C, `run_in_thread`
for tests. The socket is bound first (`sandbox.server.bind`, port 0: a free one), so the
app can be made for the port it really has (the Host check needs it).

Stopping in the foreground (`_Server.handle_exit`), as `campaigns run` stops:

- the first Ctrl-C, SIGTERM or SIGHUP (the terminal closed): the running apply stops
  sending (its requests in flight finish, every row is reported); the server stops
  taking requests and closes once those it has are answered;
- a second one: the apply's requests in flight are cancelled (their rows `unknown`,
  every row still reported); after a second Ctrl-C uvicorn stops waiting for requests.

Each says so in one line on stderr. The app's lifespan closes the workspace (waiting for
the run's reports, removing the private folder), and `serve` closes it again should the
lifespan have been skipped (uvicorn skips it after a second Ctrl-C); then `serve`
returns normally. A SIGHUP that is ignored (`nohup`) stays ignored.

The server sends no `Server` header, reads no proxy headers (`X-Forwarded-For` would
name another client) and logs no request lines (a first visit's address holds the
launch token).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG
from uvicorn.server import HANDLED_SIGNALS

from pipeline.cli import EXIT_TERMINATED, stopping_line, stopping_now_line
from pipeline.model import EXIT_INTERRUPTED
from pipeline.stop import INTERRUPTED
from sandbox.server import base_url_of, bind, serving
from web.workspace import Workspace

LOOPBACK: Final = "127.0.0.1"
# The signals that stop the page: uvicorn's, and the terminal closing where there is one.
_HANGUP: Final = (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
STOPPING_SIGNALS: Final[tuple[int, ...]] = (*HANDLED_SIGNALS, *_HANGUP)

__all__ = ["LOOPBACK", "base_url_of", "bind_loopback", "run_in_thread", "serve"]


def bind_loopback(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: a free one); `OSError` if refused.
    The page never listens anywhere else."""
    return bind(LOOPBACK, port)


def _config(app: Starlette, log_config: dict[str, Any] | None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=log_config,
        log_level="warning",
        access_log=False,  # addresses would carry the launch token on a first visit
        proxy_headers=False,  # loopback only: no proxy speaks for anyone
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


def _stop_reason(sig: int) -> tuple[str, int]:
    """What the rows a stopped run leaves unsent say, and the run's exit code."""
    if sig == signal.SIGINT:
        return INTERRUPTED, EXIT_INTERRUPTED
    return f"terminated ({signal.Signals(sig).name})", EXIT_TERMINATED


class _Server(uvicorn.Server):
    """uvicorn, passing a stopping signal to the workspace's running apply first (see
    the module docstring); `say` prints a line on stderr."""

    def __init__(
        self, config: uvicorn.Config, workspace: Workspace, say: Callable[[str], None]
    ) -> None:
        super().__init__(config)
        self.workspace = workspace
        self.say = say
        self.stops = 0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stops += 1
        run = self.workspace.run
        if run is None or run.finished.is_set():
            line = "Stopping." if self.stops == 1 else "Stopping now."
        elif self.stops == 1:
            run.interrupt.set(*_stop_reason(sig))
            timeout = self.workspace.send_settings(run.planned).timeout
            line = stopping_line(run.interrupt.in_flight, timeout)
        else:
            in_flight = run.interrupt.in_flight
            run.interrupt.abort()
            line = stopping_now_line(in_flight)
        self.say(line)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """uvicorn's, for `STOPPING_SIGNALS` (an ignored SIGHUP left ignored); the signals
        received are not raised again once stopped (`serve` returns normally)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        wanted = [
            sig
            for sig in STOPPING_SIGNALS
            if sig in HANDLED_SIGNALS or signal.getsignal(sig) is not signal.SIG_IGN
        ]
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in wanted}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(app: Starlette, sock: socket.socket, *, say: Callable[[str], None]) -> None:
    """Serve `app` on `sock` until SIGINT, SIGTERM or SIGHUP, shut down cleanly (see the
    module docstring), then return; `say` prints a line on stderr (from a signal handler)."""
    workspace = app.state.workspace
    server = _Server(_config(app, LOGGING_CONFIG), workspace, say)
    try:
        server.run(sockets=[sock])
    finally:
        workspace.close()
        sock.close()


@contextmanager
def run_in_thread(app: Starlette, sock: socket.socket) -> Iterator[str]:
    """Serve `app` on `sock` from a background thread; yield its base URL once it is up.
    On exit the server stops (its lifespan closes the workspace) and the socket closes."""
    with serving(uvicorn.Server(_config(app, None)), sock, name="campaigns-serve"):
        yield base_url_of(sock)
