"""`campaigns status` and `campaigns resolve`: the ledger as a person reads, saves and
corrects it, without the network.

`ledger_status`, `export_ledger` and `backup_ledger` read the ledger without its lock (a
run may be going on; a ledger of an older schema is upgraded in place as it is opened).
`ledger_status` names each row that needs a person as a person knows it (file, row,
campaign name, owner e-mail when the ledger learned it) and says whether a run holds
the ledger now (`lock_holder`, which takes nothing where the OS lists its locks).
`resolve_key` records what a person found in the account for a key whose create is
uncertain; it takes the lock, so never while a run holds the ledger.
"""

from __future__ import annotations

import csv
import errno
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pipeline.errors import ConfigError, LedgerError, LockedError
from pipeline.guard import guard
from pipeline.ledger import UPDATING, Entry, Ledger, lock_file
from pipeline.model import (
    EXIT_NEEDS_PERSON,
    EXIT_OK,
    LEDGER_ATTENTION,
    LEDGER_STATUSES,
    Status,
    place,
)
from pipeline.timing import Timing

# The columns of `campaigns status --export`: every entry with its id and where its row is.
EXPORT_COLUMNS: Final = (
    "key",
    "owner_id",
    "name",
    "campaign_id",
    "status",
    "source",
    "sheet",
    "row",
    "updated_at",
)
_NO_LEDGER_HINT: Final = "Run `campaigns run` first, or give --state."
# Where Linux lists the file locks held (and by which process); read, never taken.
PROC_LOCKS: Final = Path("/proc/locks")
# The ledger statuses `campaigns resolve` records a finding for.
RESOLVABLE: Final = frozenset({Status.UNKNOWN, Status.SENDING, Status.FAILED})


@dataclass(frozen=True)
class Lock:
    """The ledger's lock, held by a run: its file and the process holding it (None
    where the OS does not say)."""

    path: Path
    pid: int | None


@dataclass(frozen=True)
class LedgerStatus:
    """What `campaigns status` shows: counts, counts per file, rows needing a person
    (with the e-mail of each owner the ledger learned), and the lock if a run holds it."""

    path: Path
    counts: dict[str, int]
    by_source: dict[str, dict[str, int]]
    attention: tuple[Entry, ...]
    runs: list[dict[str, Any]]
    emails: dict[str, str] = field(default_factory=dict)  # owner id -> e-mail
    lock: Lock | None = None
    # Each prospect list (`Ledger.list_summary`) and the account's prospect limits as the
    # last answer gave them.
    lists: list[dict[str, Any]] = field(default_factory=list)
    prospect_limits: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """1 when some key needs a person (unknown, failed, rejected, in flight, a created
        campaign whose update's outcome is not known), else 0."""
        return EXIT_NEEDS_PERSON if self.attention else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        """The status as plain data for `--json`: every ledger status counted (0 when none)."""
        return {
            "path": str(self.path),
            "locked": self.lock is not None,
            "locked_by": self.lock.pid if self.lock is not None else None,
            "total": sum(self.counts.values()),
            "counts": {s.value: self.counts.get(s.value, 0) for s in LEDGER_STATUSES},
            "by_source": self.by_source,
            "attention": [
                {
                    "key": entry.key,
                    "status": entry.status.value,
                    "source": entry.source,
                    "sheet": entry.sheet,
                    "row": entry.row,
                    "name": entry.name,
                    "owner_id": entry.owner_id,
                    "owner_email": self.emails.get(entry.owner_id, ""),
                    "campaign_id": entry.campaign_id,
                    "http_status": entry.http_status,
                    "last_error": entry.last_error,
                    "updated_at": entry.updated_at,
                }
                for entry in self.attention
            ],
            "runs": self.runs,
            "lists": self.lists,
            "prospect_limits": self.prospect_limits,
        }

    def describe(self, entry: Entry) -> str:
        """A row that needs a person, as the person knows it: `plan.xlsx [campaigns] row 4:
        unknown: "Q1 CTOs" of anna@example.com: <what the ledger noted>`."""
        where = place(entry.source, entry.sheet, entry.row)
        owner = self.emails.get(entry.owner_id) or f"owner {entry.owner_id}"
        noted = f": {entry.last_error}" if entry.last_error else ""
        return f'{where}: {entry.status}: "{entry.name}" of {owner}{noted}'


@dataclass(frozen=True)
class Resolution:
    """What `resolve_key` recorded: the key, its entry before and after."""

    key: str
    before: Entry
    after: Entry

    @property
    def changed(self) -> bool:
        """False when the ledger already said what the person found."""
        return self.before != self.after


def _existing(state: Path) -> Path:
    if not state.exists():
        raise ConfigError(f"no ledger at {state}", hint=_NO_LEDGER_HINT)
    return state


def _open_to_read(state: Path, timing: Timing | None) -> Ledger:
    return Ledger.open(
        _existing(state), run_id="status", timing=timing or Timing.real(), lock=False
    )


def ledger_status(state: Path, *, timing: Timing | None = None) -> LedgerStatus:
    """Read the ledger without taking its lock (a run may be going on)."""
    with _open_to_read(state, timing) as ledger:
        entries = ledger.entries()
        runs = ledger.runs()
        lists = ledger.list_summary()
        limits = ledger.prospect_limits()
        emails: dict[str, str] = {}
        for email, owner in sorted(ledger.owners().items()):
            emails.setdefault(owner, email)
    by_source: dict[str, dict[str, int]] = {}
    for entry in entries:
        per = by_source.setdefault(entry.source, {})
        per[entry.status] = per.get(entry.status, 0) + 1
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry.status] = totals.get(entry.status, 0) + 1
    needs = tuple(e for e in entries if e.status in LEDGER_ATTENTION or _updating(e))
    return LedgerStatus(
        state, totals, by_source, needs, runs, emails, lock_holder(state), lists, limits
    )


def _updating(entry: Entry) -> bool:
    """A created campaign whose last update's outcome is not known: the next run sends
    it again, but until then nobody knows which settings it holds."""
    return entry.status is Status.CREATED and entry.last_error.startswith(UPDATING)


def lock_holder(state: Path) -> Lock | None:
    """The ledger's lock if a run holds it now, else None.

    Where the OS lists its locks (Linux's /proc/locks) this only reads that list, so it
    can never be what makes a starting run find the ledger locked; elsewhere it takes
    the lock for an instant and lets go at once (a run starting in that instant exits 2).
    """
    path = lock_file(state)
    try:
        found = path.stat()
    except OSError:
        return None  # never locked: no run has opened this ledger
    try:
        table = PROC_LOCKS.read_text(encoding="ascii", errors="replace")
    except OSError:
        return _tried(path)
    # Each line: `1: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF`; a
    # process waiting for a lock has `->` after the number.
    wanted = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}:{found.st_ino}"
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == wanted:
            return Lock(path, int(parts[4]) if parts[4].isdigit() else None)
    return None


def _tried(path: Path) -> Lock | None:
    from filelock import FileLock, Timeout

    probe = FileLock(str(path), timeout=0, thread_local=False)
    try:
        probe.acquire()
    except Timeout:
        return Lock(path, None)
    except OSError:
        return None  # a lock file that cannot even be opened is held by nobody we know
    probe.release()
    return None


def _check_target(state: Path, target: Path, option: str) -> None:
    """Refuse to write over the ledger itself, its journal or its lock."""
    ledger = state.resolve()
    own = {ledger, *(Path(f"{ledger}{suffix}") for suffix in ("-wal", "-shm", ".lock"))}
    if target.resolve() in own:
        raise ConfigError(f"{option} {target}: is the ledger's own file; give another path")


def export_ledger(state: Path, target: Path, *, timing: Timing | None = None) -> int:
    """Write every ledger entry to `target` as CSV (`EXPORT_COLUMNS`; UTF-8 with BOM, CRLF,
    text guarded against formulas, like the reports), replacing the file atomically;
    return how many entries it holds. Raises ConfigError naming `target` and the OS
    reason when it cannot be written."""
    from pipeline.report import atomic_write  # pulls in pandas: only when exporting

    _check_target(_existing(state), target, "--export")
    with _open_to_read(state, timing) as ledger:
        entries = ledger.entries()
    try:
        _make_folder(target)
        with atomic_write(target) as stream:
            writer = csv.writer(stream, lineterminator="\r\n")
            writer.writerow(EXPORT_COLUMNS)
            writer.writerows(_export_row(entry) for entry in entries)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {target}: {exc.strerror or exc}",
            hint="Choose another path for --export.",
        ) from None
    return len(entries)


def _make_folder(target: Path) -> None:
    """Make `target`'s folder if needed; a file in its way is NotADirectoryError, not the
    FileExistsError `mkdir` would give."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None


def _export_row(entry: Entry) -> list[str | int]:
    texts = (entry.key, entry.owner_id, entry.name, entry.campaign_id, entry.status.value)
    where = (entry.source, entry.sheet)
    return [*map(guard, texts), *map(guard, where), entry.row, guard(entry.updated_at)]


def backup_ledger(
    state: Path, target: Path, *, force: bool = False, timing: Timing | None = None
) -> int:
    """Write a consistent copy of the ledger to `target` through SQLite's backup API (safe
    while a run writes) and return how many entries it holds.

    Refuses (ConfigError) an existing `target` unless `force`, and the ledger's own files;
    raises ConfigError naming `target` and the reason when it cannot be written. The copy
    is private (0600) whatever the umask: a whole ledger, kept for restoring, unlike
    `export_ledger`'s CSV, which gets the umask's permissions like the reports.
    """
    _check_target(_existing(state), target, "--backup")
    if target.exists() and not force:
        raise ConfigError(f"--backup {target}: the file exists", hint="Add --force to replace it.")
    with _open_to_read(state, timing) as ledger:
        try:
            _make_folder(target)
            return ledger.backup(target)
        except OSError as exc:
            reason = exc.strerror or str(exc)
        except sqlite3.Error as exc:  # disk full, I/O error
            reason = str(exc)
    raise ConfigError(
        f"cannot write the backup {target}: {reason}",
        hint="Choose another path for --backup.",
    )


def resolve_key(
    state: Path,
    text: str,
    *,
    created: str | None = None,
    absent: bool = False,
    note: str = "",
    timing: Timing | None = None,
) -> Resolution:
    """Record what a person found in the account for the key `text` names (the key as
    `campaigns status` shows it, or the row's campaign_key, compared like a name):
    `created` (a campaign id) makes it `created` with that id, `absent` lets the next run
    send it once. Takes the ledger's lock (LockedError while a run holds it); raises
    ConfigError for a missing ledger, a key it does not know or several keys it matches,
    and for every refusal of `Ledger.resolve_created` / `Ledger.resolve_absent`."""
    if (created is None) == (not absent):
        raise ConfigError("say what was found: a campaign id (created) or absent, not both")
    _existing(state)
    try:
        ledger = Ledger.open(state, run_id="resolve", timing=timing or Timing.real())
    except LockedError as exc:
        raise LockedError(
            exc.message, hint="A run is using this ledger: resolve the key once it has ended."
        ) from None
    with ledger:
        key = _one_key(ledger, text)
        try:
            if created is not None:
                before = ledger.resolve_created(key, created.strip().lower(), note)
            else:
                before = ledger.resolve_absent(key, note)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        after = ledger.get(key)
    if after is None:  # pragma: no cover - the key was found a moment ago, in this lock
        raise LedgerError(f"{state}: the key {key!r} vanished while it was resolved")
    return Resolution(key, before, after)


def _one_key(ledger: Ledger, text: str) -> str:
    keys = ledger.find_keys(text)
    if not keys:
        raise ConfigError(
            f"no campaign key {text!r} in the ledger {ledger.path}",
            hint=f"`campaigns status --state {ledger.path}` lists the keys that need a "
            "person; `--export FILE.csv` lists every key.",
        )
    if len(keys) > 1:
        raise ConfigError(
            f"{text!r} matches {len(keys)} keys in {ledger.path}: "
            + ", ".join(repr(k) for k in keys),
            hint="Give the key exactly as `campaigns status` shows it.",
        )
    return keys[0]
