"""The ledger: SQLite state of what was sent and created, keyed on the campaign key.

Each key moves through a small state machine (`pipeline.model.Status`, the
`LEDGER_STATUSES`); every change is one committed transaction (WAL journal,
`synchronous=FULL`), so a crash loses at most the request in flight:

    (new) ──mark_sending──> sending ──record──> created | rejected | failed | unknown | not_sent
                               ^                           │         │        │          │
                               └────── mark_sending ───────┴─────────┴────────┴──────────┘
    sending found at start-up (the last run crashed) ──> unknown
    (any but created) ──adopt──> created      (found in the campaign list)
    unknown | failed | sending ──resolve_absent──> not_sent   (a person found none)
    (any but created elsewhere) ──resolve_created──> created  (a person found it)
    created under key A ──rekey──> created under key B    (a campaign_key added)
    created ──begin_update──> created, payload not known ──record_update──> created

`created` is final: nothing turns it into another status or gives it another campaign id.
Beside its status, each key keeps where its row came from (`Origin`) and the exact payload
last sent for it: `mark_sending` stores it, `record` keeps it, `adopt` stores the payload
it is given or none (`--skip-existing` adopts campaigns whose settings nothing here knows).
For a created key the payload is the one its campaign holds (decision 7): an update
(idempotent, `PATCH`) is preceded by `begin_update`, which forgets it (NULL, hash ""),
and followed by `record_update`, which stores the new payload after a 200, puts the old
one back after a refusal (nothing was applied), or leaves it unknown when the outcome is
(given up after a 500, a timeout): a key whose payload is not known is updated by the
next run whatever its sheet says, so a crash or an uncertain update can never leave a
campaign out of step with a sheet that is edited back meanwhile. `keep_payload` stores
the payload of a version-1 key whose hash shows its campaign holds it.

Schema version 2 keeps that payload as canonical JSON text (sorted keys, no spaces, not
ASCII-escaped: what `payload_hash` hashes) in the column `payload`; NULL means not known.
Version 1 had only `payload_hash`, which stays, as the one record of what a version-1
ledger sent. Opening a version-1 ledger (with the lock or without) migrates it in place,
in one transaction: the column is added (NULL for every existing key) and
`meta.schema_version` becomes 2, or neither happens. Version 3 compares keys like names
(trimmed, inner spaces collapsed, case-folded): opening an older ledger respells its keys
so (one that would collide with another keeps its spelling) and adds `snapshots`, the
campaign ids the account held before each run's first create. Every upgrade happens in
the same single transaction. A ledger of a newer version than `SCHEMA_VERSION` is
refused (`LedgerError`), never read or written. Every ledger has an identity, a random id
made with it (`meta.ledger_id`; one made before identities gets it when next opened): a
saved plan names it, and `key_states` gives the fingerprint of each key's entry, so that
`apply` can tell the ledger is the plan's and has not moved since.

One run at a time per ledger: `Ledger.open` takes a flock-based lock on `<path>.lock`,
which the OS releases when the holding process dies, so a killed run never blocks the next.
Timestamps are ISO UTC text from the `Timing` the ledger is opened with.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import urlsplit

from pipeline.errors import ConfigError, LedgerError, LockedError
from pipeline.model import LEDGER_STATUSES, Origin, Status, normalise_name
from pipeline.timing import Timing

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = [
    "CRASHED",
    "LEDGER_STATUSES",
    "SCHEMA_VERSION",
    "UPDATING",
    "Entry",
    "Ledger",
    "canonical_json",
    "payload_hash",
]

SCHEMA_VERSION = 3
CRASHED = "the run stopped while this request was in flight"
UPDATING = (
    "an update was sent and its outcome is not known yet: the settings this campaign holds "
    "are not known, so the next run sends the sheet's settings again"
)
_CHUNK = 900  # bound parameters per IN query, well under SQLite's limit
_OTHER_STATE = "point --state at another file"

# `payload` comes last: a version-1 ledger gets it by ALTER TABLE, which appends, so a
# migrated table and a new one have the same columns in the same order.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS campaigns (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ({", ".join(f"'{s.value}'" for s in LEDGER_STATUSES)})),
    payload_hash TEXT NOT NULL, campaign_id TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL, http_status INTEGER,
    source TEXT NOT NULL, sheet TEXT NOT NULL, "row" INTEGER NOT NULL,
    owner_id TEXT NOT NULL, name TEXT NOT NULL,
    run_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    payload TEXT
)""",
    "CREATE INDEX IF NOT EXISTS campaigns_status ON campaigns (status)",
    """CREATE TABLE IF NOT EXISTS owners (
    email TEXT PRIMARY KEY, owner_id TEXT NOT NULL, updated_at TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, command TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT, counts TEXT NOT NULL DEFAULT '{}', exit_code INTEGER
)""",
    # The campaign ids the account held before a run's first create (JSON array): a
    # campaign in it was not made by that run's requests.
    """CREATE TABLE IF NOT EXISTS snapshots (
    run_id TEXT PRIMARY KEY, taken_at TEXT NOT NULL, ids TEXT NOT NULL
)""",
    # Prospect lists, by key (the campaign's key and the list's name compared like a
    # key), and what each URL sent to a list got (decisions 13 to 15). Added to older
    # ledgers when they are opened (nothing else changes, so the version stays).
    """CREATE TABLE IF NOT EXISTS lists (
    key TEXT PRIMARY KEY, campaign_key TEXT NOT NULL, name TEXT NOT NULL,
    campaign_id TEXT NOT NULL, list_id TEXT NOT NULL, status TEXT NOT NULL,
    http_status INTEGER, last_error TEXT NOT NULL, run_id TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS prospects (
    list_key TEXT NOT NULL, url TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL,
    run_id TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (list_key, url)
)""",
)
# Version 1 -> 2: the payload last sent, unknown (NULL) for every key version 1 recorded.
_TO_VERSION_2 = "ALTER TABLE campaigns ADD COLUMN payload TEXT"


@dataclass(frozen=True)
class ListEntry:
    """What the ledger knows of one prospect list: `sending` (its create in flight),
    `created` (with its `list_id`), `unknown`, `rejected`, `failed` or `not_sent`."""

    key: str
    campaign_key: str
    name: str
    campaign_id: str
    list_id: str
    status: Status
    http_status: int | None
    last_error: str
    run_id: str
    created_at: str
    updated_at: str


_LIST_NAMES: Final = tuple(f.name for f in fields(ListEntry))


def fields_of(entry: ListEntry) -> tuple[Any, ...]:
    """A list entry's values, in column order."""
    return tuple(getattr(entry, name) for name in _LIST_NAMES)


@dataclass(frozen=True)
class Entry:
    """What the ledger knows about one campaign key (the fields are the table's columns)."""

    key: str
    status: Status  # one of LEDGER_STATUSES
    payload_hash: str  # sha256 of the canonical payload; "" when adopted without one
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
    # The payload last sent or applied, decoded; None when not known (keys recorded by a
    # version-1 ledger, campaigns adopted without their settings, an update whose outcome
    # is not known).
    payload: dict[str, Any] | None = field(hash=False)

    @property
    def origin(self) -> Origin:
        """Where the key's row came from and what it names."""
        return Origin(self.source, self.sheet, self.row, self.owner_id, self.name)


_NAMES = tuple(f.name for f in fields(Entry))
_COLUMNS = ", ".join(f'"{name}"' for name in _NAMES)
_KEPT = ("key", "attempts", "created_at")  # what re-sending or adopting a known key keeps
_UPSERT = (
    f"INSERT INTO campaigns ({_COLUMNS}) VALUES ({', '.join(f':{name}' for name in _NAMES)}) "
    "ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f'"{name}" = excluded."{name}"' for name in _NAMES if name not in _KEPT)
)


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The canonical JSON text of a payload: sorted keys, no spaces, not ASCII-escaped."""
    return json.dumps(dict(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_hash(payload: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON (`canonical_json`) of a payload."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _iso(moment: datetime) -> str:
    # A naive time from an injected clock is taken as UTC, never as local time.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _entry(row: Iterable[Any]) -> Entry:
    values = dict(zip(_NAMES, row, strict=True))
    values["status"] = Status(values["status"])
    if values["payload"] is not None:
        values["payload"] = json.loads(values["payload"])
    return Entry(**values)


def lock_file(path: Path) -> Path:
    """The lock file of the ledger at `path`: one whatever the path's spelling."""
    return Path(f"{path.resolve()}.lock")


class Ledger:
    """An open ledger holding its lock; use as a context manager or call `close()`."""

    recovered: int
    path: Path

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        run_id: str,
        timing: Timing,
        lock: FileLock | None,
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._timing = timing
        self.path = path
        self.run_id = run_id
        self.recovered = 0

    @classmethod
    def open(cls, path: Path, *, run_id: str, timing: Timing, lock: bool = True) -> Ledger:
        """Open (creating the file, folder and schema if needed) and take the lock.

        Raises LockedError when another process holds `<path>.lock`, LedgerError when the
        file is not a ledger this version can read or its folder cannot be made. A
        version-1 ledger is migrated to version 2 in place (see the module docstring).
        With the lock, rows left `sending` by a crashed run become `unknown` (`recovered`
        says how many). `lock=False` is for read-only looks (`campaigns status`) beside a
        live run: it recovers nothing.
        """
        path = Path(path)
        file_lock: FileLock | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = _reason(error)
            if isinstance(error, FileExistsError):
                reason = f"{error.filename} is a file, not a folder"
            raise LedgerError(f"{path}: cannot create the ledger's folder: {reason}") from None
        if lock:
            from filelock import FileLock, Timeout  # slow to import; `status` needs no lock

            lock_path = str(lock_file(path))
            _check_writable(Path(lock_path), "the ledger's lock file")
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
            ledger = cls(conn, path, run_id, timing, file_lock)
            ledger._prepare()
            if lock:
                ledger._recover()
        except BaseException as error:
            if conn is not None:
                conn.close()
            if file_lock is not None:
                file_lock.release()
            if isinstance(error, sqlite3.OperationalError) and _is_storage(error):
                problem = f"{path}: cannot open or write the ledger: {error}"
                raise LedgerError(problem, hint=_OTHER_STATE) from None
            if isinstance(error, sqlite3.Error):
                problem = f"{path}: is not a campaigns ledger (SQLite said: {error})"
                raise LedgerError(problem, hint=_OTHER_STATE) from None
            raise
        return ledger

    def _prepare(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA synchronous = FULL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise LedgerError(f"{self.path}: SQLite cannot use WAL mode here (got {mode!r})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise LedgerError(
                f"{self.path}: is a SQLite database but not a campaigns ledger",
                hint=_OTHER_STATE,
            )
        # IMMEDIATE takes the write lock before reading the version: of two processes
        # opening a version-1 ledger at once, the second waits and finds it migrated.
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._settle_schema()
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def _settle_schema(self) -> None:
        # Inside the caller's transaction: everything here commits together or not at all.
        conn = self._conn
        for statement in _SCHEMA:
            conn.execute(statement)
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            version = SCHEMA_VERSION if found is None else int(found[0])
        except ValueError:
            raise LedgerError(
                f"{self.path}: is not a campaigns ledger (schema version {found[0]!r})",
                hint=_OTHER_STATE,
            ) from None
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path}: ledger schema version {version} was written by a newer "
                f"campaigns; this version reads version {SCHEMA_VERSION}",
                hint="upgrade campaigns, or point --state at another file",
            )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(campaigns)")}
        if found is not None and version == SCHEMA_VERSION and "payload" in columns:
            self._give_identity()
            return
        try:
            # Checked, not assumed from the version: version 1 created its tables before
            # writing its version, so a file may hold version-1 tables and no version.
            if "payload" not in columns:
                conn.execute(_TO_VERSION_2)
            if found is not None and version < 3:
                self._normalise_keys()
            conn.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
            self._give_identity()
        except sqlite3.Error as error:
            raise LedgerError(
                f"{self.path}: cannot upgrade the ledger from schema version {version} to "
                f"{SCHEMA_VERSION}; it is left as it was (SQLite said: {error})",
                hint="make sure the file and its folder are writable, "
                "or point --state at another file",
            ) from None

    def _give_identity(self) -> None:
        # The ledger's identity, made once with it (or given now to a ledger made before
        # identities were): a saved plan names it, so that it is applied to this ledger.
        self._conn.execute(
            "INSERT INTO meta VALUES ('ledger_id', ?) ON CONFLICT (key) DO NOTHING",
            (uuid.uuid4().hex,),
        )

    def _normalise_keys(self) -> None:
        # Version 2 -> 3: keys are compared like names (`E1-1` is `e1-1`). A key whose
        # normalised spelling another key already has keeps its own: nothing is dropped.
        conn = self._conn
        taken = {row[0] for row in conn.execute("SELECT key FROM campaigns")}
        for key in sorted(taken):
            wanted = normalise_name(key)
            if wanted != key and wanted not in taken:
                conn.execute("UPDATE campaigns SET key = ? WHERE key = ?", (wanted, key))
                taken.discard(key)
                taken.add(wanted)

    def _recover(self) -> None:
        now = self._now()
        with self._conn:
            cursor = self._conn.execute(
                "UPDATE campaigns SET status = ?, last_error = ?, updated_at = ? WHERE status = ?",
                (Status.UNKNOWN.value, CRASHED, now, Status.SENDING.value),
            )
            self._conn.execute(
                "UPDATE lists SET status = ?, last_error = ?, updated_at = ? WHERE status = ?",
                (Status.UNKNOWN.value, CRASHED, now, Status.SENDING.value),
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
        return _iso(self._timing.now())

    def get(self, key: str) -> Entry | None:
        """The entry for `key`, or None when the ledger has never seen it."""
        found = self._conn.execute(f"SELECT {_COLUMNS} FROM campaigns WHERE key = ?", (key,))
        row = found.fetchone()
        return None if row is None else _entry(row)

    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The entries for those of `keys` the ledger knows, by key."""
        wanted = list(dict.fromkeys(keys))
        result: dict[str, Entry] = {}
        for chunk in _chunks(wanted):
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT {_COLUMNS} FROM campaigns WHERE key IN ({marks})"
            for row in self._conn.execute(query, chunk):
                result[row[0]] = _entry(row)
        return result

    def entries(self, statuses: Collection[str] | None = None) -> list[Entry]:
        """Every entry (or those in `statuses`), ordered by source, sheet and row."""
        query = f"SELECT {_COLUMNS} FROM campaigns"
        params: list[str] = []
        if statuses is not None:
            params = [_checked_status(s).value for s in statuses]
            if not params:
                return []
            query += f" WHERE status IN ({', '.join('?' * len(params))})"
        query += ' ORDER BY source, sheet, "row", key'
        return [_entry(row) for row in self._conn.execute(query, params)]

    @property
    def identity(self) -> str:
        """The ledger's random id, made with it: what a saved plan is checked against."""
        found = self._conn.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()
        return str(found[0]) if found is not None else ""

    def key_states(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """For each of `keys` the ledger knows: its status, campaign id, last change and
        a `fingerprint` of everything the ledger holds for it (payload, notes and times
        too), which any change to the key's entry changes. A key the ledger does not
        know is absent from the result."""
        found: dict[str, dict[str, Any]] = {}
        wanted = list(dict.fromkeys(keys))
        for chunk in _chunks(wanted):
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT {_COLUMNS} FROM campaigns WHERE key IN ({marks})"
            for row in self._conn.execute(query, chunk):
                values = dict(zip(_NAMES, row, strict=True))
                seen = dict(values)
                if values["status"] == Status.SENDING.value or (
                    values["status"] == Status.UNKNOWN.value and values["last_error"] == CRASHED
                ):
                    # A request left in flight reads `sending` to a plan (no lock: nothing
                    # recovered) and `unknown` to the apply that recovers it: the same state.
                    seen |= {"status": Status.UNKNOWN.value, "last_error": CRASHED}
                    seen["updated_at"] = ""
                text = json.dumps(list(seen.values()), ensure_ascii=False, separators=(",", ":"))
                found[row[0]] = {
                    "status": values["status"],
                    "campaign_id": values["campaign_id"],
                    "updated_at": values["updated_at"],
                    "fingerprint": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                }
        return found

    def lists(self, keys: Iterable[str]) -> dict[str, ListEntry]:
        """The prospect lists of those `keys` the ledger knows, by key."""
        found: dict[str, ListEntry] = {}
        columns = ", ".join(f'"{name}"' for name in _LIST_NAMES)
        for chunk in _chunks(list(dict.fromkeys(keys))):
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT {columns} FROM lists WHERE key IN ({marks})"
            for row in self._conn.execute(query, chunk):
                values = dict(zip(_LIST_NAMES, row, strict=True))
                values["status"] = Status(values["status"])
                found[row[0]] = ListEntry(**values)
        return found

    def mark_list_sending(
        self, key: str, *, campaign_key: str, name: str, campaign_id: str
    ) -> None:
        """A list's create is about to go out (committed first, as for a campaign)."""
        now = self._now()
        with self._conn:
            self._conn.execute(
                "INSERT INTO lists VALUES (?, ?, ?, ?, '', ?, NULL, '', ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET status = excluded.status, name = excluded.name, "
                "campaign_id = excluded.campaign_id, run_id = excluded.run_id, "
                "updated_at = excluded.updated_at, last_error = '' "
                "WHERE lists.status != 'created'",
                (key, campaign_key, name, campaign_id, Status.SENDING.value, self.run_id, now, now),
            )

    def record_list(
        self,
        key: str,
        status: Status,
        *,
        list_id: str = "",
        http_status: int | None = None,
        error: str = "",
    ) -> None:
        """A list create's outcome: `created` with its id, or why not (a created list
        never becomes anything else)."""
        with self._conn:
            self._conn.execute(
                "UPDATE lists SET status = ?, list_id = ?, http_status = ?, last_error = ?, "
                "run_id = ?, updated_at = ? WHERE key = ? AND status != ?",
                (
                    _checked_status(status).value,
                    list_id,
                    http_status,
                    error,
                    self.run_id,
                    self._now(),
                    key,
                    Status.CREATED.value,
                ),
            )

    def prospect_states(
        self, list_keys: Iterable[str]
    ) -> dict[tuple[str, str], tuple[Status, str]]:
        """What each URL sent to those lists got: (list key, url) -> (status, detail)."""
        found: dict[tuple[str, str], tuple[Status, str]] = {}
        for chunk in _chunks(list(dict.fromkeys(list_keys))):
            marks = ", ".join("?" * len(chunk))
            query = (
                f"SELECT list_key, url, status, detail FROM prospects WHERE list_key IN ({marks})"
            )
            for list_key, url, status, detail in self._conn.execute(query, chunk):
                found[(list_key, url)] = (Status(status), detail)
        return found

    def list_states(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """For each of the lists `keys` the ledger knows: its status and a `fingerprint`
        of everything kept for it (the list's entry and what each of its URLs got), which
        any change changes. A list the ledger does not know is absent."""
        found: dict[str, dict[str, Any]] = {}
        wanted = list(dict.fromkeys(keys))
        entries = self.lists(wanted)
        answered: dict[str, list[tuple[str, str, str]]] = {}
        for (key, url), (status, detail) in self.prospect_states(wanted).items():
            answered.setdefault(key, []).append((url, status.value, detail))
        for key, entry in entries.items():
            if entry.status is Status.SENDING or (
                entry.status is Status.UNKNOWN and entry.last_error == CRASHED
            ):
                # In flight when a run stopped: `sending` to a plan, `unknown` to the
                # apply that recovers it (as for campaign keys).
                entry = replace(entry, status=Status.UNKNOWN, last_error=CRASHED, updated_at="")
            values = [*map(str, fields_of(entry))]
            got = sorted(answered.get(key, ()))
            text = json.dumps([values, got], ensure_ascii=False, separators=(",", ":"))
            found[key] = {
                "status": entry.status.value,
                "list_id": entry.list_id,
                "fingerprint": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            }
        return found

    def list_summary(self) -> list[dict[str, Any]]:
        """Every prospect list: its campaign key, name, status, list id and its URLs
        counted by what they got (`{"added": 250, "over_limit": 100}`), in name order."""
        counted: dict[str, dict[str, int]] = {}
        query = "SELECT list_key, status, COUNT(*) FROM prospects GROUP BY list_key, status"
        for key, status, number in self._conn.execute(query):
            counted.setdefault(key, {})[status] = int(number)
        rows = self._conn.execute(
            "SELECT key, campaign_key, name, status, list_id FROM lists ORDER BY campaign_key, name"
        )
        return [
            {
                "campaign_key": campaign_key,
                "name": name,
                "status": status,
                "list_id": list_id,
                "prospects": counted.get(key, {}),
            }
            for key, campaign_key, name, status, list_id in rows
        ]

    def record_limits(self, limits: Mapping[str, Any]) -> None:
        """The account's prospect limits as the last answer gave them (for `status`)."""
        with self._conn:
            self._conn.execute(
                "INSERT INTO meta VALUES ('prospect_limits', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (json.dumps(dict(limits)),),
            )

    def prospect_limits(self) -> dict[str, Any]:
        """The limits `record_limits` kept last ({} when no answer gave any)."""
        found = self._conn.execute("SELECT value FROM meta WHERE key = 'prospect_limits'")
        row = found.fetchone()
        return dict(json.loads(row[0])) if row is not None else {}

    def record_prospects(self, list_key: str, outcomes: Mapping[str, tuple[Status, str]]) -> None:
        """What each of a list's URLs got (url -> (status, detail)), in one transaction."""
        now = self._now()
        with self._conn:
            self._conn.executemany(
                "INSERT INTO prospects VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (list_key, url) "
                "DO UPDATE SET status = excluded.status, detail = excluded.detail, "
                "run_id = excluded.run_id, updated_at = excluded.updated_at",
                [
                    (list_key, url, status.value, detail, self.run_id, now)
                    for url, (status, detail) in outcomes.items()
                ],
            )

    def counts(self) -> dict[str, int]:
        """Entries per status, every status listed (0 when none), in LEDGER_STATUSES order."""
        found = dict(self._conn.execute("SELECT status, COUNT(*) FROM campaigns GROUP BY status"))
        return {status.value: int(found.get(status.value, 0)) for status in LEDGER_STATUSES}

    def known_campaign_ids(self) -> set[str]:
        """Every campaign id the ledger holds."""
        query = "SELECT DISTINCT campaign_id FROM campaigns WHERE campaign_id != ''"
        return {row[0] for row in self._conn.execute(query)}

    def entries_by_owner_and_name(self) -> dict[tuple[str, str], Entry]:
        """Entries that were sent or created (created, unknown, sending), by (owner id,
        normalised name): what a new key of the same owner and name must not send again."""
        query = f"SELECT {_COLUMNS} FROM campaigns WHERE status IN (?, ?, ?) ORDER BY key"
        statuses = (Status.CREATED.value, Status.UNKNOWN.value, Status.SENDING.value)
        found: dict[tuple[str, str], Entry] = {}
        for row in self._conn.execute(query, statuses):
            entry = _entry(row)
            found.setdefault((entry.owner_id, normalise_name(entry.name)), entry)
        return found

    def keys_by_campaign_id(self) -> dict[str, Entry]:
        """Every entry that holds a campaign id, by that id."""
        query = f"SELECT {_COLUMNS} FROM campaigns WHERE campaign_id != ''"
        entries = (_entry(row) for row in self._conn.execute(query))
        return {entry.campaign_id: entry for entry in entries}

    def record_snapshot(self, campaign_ids: Collection[str]) -> None:
        """Keep the ids the account held before this run's first create (the first
        snapshot a run id gets stays: it is the earliest)."""
        with self._conn:
            self._conn.execute(
                "INSERT OR IGNORE INTO snapshots VALUES (?, ?, ?)",
                (self.run_id, self._now(), json.dumps(sorted(campaign_ids))),
            )

    def snapshot(self, run_id: str) -> frozenset[str] | None:
        """The ids the account held before run `run_id` created anything; None if that
        run recorded none (no campaign list, an older ledger, a crash before it)."""
        found = self._conn.execute("SELECT ids FROM snapshots WHERE run_id = ?", (run_id,))
        row = found.fetchone()
        return None if row is None else frozenset(json.loads(row[0]))

    def rekey(self, old: str, new: str, note: str) -> None:
        """Move a created campaign's entry from key `old` to key `new` (a `campaign_key`
        added to a row created without one). Raises ValueError when `old` is not created
        or `new` is taken."""
        with self._conn:
            if self._conn.execute("SELECT 1 FROM campaigns WHERE key = ?", (new,)).fetchone():
                raise ValueError(f"{new!r} is in the ledger already")
            # The note replaces the one an adoption leaves; without the payload itself,
            # the hash alone can no longer be trusted: forget it (one harmless update).
            cursor = self._conn.execute(
                "UPDATE campaigns SET key = ?, last_error = ?, updated_at = ?, "
                "payload_hash = CASE WHEN payload IS NULL THEN '' ELSE payload_hash END "
                "WHERE key = ? AND status = ?",
                (new, note, self._now(), old, Status.CREATED.value),
            )
            if cursor.rowcount != 1:
                raise ValueError(f"{old!r} is not a created campaign in the ledger")
            # Its prospect lists go with it: a list is the campaign's, whatever its key.
            moved = self._conn.execute(
                "SELECT key FROM lists WHERE campaign_key = ?", (old,)
            ).fetchall()
            for (key,) in moved:
                renamed = new + key[len(old) :]
                self._conn.execute(
                    "UPDATE lists SET key = ?, campaign_key = ? WHERE key = ?", (renamed, new, key)
                )
                self._conn.execute(
                    "UPDATE prospects SET list_key = ? WHERE list_key = ?", (renamed, key)
                )

    def mark_sending(self, key: str, *, payload: Mapping[str, Any], origin: Origin) -> None:
        """Upsert `key` as `sending` with `payload` (and its hash) and where its row is,
        attempts unchanged, committed before the request goes out.

        Raises ValueError for a key already `created`: it must never be sent again.
        """
        if (created := self._created_id(key)) is not None:
            raise ValueError(f"{key!r} was created as campaign {created}: it is never sent again")
        self._upsert(key, Status.SENDING, payload, "", "", origin)

    def record(
        self,
        key: str,
        status: Status,
        *,
        campaign_id: str = "",
        http_status: int | None = None,
        error: str = "",
        attempts: int = 0,
    ) -> None:
        """Commit the outcome for `key`; `attempts` is added to the stored total, the stored
        payload is kept.

        Raises ValueError for a status that is not an outcome, a `created` without an id,
        a key never marked `sending`, or an entry already `created` (under another id).
        """
        outcome = _checked_status(status)
        if outcome is Status.SENDING:
            raise ValueError(f"record() takes an outcome; use mark_sending() for '{outcome}'")
        if outcome is Status.CREATED and not campaign_id:
            raise ValueError(f"{key!r}: '{Status.CREATED}' needs the campaign id")
        entry = self.get(key)
        if entry is None:
            raise ValueError(f"{key!r} is not in the ledger: call mark_sending() first")
        again = outcome is Status.CREATED and campaign_id == entry.campaign_id
        if entry.status is Status.CREATED and not again:
            raise ValueError(f"{key!r} was created as campaign {entry.campaign_id}: it stays so")
        with self._conn:
            self._conn.execute(
                "UPDATE campaigns SET status = ?, campaign_id = ?, http_status = ?, "
                "last_error = ?, attempts = attempts + ?, run_id = ?, updated_at = ? "
                "WHERE key = ?",
                (
                    outcome.value,
                    campaign_id,
                    http_status,
                    error,
                    attempts,
                    self.run_id,
                    self._now(),
                    key,
                ),
            )

    def begin_update(self, key: str) -> None:
        """Before an update of `key`'s campaign goes out: its payload becomes not known
        (NULL, hash ""), noted `UPDATING`, committed. Raises ValueError unless `key` is
        created."""
        self._set_applied(key, None, "", UPDATING, None, 0, None)

    def record_update(
        self,
        key: str,
        *,
        applied: Mapping[str, Any] | None,
        applied_hash: str = "",
        origin: Origin | None = None,
        http_status: int | None = None,
        error: str = "",
        attempts: int = 0,
    ) -> None:
        """After an update of `key`'s campaign: `applied` is the payload it now holds (the
        new one after a 200, the old one back after a refusal; a version-1 key's old one
        only by its hash, `applied=None, applied_hash=...`), None when not known.
        `origin` (after a 200) is where its row is now and the name it has; `attempts` is
        added to the total. The status stays created and the campaign id is kept. Raises
        ValueError unless `key` is created."""
        sent_hash = applied_hash if applied is None else payload_hash(applied)
        self._set_applied(key, applied, sent_hash, error, http_status, attempts, origin)

    def keep_payload(self, key: str, payload: Mapping[str, Any]) -> None:
        """Store the payload of a created key that the ledger knows only by its hash (a
        version-1 key): the campaign holds it. Raises ValueError unless `key` is created
        with exactly that hash."""
        entry = self.get(key)
        if entry is None or entry.status is not Status.CREATED:
            raise ValueError(f"{key!r} is not a created campaign in the ledger")
        if entry.payload_hash != payload_hash(payload):
            raise ValueError(f"{key!r} was created from another payload")
        with self._conn:
            self._conn.execute(
                "UPDATE campaigns SET payload = ? WHERE key = ?", (canonical_json(payload), key)
            )

    def _set_applied(
        self,
        key: str,
        applied: Mapping[str, Any] | None,
        sent_hash: str,
        note: str,
        http_status: int | None,
        attempts: int,
        origin: Origin | None,
    ) -> None:
        text = None if applied is None else canonical_json(applied)
        where = ""
        values: list[Any] = [text, sent_hash, note, http_status, attempts, self.run_id, self._now()]
        if origin is not None:
            where = ', source = ?, sheet = ?, "row" = ?, owner_id = ?, name = ?'
            values += [origin.source, origin.sheet, origin.row, origin.owner, origin.name]
        with self._conn:
            cursor = self._conn.execute(
                "UPDATE campaigns SET payload = ?, payload_hash = ?, last_error = ?, "
                f"http_status = ?, attempts = attempts + ?, run_id = ?, updated_at = ?{where} "
                "WHERE key = ? AND status = ?",
                (*values, key, Status.CREATED.value),
            )
            if cursor.rowcount != 1:
                raise ValueError(f"{key!r} is not a created campaign in the ledger")

    def adopt(
        self,
        key: str,
        *,
        campaign_id: str,
        origin: Origin,
        note: str,
        payload: Mapping[str, Any] | None,
        sent_hash: str = "",
    ) -> None:
        """Record a campaign found to exist remotely as `created` with that id.

        For a resolved `unknown` (give the payload that was sent; a version-1 entry knows
        only its hash: `payload=None, sent_hash=...`) or `--skip-existing` (None: the
        campaign's settings are not known; the stored payload becomes None and its hash
        ""). `note` (e.g. "found in the campaign list") goes to `last_error`. Attempts are
        unchanged. Raises ValueError for an empty id or a key already created under
        another id.
        """
        if not campaign_id:
            raise ValueError(f"{key!r}: adopting needs the campaign id")
        created = self._created_id(key)
        if created is not None and created != campaign_id:
            raise ValueError(f"{key!r} was created as campaign {created}, not {campaign_id}")
        self._upsert(key, Status.CREATED, payload, campaign_id, note, origin, sent_hash)

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
        elif found is not None and _endpoint_identity(found[0]) != _endpoint_identity(endpoint):
            raise ConfigError(
                f"{self.path}: this ledger records campaigns of {found[0]}, not {endpoint}",
                hint="Use another --state for another API or account.",
            )

    def release_endpoint(self) -> None:
        """Forget the API the ledger is bound to when nothing in it was, or may have been,
        created there (no key created, unknown or in flight): a run against a mistyped
        address does not keep the ledger from the right one."""
        statuses = (Status.CREATED.value, Status.UNKNOWN.value, Status.SENDING.value)
        with self._conn:
            self._conn.execute(
                "DELETE FROM meta WHERE key = 'endpoint' AND NOT EXISTS "
                "(SELECT 1 FROM campaigns WHERE status IN (?, ?, ?))",
                statuses,
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

    def start_run(self, command: str) -> None:
        """Record that this ledger's run (`run_id`) started, now."""
        with self._conn:
            self._conn.execute(
                "INSERT INTO runs (run_id, command, started) VALUES (?, ?, ?)",
                (self.run_id, command, self._now()),
            )

    def finish_run(self, counts: Mapping[str, int], exit_code: int) -> None:
        """Record how this run ended, now; raises ValueError when `start_run` was not called."""
        with self._conn:
            cursor = self._conn.execute(
                "UPDATE runs SET finished = ?, counts = ?, exit_code = ? WHERE id = "
                "(SELECT MAX(id) FROM runs WHERE run_id = ?)",
                (self._now(), json.dumps(dict(counts)), exit_code, self.run_id),
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
            "SELECT campaign_id FROM campaigns WHERE key = ? AND status = ?",
            (key, Status.CREATED.value),
        ).fetchone()
        return None if found is None else str(found[0])

    def _upsert(
        self,
        key: str,
        status: Status,
        payload: Mapping[str, Any] | None,
        campaign_id: str,
        note: str,
        origin: Origin,
        sent_hash: str = "",
    ) -> None:
        now = self._now()
        values = {
            "key": key,
            "status": status.value,
            "payload_hash": sent_hash if payload is None else payload_hash(payload),
            "campaign_id": campaign_id,
            "attempts": 0,
            "last_error": note,
            "http_status": None,
            "source": origin.source,
            "sheet": origin.sheet,
            "row": origin.row,
            "owner_id": origin.owner,
            "name": origin.name,
            "run_id": self.run_id,
            "created_at": now,
            "updated_at": now,
            "payload": None if payload is None else canonical_json(payload),
        }
        with self._conn:
            self._conn.execute(_UPSERT, values)

    def find_keys(self, text: str) -> list[str]:
        """The keys `text` names: `[text]` when the ledger has that key exactly, else every
        key equal to it compared like a name (`normalise_name` on both sides: trimmed,
        inner spaces collapsed, case-folded), sorted; `[]` when none."""
        from pipeline.model import normalise_name

        if self._conn.execute("SELECT 1 FROM campaigns WHERE key = ?", (text,)).fetchone():
            return [text]
        wanted = normalise_name(text)
        if not wanted:
            return []
        keys = (row[0] for row in self._conn.execute("SELECT key FROM campaigns"))
        return sorted(key for key in keys if normalise_name(key) == wanted)

    def resolve_created(self, key: str, campaign_id: str, note: str = "") -> Entry:
        """Record what a person found in the account: `key` exists as `campaign_id`.

        The key becomes `created` with that id, so no run sends it again; its note
        (`last_error`) becomes "resolved by hand on <date>: created as <id>", then `note`
        if given; attempts and the stored payload are kept. One committed transaction,
        only under the ledger's lock. Returns the entry as it was before; a key already
        created with this id is left as it is.

        Raises ValueError without the lock, for an id that is not a canonical uuid, a key
        the ledger does not know, a key created with another id, or an id another key holds.
        """
        from pipeline.model import is_uuid

        if not is_uuid(campaign_id):
            raise ValueError(f"{campaign_id!r} is not a campaign id (a lower-case uuid)")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            entry = self._resolvable(key)
            if entry.status is Status.CREATED and entry.campaign_id != campaign_id:
                raise ValueError(
                    f"{key!r} is already {Status.CREATED} as campaign {entry.campaign_id}, "
                    f"not {campaign_id}; a created key keeps its id"
                )
            holder = self._conn.execute(
                "SELECT key, status FROM campaigns WHERE campaign_id = ? AND key != ?",
                (campaign_id, key),
            ).fetchone()
            if holder is not None:
                raise ValueError(
                    f"campaign {campaign_id} is already recorded for the key {holder[0]!r} "
                    f"({holder[1]}); one campaign belongs to one key"
                )
            if entry.status is not Status.CREATED:
                what = f"{Status.CREATED} as {campaign_id}"
                self._set_resolved(key, Status.CREATED, campaign_id, what, note)
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()
        return entry

    def resolve_absent(self, key: str, note: str = "") -> Entry:
        """Record what a person found in the account: `key`'s campaign is not there.

        Only for a key left `unknown`, `sending` (by a crashed run: this ledger holds the
        lock) or `failed`: it becomes `not_sent`, which the next run sends once; its note
        becomes "resolved by hand on <date>: not in Extrovert; the next run sends it once",
        then `note` if given. Attempts and the stored payload are kept. One committed
        transaction, only under the ledger's lock. Returns the entry as it was before; a
        key already `not_sent` is left as it is.

        Raises ValueError without the lock, for a key the ledger does not know, a key
        `created` (it exists) or a key in any other status.
        """
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            entry = self._resolvable(key)
            if entry.status is Status.CREATED:
                raise ValueError(
                    f"{key!r} exists in the account as campaign {entry.campaign_id} "
                    f"({Status.CREATED}); it is never sent again"
                )
            if entry.status in (Status.UNKNOWN, Status.SENDING, Status.FAILED):
                what = "not in Extrovert; the next run sends it once"
                self._set_resolved(key, Status.NOT_SENT, "", what, note)
            elif entry.status is not Status.NOT_SENT:
                raise ValueError(
                    f"{key!r} is {entry.status}, not {Status.UNKNOWN}, {Status.SENDING} "
                    f"or {Status.FAILED}: it has no uncertain outcome to resolve"
                )
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()
        return entry

    def backup(self, target: Path) -> int:
        """Write a consistent copy of the ledger to `target` through SQLite's online backup
        API (safe while a run writes: a plain copy of a WAL database can miss the newest
        rows) and return how many entries the copy holds.

        The copy is made beside `target` and renamed onto it when complete, replacing an
        existing file (and dropping that file's own -wal, -shm and -journal, which belong
        to the old contents). Raises OSError or sqlite3.Error when it cannot be written.
        """
        import os
        import tempfile

        target = Path(target)
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(handle)
        copy: sqlite3.Connection | None = None
        try:
            copy = sqlite3.connect(name)
            self._conn.backup(copy)
            entries = int(copy.execute("SELECT COUNT(*) FROM campaigns").fetchone()[0])
            copy.close()  # the last connection: its -wal and -shm go with it
            with open(name, "rb") as written:
                os.fsync(written.fileno())
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            os.replace(name, target)
        except BaseException:
            if copy is not None:
                copy.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{name}{suffix}").unlink(missing_ok=True)
            raise
        return entries

    def _resolvable(self, key: str) -> Entry:
        # Inside the caller's transaction: a person's answer is written only by the run
        # that holds the lock, so no run can be sending the key meanwhile.
        if self._lock is None:
            raise ValueError(f"{self.path}: resolving a key needs the ledger's lock")
        entry = self.get(key)
        if entry is None:
            raise ValueError(f"no campaign key {key!r} in {self.path}")
        return entry

    def _set_resolved(
        self, key: str, status: Status, campaign_id: str, what: str, note: str
    ) -> None:
        # Inside the caller's transaction.
        now = self._now()
        text = f"resolved by hand on {now[:10]}: {what}"
        if note.strip():
            text += f"; {' '.join(note.split())}"
        self._conn.execute(
            "UPDATE campaigns SET status = ?, campaign_id = ?, http_status = NULL, "
            "last_error = ?, run_id = ?, updated_at = ? WHERE key = ?",
            (status.value, campaign_id, text, self.run_id, now, key),
        )


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _check_writable(path: Path, what: str) -> None:
    """Create (or open) `path` for writing now, so that a folder where nothing can be
    written is said as such, not taken for a lock another process holds."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise LedgerError(f"{path}: cannot create {what}: {_reason(error)}") from None
    os.close(descriptor)


# What SQLite says when the file cannot be opened or written (as opposed to a file that
# is something other than a ledger).
_STORAGE_WORDS = ("unable to open", "disk", "readonly", "read-only", "full", "locked")


def _is_storage(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return any(word in text for word in _STORAGE_WORDS)


def _endpoint_identity(endpoint: str) -> str:
    """An endpoint as compared: scheme and host case-insensitive, no trailing slash, and
    every loopback name (`localhost`, `127.0.0.1`, `[::1]`) one host."""
    parts = urlsplit(endpoint.strip())
    if not parts.scheme or parts.hostname is None:
        return endpoint
    host = parts.hostname.lower()
    if host == "localhost" or host.startswith("127.") or host == "::1":
        host = "loopback"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


def _checked_status(status: object) -> Status:
    if not isinstance(status, str) or status not in LEDGER_STATUSES:
        expected = ", ".join(s.value for s in LEDGER_STATUSES)
        raise ValueError(f"unknown ledger status {status!r}; expected one of {expected}")
    return Status(status)
