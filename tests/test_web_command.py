"""`campaigns serve` as a person starts it: it prints a link with a fresh secret (never
the key), serves the page there, and stops cleanly on Ctrl-C (or the terminal closing),
its uploads gone; the stop reaches a running apply at once, and a second one aborts it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from pipeline.errors import ConfigError
from pipeline.run import RunResult
from tests.browser import serve_settings, visitor_of
from web.command import serve_command
from web.server import STOPPING_SIGNALS, _config, _Server, bind_loopback
from web.workspace import Run

ROOT = Path(__file__).parent.parent
CANARY = "canary-key-0b9d2e7a41"
STARTUP = "from web.command import serve_command; serve_command()"


def test_every_option_explains_itself() -> None:
    """--help lists each option with its help text."""
    result = CliRunner().invoke(serve_command, ["--help"])
    assert result.exit_code == 0
    for param in serve_command.params:
        assert getattr(param, "help", ""), param.name
    for option in ("--port", "--config", "--sandbox", "--no-browser", "--max-bytes"):
        assert option in result.output


def test_a_port_in_use_is_one_line_and_a_hint() -> None:
    """The port is taken: one error line saying which and what to try; exit 1."""
    taken = bind_loopback(0)
    try:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(serve_command, ["--port", str(port), "--no-browser"])
    finally:
        taken.close()
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Try another --port (0 picks a free one)." in result.output


def test_an_unreadable_key_file_is_one_line(tmp_path: Path) -> None:
    """A key file that cannot be read stops the command before it serves (exit 2)."""
    missing = tmp_path / "missing.key"
    result = CliRunner().invoke(
        serve_command, ["--api-key-file", str(missing), "--no-browser", "--port", "0"]
    )
    assert result.exit_code == 2
    assert f"--api-key-file {missing}: cannot be read" in result.output


class Serving:
    """`campaigns serve --port 0 --no-browser` in a process of its own, in `folder`, with
    its temporary files in `folder/tmp` and the canary key in its environment; the lines
    it printed until it said how to stop it."""

    def __init__(self, folder: Path, startup: str = STARTUP) -> None:
        self.private = folder / "tmp"
        self.private.mkdir()
        environment = {
            **os.environ,
            "TMPDIR": str(self.private),
            "EXTROVERT_API_KEY": CANARY,
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", startup, "--port", "0", "--no-browser", "--reports", "reports"],
            cwd=folder,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.told = [self.process.stdout.readline()]
        while "Ctrl-C stops" not in self.told[-1] and self.told[-1]:
            self.told.append(self.process.stdout.readline())
        self.link = self.told[0].split(": ", 1)[1].strip()

    def stop(self, sig: signal.Signals) -> tuple[str, str]:
        """Send `sig`; what it printed from then on (stdout, stderr) once it has ended."""
        self.process.send_signal(sig)
        return self.process.communicate(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.mark.slow
def test_it_serves_the_link_it_prints_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """The printed link opens the page; the key (from the environment) is named, never
    shown; Ctrl-C says it stops, stops it with exit 0 and removes the private folder of
    uploads."""
    serving = Serving(tmp_path)
    try:
        first = serving.told[0]
        assert first.startswith("The campaigns page: http://127.0.0.1:")
        with httpx.Client() as client:
            page = client.get(serving.link, follow_redirects=True)
            assert page.status_code == 200
            assert "Upload a sheet" in page.text
            assert "?token=" not in str(page.url)
            assert client.get(serving.link.split("?")[0]).status_code == 200  # the cookie does
        assert len(list(serving.private.iterdir())) == 1  # its private folder
        out, err = serving.stop(signal.SIGINT)
    finally:
        serving.close()
    assert serving.process.returncode == 0
    said = "".join(serving.told) + out
    assert "with the key from EXTROVERT_API_KEY" in said
    assert said.rstrip().endswith("Stopped.")
    assert err.strip() == "Stopping."
    assert CANARY not in said + err
    assert list(serving.private.iterdir()) == []


@pytest.mark.slow
def test_closing_the_terminal_stops_it_cleanly_too(tmp_path: Path) -> None:
    """SIGHUP (the terminal closed) stops the page as Ctrl-C does: exit 0, and the
    private folder with the uploads is gone."""
    serving = Serving(
        tmp_path, f"import signal; signal.signal(signal.SIGHUP, signal.SIG_DFL); {STARTUP}"
    )
    try:
        with httpx.Client() as client:
            client.get(serving.link, follow_redirects=True)
            sheet = (ROOT / "input_templates" / "example.csv").read_bytes()
            base = serving.link.split("?")[0].rstrip("/")
            upload = client.get(base + "/")
            csrf = re.search(r'name="csrf" value="([^"]+)"', upload.text)
            assert csrf is not None
            checked = client.post(
                f"{base}/upload",
                data={"csrf": csrf.group(1)},
                files={"sheet": ("example.csv", sheet)},
                headers={"origin": base},
            )
            assert checked.status_code == 303
        [folder] = serving.private.iterdir()
        assert list(folder.glob("*/example.csv"))  # the upload is kept there
        out, err = serving.stop(signal.SIGHUP)
    finally:
        serving.close()
    assert serving.process.returncode == 0
    assert out.rstrip().endswith("Stopped.")
    assert "Traceback" not in err
    assert list(serving.private.iterdir()) == []


class HeldApply:
    """A workspace whose apply goes on until `release()` (a plan of the example made
    against the sandbox first)."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.visitors = visitor_of(serve_settings(folder))
        self.visitor = next(self.visitors)
        self.workspace = self.visitor.workspace
        self.going = threading.Event()

        def held(run: Run) -> RunResult:
            self.going.wait(60)
            raise ConfigError("let go by the test")

        monkeypatch.setattr(self.workspace, "_applying", held)

    def start(self) -> Run:
        self.visitor.upload("example.csv", (ROOT / "input_templates" / "example.csv").read_bytes())
        self.visitor.post("/plan")
        self.visitor.post("/apply")
        run = self.workspace.run
        assert run is not None and not run.finished.is_set()
        return run

    def release(self) -> None:
        self.going.set()
        self.visitors.close()


def test_the_first_stop_signal_stops_the_run_and_the_second_aborts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while an apply runs: at once (not once uvicorn has waited for requests) the
    run is told to stop, its requests in flight finishing, and the page says so; a
    second Ctrl-C aborts the run (requests in flight cancelled) and says so."""
    held = HeldApply(tmp_path, monkeypatch)
    try:
        run = held.start()
        said: list[str] = []
        server = _Server(_config(held.visitor.app, None), held.workspace, said.append)
        server.handle_exit(signal.SIGINT, None)
        assert run.interrupt.is_set() and not run.interrupt.is_aborted()
        assert server.should_exit and not server.force_exit
        assert said == ["Stopping: no request in flight; press Ctrl-C again to stop now"]
        server.handle_exit(signal.SIGINT, None)
        assert run.interrupt.is_aborted()
        assert server.force_exit
        assert said[1:] == ["Stopping now."]
    finally:
        held.release()


def test_without_a_run_a_stop_signal_only_stops_the_page(tmp_path: Path) -> None:
    """SIGTERM with no apply going on: the server stops, saying so in a line."""
    for visitor in visitor_of(serve_settings(tmp_path)):
        said: list[str] = []
        server = _Server(_config(visitor.app, None), visitor.workspace, said.append)
        server.handle_exit(signal.SIGTERM, None)
        assert server.should_exit
        assert said == ["Stopping."]


def test_sighup_stops_the_page_where_there_is_one() -> None:
    """The terminal closing (SIGHUP) is a stopping signal, with uvicorn's own."""
    assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= set(STOPPING_SIGNALS)
