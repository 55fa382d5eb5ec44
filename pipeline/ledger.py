"""The ledger: SQLite state of what was sent and created, keyed on the campaign key.

Each key moves through a small state machine; every change is one committed transaction
(WAL journal, `synchronous=FULL`), so a crash loses at most the request in flight:

    (new) ──mark_sending──> sending ──record──> created | rejected | failed | unknown | not_sent
                               ^                           │         │        │          │
                               └────── mark_sending ───────┴─────────┴────────┴──────────┘
    sending found at start-up (the last run crashed) ──> unknown
    (any but created) ──adopt──> created      (found in the campaign list)

`created` is final: nothing turns it into another status or gives it another campaign id.
One run at a time per ledger: `Ledger.open` takes a flock-based lock on `<path>.lock`,
which the OS releases when the holding process dies, so a killed run never blocks the next.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from filelock import FileLock, Timeout

from pipeline.errors import ConfigError, LockedError

__all__ = [
    "CRASHED",
    "LEDGER_STATUSES",
    "SCHEMA_VERSION",
    "Entry",
    "Ledger",
    "payload_hash",
    "utc_now",
]

LEDGER_STATUSES = ("sending", "created", "rejected", "failed", "unknown", "not_sent")
SCHEMA_VERSION = 1
CRASHED = "the run stopped while this request was in flight"
_CHUNK = 900  # bound parameters per IN query, well under SQLite's limit

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in LEDGER_STATUSES)})),
    payload_hash TEXT NOT NULL, campaign_id TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL, http_status INTEGER,
    source TEXT NOT NULL, sheet TEXT NOT NULL, "row" INTEGER NOT NULL,
    owner_id TEXT NOT NULL, name TEXT NOT NULL,
    run_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS campaigns_status ON campaigns (status);
CREATE TABLE IF NOT EXISTS owners (
    email TEXT PRIMARY KEY, owner_id TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, command TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT, counts TEXT NOT NULL DEFAULT '{{}}', exit_code INTEGER
);
"""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Entry:
    """What the ledger knows about one campaign key."""

    key: str
    status: str  # one of LEDGER_STATUSES
    payload_hash: str
    campaign_id: str  # "" when none
    attempts: int  # total requests made for this key, over all runs
    last_error: str  # "" when none
    http_status: int | None
    source: str
    sheet: str
    row: int
    owner_id: str  # the resolved owner uuid
    name: str  # the campaign name as sent
    run_id: str  # the run that last touched it
    created_at: str  # ISO UTC when first recorded
    updated_at: str  # ISO UTC of the last change


_COLUMNS = ", ".join(f'"{f.name}"' for f in fields(Entry))
_KEPT = ("key", "attempts", "created_at")  # what re-sending or adopting a known key keeps
_UPSERT = (
    f"INSERT INTO campaigns ({_COLUMNS}) VALUES ({', '.join('?' * len(fields(Entry)))}) "
    "ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f'"{f.name}" = excluded."{f.name}"' for f in fields(Entry) if f.name not in _KEPT)
)
_Where = tuple[str, str, int, str, str]  # source, sheet, row, owner_id, name


def payload_hash(payload: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON (sorted keys, no spaces) of a payload."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(moment: datetime) -> str:
    # A naive time from an injected clock is taken as UTC, never as local time.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class Ledger:
    """An open ledger holding its lock; use as a context manager or call `close()`."""

    recovered: int
    path: Path

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        run_id: str,
        clock: Callable[[], datetime],
        lock: FileLock | None,
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._clock = clock
        self.path = path
        self.run_id = run_id
        self.recovered = 0

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        run_id: str,
        clock: Callable[[], datetime] = utc_now,
        lock: bool = True,
    ) -> Ledger:
        """Open (creating the file, folder and schema if needed) and take the lock.

        Raises LockedError when another process holds `<path>.lock`, ConfigError when the
        file is not a ledger this version can read. With the lock, rows left `sending` by a
        crashed run become `unknown` (`recovered` says how many). `lock=False` is for
        read-only looks (`campaigns status`) beside a live run: it recovers nothing.
        """
        path = Path(path)
        file_lock: FileLock | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"{path}: cannot create the ledger's folder: {error}") from None
        if lock:
            lock_path = f"{path.resolve()}.lock"  # one lock whatever the path's spelling
            file_lock = FileLock(lock_path, timeout=0, thread_local=False)
            try:
                file_lock.acquire()
            except Timeout:
                raise LockedError(
                    f"the ledger {path} is in use: {lock_path} is held by another process",
                    hint="another `campaigns run` is using this ledger; "
                    "wait for it to finish or use another --state",
                ) from None
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, timeout=5.0)
            ledger = cls(conn, path, run_id, clock, file_lock)
            ledger._prepare()
            if lock:
                ledger._recover()
        except BaseException as error:
            if conn is not None:
                conn.close()
            if file_lock is not None:
                file_lock.release()
            if isinstance(error, sqlite3.Error):
                problem = f"{path}: is not a campaigns ledger (SQLite said: {error})"
                raise ConfigError(problem, hint="point --state at another file") from None
            raise
        return ledger

    def _prepare(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA synchronous = FULL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ConfigError(f"{self.path}: SQLite cannot use WAL mode here (got {mode!r})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise ConfigError(
                f"{self.path}: is a SQLite database but not a campaigns ledger",
                hint="point --state at another file",
            )
        with conn:
            conn.executescript(_SCHEMA)
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if found is None:
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            elif int(found[0]) > SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path}: ledger schema version {found[0]} was written by a newer "
                    f"campaigns; this version reads version {SCHEMA_VERSION}",
                    hint="upgrade campaigns, or point --state at another file",
                )

    def _recover(self) -> None:
        with self._conn:
            cursor = self._conn.execute(
                "UPDATE campaigns SET status = 'unknown', last_error = ?, updated_at = ? "
                "WHERE status = 'sending'",
                (CRASHED, self._now()),
            )
        self.recovered = cursor.rowcount

    def close(self) -> None:
        """Close the database and release the lock; closing twice is harmless."""
        self._conn.close()
        if self._lock is not None and self._lock.is_locked:
            self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _now(self) -> str:
        return _iso(self._clock())

    def get(self, key: str) -> Entry | None:
        """The entry for `key`, or None when the ledger has never seen it."""
        found = self._conn.execute(f"SELECT {_COLUMNS} FROM campaigns WHERE key = ?", (key,))
        row = found.fetchone()
        return None if row is None else Entry(*row)

    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The entries for those of `keys` the ledger knows, by key."""
        wanted = list(dict.fromkeys(keys))
        result: dict[str, Entry] = {}
        for chunk in _chunks(wanted):
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT {_COLUMNS} FROM campaigns WHERE key IN ({marks})"
            for row in self._conn.execute(query, chunk):
                result[row[0]] = Entry(*row)
        return result

    def entries(self, statuses: Collection[str] | None = None) -> list[Entry]:
        """Every entry (or those in `statuses`), ordered by source, sheet and row."""
        query = f"SELECT {_COLUMNS} FROM campaigns"
        params: list[str] = []
        if statuses is not None:
            params = [_checked_status(s) for s in statuses]
            if not params:
                return []
            query += f" WHERE status IN ({', '.join('?' * len(params))})"
        query += ' ORDER BY source, sheet, "row", key'
        return [Entry(*row) for row in self._conn.execute(query, params)]

    def counts(self) -> dict[str, int]:
        """Entries per status, every status listed (0 when none), in LEDGER_STATUSES order."""
        found = dict(self._conn.execute("SELECT status, COUNT(*) FROM campaigns GROUP BY status"))
        return {status: int(found.get(status, 0)) for status in LEDGER_STATUSES}

    def known_campaign_ids(self) -> set[str]:
        """Every campaign id the ledger holds."""
        query = "SELECT DISTINCT campaign_id FROM campaigns WHERE campaign_id != ''"
        return {row[0] for row in self._conn.execute(query)}

    def mark_sending(
        self,
        key: str,
        *,
        payload_hash: str,
        source: str,
        sheet: str,
        row: int,
        owner_id: str,
        name: str,
    ) -> None:
        """Upsert `key` as `sending` (attempts unchanged), committed before the request goes out.

        Raises ValueError for a key already `created`: it must never be sent again.
        """
        if (created := self._created_id(key)) is not None:
            raise ValueError(f"{key!r} was created as campaign {created}: it is never sent again")
        self._upsert(key, "sending", payload_hash, "", "", (source, sheet, row, owner_id, name))

    def record(
        self,
        key: str,
        status: str,
        *,
        campaign_id: str = "",
        http_status: int | None = None,
        error: str = "",
        attempts: int = 0,
    ) -> None:
        """Commit the outcome for `key`; `attempts` is added to the stored total.

        Raises ValueError for a status that is not an outcome, a `created` without an id,
        a key never marked `sending`, or an entry already `created` (under another id).
        """
        if _checked_status(status) == "sending":
            raise ValueError("record() takes an outcome; use mark_sending() for 'sending'")
        if status == "created" and not campaign_id:
            raise ValueError(f"{key!r}: 'created' needs the campaign id")
        entry = self.get(key)
        if entry is None:
            raise ValueError(f"{key!r} is not in the ledger: call mark_sending() first")
        if entry.status == "created" and (status, campaign_id) != ("created", entry.campaign_id):
            raise ValueError(f"{key!r} was created as campaign {entry.campaign_id}: it stays so")
        with self._conn:
            self._conn.execute(
                "UPDATE campaigns SET status = ?, campaign_id = ?, http_status = ?, "
                "last_error = ?, attempts = attempts + ?, run_id = ?, updated_at = ? "
                "WHERE key = ?",
                (status, campaign_id, http_status, error, attempts, self.run_id, self._now(), key),
            )

    def adopt(
        self,
        key: str,
        *,
        campaign_id: str,
        payload_hash: str,
        source: str,
        sheet: str,
        row: int,
        owner_id: str,
        name: str,
        note: str,
    ) -> None:
        """Record a campaign found to exist remotely as `created` with that id.

        For a resolved `unknown` or `--skip-existing`; `note` (e.g. "found in the campaign
        list") goes to `last_error`. Attempts are unchanged. Raises ValueError for an empty
        id or a key already created under another id.
        """
        if not campaign_id:
            raise ValueError(f"{key!r}: adopting needs the campaign id")
        created = self._created_id(key)
        if created is not None and created != campaign_id:
            raise ValueError(f"{key!r} was created as campaign {created}, not {campaign_id}")
        where = (source, sheet, row, owner_id, name)
        self._upsert(key, "created", payload_hash, campaign_id, note, where)

    def bind_endpoint(self, endpoint: str, *, record: bool = True) -> None:
        """Tie the ledger to one API (the first it is used with); refuse any other.

        A ledger's `created` keys are true only of the account they were created in: mixing
        the sandbox and the real API in one ledger would skip rows. The binding is by base
        URL; two accounts behind one URL (two keys) are told apart only by using two ledgers.
        """
        found = self._conn.execute("SELECT value FROM meta WHERE key = 'endpoint'").fetchone()
        if found is None and record:
            with self._conn:
                self._conn.execute("INSERT INTO meta VALUES ('endpoint', ?)", (endpoint,))
        elif found is not None and found[0] != endpoint:
            raise ConfigError(
                f"{self.path}: this ledger records campaigns of {found[0]}, not {endpoint}",
                hint="Use another --state for another API or account.",
            )

    def remember_owners(self, owners: Mapping[str, str]) -> None:
        """Keep owner e-mail -> member id, so that a dry run without a key can use them."""
        now = self._now()
        with self._conn:
            self._conn.executemany(
                "INSERT INTO owners VALUES (?, ?, ?) ON CONFLICT (email) DO UPDATE SET "
                "owner_id = excluded.owner_id, updated_at = excluded.updated_at",
                [(email, owner, now) for email, owner in owners.items()],
            )

    def owners(self) -> dict[str, str]:
        """Every owner e-mail -> member id learned by earlier runs."""
        return dict(self._conn.execute("SELECT email, owner_id FROM owners"))

    def start_run(self, command: str, started: datetime) -> None:
        """Record that this ledger's run (`run_id`) started."""
        with self._conn:
            self._conn.execute(
                "INSERT INTO runs (run_id, command, started) VALUES (?, ?, ?)",
                (self.run_id, command, _iso(started)),
            )

    def finish_run(self, counts: Mapping[str, int], exit_code: int, finished: datetime) -> None:
        """Record how this run ended; raises ValueError when `start_run` was not called."""
        with self._conn:
            cursor = self._conn.execute(
                "UPDATE runs SET finished = ?, counts = ?, exit_code = ? WHERE id = "
                "(SELECT MAX(id) FROM runs WHERE run_id = ?)",
                (_iso(finished), json.dumps(dict(counts)), exit_code, self.run_id),
            )
        if cursor.rowcount == 0:
            raise ValueError(f"run {self.run_id!r} was never started: call start_run() first")

    def runs(self) -> list[dict[str, Any]]:
        """Every run recorded, oldest first; times are ISO UTC text, `finished` None if unended."""
        names = ("run_id", "command", "started", "finished", "counts", "exit_code")
        found = self._conn.execute(f"SELECT {', '.join(names)} FROM runs ORDER BY id")
        runs = [dict(zip(names, row, strict=True)) for row in found]
        for run in runs:
            run["counts"] = json.loads(run["counts"])
        return runs

    def _created_id(self, key: str) -> str | None:
        found = self._conn.execute(
            "SELECT campaign_id FROM campaigns WHERE key = ? AND status = 'created'", (key,)
        ).fetchone()
        return None if found is None else str(found[0])

    def _upsert(
        self, key: str, status: str, hashed: str, campaign_id: str, note: str, where: _Where
    ) -> None:
        now = self._now()
        values = (key, status, hashed, campaign_id, 0, note, None, *where, self.run_id, now, now)
        with self._conn:
            self._conn.execute(_UPSERT, values)


def _checked_status(status: str) -> str:
    if status not in LEDGER_STATUSES:
        raise ValueError(f"unknown ledger status {status!r}; expected one of {LEDGER_STATUSES}")
    return status
