"""Rows settled by the campaign list: uncertain creates, and campaigns that exist already.

`settle_uncertain` looks rows whose create may or may not have happened up in the list
(twice, a few seconds apart): found, they are created with the id found; absent on both
looks, they are handed back to be sent again. Without a list that can be trusted, an
outcome of this run is never sent again; one of an earlier run only with
`--resend-unknown` (a person checked). `skip_existing` adopts campaigns that existed
before the first run (`--skip-existing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pipeline.errors import ApiError, CampaignListError
from pipeline.model import Outcome, Status
from pipeline.remote import CampaignIndex, campaign_index
from pipeline.session import Session

NO_LIST_HINT: Final = (
    "the API may have created it and offers no campaign list to check: look for it in "
    "Extrovert, then rerun with --resend-unknown if it is not there"
)


async def index(session: Session) -> tuple[CampaignIndex | None, str]:
    """The campaign list, or None and why it cannot settle anything now."""
    if not session.client.keyed:
        return None, "a dry run without a key cannot consult the campaign list"
    try:
        found = await campaign_index(session.client, session.timing, session.stop)
    except ApiError as exc:  # unreadable now: never send again on its word
        return None, f"{exc.message}; the next run looks again"
    return found, "" if found is not None else NO_LIST_HINT


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
    for look in range(2):
        if look:
            await session.stop.nap(delay)
            if session.stop.interrupted:
                session.leave_unknown(left, "interrupted before the second look in the list")
                return []
        found_index, why = await index(session)
        if found_index is None:
            if settings.resend_unknown and from_earlier_runs and session.client.keyed:
                return left  # the person checked: --resend-unknown
            session.leave_unknown(left, why)
            return []
        note = "found in the campaign list"
        left = _adopt_found(session, found_index, left, status_if_found, note, ours=True)
        if not left:
            break
    return left


async def skip_existing(session: Session, to_send: list[int]) -> list[int]:
    """Rows whose owner already has a campaign of that name are adopted as created;
    returns the others. Raises `CampaignListError` when the list cannot be read."""
    found_index, why = await index(session)
    if found_index is None and session.client.keyed:
        raise CampaignListError(
            f"--skip-existing needs the campaign list: {why}; nothing was sent",
            hint="Run again later, or without --skip-existing.",
        )
    if found_index is None:
        return to_send
    note = "existed before the first run (--skip-existing)"
    return _adopt_found(session, found_index, to_send, Status.ALREADY_CREATED, note, ours=False)


def _adopt_found(
    session: Session,
    found_index: CampaignIndex,
    positions: Sequence[int],
    status: Status,
    note: str,
    *,
    ours: bool,
) -> list[int]:
    """Settle the rows the index holds (each campaign adopted once); return the rest."""
    known = session.ledger.known_campaign_ids()
    left: list[int] = []
    for position in positions:
        origin = session.origin(position)
        found = found_index.find(origin.owner, origin.name, exclude=known)
        if found:
            session.adopt(position, found, note, ours=ours)
            known.add(found)
            session.settle(position, Outcome(status, found))
        else:
            left.append(position)
    return left
