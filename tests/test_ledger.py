"""The ledger: statuses, payloads, crash recovery, the lock, the schema guard and its
migration from version 1, and run records."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import astuple, replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ConfigError, LedgerError, LockedError
from pipeline.ledger import (
    CRASHED,
    LEDGER_STATUSES,
    SCHEMA_VERSION,
    Entry,
    Ledger,
    canonical_json,
    payload_hash,
)
from pipeline.model import Origin, Status
from tests.fakes import FakeTiming

ROOT = Path(__file__).resolve().parents[1]
SCHEMA1 = ROOT / "tests" / "data" / "ledger-schema1.sqlite"
OWNER = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.sqlite"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    with Ledger.open(path, run_id="run-1", timing=FakeTiming(tick=1.0).timing) as opened:
        yield opened


def open_ledger(path: Path, run_id: str, *, lock: bool = True) -> Ledger:
    return Ledger.open(path, run_id=run_id, timing=FakeTiming(tick=1.0).timing, lock=lock)


def payload_of(key: str) -> dict[str, Any]:
    return {"name": "Campaign " + key, "ownerId": OWNER, "type": "KEYWORD", "postMaxAgeDays": 30}


def origin(key: str, *, row: int = 2, source: str = "a.csv", sheet: str = "") -> Origin:
    return Origin(source, sheet, row, OWNER, "Campaign " + key)


def send(ledger: Ledger, key: str, *, row: int = 2, source: str = "a.csv", sheet: str = "") -> None:
    ledger.mark_sending(
        key, payload=payload_of(key), origin=origin(key, row=row, source=source, sheet=sheet)
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
        from pipeline.model import Origin
        from pipeline.timing import Timing
        ledger = Ledger.open(Path({str(path)!r}), run_id="child", timing=Timing.real())
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
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert meta == {"schema_version": str(SCHEMA_VERSION), "ledger_id": ledger.identity}


def test_a_ledger_keeps_one_identity_and_another_ledger_has_another(
    ledger: Ledger, path: Path, tmp_path: Path
) -> None:
    """The identity made with a ledger stays the same each time it is opened (locked or
    not); a second ledger gets its own; one made before identities gets one once."""
    first = ledger.identity
    ledger.close()
    with open_ledger(path, "run-2", lock=False) as again:
        assert again.identity == first
    with open_ledger(tmp_path / "other.sqlite", "run-1") as other:
        assert len(other.identity) == len(first) == 32 and other.identity != first
    with raw(path) as conn, conn:
        conn.execute("DELETE FROM meta WHERE key = 'ledger_id'")  # as an older version made it
    with open_ledger(path, "run-3") as older:
        given = older.identity
    with open_ledger(path, "run-4") as later:
        assert later.identity == given != first


def test_key_states_change_with_any_change_to_the_key_only(ledger: Ledger) -> None:
    """key_states: status, id, last change and a fingerprint per known key (unknown keys
    left out); recording a key changes its fingerprint and no other key's."""
    send(ledger, "k1")
    send(ledger, "k2")
    before = ledger.key_states(["k1", "k2", "absent"])
    ledger.record("k1", "created", campaign_id="c-1", attempts=1)
    after = ledger.key_states(["k1", "k2", "absent"])

    assert set(before) == set(after) == {"k1", "k2"}
    assert before["k2"] == after["k2"]
    assert before["k1"]["fingerprint"] != after["k1"]["fingerprint"]
    assert (after["k1"]["status"], after["k1"]["campaign_id"]) == ("created", "c-1")
    entry = ledger.get("k1")
    assert entry is not None and after["k1"]["updated_at"] == entry.updated_at


def test_mark_sending_records_the_row_without_counting_an_attempt(ledger: Ledger) -> None:
    """mark_sending stores the row as `sending` with its origin, payload and times."""
    send(ledger, "k1", row=7, sheet="campaigns")
    entry = ledger.get("k1")
    assert entry == Entry(
        key="k1",
        status=Status.SENDING,
        payload_hash=payload_hash(payload_of("k1")),
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
        payload=payload_of("k1"),
    )
    assert entry is not None
    assert entry.origin == origin("k1", row=7, sheet="campaigns")
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
            origin=origin("k1"),
            note="found in the campaign list",
            payload=None,
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
            origin=origin(key, row=3),
            note="found in the campaign list",
            payload=payload_of(key),
        )
    k1, k2 = ledger.get("k1"), ledger.get("k2")
    assert k1 is not None and k2 is not None
    assert (k1.status, k1.campaign_id, k1.attempts, k1.http_status) == ("created", "c-k1", 1, None)
    assert k1.last_error == "found in the campaign list"
    assert (k2.status, k2.campaign_id, k2.attempts) == ("created", "c-k2", 0)
    assert (k2.payload, k2.payload_hash) == (payload_of("k2"), payload_hash(payload_of("k2")))
    assert ledger.known_campaign_ids() == {"c-k1", "c-k2"}


def test_sending_left_by_a_closed_run_becomes_unknown(path: Path) -> None:
    """A row still `sending` when the ledger is reopened becomes `unknown`, counted once."""
    with open_ledger(path, "run-1") as first:
        send(first, "k1")
        send(first, "k2")
        first.record("k2", "created", campaign_id="c-2", attempts=1)
        assert first.recovered == 0
    with open_ledger(path, "run-2") as second:
        assert second.recovered == 1
        entry = second.get("k1")
        assert entry is not None
        assert (entry.status, entry.last_error) == ("unknown", CRASHED)
        assert entry.run_id == "run-1"
    with open_ledger(path, "run-3") as third:
        assert third.recovered == 0


@pytest.mark.slow
def test_sending_left_by_a_killed_process_becomes_unknown(path: Path) -> None:
    """A process SIGKILLed right after mark_sending leaves a row that reopens as `unknown`."""
    body = """
        ledger.mark_sending("k1", payload={"name": "n"}, origin=Origin("a.csv", "", 2, "o", "n"))
        os.kill(os.getpid(), signal.SIGKILL)
    """
    with run_child(path, body) as child:
        assert child.wait(timeout=30) == -signal.SIGKILL
    with open_ledger(path, "run-2") as ledger:
        assert ledger.recovered == 1
        entry = ledger.get("k1")
        assert entry is not None
        assert entry.status == "unknown"


def test_read_only_open_does_not_recover(path: Path) -> None:
    """Opening with lock=False (a status look beside a live run) leaves `sending` alone."""
    with open_ledger(path, "run-1") as live:
        send(live, "k1")
        with open_ledger(path, "status", lock=False) as look:
            assert look.recovered == 0
            assert look.counts()["sending"] == 1


def test_get_many_with_5000_keys(ledger: Ledger, path: Path) -> None:
    """get_many returns the known ones among thousands of keys, past SQLite's parameter limit."""
    send(ledger, "k0")
    template = ledger.get("k0")
    assert template is not None
    assert template.payload is not None
    # One transaction from the side: 5,000 fsynced commits through mark_sending take ~20 s.
    text = canonical_json(template.payload)
    rows = [
        (*astuple(replace(template, key=f"k{n}", row=n + 2))[:-1], text) for n in range(1, 5000)
    ]
    with raw(path) as conn, conn:
        conn.executemany(f"INSERT INTO campaigns VALUES ({', '.join('?' * 16)})", rows)
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
    first = open_ledger(path, "run-1")
    try:
        with pytest.raises(LockedError) as caught:
            open_ledger(path, "run-2")
        assert f"{path}.lock" in str(caught.value)
        assert "--state" in caught.value.hint
    finally:
        first.close()
    with open_ledger(path, "run-3") as again:
        assert again.counts()["sending"] == 0


@pytest.mark.slow
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
                open_ledger(path, "run-2")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    assert Path(f"{path}.lock").exists()
    with open_ledger(path, "run-3") as ledger:
        assert ledger.recovered == 0


def test_newer_schema_version_is_refused(path: Path) -> None:
    """A ledger of a newer schema version is a LedgerError naming the file and both versions."""
    open_ledger(path, "run-1").close()
    with raw(path) as conn, conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    for _ in range(2):  # the second try would be LockedError if the first kept the lock
        with pytest.raises(LedgerError, match="newer") as caught:
            open_ledger(path, "run-2")
        message = str(caught.value)
        assert str(path) in message
        assert f"version {SCHEMA_VERSION + 1}" in message
        assert f"reads version {SCHEMA_VERSION}" in message
        assert "--state" in caught.value.hint
        assert caught.value.exit_code == 2
    with raw(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION + 1),
        )


def test_garbage_file_is_a_ledger_error_and_frees_the_lock(path: Path) -> None:
    """A file that is not SQLite is a LedgerError naming it, and the lock is not kept."""
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database\n" * 100)
    for _ in range(2):  # the second try would be LockedError if the first kept the lock
        with pytest.raises(LedgerError, match="not a campaigns ledger") as caught:
            open_ledger(path, "run-1")
        assert str(path) in str(caught.value)
        assert isinstance(caught.value, ConfigError)


def test_other_sqlite_database_is_a_ledger_error(path: Path) -> None:
    """A SQLite file with other tables is not taken over as a ledger."""
    path.parent.mkdir(parents=True)
    with raw(path) as conn, conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(LedgerError, match="not a campaigns ledger"):
        open_ledger(path, "run-1")


def test_unmakeable_folder_is_a_ledger_error(tmp_path: Path) -> None:
    """A --state whose folder cannot be made (a file is in the way) is a LedgerError."""
    (tmp_path / "taken").write_text("a file, not a folder\n")
    with pytest.raises(LedgerError, match="cannot create the ledger's folder"):
        open_ledger(tmp_path / "taken" / "state.sqlite", "run-1")


def test_payload_hash_is_stable_under_key_order() -> None:
    """payload_hash is the same for the same payload whatever the key order, at any depth."""
    one = {"name": "Q1", "type": "KEYWORD", "dmSettings": {"enabled": True, "afterDays": 3}}
    two = {"dmSettings": {"afterDays": 3, "enabled": True}, "type": "KEYWORD", "name": "Q1"}
    assert payload_hash(one) == payload_hash(two)
    assert len(payload_hash(one)) == 64
    assert payload_hash(one) != payload_hash({**one, "name": "Q2"})


UNICODE_PAYLOAD: dict[str, Any] = {
    "type": "TARGET_USER",
    "name": "Café «Q2» — 東京 ☕",
    "ownerId": OWNER,
    "dmSettings": {"messages": ["Hola, ¿qué tal?", "hi 👋🏽"], "enabled": True, "afterDays": 3},
    "postActivityFilter": {"minPostLikes": 0, "maxPostLikes": None, "ratio": 0.25},
}


def test_mark_sending_keeps_the_exact_payload(ledger: Ledger, path: Path) -> None:
    """mark_sending stores the canonical payload; Entry.payload gives it back exactly."""
    reordered = {
        key: dict(reversed(value.items())) if isinstance(value, dict) else value
        for key, value in reversed(UNICODE_PAYLOAD.items())
    }
    assert list(reordered) != list(UNICODE_PAYLOAD)
    ledger.mark_sending("k1", payload=UNICODE_PAYLOAD, origin=origin("k1"))
    ledger.mark_sending("k2", payload=reordered, origin=origin("k2"))
    ledger.record("k1", "failed", http_status=503, error="service unavailable", attempts=1)
    for key in ("k1", "k2"):
        entry = ledger.get(key)
        assert entry is not None
        assert entry.payload == UNICODE_PAYLOAD
        assert entry.payload_hash == payload_hash(UNICODE_PAYLOAD)
    with raw(path) as conn:
        texts = [row[0] for row in conn.execute("SELECT payload FROM campaigns ORDER BY key")]
    assert texts == [canonical_json(UNICODE_PAYLOAD)] * 2
    assert texts[0].startswith(
        '{"dmSettings":{"afterDays":3,"enabled":true,"messages":["Hola, ¿qué tal?","hi 👋🏽"]},'
        '"name":"Café «Q2» — 東京 ☕","ownerId":'
    )


def test_adopt_without_a_payload_stores_none(ledger: Ledger) -> None:
    """adopt with payload=None (settings not known) stores no payload and an empty hash."""
    send(ledger, "k1")
    ledger.record("k1", "unknown", error="timed out", attempts=1)
    for key in ("k1", "k2"):
        note = "existed before the first run (--skip-existing)"
        ledger.adopt(key, campaign_id="c-" + key, origin=origin(key), note=note, payload=None)
        entry = ledger.get(key)
        assert entry is not None
        assert (entry.status, entry.payload, entry.payload_hash) == (Status.CREATED, None, "")


def schema1_copy(tmp_path: Path) -> Path:
    """A copy of the committed schema-1 ledger: the .sqlite file alone, no -wal or -shm."""
    copy = tmp_path / "old" / "state.sqlite"
    copy.parent.mkdir()
    shutil.copyfile(SCHEMA1, copy)
    return copy


def snapshot(path: Path) -> dict[str, Any]:
    """Everything in a ledger file, read with plain sqlite3."""
    with raw(path) as conn:
        conn.row_factory = sqlite3.Row
        return {
            "meta": dict(conn.execute("SELECT key, value FROM meta").fetchall()),
            "campaigns": {row["key"]: dict(row) for row in conn.execute("SELECT * FROM campaigns")},
            "owners": [tuple(row) for row in conn.execute("SELECT * FROM owners ORDER BY email")],
            "runs": [tuple(row) for row in conn.execute("SELECT * FROM runs ORDER BY id")],
            "columns": [row[1] for row in conn.execute("PRAGMA table_info(campaigns)")],
        }


@pytest.mark.parametrize("lock", [True, False], ids=["locked", "read-only"])
def test_schema1_ledger_is_migrated_in_place_with_nothing_lost(tmp_path: Path, lock: bool) -> None:
    """Opening a schema-1 ledger makes it the current schema and keeps every entry, owner,
    run and binding (its keys, all lower-case already, keep their spelling)."""
    path = schema1_copy(tmp_path)
    before = snapshot(path)
    assert before["meta"]["schema_version"] == "1"
    assert "payload" not in before["columns"]
    assert {row["status"] for row in before["campaigns"].values()} == set(LEDGER_STATUSES)
    crashed = [key for key, row in before["campaigns"].items() if row["status"] == "sending"]
    assert len(crashed) == 1

    with open_ledger(path, "run-3", lock=lock) as ledger:
        assert ledger.recovered == (1 if lock else 0)
        entries = {entry.key: entry for entry in ledger.entries()}
        owners = ledger.owners()
        runs = ledger.runs()
        ledger.bind_endpoint(before["meta"]["endpoint"])
        with pytest.raises(ConfigError, match="elsewhere"):
            ledger.bind_endpoint("https://elsewhere.example")

    after = snapshot(path)
    made = {"schema_version": str(SCHEMA_VERSION), "ledger_id": after["meta"]["ledger_id"]}
    assert after["meta"] == before["meta"] | made
    assert len(after["meta"]["ledger_id"]) == 32
    assert after["columns"] == before["columns"] + ["payload"] == list(Entry.__dataclass_fields__)
    assert after["owners"] == before["owners"]
    assert after["runs"] == before["runs"]
    assert owners == {email: owner for email, owner, _ in before["owners"]}
    assert [run["run_id"] for run in runs] == [row[1] for row in before["runs"]]
    expected = {key: row | {"payload": None} for key, row in before["campaigns"].items()}
    if lock:
        expected[crashed[0]] |= {
            "status": "unknown",
            "last_error": CRASHED,
            "updated_at": "2024-05-01T12:00:01.000+00:00",
        }
    assert after["campaigns"] == expected
    assert {key: astuple(entry) for key, entry in entries.items()} == {
        key: tuple(row.values()) for key, row in expected.items()
    }
    assert all(isinstance(entry.status, Status) for entry in entries.values())

    with open_ledger(path, "run-4", lock=lock) as again:
        assert again.recovered == 0
    assert snapshot(path) == after


def test_migrated_ledger_keeps_payloads_sent_after_it(tmp_path: Path) -> None:
    """After the migration, a key sent again stores its payload; old keys keep only a hash."""
    path = schema1_copy(tmp_path)
    old_hash = snapshot(path)["campaigns"]["bo/fintech leads"]["payload_hash"]
    with open_ledger(path, "run-3") as ledger:
        entry = ledger.get("bo/fintech leads")
        assert entry is not None
        assert (entry.status, entry.payload, entry.payload_hash) == ("rejected", None, old_hash)
        ledger.mark_sending("bo/fintech leads", payload=UNICODE_PAYLOAD, origin=entry.origin)
        ledger.record("bo/fintech leads", "created", campaign_id="c-9", attempts=1)
        again = ledger.get("bo/fintech leads")
        assert again is not None
        assert (again.payload, again.attempts) == (UNICODE_PAYLOAD, 2)
        assert again.origin == entry.origin


def test_failed_migration_leaves_the_schema1_ledger_as_it_was(tmp_path: Path) -> None:
    """A write refused after the column was added undoes the whole migration, and frees the lock."""
    path = schema1_copy(tmp_path)
    # The database itself refuses the version bump, as a full disk would refuse a write:
    # the ALTER TABLE has run by then, inside the same transaction.
    refuse = "BEGIN SELECT RAISE(ABORT, 'no space left on the test disk'); END"
    with raw(path) as conn, conn:
        conn.execute(f"CREATE TRIGGER refuse_insert BEFORE INSERT ON meta {refuse}")
        conn.execute(f"CREATE TRIGGER refuse_update BEFORE UPDATE ON meta {refuse}")
    before = snapshot(path)
    for _ in range(2):  # the second try would be LockedError if the first kept the lock
        with pytest.raises(
            LedgerError, match=f"from schema version 1 to {SCHEMA_VERSION}"
        ) as caught:
            open_ledger(path, "run-3")
        assert "no space left on the test disk" in str(caught.value)
        assert str(path) in str(caught.value)
    assert snapshot(path) == before
    with raw(path) as conn, conn:
        conn.execute("DROP TRIGGER refuse_insert")
        conn.execute("DROP TRIGGER refuse_update")
    with open_ledger(path, "run-4") as ledger:
        assert ledger.recovered == 1
    assert snapshot(path)["meta"]["schema_version"] == str(SCHEMA_VERSION)


def test_runs_are_recorded(path: Path) -> None:
    """start_run and finish_run stamp each run's command, times, counts and exit code."""
    fake = FakeTiming()
    with Ledger.open(path, run_id="run-1", timing=fake.timing) as ledger:
        ledger.start_run("run")
        fake.advance(90)
        ledger.finish_run({"created": 3, "failed": 1}, 1)
    fake.advance(3600 - 90)
    with Ledger.open(path, run_id="run-2", timing=fake.timing) as ledger:
        ledger.start_run("run")
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
    with Ledger.open(path, run_id="run-3", timing=fake.timing) as ledger, pytest.raises(ValueError):
        ledger.finish_run({}, 0)


def test_no_column_can_hold_a_secret(ledger: Ledger, path: Path) -> None:
    """The campaigns table holds exactly the Entry fields: there is no place for an API key."""
    with raw(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(campaigns)")]
    assert columns == list(Entry.__dataclass_fields__)


def test_adopting_a_key_known_only_by_its_hash_keeps_that_hash(ledger: Ledger) -> None:
    """A version-1 entry left unknown knows only the hash of what it sent: adopting it
    (found in the campaign list) keeps that hash rather than forgetting what was sent."""
    origin = Origin("campaigns.csv", "", 2, OWNER, "Q1")
    ledger.mark_sending("k1", payload={"name": "Q1"}, origin=origin)
    ledger.record("k1", Status.UNKNOWN, error="timeout")
    sent = ledger.get("k1")
    assert sent is not None

    ledger.adopt(
        "k1",
        campaign_id="c-1",
        origin=origin,
        note="found in the campaign list",
        payload=None,
        sent_hash=sent.payload_hash,
    )

    adopted = ledger.get("k1")
    assert adopted is not None
    assert (adopted.status, adopted.payload_hash) == (Status.CREATED, sent.payload_hash)


def test_a_version_2_ledger_respells_its_keys_like_names(tmp_path: Path) -> None:
    """Opening a version-2 ledger makes its keys compare like names (`E1-1` is `e1-1`); a
    key whose new spelling another key has keeps its own, so nothing is dropped."""
    path = tmp_path / "state.sqlite"
    origin = Origin("campaigns.csv", "", 2, OWNER, "Q1")
    with open_ledger(path, "run-1") as ledger:
        for key in ("E1-1", "  Spring  Push ", "spring push", "plain"):
            ledger.mark_sending(key, payload={"name": key}, origin=origin)
    with raw(path) as conn, conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")

    with open_ledger(path, "run-2") as ledger:
        keys = {entry.key for entry in ledger.entries()}

    assert keys == {"e1-1", "  Spring  Push ", "spring push", "plain"}
