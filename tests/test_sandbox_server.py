"""The sandbox over a real loopback socket, and the `campaigns sandbox` command."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from sandbox.command import sandbox_command
from sandbox.server import DEFAULT_API_KEY, SandboxConfig, SandboxDrop, run_in_thread
from tests.sandbox_fixtures import CREATE, LIST, MEMBERS, STATS, target_user_payload

HEADERS = {"X-API-Key": DEFAULT_API_KEY}


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with run_in_thread() as url:
        yield url


@pytest.mark.slow
def test_create_and_list_over_a_socket(sandbox_url: str) -> None:
    """Over loopback a create answers 201 and the campaign is listed."""
    with httpx.Client(base_url=sandbox_url, headers=HEADERS) as client:
        created = client.post(CREATE, json=target_user_payload())
        listed = client.get(LIST).json()["data"]
    assert created.status_code == 201
    assert [campaign["id"] for campaign in listed] == [created.json()["data"]["id"]]


@pytest.mark.slow
def test_run_in_thread_serves_loopback_on_a_free_port(sandbox_url: str) -> None:
    """The base URL is loopback, on a port picked for it, with nothing after the port."""
    assert sandbox_url.startswith("http://127.0.0.1:")
    assert int(sandbox_url.rsplit(":", 1)[1]) > 0


@pytest.mark.slow
def test_run_in_thread_stops_on_exit() -> None:
    """Leaving the context stops the server: the port refuses connections."""
    with run_in_thread() as url:
        assert httpx.get(url + MEMBERS, headers=HEADERS).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + MEMBERS, headers=HEADERS)


@pytest.mark.slow
def test_drop_after_over_a_socket_is_a_remote_protocol_error() -> None:
    """Over a socket `drop_after` closes the connection mid-answer; the campaign is kept."""
    config = SandboxConfig(faults={"drop_after": 1.0})
    with run_in_thread(config) as url, httpx.Client(base_url=url, headers=HEADERS) as client:
        with pytest.raises(httpx.RemoteProtocolError) as raised:
            client.post(CREATE, json=target_user_payload())
        stats = client.get(STATS).json()
    assert not isinstance(raised.value, SandboxDrop)  # a real protocol error this time
    assert (stats["created"], stats["faults"]["drop_after"]) == (1, 1)


@pytest.mark.slow
def test_timeout_after_over_a_socket_is_a_read_timeout() -> None:
    """Over a socket `timeout_after` outlasts the client's read timeout; the campaign is kept."""
    config = SandboxConfig(faults={"timeout_after": 1.0}, hold_seconds=600)
    with (
        run_in_thread(config) as url,
        httpx.Client(base_url=url, headers=HEADERS, timeout=0.2) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            client.post(CREATE, json=target_user_payload())
        stats = client.get(STATS).json()
    assert (stats["created"], stats["faults"]["timeout_after"]) == (1, 1)


def test_help_describes_the_command() -> None:
    """`--help` exits 0 and shows every option."""
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--api-key", "--rate", "--burst", "--latency-ms"):
        assert option in result.output
    for option in ("--fault", "--seed", "--db", "--jitter-ms", "--hold-seconds"):
        assert option in result.output


def test_every_option_has_help_text() -> None:
    """No option is left without a help line."""
    options = [param for param in sandbox_command.params if isinstance(param, click.Option)]
    assert options
    assert [option.name for option in options if not option.help] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "bogus=0.1"], "unknown fault kind 'bogus'; choose from 503, 500_before"),
        (["--fault", "503=1.5"], "fault 503: probability 1.5 is outside 0..1"),
        (["--fault", "503=-0.1"], "fault 503: probability -0.1 is outside 0..1"),
        (["--fault", "503=often"], "503: 'often' is not a probability"),
        (["--fault", "503"], "'503' is not KIND=P"),
        (["--fault", "503=0.1", "--fault", "503=0.2"], "fault kind 503 is given twice"),
        (["--fault", "503=0.6", "--fault", "500_after=0.6"], "add up to 1.2; at most 1"),
        (["--port", "70000"], "70000 is not in the range"),
        (["--rate", "-1"], "-1.0 is not in the range"),
    ],
)
def test_bad_option_values_are_usage_errors(args: list[str], message: str) -> None:
    """A bad option value exits 2 with one line naming the value and what is accepted."""
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 2
    assert message in result.output


def test_port_in_use_is_one_clear_error() -> None:
    """A port that cannot be bound exits 1 with a hint, before serving anything."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(sandbox_command, ["--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Try another --port (0 picks a free one)" in result.output


def test_unopenable_db_is_one_clear_error(tmp_path: Path) -> None:
    """A --db file that SQLite cannot open exits 1 naming it."""
    db = tmp_path / "missing-dir" / "sandbox.db"
    result = CliRunner().invoke(sandbox_command, ["--port", "0", "--db", str(db)])
    assert result.exit_code == 1
    assert f"cannot open --db {db}" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_serves_until_a_signal_then_stops_cleanly(signum: signal.Signals) -> None:
    """The command prints its base URL and key, serves, and exits 0 on SIGTERM or Ctrl-C."""
    code = "from sandbox.command import sandbox_command; sandbox_command()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--fault", "503=0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first, key, faults, _ = (process.stdout.readline() for _ in range(4))
        assert first.startswith("base URL: http://127.0.0.1:")
        url = first.split()[-1]
        members = httpx.get(url + MEMBERS, headers=HEADERS)
        process.send_signal(signum)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert members.status_code == 200
    assert process.returncode == 0, err
    assert key.split() == ["API", "key:", DEFAULT_API_KEY]
    assert faults.split() == ["faults:", "503=0.5", "(seed", "0)"]
    assert out == "Sandbox stopped.\n"
