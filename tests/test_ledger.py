"""The ledger: statuses, crash recovery, the lock, the schema guard and run records."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import astuple, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.errors import ConfigError, LockedError
from pipeline.ledger import CRASHED, LEDGER_STATUSES, Entry, Ledger, payload_hash

ROOT = Path(__file__).resolve().parents[1]
OWNER = "0f8fad5b-d9cb-469f-a165-70867728950e"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.sqlite"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    with Ledger.open(path, run_id="run-1", clock=Clock()) as opened:
        yield opened


def send(ledger: Ledger, key: str, *, row: int = 2, source: str = "a.csv", sheet: str = "") -> None:
    ledger.mark_sending(
        key,
        payload_hash="h-" + key,
        source=source,
        sheet=sheet,
        row=row,
        owner_id=OWNER,
        name="Campaign " + key,
    )


def raw(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path))


def run_child(path: Path, body: str) -> subprocess.Popen[str]:
    """Start a Python process that opens the ledger at `path`, runs `body`, then waits."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        from pipeline.ledger import Ledger
        ledger = Ledger.open(Path({str(path)!r}), run_id="child")
        """
    ) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )


def test_file_folder_and_wal_mode_are_created(ledger: Ledger, path: Path) -> None:
    """Opening creates the folder and the database, in WAL journal mode."""
    assert path.is_file()
    with raw(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == "1"


def test_mark_sending_records_the_row_without_counting_an_attempt(ledger: Ledger) -> None:
    """mark_sending stores the row as `sending` with its source, owner, name and times."""
    send(ledger, "k1", row=7, sheet="campaigns")
    entry = ledger.get("k1")
    assert entry == Entry(
        key="k1",
        status="sending",
        payload_hash="h-k1",
        campaign_id="",
        attempts=0,
        last_error="",
        http_status=None,
        source="a.csv",
        sheet="campaigns",
        row=7,
        owner_id=OWNER,
        name="Campaign k1",
        run_id="run-1",
        created_at="2024-05-01T12:00:02.000+00:00",
        updated_at="2024-05-01T12:00:02.000+00:00",
    )
    assert ledger.get("missing") is None


def test_record_commits_the_outcome_and_adds_attempts(ledger: Ledger) -> None:
    """record sets the outcome and adds its attempts to the total kept over runs."""
    send(ledger, "k1")
    ledger.record("k1", "failed", http_status=503, error="service unavailable", attempts=3)
    send(ledger, "k1")
    ledger.record("k1", "created", campaign_id="c-1", http_status=201, attempts=2)
    entry = ledger.get("k1")
    assert entry is not None
    assert (entry.status, entry.campaign_id, entry.http_status) == ("created", "c-1", 201)
    assert entry.attempts == 5
    assert entry.last_error == ""
    assert entry.created_at < entry.updated_at


def test_outcome_is_committed_at_once(ledger: Ledger, path: Path) -> None:
    """Another connection sees each state change as soon as the call returns."""
    send(ledger, "k1")
    with raw(path) as conn:
        assert conn.execute("SELECT status FROM campaigns").fetchone()[0] == "sending"
    ledger.record("k1", "rejected", http_status=422, error="name: too long", attempts=1)
    with raw(path) as conn:
        assert conn.execute("SELECT status FROM campaigns").fetchone()[0] == "rejected"


def test_created_is_final(ledger: Ledger) -> None:
    """A created entry cannot change status, change id, or be marked sending again."""
    send(ledger, "k1")
    ledger.record("k1", "created", campaign_id="c-1", attempts=1)
    for status in ("failed", "unknown", "rejected", "not_sent"):
        with pytest.raises(ValueError, match="c-1"):
            ledger.record("k1", status, error="late")
    with pytest.raises(ValueError, match="c-1"):
        ledger.record("k1", "created", campaign_id="c-2")
    with pytest.raises(ValueError, match="never sent again"):
        send(ledger, "k1")
    with pytest.raises(ValueError, match="c-1"):
        ledger.adopt(
            "k1",
            campaign_id="c-9",
            payload_hash="h",
            source="a.csv",
            sheet="",
            row=2,
            owner_id=OWNER,
            name="x",
            note="found in the campaign list",
        )
    entry = ledger.get("k1")
    assert entry is not None
    assert (entry.status, entry.campaign_id, entry.attempts) == ("created", "c-1", 1)


def test_record_refuses_bad_calls(ledger: Ledger) -> None:
    """record refuses unknown statuses, 'sending', a created without id and unseen keys."""
    send(ledger, "k1")
    with pytest.raises(ValueError, match="unknown ledger status"):
        ledger.record("k1", "done")
    with pytest.raises(ValueError, match="mark_sending"):
        ledger.record("k1", "sending")
    with pytest.raises(ValueError, match="campaign id"):
        ledger.record("k1", "created")
    with pytest.raises(ValueError, match="mark_sending"):
        ledger.record("nobody", "failed")
    entry = ledger.get("k1")
    assert entry is not None
    assert entry.status == "sending"


def test_adopt_records_a_remote_campaign_as_created(ledger: Ledger) -> None:
    """adopt turns an unknown (or unseen) key into created with the remote id and a note."""
    send(ledger, "k1")
    ledger.record("k1", "unknown", http_status=502, error="bad gateway", attempts=1)
    for key in ("k1", "k2"):
        ledger.adopt(
            key,
            campaign_id="c-" + key,
            payload_hash="h-" + key,
            source="a.csv",
            sheet="",
            row=3,
            owner_id=OWNER,
            name="Campaign " + key,
            note="found in the campaign list",
        )
    k1, k2 = ledger.get("k1"), ledger.get("k2")
    assert k1 is not None and k2 is not None
    assert (k1.status, k1.campaign_id, k1.attempts, k1.http_status) == ("created", "c-k1", 1, None)
    assert k1.last_error == "found in the campaign list"
    assert (k2.status, k2.campaign_id, k2.attempts) == ("created", "c-k2", 0)
    assert ledger.known_campaign_ids() == {"c-k1", "c-k2"}


def test_sending_left_by_a_closed_run_becomes_unknown(path: Path) -> None:
    """A row still `sending` when the ledger is reopened becomes `unknown`, counted once."""
    with Ledger.open(path, run_id="run-1") as first:
        send(first, "k1")
        send(first, "k2")
        first.record("k2", "created", campaign_id="c-2", attempts=1)
        assert first.recovered == 0
    with Ledger.open(path, run_id="run-2") as second:
        assert second.recovered == 1
        entry = second.get("k1")
        assert entry is not None
        assert (entry.status, entry.last_error) == ("unknown", CRASHED)
        assert entry.run_id == "run-1"
    with Ledger.open(path, run_id="run-3") as third:
        assert third.recovered == 0


def test_sending_left_by_a_killed_process_becomes_unknown(path: Path) -> None:
    """A process SIGKILLed right after mark_sending leaves a row that reopens as `unknown`."""
    body = """
        ledger.mark_sending("k1", payload_hash="h", source="a.csv", sheet="", row=2,
                            owner_id="o", name="n")
        os.kill(os.getpid(), signal.SIGKILL)
    """
    with run_child(path, body) as child:
        assert child.wait(timeout=30) == -signal.SIGKILL
    with Ledger.open(path, run_id="run-2") as ledger:
        assert ledger.recovered == 1
        entry = ledger.get("k1")
        assert entry is not None
        assert entry.status == "unknown"


def test_read_only_open_does_not_recover(path: Path) -> None:
    """Opening with lock=False (a status look beside a live run) leaves `sending` alone."""
    with Ledger.open(path, run_id="run-1") as live:
        send(live, "k1")
        with Ledger.open(path, run_id="status", lock=False) as look:
            assert look.recovered == 0
            assert look.counts()["sending"] == 1


def test_get_many_with_5000_keys(ledger: Ledger, path: Path) -> None:
    """get_many returns the known ones among thousands of keys, past SQLite's parameter limit."""
    send(ledger, "k0")
    template = ledger.get("k0")
    assert template is not None
    # One transaction from the side: 5,000 fsynced commits through mark_sending take ~20 s.
    rows = [astuple(replace(template, key=f"k{n}", row=n + 2)) for n in range(1, 5000)]
    with raw(path) as conn, conn:
        conn.executemany(f"INSERT INTO campaigns VALUES ({', '.join('?' * 15)})", rows)
    found = ledger.get_many([f"k{n}" for n in range(0, 10000, 2)] + ["k0", "k2"])
    assert len(found) == 2500
    assert found["k4998"] == replace(template, key="k4998", row=5000)
    assert ledger.get_many([]) == {}


def test_counts_and_entries_filter(ledger: Ledger) -> None:
    """counts lists every status; entries filters by status and sorts by source, sheet, row."""
    send(ledger, "b", source="b.csv", row=2)
    send(ledger, "a3", source="a.xlsx", sheet="campaigns", row=3)
    send(ledger, "a2", source="a.xlsx", sheet="campaigns", row=2)
    send(ledger, "c", source="c.csv", row=2)
    ledger.record("b", "failed", attempts=2)
    ledger.record("a3", "created", campaign_id="c-a3", attempts=1)
    ledger.record("a2", "failed", attempts=2)
    assert ledger.counts() == dict.fromkeys(LEDGER_STATUSES, 0) | {
        "sending": 1,
        "created": 1,
        "failed": 2,
    }
    assert [e.key for e in ledger.entries()] == ["a2", "a3", "b", "c"]
    assert [e.key for e in ledger.entries({"failed", "sending"})] == ["a2", "b", "c"]
    assert ledger.entries([]) == []
    with pytest.raises(ValueError, match="unknown ledger status"):
        ledger.entries(["done"])


def test_second_open_is_locked_out_until_close(path: Path) -> None:
    """A second open while the first holds the lock raises LockedError naming the lock file."""
    first = Ledger.open(path, run_id="run-1")
    try:
        with pytest.raises(LockedError) as caught:
            Ledger.open(path, run_id="run-2")
        assert f"{path}.lock" in str(caught.value)
        assert "--state" in caught.value.hint
    finally:
        first.close()
    with Ledger.open(path, run_id="run-3") as again:
        assert again.counts()["sending"] == 0


def test_lock_of_a_live_process_blocks_and_of_a_killed_one_does_not(path: Path) -> None:
    """Another process's lock blocks the open; once that process is SIGKILLed it does not."""
    body = """
        print("locked", flush=True)
        signal.pause()
    """
    with run_child(path, body) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "locked"
            with pytest.raises(LockedError):
                Ledger.open(path, run_id="run-2")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    assert Path(f"{path}.lock").exists()
    with Ledger.open(path, run_id="run-3") as ledger:
        assert ledger.recovered == 0


def test_newer_schema_version_is_refused(path: Path) -> None:
    """A ledger written by a newer schema version is a ConfigError naming the file."""
    Ledger.open(path, run_id="run-1").close()
    with raw(path) as conn, conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(ConfigError, match="newer") as caught:
        Ledger.open(path, run_id="run-2")
    assert str(path) in str(caught.value)


def test_garbage_file_is_a_config_error_and_frees_the_lock(path: Path) -> None:
    """A file that is not SQLite is a ConfigError naming it, and the lock is not kept."""
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database\n" * 100)
    for _ in range(2):  # the second try would be LockedError if the first kept the lock
        with pytest.raises(ConfigError, match="not a campaigns ledger") as caught:
            Ledger.open(path, run_id="run-1")
        assert str(path) in str(caught.value)


def test_other_sqlite_database_is_a_config_error(path: Path) -> None:
    """A SQLite file with other tables is not taken over as a ledger."""
    path.parent.mkdir(parents=True)
    with raw(path) as conn, conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(ConfigError, match="not a campaigns ledger"):
        Ledger.open(path, run_id="run-1")


def test_payload_hash_is_stable_under_key_order() -> None:
    """payload_hash is the same for the same payload whatever the key order, at any depth."""
    one = {"name": "Q1", "type": "KEYWORD", "dmSettings": {"enabled": True, "afterDays": 3}}
    two = {"dmSettings": {"afterDays": 3, "enabled": True}, "type": "KEYWORD", "name": "Q1"}
    assert payload_hash(one) == payload_hash(two)
    assert len(payload_hash(one)) == 64
    assert payload_hash(one) != payload_hash({**one, "name": "Q2"})


def test_runs_are_recorded(path: Path) -> None:
    """start_run and finish_run keep each run's command, times, counts and exit code."""
    with Ledger.open(path, run_id="run-1") as ledger:
        ledger.start_run("run", T0)
        ledger.finish_run({"created": 3, "failed": 1}, 1, T0 + timedelta(seconds=90))
    with Ledger.open(path, run_id="run-2") as ledger:
        ledger.start_run("run", T0 + timedelta(hours=1))
        assert ledger.runs() == [
            {
                "run_id": "run-1",
                "command": "run",
                "started": "2024-05-01T12:00:00.000+00:00",
                "finished": "2024-05-01T12:01:30.000+00:00",
                "counts": {"created": 3, "failed": 1},
                "exit_code": 1,
            },
            {
                "run_id": "run-2",
                "command": "run",
                "started": "2024-05-01T13:00:00.000+00:00",
                "finished": None,
                "counts": {},
                "exit_code": None,
            },
        ]
    with Ledger.open(path, run_id="run-3") as ledger, pytest.raises(ValueError):
        ledger.finish_run({}, 0, T0)


def test_no_column_can_hold_a_secret(ledger: Ledger, path: Path) -> None:
    """The campaigns table holds exactly the Entry fields: there is no place for an API key."""
    with raw(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(campaigns)")]
    assert columns == list(Entry.__dataclass_fields__)
