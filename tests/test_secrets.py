"""The API key never leaks: a canary key runs through every path and every output is scanned.

Paths: success, rejection, a refused key (401), a timeout (unknown), a crash, and the
command line with `--api-key-file`. Outputs: every file under the test's folder (reports,
ledger bytes with its WAL, summary.json), log records at DEBUG (httpx and httpcore too),
stdout/stderr, and formatted tracebacks (with and without their frames' locals).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette

from pipeline.cli import cli
from pipeline.run import RunResult, run_files
from pipeline.settings import Options, RunSettings, Secret, SendSettings
from pipeline.template import EXAMPLE_ROWS, write_template
from sandbox.server import DEFAULT_MEMBERS, SandboxConfig, create_app, run_in_thread
from tests.fakes import FakeTiming

CANARY = "canary-SECRET-1234567890"
OTHER_CANARY = "canary-OTHER-0987654321"  # configured nowhere: the sandbox answers 401
CANARIES = (CANARY, OTHER_CANARY)
MEMBER_BY_EMAIL = {member.email: member.id for member in DEFAULT_MEMBERS}
STRANGER = "9b2f4c1e-7d3a-4e8b-a1c2-3d4e5f6a7b8c"
FAST = SendSettings(rate=1000, concurrency=4, timeout=1.0)


@dataclass
class Leaks:
    """Collects every output of a test and says where a canary shows up."""

    tmp_path: Path
    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture[str]
    exclude: tuple[Path, ...] = ()

    def found(self, *texts: str) -> list[str]:
        captured = self.capsys.readouterr()
        outputs = {
            "log records": self.caplog.text,
            "log messages": "\n".join(r.getMessage() for r in self.caplog.records),
            "stdout": captured.out,
            "stderr": captured.err,
            **{f"text {n}": text for n, text in enumerate(texts)},
        }
        places = [
            f"{name} holds {canary}"
            for name, text in outputs.items()
            for canary in CANARIES
            if canary in text
        ]
        written = [p for p in self.tmp_path.rglob("*") if p.is_file() and p not in self.exclude]
        assert written, "the run wrote nothing to scan"
        for path in written:
            data = path.read_bytes()
            places += [
                f"{path} holds {canary}" for canary in CANARIES if canary.encode("utf-8") in data
            ]
        return places


@pytest.fixture
def leaks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[Leaks]:
    """Everything at DEBUG: the root logger and httpx/httpcore, which stay quiet otherwise."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield Leaks(tmp_path, caplog, capsys)


def uuid_rows(rows: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    return [{**row, "owner": MEMBER_BY_EMAIL[row["owner"]]} for row in rows]


def with_bad_row(rows: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The rows plus one the API refuses (an owner who is no team member)."""
    bad = {**rows[0], "campaign_key": "refused", "owner": STRANGER}
    return [*map(dict, rows), bad]


def settings(tmp_path: Path, key: Secret, base_url: str = "http://localhost") -> RunSettings:
    # The key travels as a Secret even here: a traceback shows these frames' locals too.
    return RunSettings(
        state=tmp_path / "state.sqlite",
        base_url=base_url,
        api_key=key,
        send=FAST,
        recheck_delay=0.0,
    )


def run(
    tmp_path: Path,
    rows: Sequence[Mapping[str, str]],
    key: Secret,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str = "http://localhost",
    out: str = "out",
) -> RunResult:
    path = write_template(tmp_path / f"{out}.csv", rows=rows)
    return run_files(
        Options(paths=(path,), out=tmp_path / out),
        settings(tmp_path, key, base_url),
        transport=transport,
        timing=FakeTiming().timing,
    )


def canary_app() -> Starlette:
    """An in-process sandbox that accepts the canary key only."""
    return create_app(SandboxConfig(api_keys=frozenset({CANARY})))


def tracebacks(error: BaseException) -> str:
    """The traceback as printed, and again with every frame's locals."""
    plain = "".join(traceback.format_exception(error))
    with_locals = "".join(
        traceback.TracebackException.from_exception(error, capture_locals=True).format()
    )
    return plain + with_locals


def test_secret_repr_and_str_hide_the_value() -> None:
    """repr, str and formatting of a Secret (and of settings holding one) show no key."""
    secret = Secret(CANARY)
    held = settings(Path("state.sqlite"), secret)

    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", repr(held), str([secret])]

    assert all(CANARY not in text for text in shown)
    assert repr(secret) == "Secret('***')"
    assert secret.reveal() == CANARY


def test_the_command_line_keeps_httpx_loggers_at_warning() -> None:
    """The CLI sets the httpx and httpcore loggers to WARNING (they log URLs at INFO)."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)

    assert CliRunner().invoke(cli, ["status", "--help"]).exit_code == 0

    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING


def test_success_and_rejection_leak_no_key(tmp_path: Path, leaks: Leaks) -> None:
    """Created and rejected rows: no report, ledger byte, log line or output holds the key."""
    app = canary_app()

    result = run(
        tmp_path, with_bad_row(EXAMPLE_ROWS), Secret(CANARY), transport=httpx.ASGITransport(app=app)
    )

    assert result.counts == {"created": 5, "rejected": 1}
    assert leaks.found(repr(result)) == []


def test_refused_key_leaks_no_key(tmp_path: Path, leaks: Leaks) -> None:
    """A 401 while sending and while reading the team: the refused key appears nowhere."""
    app = canary_app()

    refused = run(
        tmp_path,
        uuid_rows(EXAMPLE_ROWS),
        Secret(OTHER_CANARY),
        transport=httpx.ASGITransport(app=app),
    )
    stopped = run(
        tmp_path,
        EXAMPLE_ROWS,
        Secret(OTHER_CANARY),
        transport=httpx.ASGITransport(app=app),
        out="emails",
    )

    assert refused.counts == {"not_sent": 5}
    assert refused.exit_code == 3
    assert stopped.counts == {"not_sent": 5}
    assert stopped.exit_code == 3
    assert leaks.found(repr(refused), refused.stopped, repr(stopped), stopped.stopped) == []


@pytest.mark.slow
def test_timeout_over_loopback_leaks_no_key(tmp_path: Path, leaks: Leaks) -> None:
    """Read timeouts over a real socket (httpcore logging at DEBUG): unknown rows, no key."""
    config = SandboxConfig(
        api_keys=frozenset({CANARY}),
        faults={"timeout_after": 1.0},
        hold_seconds=2.0,
        campaign_list=False,
    )
    with run_in_thread(config) as url:
        path = write_template(tmp_path / "rows.csv", rows=EXAMPLE_ROWS[:3])
        result = run_files(
            Options(paths=(path,), out=tmp_path / "out"),
            RunSettings(
                state=tmp_path / "state.sqlite",
                base_url=url,
                api_key=Secret(CANARY),
                send=SendSettings(rate=1000, concurrency=4, timeout=0.3),
                recheck_delay=0.0,
            ),
            timing=FakeTiming().timing,
        )

    assert result.counts == {"unknown": 3}
    assert any(r.name.startswith("httpcore") for r in leaks.caplog.records)
    assert leaks.found(repr(result)) == []


class CrashingTransport(httpx.AsyncBaseTransport):
    """The sandbox in process, until request number `at` (of `method`): then a bug."""

    def __init__(self, app: Starlette, method: str, at: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.method = method
        self.at = at
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method:
            self.seen += 1
            if self.seen == self.at:
                raise RuntimeError("the transport broke in a way nobody planned for")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_crash_before_sending_leaks_no_key(tmp_path: Path, leaks: Leaks) -> None:
    """An unexpected exception while reading the team: its traceback, even with locals,
    holds no key."""
    transport = CrashingTransport(canary_app(), "GET", 1)

    with pytest.raises(RuntimeError) as crashed:
        run(tmp_path, EXAMPLE_ROWS, Secret(CANARY), transport=transport)

    assert transport.seen == 1
    assert leaks.found(tracebacks(crashed.value), repr(crashed.value)) == []


def test_crash_mid_send_stops_the_run_and_leaks_no_key(tmp_path: Path, leaks: Leaks) -> None:
    """An unexpected exception on the third create stops the run (exit 3): that row is
    unknown, the rest not_sent, reports written, and the key appears nowhere."""
    transport = CrashingTransport(canary_app(), "POST", 3)

    result = run(tmp_path, uuid_rows(EXAMPLE_ROWS), Secret(CANARY), transport=transport)

    assert result.exit_code == 3
    assert "RuntimeError" in result.stopped
    assert result.counts["unknown"] == 1
    assert result.counts.get("created", 0) + result.counts.get("not_sent", 0) == 4
    assert leaks.found(repr(result), result.stopped) == []


@pytest.mark.slow
def test_cli_with_api_key_file_leaks_no_key(tmp_path: Path, leaks: Leaks) -> None:
    """`campaigns run --api-key-file` and `campaigns status`: no output or file holds the key."""
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"  {CANARY}\n", encoding="utf-8")
    leaks.exclude = (key_file,)
    path = write_template(tmp_path / "rows.csv", rows=with_bad_row(EXAMPLE_ROWS))
    state = tmp_path / "state.sqlite"
    runner = CliRunner()
    env = {"EXTROVERT_API_KEY": None, "EXTROVERT_BASE_URL": None}

    with run_in_thread(SandboxConfig(api_keys=frozenset({CANARY}))) as url:
        common = ["--base-url", url, "--state", str(state), "--out", str(tmp_path / "out")]
        ran = runner.invoke(
            cli, ["run", str(path), "--api-key-file", str(key_file), *common], env=env
        )
        refused_file = tmp_path / "other.txt"
        refused_file.write_text(OTHER_CANARY, encoding="utf-8")
        leaks.exclude = (key_file, refused_file)
        refused = runner.invoke(
            cli,
            ["run", str(path), "--api-key-file", str(refused_file), *common],
            env=env,
        )
    status = runner.invoke(cli, ["status", "--state", str(state)], env=env)

    assert ran.exit_code == 1, ran.output
    assert "5 created, 1 rejected" in ran.stdout
    assert refused.exit_code == 3, refused.output
    assert status.exit_code == 1
    texts = [r.output + r.stderr + repr(r.exception) for r in (ran, refused, status)]
    assert leaks.found(*texts) == []
