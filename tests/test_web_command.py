"""`campaigns serve` as a person starts it: it prints a link with a fresh secret (never
the key), serves the page there, and stops cleanly on Ctrl-C, its uploads gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from web.command import serve_command
from web.server import bind_loopback

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


@pytest.mark.slow
def test_it_serves_the_link_it_prints_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """The printed link opens the page; the key (from the environment) is named, never
    shown; Ctrl-C stops it with exit 0 and removes the private folder of uploads."""
    private = tmp_path / "tmp"
    private.mkdir()
    environment = {
        **os.environ,
        "TMPDIR": str(private),
        "EXTROVERT_API_KEY": CANARY,
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", STARTUP, "--port", "0", "--no-browser", "--reports", "reports"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        told = [first]
        while "Ctrl-C stops" not in told[-1]:
            told.append(process.stdout.readline())
        assert first.startswith("The campaigns page: http://127.0.0.1:")
        link = first.split(": ", 1)[1].strip()
        with httpx.Client() as client:
            page = client.get(link, follow_redirects=True)
            assert page.status_code == 200
            assert "Upload a sheet" in page.text
            assert "?token=" not in str(page.url)
            assert client.get(link.split("?")[0]).status_code == 200  # the cookie does
        assert len(list(private.iterdir())) == 1  # its private folder
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    said = "".join(told) + out
    assert "with the key from EXTROVERT_API_KEY" in said
    assert said.rstrip().endswith("Stopped.")
    assert CANARY not in said + err
    assert "Traceback" not in err
    assert list(private.iterdir()) == []
