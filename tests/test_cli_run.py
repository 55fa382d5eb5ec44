"""`campaigns run` and `campaigns status` on the command line: options, messages, exit codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from pipeline.cli import cli
from sandbox.server import DEFAULT_API_KEY, run_in_thread

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "input_templates" / "example.csv"
# Whatever the shell running the tests holds, these runs see no key and no base URL.
CLEAN_ENV: dict[str, str | None] = {"EXTROVERT_API_KEY": None, "EXTROVERT_BASE_URL": None}


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env={**CLEAN_ENV, **(env or {})})


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with run_in_thread() as url:
        yield url


def test_run_without_a_key_exits_2_and_points_at_sandbox(tmp_path: Path) -> None:
    """No EXTROVERT_API_KEY, no --api-key-file, no --sandbox: exit 2, hint names --sandbox."""
    result = invoke("run", str(EXAMPLE), "--state", str(tmp_path / "s.sqlite"))

    assert result.exit_code == 2
    assert "no API key: set EXTROVERT_API_KEY or give --api-key-file" in result.stderr
    assert "--sandbox" in result.stderr
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.slow
def test_api_key_file_is_stripped_of_surrounding_whitespace(
    tmp_path: Path, sandbox_url: str
) -> None:
    """A key file holding the key between spaces and newlines works against the sandbox."""
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"\n  {DEFAULT_API_KEY} \t\n", encoding="utf-8")
    out = tmp_path / "out"

    result = invoke(
        "run",
        str(EXAMPLE),
        "--api-key-file",
        str(key_file),
        "--base-url",
        sandbox_url,
        "--state",
        str(tmp_path / "s.sqlite"),
        "--out",
        str(out),
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == f"5 rows: 5 created. Reports in {out}\n"


def test_empty_api_key_file_exits_2(tmp_path: Path) -> None:
    """A key file holding only whitespace is refused with exit 2, naming the file."""
    key_file = tmp_path / "key.txt"
    key_file.write_text(" \n", encoding="utf-8")

    result = invoke("run", str(EXAMPLE), "--api-key-file", str(key_file))

    assert result.exit_code == 2
    assert f"--api-key-file {key_file}: the file is empty" in result.stderr


def test_plain_http_base_url_off_loopback_exits_2(tmp_path: Path) -> None:
    """--base-url http://example.com is refused (exit 2): https unless the host is loopback."""
    result = invoke(
        "run",
        str(EXAMPLE),
        "--base-url",
        "http://example.com",
        "--state",
        str(tmp_path / "s.sqlite"),
        env={"EXTROVERT_API_KEY": DEFAULT_API_KEY},
    )

    assert result.exit_code == 2
    assert "--base-url 'http://example.com' must use https" in result.stderr
    assert not (tmp_path / "s.sqlite").exists()


def test_sandbox_with_base_url_exits_2(tmp_path: Path) -> None:
    """--sandbox and --base-url together are a usage error (exit 2)."""
    result = invoke(
        "run",
        str(EXAMPLE),
        "--sandbox",
        "--base-url",
        "https://api.example.com",
        "--state",
        str(tmp_path / "s.sqlite"),
    )

    assert result.exit_code == 2
    assert "--sandbox and --base-url cannot be used together" in result.stderr


@pytest.mark.slow
def test_sandbox_run_of_the_example_sheet_creates_every_row(tmp_path: Path) -> None:
    """`run --sandbox` on the example sheet needs no key: exit 0, closing line with counts."""
    out = tmp_path / "o1"

    result = invoke(
        "run", str(EXAMPLE), "--sandbox", "--state", str(tmp_path / "s.sqlite"), "--out", str(out)
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == f"5 rows: 5 created. Reports in {out}\n"
    assert result.stderr == ""
    assert (out / "results.csv").exists()
    assert (out / "summary.json").exists()


@pytest.mark.slow
def test_second_sandbox_run_with_the_same_state_creates_nothing(tmp_path: Path) -> None:
    """A second `run --sandbox` with the same --state finds every row already created."""
    state = str(tmp_path / "s.sqlite")
    first = invoke("run", str(EXAMPLE), "--sandbox", "--state", state, "--out", str(tmp_path / "a"))

    second = invoke(
        "run", str(EXAMPLE), "--sandbox", "--state", state, "--out", str(tmp_path / "b")
    )

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert second.stdout == f"5 rows: 5 already_created. Reports in {tmp_path / 'b'}\n"


def test_dry_run_needs_no_key(tmp_path: Path) -> None:
    """`run --dry-run` without any key says what would be sent, exit 0."""
    out = tmp_path / "dry"

    result = invoke(
        "run", str(EXAMPLE), "--dry-run", "--state", str(tmp_path / "s.sqlite"), "--out", str(out)
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == f"5 rows: 5 would_create. Reports in {out}\n"
    assert (out / "payloads.jsonl").exists()


@pytest.mark.slow
def test_status_prints_counts_per_status_and_file(tmp_path: Path) -> None:
    """`status --state` after a clean run prints the counts and the last run, exit 0."""
    state = tmp_path / "s.sqlite"
    invoke("run", str(EXAMPLE), "--sandbox", "--state", str(state), "--out", str(tmp_path / "a"))

    result = invoke("status", "--state", str(state))

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{state}: 5 campaign keys: 5 created"
    assert lines[1] == "  example.csv: 5 created"
    assert re.fullmatch(r"Last run: \d{8}T\d{6}Z-example \(run\), started \S+, exit 0", lines[2])
    assert len(lines) == 3


def test_status_without_a_ledger_exits_2(tmp_path: Path) -> None:
    """`status` on a path with no ledger says so and exits 2."""
    result = invoke("status", "--state", str(tmp_path / "none.sqlite"))

    assert result.exit_code == 2
    assert f"no ledger at {tmp_path / 'none.sqlite'}" in result.stderr


@pytest.mark.parametrize("name", ["run", "status"])
def test_help_lists_every_option_with_help(name: str) -> None:
    """`run --help` and `status --help` list every option, each with a help text."""
    command = cli.commands[name]
    result = invoke(name, "--help")

    assert result.exit_code == 0
    options = [p for p in command.params if isinstance(p, click.Option)]
    assert options
    for option in options:
        assert option.help, f"{option.name} has no help"
        for flag in option.opts:
            assert flag in result.stdout, f"{flag} is not in `{name} --help`"


def test_run_help_names_the_documented_options() -> None:
    """`run --help` offers the options the issue lists."""
    result = invoke("run", "--help")

    for flag in (
        "--out",
        "--state",
        "--base-url",
        "--sandbox",
        "--api-key-file",
        "--rate",
        "--concurrency",
        "--timeout",
        "--max-attempts",
        "--max-consecutive-errors",
        "--dry-run",
        "--resend-unknown",
        "--skip-existing",
        "--quiet",
    ):
        assert flag in result.stdout


def test_unreachable_api_exits_2_with_one_line(tmp_path: Path) -> None:
    """Nothing listening at --base-url: one `Error:` line naming the API, exit 2."""
    result = invoke(
        "run",
        str(EXAMPLE),
        "--base-url",
        "http://127.0.0.1:1",
        "--state",
        str(tmp_path / "s.sqlite"),
        "--out",
        str(tmp_path / "out"),
        env={"EXTROVERT_API_KEY": "some-key"},
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: could not reach the API at http://127.0.0.1:1")
    assert "Traceback" not in result.stderr


def test_key_file_with_two_lines_exits_2_without_showing_the_key(tmp_path: Path) -> None:
    """A key file whose key spans lines is refused in one line that does not show it."""
    key_file = tmp_path / "key.txt"
    key_file.write_text("first-half-SECRET\nsecond-half-SECRET\n", encoding="utf-8")

    result = invoke(
        "run",
        str(EXAMPLE),
        "--api-key-file",
        str(key_file),
        "--base-url",
        "http://127.0.0.1:1",
        "--state",
        str(tmp_path / "s.sqlite"),
    )

    assert result.exit_code == 2
    assert "an HTTP header cannot carry" in result.stderr
    assert "SECRET" not in result.output + result.stderr


@pytest.mark.slow
def test_unwritable_report_folder_stops_before_anything_is_sent(
    tmp_path: Path, sandbox_url: str
) -> None:
    """--out under a file: exit 2 before sending, so no campaign exists without a report."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")

    result = invoke(
        "run",
        str(EXAMPLE),
        "--base-url",
        sandbox_url,
        "--state",
        str(tmp_path / "s.sqlite"),
        "--out",
        str(blocker / "out"),
        env={"EXTROVERT_API_KEY": DEFAULT_API_KEY},
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot write the reports into")
    stats = httpx.get(f"{sandbox_url}/_sandbox/stats").json()
    assert stats["requests"] == 0


def _sheet_of_strangers(tmp_path: Path) -> Path:
    from tests.helpers import PROSPECTS_ROW, TOPIC_ROW, rows_csv

    rows = [
        dict(PROSPECTS_ROW, owner="Zoe.Unknown@Real-Team.example"),
        dict(TOPIC_ROW, owner="mailto:yuri@real-team.example"),
    ]
    return rows_csv(tmp_path / "real.csv", rows)


def test_sandbox_team_holds_the_sheets_owner_emails(tmp_path: Path) -> None:
    """`run --sandbox` on a sheet of unknown owner e-mails creates every row."""
    sheet, out = _sheet_of_strangers(tmp_path), tmp_path / "o"
    result = invoke(
        "run", str(sheet), "--sandbox", "--state", str(tmp_path / "s.sqlite"), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"2 rows: 2 created. Reports in {out}\n"


def test_sandbox_fault_makes_rows_failed(tmp_path: Path) -> None:
    """`--sandbox-fault 503=1.0 --max-attempts 1` reaches the sandbox: every row failed."""
    sheet, out = _sheet_of_strangers(tmp_path), tmp_path / "o"
    state = str(tmp_path / "s.sqlite")
    args = ["--sandbox-fault", "503=1.0", "--max-attempts", "1", "--max-consecutive-errors", "9"]
    result = invoke("run", str(sheet), "--sandbox", "--state", state, "--out", str(out), *args)
    assert result.exit_code == 1, result.output
    assert "2 failed" in result.stdout


def test_sandbox_fault_is_checked_and_needs_sandbox(tmp_path: Path) -> None:
    """A malformed --sandbox-fault, or one without --sandbox, is a usage error (exit 2)."""
    state = str(tmp_path / "s.sqlite")
    bad = invoke("run", str(EXAMPLE), "--sandbox", "--state", state, "--sandbox-fault", "oops")
    alone = invoke("run", str(EXAMPLE), "--state", state, "--sandbox-fault", "503=0.5")
    assert (bad.exit_code, alone.exit_code) == (2, 2)
    assert "--sandbox-fault needs --sandbox" in alone.stderr
