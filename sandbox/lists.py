"""The prospect lists a sandbox holds, and the account's month.

Each list keeps its URLs in the order they arrived (a URL moved in from another list
arrives at the end), each URL at most once, and the month each prospect was first
stored in, for the account's monthly limit. Lists live in memory. With a `db` path they
are also written to SQLite, in the campaigns' file, and read back on start, so they
survive a restart (the month too). Which URLs go where is `sandbox.prospects`' decision;
the store does what it is told.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.state import open_db

_LIST_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS prospect_lists (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        campaign_id TEXT NOT NULL,
        name TEXT NOT NULL,
        delete_inactive INTEGER NOT NULL
    )
    """,
    # A moved prospect is deleted from one list and inserted in another, so `seq` is its
    # place in the list it is in now.
    """
    CREATE TABLE IF NOT EXISTS prospects (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        list_id TEXT NOT NULL,
        url TEXT NOT NULL,
        month INTEGER NOT NULL,
        UNIQUE (list_id, url)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS prospect_month (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        month INTEGER NOT NULL
    )
    """,
    "INSERT OR IGNORE INTO prospect_month (one, month) VALUES (1, 0)",
)


@dataclass(frozen=True)
class ProspectList:
    """A prospect list as it stands: its campaign, its name, the last
    `shouldBeDeletedIfInactive` it was sent, and its URLs in the order they arrived."""

    id: str
    campaign_id: str
    name: str
    delete_inactive: bool
    urls: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The list as `GET /_sandbox/lists` shows it."""
        return {
            "id": self.id,
            "name": self.name,
            "campaignId": self.campaign_id,
            "shouldBeDeletedIfInactive": self.delete_inactive,
            "urls": list(self.urls),
        }


@dataclass
class _Held:
    """A list as the store keeps it: each URL with the month it was first stored in."""

    campaign_id: str
    name: str
    delete_inactive: bool
    months: dict[str, int]


class ListStore:
    """Prospect lists in creation order and the account's month, optionally persisted to
    a SQLite file."""

    def __init__(self, db: Path | None = None) -> None:
        self._lists: dict[str, _Held] = {}
        # url -> ids of the lists holding it, in the order it arrived in them.
        self._holding: dict[str, list[str]] = {}
        self._names: Counter[tuple[str, str]] = Counter()
        self._month = 0
        # Prospects held in all lists, and how many of them arrived this month: kept as
        # they change, so that an answer's allowance needs no count over every list.
        self._total = 0
        self._this_month = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if db is not None:
            self._db = open_db(db)
            for statement in _LIST_SCHEMA:
                self._db.execute(statement)
            (self._month,) = self._db.execute("SELECT month FROM prospect_month").fetchone()
            lists = self._db.execute(
                "SELECT id, campaign_id, name, delete_inactive FROM prospect_lists ORDER BY seq"
            )
            for id_, campaign_id, name, delete_inactive in lists:
                self._remember(id_, _Held(campaign_id, name, bool(delete_inactive), {}))
            rows = self._db.execute("SELECT list_id, url, month FROM prospects ORDER BY seq")
            for list_id, url, month in rows:
                self._lists[list_id].months[url] = month
                self._holding.setdefault(url, []).append(list_id)
                self._total += 1
                self._this_month += month == self._month

    def _remember(self, list_id: str, held: _Held) -> None:
        self._lists[list_id] = held
        self._names[held.campaign_id, held.name] += 1

    @staticmethod
    def _snapshot(list_id: str, held: _Held) -> ProspectList:
        return ProspectList(
            list_id, held.campaign_id, held.name, held.delete_inactive, tuple(held.months)
        )

    def create(
        self, campaign_id: str, name: str, delete_inactive: bool
    ) -> tuple[ProspectList, bool]:
        """A new empty list under a new uuid4; also say whether the campaign already had
        a list of exactly this name."""
        list_id = str(uuid.uuid4())
        held = _Held(campaign_id, name, delete_inactive, {})
        with self._lock:
            duplicate = self._names[campaign_id, name] > 0
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO prospect_lists (id, campaign_id, name, delete_inactive) "
                    "VALUES (?, ?, ?, ?)",
                    (list_id, campaign_id, name, delete_inactive),
                )
            self._remember(list_id, held)
            return self._snapshot(list_id, held), duplicate

    def put(
        self,
        list_id: str,
        urls: Sequence[str],
        moved: Mapping[str, str],
        delete_inactive: bool,
    ) -> None:
        """Append `urls` (none of them in the list yet) to the list `list_id` and set its
        `shouldBeDeletedIfInactive`. A URL in `moved` leaves the list it maps to and
        keeps its month; any other is a new prospect of this month."""
        with self._lock:
            target = self._lists[list_id]
            months = {url: self._lists[moved[url]].months[url] for url in urls if url in moved}
            months.update({url: self._month for url in urls if url not in moved})
            if self._db is not None:
                self._db.execute("BEGIN")
                with self._db:  # one transaction: committed whole, or rolled back
                    self._db.executemany(
                        "DELETE FROM prospects WHERE list_id = ? AND url = ?",
                        [(source, url) for url, source in moved.items()],
                    )
                    self._db.executemany(
                        "INSERT INTO prospects (list_id, url, month) VALUES (?, ?, ?)",
                        [(list_id, url, months[url]) for url in urls],
                    )
                    self._db.execute(
                        "UPDATE prospect_lists SET delete_inactive = ? WHERE id = ?",
                        (delete_inactive, list_id),
                    )
            for url, source in moved.items():
                del self._lists[source].months[url]
                self._holding[url].remove(source)
            for url in urls:
                target.months[url] = months[url]
                self._holding.setdefault(url, []).append(list_id)
            fresh = len(urls) - len(moved)
            self._total += fresh
            self._this_month += fresh
            target.delete_inactive = delete_inactive

    def get(self, list_id: str) -> ProspectList | None:
        with self._lock:
            held = self._lists.get(list_id)
            return None if held is None else self._snapshot(list_id, held)

    def all(self) -> list[ProspectList]:
        with self._lock:
            return [self._snapshot(list_id, held) for list_id, held in self._lists.items()]

    def holding(self, url: str) -> dict[str, str]:
        """The lists that hold `url`, in the order it arrived in them: list id to the id
        of the list's campaign."""
        with self._lock:
            ids = self._holding.get(url, [])
            return {list_id: self._lists[list_id].campaign_id for list_id in ids}

    @property
    def month(self) -> int:
        """The account's month: 0 at first, one more for each `new_month`."""
        return self._month

    def allowance(self, per_month: int, total: int) -> int:
        """How many new prospects may still be stored: this month's share of `per_month`
        left, but no more than `total` less the prospects held in all lists."""
        with self._lock:
            return max(0, min(per_month - self._this_month, total - self._total))

    def new_month(self) -> int:
        """Start the account's next month (its monthly allowance whole again); its number."""
        with self._lock:
            if self._db is not None:
                self._db.execute("UPDATE prospect_month SET month = ?", (self._month + 1,))
            self._month += 1
            self._this_month = 0
            return self._month

    def clear(self) -> None:
        """Forget every list and prospect; the month starts at 0 again."""
        with self._lock:
            self._lists.clear()
            self._holding.clear()
            self._names.clear()
            self._month = self._total = self._this_month = 0
            if self._db is not None:
                self._db.execute("DELETE FROM prospect_lists")
                self._db.execute("DELETE FROM prospects")
                self._db.execute("UPDATE prospect_month SET month = 0")

    def close(self) -> None:
        """Close the SQLite file, if any; from then on lists are kept in memory only."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
