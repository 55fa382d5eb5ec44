"""The shared words: statuses and their groups, what happened to a row, keys, exit codes.

Every module that speaks of a row's status says it with `Status`; the text of each member
is what `results.csv`, `summary.json` and the ledger write. The groups say what a status
means for the person and for the next run:

    DONE          nothing left to do (exit 0 when every row is here)
    NEEDS_PERSON  somebody should look (exit 1): refused, given up, uncertain, not reached
    SEND_AGAIN    a ledger status whose key a later run sends again
    SUCCEEDED     rows that exist in the account (succeeded.csv)

This module imports nothing from the pipeline: both halves and the reporters use it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class Status(StrEnum):
    """A row's status; the value is the text every report writes. Order = report order."""

    VALID = "valid"
    CREATED = "created"
    UPDATED = "updated"
    ALREADY_CREATED = "already_created"
    WOULD_CREATE = "would_create"
    WOULD_UPDATE = "would_update"
    INVALID = "invalid"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"
    NOT_SENT = "not_sent"
    # A prospect's: in its list now; sent there by an earlier run; kept by the API in
    # another list or campaign; the same profile as an earlier row of its list; would be
    # added (dry run, plan); past the account's prospect limit (sent again by a later run).
    ADDED = "added"
    ALREADY_ADDED = "already_added"
    EXISTS = "exists"
    DUPLICATE = "duplicate"
    WOULD_ADD = "would_add"
    OVER_LIMIT = "over_limit"
    # Only in the ledger: committed before a request goes out, replaced by its outcome.
    SENDING = "sending"


DONE: Final = frozenset(
    {
        Status.VALID,
        Status.CREATED,
        Status.UPDATED,
        Status.ALREADY_CREATED,
        Status.WOULD_CREATE,
        Status.WOULD_UPDATE,
        Status.ADDED,
        Status.ALREADY_ADDED,
        Status.EXISTS,
        Status.WOULD_ADD,
    }
)
NEEDS_PERSON: Final = frozenset(
    {
        Status.INVALID,
        Status.REJECTED,
        Status.FAILED,
        Status.UNKNOWN,
        Status.NOT_SENT,
        Status.DUPLICATE,
        Status.OVER_LIMIT,
    }
)
SEND_AGAIN: Final = frozenset({Status.REJECTED, Status.FAILED, Status.NOT_SENT})
SUCCEEDED: Final = frozenset({Status.CREATED, Status.UPDATED, Status.ALREADY_CREATED})
# What the ledger stores per key, and which of those `campaigns status` lists for a person.
LEDGER_STATUSES: Final = (
    Status.SENDING,
    Status.CREATED,
    Status.REJECTED,
    Status.FAILED,
    Status.UNKNOWN,
    Status.NOT_SENT,
)
LEDGER_ATTENTION: Final = frozenset(
    {Status.UNKNOWN, Status.FAILED, Status.REJECTED, Status.SENDING}
)

EXIT_OK: Final = 0
EXIT_NEEDS_PERSON: Final = 1
EXIT_STOPPED: Final = 3
EXIT_INTERRUPTED: Final = 130


@dataclass(frozen=True)
class Outcome:
    """What happened to one row: its status, the campaign id, the last HTTP status, the
    requests made for it in this run, and the messages a person reads."""

    status: Status
    campaign_id: str = ""
    http_status: int | None = None
    attempts: int = 0
    errors: tuple[str, ...] = ()
    # For an update (or a would-be one): what changes, in the sheet's words
    # (`min_post_likes: 0 -> 25`), one item per column.
    changes: tuple[str, ...] = ()
    # A successful answer's `data` (for a prospect list: what became of each URL).
    data: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Origin:
    """Where a row came from and what it names: the ledger keeps this beside each key."""

    source: str
    sheet: str
    row: int
    owner: str
    name: str


def place(source: str, sheet: str, row: int) -> str:
    """Where a row is, as messages name it: `plan.xlsx [campaigns] row 4` (a CSV file
    has no sheet: `plan.csv row 4`)."""
    return f"{source}{f' [{sheet}]' if sheet else ''} row {row}"


def counts(statuses: Iterable[Status]) -> dict[str, int]:
    """Rows per status, in `Status` order, statuses with no row left out."""
    found = Counter(statuses)
    return {status.value: found[status] for status in Status if found[status]}


def exit_code(
    statuses: Iterable[Status], *, stopped: bool = False, interrupted: bool = False
) -> int:
    """DESIGN.md's rule: 130 interrupted, 3 stopped early, 1 if any row needs a person, else 0."""
    if interrupted:
        return EXIT_INTERRUPTED
    if stopped:
        return EXIT_STOPPED
    return EXIT_OK if all(s in DONE for s in statuses) else EXIT_NEEDS_PERSON


def normalise_name(name: str) -> str:
    """A campaign name as keys compare it: trimmed, inner spaces collapsed, case-folded."""
    return " ".join(name.split()).casefold()


def campaign_key(explicit: object, owner: object, name: object) -> str:
    """The `campaign_key` cell when given, else owner + name; "" if neither. Both are
    compared like names: `E1-1` and ` e1-1 ` are one key."""
    if isinstance(explicit, str) and explicit.strip():
        return normalise_name(explicit)
    if isinstance(owner, str) and owner and isinstance(name, str) and name:
        return f"{owner}/{normalise_name(name)}"
    return ""


_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_uuid(text: str) -> bool:
    """True for a canonical (lower-case, hyphenated) uuid."""
    return bool(_UUID.fullmatch(text))
