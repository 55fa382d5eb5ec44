"""Cron hygiene: `--quiet` is silent on exit 0; the stderr list groups rows that share a
status and message; rows settled from the campaign list say so; `campaigns status` names
rows as a person knows them, says when a run holds the ledger, and has `--json`."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import httpx
import pytest

import pipeline.status
from pipeline.cli import problem_lines
from pipeline.ledger import Ledger
from pipeline.model import Origin, Status
from pipeline.run import RowResult, run_files
from pipeline.settings import Options
from pipeline.template import EXAMPLE_ROWS
from sandbox.server import DEFAULT_MEMBERS, SandboxConfig, create_app
from tests.fakes import FakeTiming
from tests.helpers import PROSPECTS_ROW, SettingsFor, invoke, ledger_at, rows_csv

OWNER = DEFAULT_MEMBERS[0].id
EMAIL = DEFAULT_MEMBERS[0].email


def not_sent(row: int, source: str = "plan.csv", why: str = "interrupted (Ctrl-C)") -> RowResult:
    return RowResult(
        source, "", row, f"k{row}", f"Campaign {row}", Status.NOT_SENT, "", None, 0,
        (f"not sent: {why}",),
    )  # fmt: skip


# -- --quiet ------------------------------------------------------------------------------


def test_quiet_prints_nothing_on_exit_0_and_keeps_the_warning_in_the_summary(
    tmp_path: Path,
) -> None:
    """A valid Windows-1252 sheet with --quiet: exit 0, no output at all; the warning is
    in summary.json."""
    plan = rows_csv(
        tmp_path / "plan.csv", [dict(PROSPECTS_ROW, campaign_name="Café")], encoding="cp1252"
    )
    out = tmp_path / "out"

    quiet = invoke("validate", plan, "--out", out, "--quiet")

    assert quiet.exit_code == 0
    assert (quiet.stdout, quiet.stderr) == ("", "")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert any("Windows-1252" in warning for warning in summary["warnings"])
    spoken = invoke("validate", plan, "--out", tmp_path / "again")
    assert spoken.stderr.startswith("Warning: plan.csv: not UTF-8")


def test_quiet_speaks_with_the_warning_when_a_row_needs_a_person(tmp_path: Path) -> None:
    """With --quiet and exit 1 everything is printed: the warning, the row, the closing line."""
    bad = dict(PROSPECTS_ROW, campaign_name="Café", owner="nobody")
    plan = rows_csv(tmp_path / "plan.csv", [bad], encoding="cp1252")

    result = invoke("validate", plan, "--out", tmp_path / "out", "--quiet")

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Warning: plan.csv: not UTF-8")
    assert lines[1].startswith('plan.csv row 2: invalid: owner: "nobody"')
    assert result.stdout.startswith("1 row: 1 invalid.")


def test_quiet_has_a_help_that_says_when_it_is_silent() -> None:
    """`--quiet`'s help says it is silent only on exit 0 and where warnings stay."""
    text = " ".join(invoke("run", "--help").stdout.split())

    assert "Print nothing at all when the exit code is 0" in text
    assert "summary.json" in text


# -- the list of rows that need a person ---------------------------------------------------


def test_rows_sharing_a_status_and_message_are_one_line() -> None:
    """156 rows not sent for one reason are one line naming them, not 156 lines."""
    rows = [not_sent(number) for number in range(2, 158)]

    assert problem_lines(rows) == ["156 rows not sent: interrupted (Ctrl-C) (plan.csv rows 2-157)"]


def test_a_row_alone_in_its_message_keeps_its_own_line() -> None:
    """Rows with their own message are listed one per line, in sheet order, among groups."""
    alone = RowResult("plan.csv", "", 3, "k3", "C", Status.INVALID, "", None, 0, ("owner: bad",))
    rows = [not_sent(2), alone, not_sent(4), not_sent(9, source="b.csv")]

    assert problem_lines(rows) == [
        "3 rows not sent: interrupted (Ctrl-C) (plan.csv rows 2, 4; b.csv row 9)",
        "plan.csv row 3: invalid: owner: bad",
    ]


def test_a_group_names_at_most_six_runs_of_rows() -> None:
    """Scattered rows: the first six runs of row numbers, then how many rows more."""
    rows = [not_sent(number) for number in range(2, 40, 2)]

    [line] = problem_lines(rows)

    assert line == (
        "19 rows not sent: interrupted (Ctrl-C) (plan.csv rows 2, 4, 6, 8, 10, 12 and 13 more)"
    )


def test_past_the_shown_lines_the_rest_are_counted_as_rows() -> None:
    """Past 20 lines: `... and N more in failed.csv`, N counting rows, not lines."""
    rows = [not_sent(number, why=f"reason {number}") for number in range(2, 25)]
    rows += [not_sent(number, why="same") for number in range(25, 30)]

    lines = problem_lines(rows)

    assert len(lines) == 21
    assert lines[-1] == "... and 8 more in failed.csv"


def test_validate_groups_invalid_rows_with_one_message(tmp_path: Path) -> None:
    """On the command line, 30 rows with the same mistake are one stderr line."""
    rows = [dict(PROSPECTS_ROW, campaign_key=f"k{n}", owner="nobody") for n in range(30)]
    plan = rows_csv(tmp_path / "plan.csv", rows)

    result = invoke("validate", plan, "--out", tmp_path / "out")

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith('30 rows invalid: owner: "nobody" is neither')
    assert line.endswith("(plan.csv rows 2-31)")


# -- rows settled from the campaign list ---------------------------------------------------


def test_a_row_settled_from_the_campaign_list_says_so(
    tmp_path: Path, settings_for: SettingsFor
) -> None:
    """Every create answered 500 after storing it: each row is created (the list found
    it) and its note, in results.csv and the ledger, says after what."""
    app = create_app(SandboxConfig(faults={"500_after": 1.0}))
    rows = [{**row, "owner": OWNER} for row in EXAMPLE_ROWS[:2]]
    plan = rows_csv(tmp_path / "plan.csv", rows)
    settings = settings_for()
    try:
        result = run_files(
            Options(paths=(plan,), out=tmp_path / "out"),
            settings,
            transport=httpx.ASGITransport(app=app),
            timing=FakeTiming().timing,
        )
    finally:
        app.state.sandbox.close()

    note = "found in the campaign list after HTTP 500"
    assert result.exit_code == 0
    assert [(r.status, r.errors) for r in result.rows] == [(Status.CREATED, (note,))] * 2
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        assert [row["errors"] for row in csv.DictReader(stream)] == [note, note]
    with ledger_at(settings.state, run_id="look") as ledger:
        assert {e.last_error for e in ledger.entries()} == {note}


# -- campaigns status ----------------------------------------------------------------------


def put(ledger: Ledger, key: str, status: Status, name: str, row: int, error: str) -> None:
    origin = Origin("plan.xlsx", "campaigns", row, OWNER, name)
    ledger.mark_sending(key, payload={"name": name, "ownerId": OWNER}, origin=origin)
    ledger.record(key, status, error=error, http_status=500, attempts=1)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A ledger that learned the owner's e-mail, with an unknown and a rejected row."""
    path = tmp_path / "state.sqlite"
    with ledger_at(path) as ledger:
        ledger.remember_owners({EMAIL: OWNER})
        put(ledger, "acme q1/cto", Status.UNKNOWN, "ACME Q1", 4, "HTTP 500: oops")
        put(ledger, "k2", Status.REJECTED, "Topic AI", 5, "style not found")
    return path


def test_status_names_rows_by_file_row_name_and_owner_email(state: Path) -> None:
    """Each row that needs a person: file, sheet, row, campaign name, owner e-mail, the
    ledger's note; a row whose create is uncertain gets the resolve command to copy."""
    result = invoke("status", "--state", state)

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    at = lines.index("2 need a person:")
    assert lines[at + 1 :] == [
        f'  plan.xlsx [campaigns] row 4: unknown: "ACME Q1" of {EMAIL}: HTTP 500: oops',
        "    once you have looked in Extrovert: campaigns resolve 'acme q1/cto' --created ID"
        f" --state {state} (or --absent)",
        f'  plan.xlsx [campaigns] row 5: rejected: "Topic AI" of {EMAIL}: style not found',
    ]
    assert not any(line.startswith("Running now") for line in lines)


def test_status_names_the_owner_by_id_when_no_email_is_known(tmp_path: Path) -> None:
    """An owner the ledger knows only by id is named by it."""
    state = tmp_path / "state.sqlite"
    with ledger_at(state) as ledger:
        put(ledger, "k1", Status.FAILED, "ACME", 2, "gave up")

    result = invoke("status", "--state", state)

    assert f'row 2: failed: "ACME" of owner {OWNER}: gave up' in result.stdout


def test_status_says_when_a_run_holds_the_ledger(state: Path) -> None:
    """While a run holds the lock: a line naming the process (this one) and the lock
    file; `--json` says `locked` and `locked_by`."""
    with ledger_at(state, run_id="live"):
        text = invoke("status", "--state", state)
        data = json.loads(invoke("status", "--state", state, "--json").stdout)

    lock = f"{state.resolve()}.lock"
    assert f"Running now: process {os.getpid()} holds the ledger's lock ({lock})" in text.stdout
    assert (data["locked"], data["locked_by"]) == (True, os.getpid())
    after = json.loads(invoke("status", "--state", state, "--json").stdout)
    assert (after["locked"], after["locked_by"]) == (False, None)


def test_status_tries_the_lock_where_the_os_lists_none(
    state: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without /proc/locks the lock is tried for an instant: held is said without a
    process, free is left free (a run can take it right after)."""
    monkeypatch.setattr(pipeline.status, "PROC_LOCKS", tmp_path / "no-proc-locks")

    with ledger_at(state, run_id="live"):
        held = pipeline.status.lock_holder(state)
    free = pipeline.status.lock_holder(state)

    assert held is not None and held.pid is None
    assert free is None
    with ledger_at(state, run_id="next"):  # the instant's lock was let go
        pass


def test_status_json_names_each_row_for_monitoring(state: Path) -> None:
    """`--json` keeps its fields and adds the name, owner id and e-mail of each row."""
    result = invoke("status", "--state", state, "--json")

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    first = data["attention"][0]
    assert {k: first[k] for k in ("key", "status", "source", "sheet", "row")} == {
        "key": "acme q1/cto",
        "status": "unknown",
        "source": "plan.xlsx",
        "sheet": "campaigns",
        "row": 4,
    }
    assert (first["name"], first["owner_id"], first["owner_email"]) == ("ACME Q1", OWNER, EMAIL)
    assert (first["http_status"], first["last_error"]) == (500, "HTTP 500: oops")
    assert data["counts"]["unknown"] == 1 and data["total"] == 2
