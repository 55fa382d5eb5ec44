"""`--log-format json`: stderr holds one JSON object per line for each event, and nothing
else; every event has `ts`, `level`, `event` and `message`; the API key is in none of it.

Also `--verbose`: each request as a `request` event (a text line without JSON), never the
key, the body or a query string.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from pipeline import logs
from pipeline.run import run_files
from pipeline.settings import Options, Secret
from pipeline.template import EXAMPLE_ROWS
from sandbox.server import DEFAULT_MEMBERS, SandboxConfig, create_app, run_in_thread
from tests.fakes import FakeTiming
from tests.helpers import PROSPECTS_ROW, SettingsFor, invoke, rows_csv

CANARY = "canary-JSON-LOGS-5f3a9c"
OTHER_CANARY = "canary-REFUSED-77b1e0"  # configured nowhere: the sandbox answers 401
STRANGER = "9b2f4c1e-7d3a-4e8b-a1c2-3d4e5f6a7b8c"  # no team member: the API refuses the row
MEMBER_BY_EMAIL = {member.email: member.id for member in DEFAULT_MEMBERS}
COMMON_KEYS = {"ts", "level", "event", "message"}


def events(stderr: str) -> list[dict[str, Any]]:
    """Every line of stderr parsed as one JSON object (any other text fails the test)."""
    found = []
    for line in stderr.splitlines():
        event = json.loads(line)
        assert isinstance(event, dict), line
        assert event.keys() >= COMMON_KEYS, line
        moment = dt.datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        assert event["ts"].endswith("Z") and moment.utcoffset() == dt.timedelta(0)
        assert event["level"] in {"debug", "info", "warning", "error"}
        found.append(event)
    return found


def named(found: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [event for event in found if event["event"] == name]


def results(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def plan_with_a_warning_and_a_refusal(tmp_path: Path) -> Path:
    """The example rows in Windows-1252 (a warning), one named with an accent, plus a
    row whose owner is no team member (the API refuses it)."""
    rows = [dict(row) for row in EXAMPLE_ROWS]
    rows[0]["campaign_name"] = "Café owners"
    refused = {**rows[1], "campaign_key": "refused", "owner": STRANGER}
    return rows_csv(tmp_path / "plan.csv", [*rows, refused], encoding="cp1252")


@pytest.mark.slow
def test_a_whole_run_in_json_is_json_lines_only_and_never_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run over loopback with a canary key, in JSON and --verbose: every stderr line is
    an event (run_started, a request per call, a row per row, the warning, run_finished);
    a refused key stops the next run with a `stopped` event; the key is in no output and
    no file."""
    plan = plan_with_a_warning_and_a_refusal(tmp_path)
    state, out = tmp_path / "state.sqlite", tmp_path / "out"
    monkeypatch.setenv("EXTROVERT_API_KEY", CANARY)

    with run_in_thread(SandboxConfig(api_keys=frozenset({CANARY}))) as url:
        common = ["--base-url", url, "--state", state, "--rate", "1000", "--log-format", "json"]
        ran = invoke("run", plan, *common, "--out", out, "--verbose")
        monkeypatch.setenv("EXTROVERT_API_KEY", OTHER_CANARY)
        (tmp_path / "again.csv").write_bytes(plan.read_bytes().replace(b"ACME", b"Acme 2"))
        refused = invoke("run", tmp_path / "again.csv", *common, "--out", tmp_path / "refused")

    assert ran.exit_code == 1, ran.output
    found = events(ran.stderr)
    assert found[0]["event"] == "run_started"
    assert found[0]["command"] == "run" and found[0]["run_id"]
    [source] = found[0]["inputs"]
    assert source["path"] == str(plan) and len(source["sha256"]) == 64 and source["rows"] == 6
    requests = named(found, "request")
    assert {(r["method"], r["path"]) for r in requests} == {
        ("GET", "/api/client/v2/user/team-members"),
        ("GET", "/api/client/v2/campaign"),
        ("POST", "/api/client/v2/campaign"),
    }
    assert all(r["level"] == "debug" and r["attempt"] >= 1 for r in requests)
    assert sorted(r["status"] for r in requests) == [200, 200, 201, 201, 201, 201, 201, 400]
    assert all(isinstance(r["latency_ms"], int) and r["latency_ms"] >= 0 for r in requests)
    rows = named(found, "row")
    reported = results(out)
    assert [(e["source"], e["row"], e["status"]) for e in rows] == [
        (r["source"], int(r["row"]), r["status"]) for r in reported
    ]
    for event, row in zip(rows, reported, strict=True):
        assert event["campaign_key"] == row["campaign_key"]
        assert event["campaign_id"] == row["campaign_id"]
        assert str(event["http_status"]) == row["http_status"]
        assert str(event["attempts"]) == row["attempts"]
        assert " | ".join(event["errors"]) == row["errors"]
        assert " | ".join(event["changes"]) == row["changes"] == ""
    assert [e["status"] for e in rows].count("created") == 5
    [rejected] = [e for e in rows if e["status"] == "rejected"]
    assert rejected["errors"] and rejected["http_status"] >= 400
    [warning] = named(found, "warning")
    assert warning["level"] == "warning" and "Windows-1252" in warning["message"]
    finished = found[-1]
    assert finished["event"] == "run_finished" and finished["level"] == "warning"
    assert finished["counts"] == {"created": 5, "rejected": 1}
    assert finished["exit_code"] == 1 and finished["folder"] == str(out)
    assert finished["requests"] == 6 and finished["duration_s"] >= 0
    assert ran.stdout == f"6 rows: 5 created, 1 rejected. Reports in {out}\n"

    assert refused.exit_code == 3, refused.output
    stopped = events(refused.stderr)
    [event] = named(stopped, "stopped")
    assert event["level"] == "error" and event["http_status"] == 401
    assert "refused the key" in event["message"]
    assert stopped[-1]["event"] == "run_finished" and stopped[-1]["exit_code"] == 3
    assert stopped[-1]["stopped"] == event["message"] and stopped[-1]["level"] == "error"
    assert named(stopped, "request") == []  # no --verbose this time

    outputs = ran.stdout + ran.stderr + refused.stdout + refused.stderr
    assert CANARY not in outputs and OTHER_CANARY not in outputs
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert CANARY.encode() not in data and OTHER_CANARY.encode() not in data, path


def test_validate_in_json_reports_each_row_like_results_csv(tmp_path: Path) -> None:
    """`validate --log-format json`: run_started, a row event per row (an invalid one with
    its messages), run_finished; the closing line still on stdout."""
    bad = dict(PROSPECTS_ROW, campaign_key="other", owner="nobody")
    plan = rows_csv(tmp_path / "plan.csv", [PROSPECTS_ROW, bad])
    out = tmp_path / "out"

    result = invoke("validate", plan, "--out", out, "--log-format", "json")

    assert result.exit_code == 1
    found = events(result.stderr)
    assert [e["event"] for e in found] == ["run_started", "row", "row", "run_finished"]
    assert found[0]["command"] == "validate"
    first, second = found[1], found[2]
    assert (first["row"], first["status"], first["errors"]) == (2, "valid", [])
    assert (second["row"], second["status"]) == (3, "invalid")
    assert second["errors"] == [results(out)[1]["errors"]]
    assert second["message"].startswith('plan.csv row 3: invalid: owner: "nobody"')
    assert found[-1]["counts"] == {"valid": 1, "invalid": 1}
    assert found[-1]["level"] == "warning"
    assert result.stdout == f"2 rows: 1 valid, 1 invalid. Reports in {out}\n"


def test_an_error_that_stops_the_command_is_one_error_event(tmp_path: Path) -> None:
    """A missing input in JSON: exit 2, one `error` event with the message and exit code,
    nothing on stdout."""
    missing = tmp_path / "nope.csv"

    result = invoke("validate", missing, "--out", tmp_path / "out", "--log-format", "json")

    assert result.exit_code == 2
    [error] = events(result.stderr)
    assert error["event"] == "error" and error["level"] == "error"
    assert error["message"] == f"{missing}: no such file or folder"
    assert error["exit_code"] == 2
    assert result.stdout == ""


def test_a_usage_error_found_by_the_command_is_an_error_event(tmp_path: Path) -> None:
    """`run --sandbox-fault` without --sandbox in JSON: an `error` event, exit 2, no
    usage text."""
    plan = rows_csv(tmp_path / "plan.csv", [PROSPECTS_ROW])

    result = invoke("run", plan, "--sandbox-fault", "503=1", "--log-format", "json")

    assert result.exit_code == 2
    [error] = events(result.stderr)
    assert error["event"] == "error" and error["message"] == "--sandbox-fault needs --sandbox"


def test_the_environment_can_ask_for_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CAMPAIGNS_RUN_LOG_FORMAT=json does what --log-format json does."""
    monkeypatch.setenv("CAMPAIGNS_RUN_LOG_FORMAT", "json")
    plan = rows_csv(tmp_path / "plan.csv", [PROSPECTS_ROW])

    result = invoke("validate", plan, "--out", tmp_path / "out")

    assert result.exit_code == 0
    assert [e["event"] for e in events(result.stderr)] == ["run_started", "row", "run_finished"]


def test_json_with_quiet_prints_nothing_on_exit_0_and_everything_else(tmp_path: Path) -> None:
    """--quiet in JSON: exit 0 prints nothing at all; exit 1 prints every event held."""
    good = rows_csv(tmp_path / "good.csv", [PROSPECTS_ROW])
    bad = rows_csv(tmp_path / "bad.csv", [dict(PROSPECTS_ROW, owner="nobody")])

    silent = invoke("validate", good, "--out", tmp_path / "a", "--log-format", "json", "-q")
    spoken = invoke("validate", bad, "--out", tmp_path / "b", "--log-format", "json", "-q")

    assert silent.exit_code == 0
    assert (silent.stdout, silent.stderr) == ("", "")
    assert spoken.exit_code == 1
    assert [e["event"] for e in events(spoken.stderr)] == ["run_started", "row", "run_finished"]
    assert spoken.stdout.startswith("1 row: 1 invalid.")


def test_text_mode_leaves_the_library_events_to_the_closing_text(tmp_path: Path) -> None:
    """Without --log-format json stderr stays as people read it: no JSON, no events."""
    plan = rows_csv(tmp_path / "plan.csv", [PROSPECTS_ROW])

    result = invoke("validate", plan, "--out", tmp_path / "out")

    assert result.exit_code == 0
    assert result.stderr == ""


def test_each_request_is_a_debug_event_without_key_body_or_query(
    tmp_path: Path, settings_for: SettingsFor, caplog: pytest.LogCaptureFixture
) -> None:
    """The library logs each request (the team list, the campaign list, each create) as a
    `request` event at DEBUG: method, path, status, latency, attempt; no key, no body."""
    caplog.set_level(logging.DEBUG, logger="pipeline")
    app = create_app(SandboxConfig(api_keys=frozenset({CANARY})))
    rows = [{**row, "owner": MEMBER_BY_EMAIL[row["owner"]]} for row in EXAMPLE_ROWS[:2]]
    plan = rows_csv(tmp_path / "plan.csv", rows)
    try:
        run_files(
            Options(paths=(plan,), out=tmp_path / "out"),
            settings_for(api_key=Secret(CANARY)),
            transport=httpx.ASGITransport(app=app),
            timing=FakeTiming().timing,
        )
    finally:
        app.state.sandbox.close()

    requests = [r for r in caplog.records if logs.event_of(r) == "request"]
    assert [r.levelno for r in requests] == [logging.DEBUG] * 3
    fields = [getattr(r, logs.FIELDS) for r in requests]
    assert [(f["method"], f["path"], f["status"]) for f in fields] == [
        ("GET", "/api/client/v2/campaign", 200),
        ("POST", "/api/client/v2/campaign", 201),
        ("POST", "/api/client/v2/campaign", 201),
    ]
    assert all(f["attempt"] == 1 and f["latency_ms"] >= 0 for f in fields)
    latency = fields[1]["latency_ms"]
    assert requests[1].getMessage() == (
        f"POST /api/client/v2/campaign -> 201 in {latency} ms (attempt 1)"
    )
    shown = caplog.text + "".join(json.dumps(f) for f in fields)
    assert CANARY not in shown
    assert EXAMPLE_ROWS[0]["campaign_name"] not in shown  # nothing of the body


def test_a_request_event_drops_the_query_string_and_names_a_failure() -> None:
    """A path's query string (a signed link's secret) never reaches the event; a request
    without an answer says why instead of a status."""
    logger = logging.getLogger("pipeline.test_json_logs")
    logger.setLevel(logging.DEBUG)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        logs.request(
            logger,
            "GET",
            "/x?token=SECRET",
            status=None,
            failure="ReadTimeout",
            seconds=1.5,
            attempt=2,
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)

    [record] = seen
    line = json.loads(logs.JsonFormatter().format(record))
    assert "SECRET" not in json.dumps(line)
    assert line["path"] == "/x" and line["status"] is None and line["failure"] == "ReadTimeout"
    assert line["latency_ms"] == 1500 and line["attempt"] == 2
    assert line["message"] == "GET /x -> ReadTimeout in 1500 ms (attempt 2)"


def test_a_record_of_another_library_is_a_log_event_naming_its_logger() -> None:
    """A record that is no event of ours becomes event `log` with its logger's name, and
    an exception's traceback."""
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "went %s", ("wrong",), sys.exc_info()
        )

    line = json.loads(logs.JsonFormatter().format(record))

    assert (line["event"], line["level"], line["message"]) == ("log", "error", "went wrong")
    assert line["logger"] == "uvicorn.error"
    assert "ValueError: boom" in line["exception"]


@pytest.mark.slow
def test_verbose_text_logs_each_request_as_one_line(tmp_path: Path) -> None:
    """`run --sandbox --verbose` in text: stderr is a line per request (method, path,
    status, latency, attempt) and nothing else; stdout the closing line."""
    out = tmp_path / "out"
    plan = rows_csv(tmp_path / "plan.csv", EXAMPLE_ROWS[:2])

    result = invoke(
        "run", plan, "--sandbox", "--verbose", "--rate", "1000", "--out", out,
        "--state", tmp_path / "state.sqlite",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    pattern = r"(GET|POST) /api/client/v2/[a-z/-]+ -> \d{3} in \d+ ms \(attempt \d+\)"
    assert lines and all(re.fullmatch(pattern, line) for line in lines), lines
    assert sum(line.startswith("POST /api/client/v2/campaign -> 201") for line in lines) == 2
    assert result.stdout == f"2 rows: 2 created. Reports in {out}\n"


def test_a_stopping_line_from_a_signal_handler_is_an_event_in_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What Ctrl-C prints at once is a `stopping` event in JSON (written past logging,
    as a signal handler must)."""
    from pipeline.cli import _OUTPUT, _Output, _say, cli, stopping_line

    with click.Context(cli) as context:
        context.meta[_OUTPUT] = _Output("json")
        _say("\n" + stopping_line(2, 30.0))

    [event] = events(capsys.readouterr().err)
    assert (event["event"], event["level"]) == ("stopping", "warning")
    assert event["message"] == stopping_line(2, 30.0)


def test_the_command_lines_own_warning_is_an_event_too(tmp_path: Path) -> None:
    """A key file other users can read: a `warning` event in JSON, not a `Warning:` line
    (here before a missing sheet stops the run: an `error` event, exit 2)."""
    key = tmp_path / "key.txt"
    key.write_text("some-key", encoding="utf-8")
    key.chmod(0o644)

    result = invoke(
        "run", tmp_path / "missing.csv", "--api-key-file", key, "--state", tmp_path / "s.sqlite",
        "--log-format", "json",
    )  # fmt: skip

    assert result.exit_code == 2
    found = events(result.stderr)
    [warning] = named(found, "warning")
    assert warning["message"].startswith(f"the key file {key} can be read by other users")
    assert found[-1]["event"] == "error" and found[-1]["exit_code"] == 2


def test_status_and_resolve_errors_are_events_in_json(tmp_path: Path) -> None:
    """`status` and `resolve` on a missing ledger in JSON: one `error` event each, exit 2."""
    state = tmp_path / "none.sqlite"

    for args in (("status",), ("resolve", "k1", "--absent")):
        result = invoke(*args, "--state", state, "--log-format", "json")

        assert result.exit_code == 2
        [error] = events(result.stderr)
        assert (error["event"], error["message"]) == ("error", f"no ledger at {state}")
        assert error["hint"] == "Run `campaigns run` first, or give --state."
