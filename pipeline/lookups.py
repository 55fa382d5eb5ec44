"""Rows settled by the campaign list: what exists already, and uncertain creates.

`look_at_account` reads the list once before anything is created: its ids are the run's
snapshot (kept in the ledger, so that a later run can tell this run's creations from
campaigns that were there before). `check_account` keeps a row from creating a campaign
its owner already has under that name: the row is `invalid`, naming the campaign, unless
`--skip-existing` adopts it. `settle_uncertain` looks rows whose create may or may not
have happened up in the list (twice, a few seconds apart): a campaign of that owner and
name that was not there before the request and that no other key claims is the row's;
one that was there before is someone else's; when nothing recorded what was there
before, the row stays `unknown` for a person to resolve. Without a list that can be
trusted, an outcome of this run is never sent again; one of an earlier run only with
`--resend-unknown` (a person checked).
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from pipeline.errors import ApiError, CampaignListError, StoppedError
from pipeline.ledger import Entry
from pipeline.model import Origin, Outcome, Status, normalise_name
from pipeline.remote import CampaignIndex, campaign_index
from pipeline.session import Session

NO_LIST_HINT: Final = (
    "the API may have created it and offers no campaign list to check: look for it in "
    "Extrovert, then rerun with --resend-unknown if it is not there"
)
ADOPTED_NOTE: Final = "existed before the first run (--skip-existing)"


class ListState(Enum):
    READ = auto()
    KEYLESS = auto()  # a dry run without a key asks the API nothing
    ABSENT = auto()  # the API offers no campaign list (404/405)
    UNREADABLE = auto()  # it does, but could not be read or understood just now


@dataclass(frozen=True)
class Look:
    """One read of the campaign list: the index, or why there is none."""

    state: ListState
    index: CampaignIndex | None = None
    why: str = ""


async def look(session: Session) -> Look:
    """Read the campaign list now."""
    if not session.client.keyed:
        why = "a dry run without a key cannot consult the campaign list"
        return Look(ListState.KEYLESS, why=why)
    try:
        found = await campaign_index(session.client, session.timing, session.stop)
    except StoppedError as exc:  # the key is refused: the run stops
        session.stop.set(exc.message, exc.http_status)
        return Look(ListState.UNREADABLE, why=f"{exc.message}; the run stopped")
    except ApiError as exc:  # unreadable now: never send again on its word
        return Look(ListState.UNREADABLE, why=f"{exc.message}; the next run looks again")
    if found is None:
        return Look(ListState.ABSENT, why=NO_LIST_HINT)
    return Look(ListState.READ, found)


async def look_at_account(session: Session) -> Look:
    """The campaign list before anything is created; its ids become the run's snapshot."""
    found = await look(session)
    if found.index is not None:
        session.took_snapshot(found.index.all_ids)
    return found


def check_account(session: Session, account: Look | None, to_send: list[int]) -> list[int]:
    """Rows whose owner already has a campaign of that name create nothing: `invalid`
    naming it, or adopted as already_created with `--skip-existing`. Returns the rest.

    Without a list nothing can be checked: a first run on an empty ledger says so loudly;
    a list that exists but cannot be read now sends nothing the ledger does not know.
    Raises `CampaignListError` for `--skip-existing` without a readable list.
    """
    settings = session.settings
    if session.stop:  # the rows are reported not_sent, with the reason
        return []
    if account is None or not to_send:
        return to_send
    if account.index is None:
        if settings.skip_existing and account.state is not ListState.KEYLESS:
            raise CampaignListError(
                f"--skip-existing needs the campaign list: {account.why}; nothing was sent",
                hint="Run again later, or without --skip-existing.",
            )
        if account.state is ListState.UNREADABLE:
            why = (
                "not sent: the campaign list could not be read to make sure this campaign "
                f"does not exist yet ({account.why})"
            )
            for position in to_send:
                session.settle(position, Outcome(Status.NOT_SENT, errors=(why,)))
            return []
        if account.state is ListState.KEYLESS:
            session.warn(
                "a dry run without a key cannot check the account for campaigns that exist "
                "already: rows shown as would_create may exist there"
            )
        elif not any(session.ledger.counts().values()):
            session.warn(
                "DUPLICATES CANNOT BE DETECTED: this API offers no campaign list and this "
                f"ledger ({settings.state}) is empty, so campaigns made elsewhere, or "
                "recorded in another ledger, will be created again; keep one ledger "
                "(--state) for this account and run from one place"
            )
        return to_send
    claimed = session.ledger.keys_by_campaign_id()
    taken: set[str] = set()  # adopted by a row of this run just now
    left: list[int] = []
    for position in to_send:
        origin = session.origin(position)
        found = account.index.find_all(origin.owner, origin.name)
        if not found:
            left.append(position)
            continue
        free = [c for c in found if c not in claimed and c not in taken]
        if settings.skip_existing and free:
            session.adopt(position, free[0], ADOPTED_NOTE, ours=False)
            taken.add(free[0])
            session.settle(position, Outcome(Status.ALREADY_CREATED, free[0]))
            continue
        message = exists_message(origin, found[0], claimed.get(found[0]))
        session.settle(position, Outcome(Status.INVALID, errors=(message,)))
    return left


def exists_message(origin: Origin, campaign_id: str, holder: Entry | None) -> str:
    """Why a row creates nothing: its owner has a campaign of that name already."""
    if holder is not None:
        return (
            f"campaign_name: the owner already has a campaign {origin.name!r} ({campaign_id}), "
            f"created by this tool on {holder.created_at[:10]} for campaign_key {holder.key}; "
            "nothing was created. Give this row another name, or that campaign_key"
        )
    return (
        f"campaign_name: the owner already has a campaign {origin.name!r} in Extrovert "
        f"({campaign_id}), made outside this ledger; nothing was created. Rerun with "
        "--skip-existing to adopt it as already_created, or rename the row to create a "
        "new one"
    )


async def settle_uncertain(
    session: Session,
    positions: Sequence[int],
    status_if_found: Status,
    *,
    from_earlier_runs: bool,
) -> list[int]:
    """Look the rows up in the campaign list (twice, a few seconds apart); those found
    are settled with `status_if_found`; returns the rows to send again: absent on both
    looks, or, without a list, those of earlier runs when `--resend-unknown` says so
    (an outcome of this run is never resent without the list's word)."""
    if not positions:
        return []
    settings = session.settings
    left = list(positions)
    # A create that just timed out may still be under way: give it the timeout again.
    delay = settings.recheck_delay
    if not from_earlier_runs:
        delay = max(delay, settings.send.timeout)
    for attempt in range(2):
        if attempt:
            await session.stop.nap(delay)
            if session.stop.interrupted:
                session.leave_unknown(left, "interrupted before the second look in the list")
                return []
        found = await look(session)
        if found.index is None:
            if settings.resend_unknown and from_earlier_runs and session.client.keyed:
                return left  # the person checked: --resend-unknown
            session.leave_unknown(left, found.why)
            return []
        left = _settle_found(session, found.index, left, status_if_found)
        if not left:
            break
    return left


def found_note(session: Session, position: int) -> str:
    """What a row settled by the list says: `found in the campaign list after HTTP 500`
    (or after the timeout, the dropped connection, the crash that left it uncertain)."""
    earlier = session.outcomes[position]  # this run's uncertain outcome, if any
    if earlier is not None:
        status, said = earlier.http_status, earlier.errors[0] if earlier.errors else ""
    else:  # an earlier run's: what the ledger noted then
        entry = session.ledger.get(session.checked.keys[position])
        status, said = (entry.http_status, entry.last_error) if entry else (None, "")
    cause = f"HTTP {status}" if status is not None and status >= 500 else said
    return f"found in the campaign list after {cause}" if cause else "found in the campaign list"


def _name_of(origin: Origin) -> tuple[str, str]:
    return origin.owner, normalise_name(origin.name)


def _settle_found(
    session: Session, index: CampaignIndex, positions: Sequence[int], status: Status
) -> list[int]:
    """Settle the rows the list can speak for; return those it shows absent."""
    claimed = session.ledger.known_campaign_ids()  # adoptions below add to it
    names = Counter(_name_of(session.origin(p)) for p in positions)
    absent: list[int] = []
    for position in positions:
        origin = session.origin(position)
        free = [c for c in index.find_all(origin.owner, origin.name) if c not in claimed]
        before = session.snapshot_before(position)
        new = [c for c in free if before is not None and c not in before]
        key = shlex.quote(session.checked.keys[position])
        if not free:
            absent.append(position)
        elif before is None or len(new) > 1 or (new and names[_name_of(origin)] > 1):
            if before is None:
                why = "nothing recorded what the account held before this row was sent"
            elif len(new) > 1:
                why = f"{len(new)} such campaigns appeared since ({', '.join(new)})"
            else:
                why = "another uncertain row of this run has the same owner and name"
            session.leave_unknown(
                [position],
                f"a campaign of this owner and name exists ({free[0]}), but {why}, so this "
                "tool cannot tell whether it is this row's: look in Extrovert, then run "
                f"`campaigns resolve {key} --created ID` (or `--absent`)",
            )
        elif new:
            note = found_note(session, position)
            session.adopt(position, new[0], note, ours=True)
            claimed.add(new[0])
            session.settle(position, Outcome(status, new[0], errors=(note,)))
        elif session.settings.skip_existing:
            session.adopt(position, free[0], ADOPTED_NOTE, ours=False)
            claimed.add(free[0])
            session.settle(position, Outcome(Status.ALREADY_CREATED, free[0]))
        else:  # only campaigns that were there before the request: someone else's
            message = exists_message(origin, free[0], None)
            session.settle(position, Outcome(Status.INVALID, errors=(message,)))
    return absent
