"""What a sandbox remembers: the campaigns it holds and the counts of what happened.

Each campaign keeps its current settings: the body that created it, with what later
updates sent laid over it (an update sends the whole desired state, so its fields
replace the stored ones; owner and type never change). Campaigns live in memory. With a
`db` path they are also written to SQLite and read back on start, so they survive a
restart; the counters always start at zero. Prospect lists are kept beside them, in
the same file (`sandbox.lists`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.config import FAULT_KINDS, FaultTarget

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL
)
"""


def open_db(db: Path) -> sqlite3.Connection:
    """The SQLite file `db` in autocommit mode, shared safely with other threads."""
    connection = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


@dataclass(frozen=True)
class Campaign:
    """A campaign and its current settings: the create body's shape (`ownerId`, `name`,
    `type`, ...), as created or as last updated."""

    id: str
    owner_id: str
    name: str
    payload: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The campaign as `GET /campaign` lists it."""
        return {
            "id": self.id,
            "name": self.name,
            "isActive": True,
            "isDeleted": False,
            "owner": {"id": self.owner_id},
        }


@dataclass
class Stats:
    """Counts since start or the last reset. `updated`: updates stored. `duplicates`:
    creates whose owner and exact name were already taken (an exactly-once client keeps
    this at 0). `faults`: faults struck on campaign requests.

    Prospect lists: `lists_created` and `list_adds` count the list creates and adds
    stored; `prospects_stored` the URLs they put in a list (every `submittedUrls` entry,
    the `prospects_moved` in from another list among them); `over_limit` the URLs
    answered in `outOfLimitUrls`. `duplicates_in_list` counts URLs sent to a list that
    already held them (or twice in one request): the API skips them without a word and
    stores nothing twice, and a client that never re-sends a URL keeps this at 0.
    `duplicate_lists`: list creates whose campaign already had a list of exactly this
    name (an exactly-once client keeps this at 0). `prospect_faults`: faults struck on
    list creates and adds.
    """

    requests: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    rate_limited: int = 0
    duplicates: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    lists_created: int = 0
    list_adds: int = 0
    prospects_stored: int = 0
    prospects_moved: int = 0
    over_limit: int = 0
    duplicates_in_list: int = 0
    duplicate_lists: int = 0
    prospect_faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))

    def fault_counts(self, target: FaultTarget) -> dict[str, int]:
        """The fault counts of the requests `target` names."""
        return self.faults if target == "campaigns" else self.prospect_faults

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "created": self.created,
            "updated": self.updated,
            "rejected": self.rejected,
            "rate_limited": self.rate_limited,
            "faults": dict(self.faults),
            "duplicates": self.duplicates,
            "lists_created": self.lists_created,
            "list_adds": self.list_adds,
            "prospects_stored": self.prospects_stored,
            "prospects_moved": self.prospects_moved,
            "over_limit": self.over_limit,
            "duplicates_in_list": self.duplicates_in_list,
            "duplicate_lists": self.duplicate_lists,
            "prospect_faults": dict(self.prospect_faults),
        }


class CampaignStore:
    """Campaigns in creation order, optionally persisted to a SQLite file."""

    def __init__(self, db: Path | None = None) -> None:
        self._campaigns: dict[str, Campaign] = {}
        self._pairs: Counter[tuple[str, str]] = Counter()
        # The app runs on uvicorn's thread; tests and shutdown may touch it from another.
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if db is not None:
            self._db = open_db(db)
            self._db.execute(_SCHEMA)
            rows = self._db.execute(
                "SELECT id, owner_id, name, payload FROM campaigns ORDER BY seq"
            )
            for id_, owner_id, name, payload in rows:
                self._remember(Campaign(id_, owner_id, name, json.loads(payload)))

    def _remember(self, campaign: Campaign) -> None:
        self._campaigns[campaign.id] = campaign
        self._pairs[campaign.owner_id, campaign.name] += 1

    def add(self, payload: Mapping[str, Any]) -> tuple[Campaign, bool]:
        """Store a checked body under a new uuid4; also say whether the owner already had
        a campaign of exactly this name."""
        campaign = Campaign(str(uuid.uuid4()), payload["ownerId"], payload["name"], payload)
        with self._lock:
            duplicate = self._pairs[campaign.owner_id, campaign.name] > 0
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO campaigns (id, owner_id, name, payload) VALUES (?, ?, ?, ?)",
                    (campaign.id, campaign.owner_id, campaign.name, json.dumps(payload)),
                )
            self._remember(campaign)
        return campaign, duplicate

    def update(self, campaign_id: str, body: Mapping[str, Any]) -> Campaign:
        """Replace a campaign's settings by a checked update body (the whole desired
        state but `ownerId` and `type`, which it keeps); KeyError for an unknown id."""
        with self._lock:
            old = self._campaigns[campaign_id]
            fields = {name: value for name, value in body.items() if name != "id"}
            payload = {"ownerId": old.owner_id, "type": old.payload["type"], **fields}
            campaign = Campaign(old.id, old.owner_id, payload["name"], payload)
            if self._db is not None:
                self._db.execute(
                    "UPDATE campaigns SET name = ?, payload = ? WHERE id = ?",
                    (campaign.name, json.dumps(payload), campaign.id),
                )
            self._pairs[old.owner_id, old.name] -= 1
            self._remember(campaign)
        return campaign

    def remove(self, campaign_id: str) -> None:
        """Forget a campaign, as deleting it in Extrovert would (for tests: its updates
        answer 404 from then on); KeyError for an unknown id."""
        with self._lock:
            campaign = self._campaigns.pop(campaign_id)
            self._pairs[campaign.owner_id, campaign.name] -= 1
            if self._db is not None:
                self._db.execute("DELETE FROM campaigns WHERE id = ?", (campaign_id,))

    def all(self) -> list[Campaign]:
        with self._lock:
            return list(self._campaigns.values())

    def get(self, campaign_id: str) -> Campaign | None:
        return self._campaigns.get(campaign_id)

    def clear(self) -> None:
        with self._lock:
            self._campaigns.clear()
            self._pairs.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM campaigns")

    def close(self) -> None:
        """Close the SQLite file, if any; from then on campaigns are kept in memory only."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
