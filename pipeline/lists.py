"""The campaigns' prospect lists filled: after the campaign phase, each Prospects campaign
that exists gets the lists and profiles its prospect rows name (decisions 13 to 15).

`fill_lists(session, found, outcomes)` returns one `Outcome` per prospect row. A row
whose campaign does not exist (invalid, refused, not sent...) is `not_sent`, naming its
campaign row. For each list (a campaign's key and a list name), the ledger tells what is
left to do: a list it does not know (or whose create failed or was refused) is created
with its first 100 URLs not yet answered (`POST prospect-list`), a created list gets the
rest in chunks of 100 (`POST .../add-users-to-list`). A URL the ledger records as
answered for its list is not sent again: `already_added`, `exists` or `rejected` as it
was then; one that was over the limit, failed or was never answered is sent again.

Creating a list is not idempotent and nothing finds a list again: its create is
committed `sending` before it goes out, and an outcome that is not known leaves the
list (and its URLs) `unknown`, never created again by itself (only with
`--resend-unknown`, once a person looked). Adding is idempotent: retried by the sender.
An answer with any URL over the account's limit stops the prospect requests of the run
(the rest are `not_sent`, sent by a later run); the account's limits of the last answer
are kept (`Filled.limits`). A dry run says `would_add` and sends nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pipeline.ledger import ListEntry
from pipeline.model import SEND_AGAIN, Outcome, Status, place
from pipeline.operations import Action, Operation
from pipeline.prospects import CheckedProspects, Prospect
from pipeline.send import NotRecorded
from pipeline.session import Session

__all__ = ["CHUNK", "LIMIT_REACHED", "Filled", "fill_lists"]

CHUNK: Final = 100  # URLs per request (decision 13)
# Why a prospect waits: the account's limit was reached earlier in the run.
LIMIT_REACHED: Final = "not sent: the account's prospect limit is reached; a later run sends it"
# The campaign statuses after which a campaign exists (or, in a dry run, would).
_EXISTS: Final = frozenset({Status.CREATED, Status.UPDATED, Status.ALREADY_CREATED})
_WOULD_EXIST: Final = frozenset({Status.WOULD_CREATE, Status.WOULD_UPDATE, *_EXISTS})
# What an answered URL stays in a later run (not sent again).
_ANSWERED: Final = {
    Status.ADDED: Status.ALREADY_ADDED,
    Status.EXISTS: Status.EXISTS,
    Status.REJECTED: Status.REJECTED,
}


@dataclass
class Filled:
    """Each prospect row's outcome, and the account's prospect limits the last answer
    gave (`totalUrlsLimit`, `perMonthUrlsLimit`; empty when no answer said)."""

    outcomes: list[Outcome]
    limits: dict[str, Any] = field(default_factory=dict)
    over_limit: bool = False
    # What is left to send, per list (a dry run's plan): its key, campaign key, name,
    # whether it is created first, and the URLs, in sheet order.
    planned: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _List:
    """One list of this run: its rows by URL, and what is left to send."""

    key: str
    campaign_key: str
    name: str
    campaign_id: str
    rows: dict[str, list[int]] = field(default_factory=dict)  # url -> prospect positions
    entry: ListEntry | None = None
    pending: list[str] = field(default_factory=list)


async def fill_lists(
    session: Session,
    found: CheckedProspects,
    outcomes: Sequence[Outcome],
    allowed: Mapping[str, frozenset[str]] | None = None,
) -> Filled:
    """Fill the lists of the campaigns that exist (see the module docstring). `allowed`
    (a saved plan being applied) names, per list key, the only URLs that may be sent;
    any other URL left to send is `not_sent`, saying the plan did not show it."""
    prospects = found.prospects
    result: list[Outcome | None] = [None] * len(prospects)
    dry_run = session.settings.dry_run
    lists: dict[str, _List] = {}
    for position, prospect in enumerate(prospects):
        if prospect.status is not None:
            result[position] = Outcome(prospect.status, errors=prospect.errors)
            continue
        campaign = outcomes[prospect.campaign] if prospect.campaign is not None else None
        ready = _WOULD_EXIST if dry_run else _EXISTS
        if campaign is None or campaign.status not in ready:
            result[position] = _campaign_missing(session, prospect, campaign)
            continue
        entry = lists.setdefault(
            prospect.list_key,
            _List(
                prospect.list_key, prospect.campaign_key, prospect.list_name, campaign.campaign_id
            ),
        )
        entry.rows.setdefault(prospect.url, []).append(position)
    filled = Filled([])
    try:
        if lists:
            _what_is_left(session, lists, result)
            if allowed is not None:
                _keep_to_plan(lists, allowed, result)
            filled.planned = [
                {
                    "key": item.key,
                    "campaign_key": item.campaign_key,
                    "name": item.name,
                    "create": not _exists(item.entry),
                    "urls": list(item.pending),
                }
                for item in lists.values()
                if item.pending
            ]
            if dry_run:
                for item in lists.values():
                    for url in item.pending:
                        _settle(result, item, url, Outcome(Status.WOULD_ADD))
            elif not session.stop:
                await _send(session, lists, result, filled)
    except sqlite3.Error as error:
        session.stop.set(f"the ledger {session.ledger.path} could not be written: {error}")
    why = f"not sent: {session.stop.reason}" if session.stop.reason else "not sent"
    if filled.over_limit:
        why = LIMIT_REACHED
    filled.outcomes = [
        o if o is not None else Outcome(Status.NOT_SENT, errors=(why,)) for o in result
    ]
    return filled


def _exists(entry: ListEntry | None) -> bool:
    return entry is not None and entry.status is Status.CREATED


def _keep_to_plan(
    lists: Mapping[str, _List], allowed: Mapping[str, frozenset[str]], result: list[Outcome | None]
) -> None:
    """Only the URLs a plan being applied shows stay to send; the others are not_sent."""
    why = "not sent: the plan did not show this prospect being added; make a new plan to add it"
    for key, item in lists.items():
        shown = allowed.get(key, frozenset())
        for url in item.pending:
            if url not in shown:
                _settle(result, item, url, Outcome(Status.NOT_SENT, errors=(why,)))
        item.pending = [url for url in item.pending if url in shown]


def _campaign_missing(session: Session, prospect: Prospect, campaign: Outcome | None) -> Outcome:
    """A prospect whose campaign does not exist: not sent, naming its campaign row."""
    if prospect.campaign is None or campaign is None:
        return Outcome(Status.NOT_SENT, errors=("campaign: not found",))
    origin = session.origin(prospect.campaign)
    said = campaign.status.value.replace("_", " ")
    return Outcome(
        Status.NOT_SENT,
        errors=(
            f"campaign: its campaign row ({place(origin.source, origin.sheet, origin.row)}) "
            f"is {said}, "
            "so the campaign does not exist yet; the prospect is sent once it does",
        ),
    )


def _what_is_left(
    session: Session, lists: Mapping[str, _List], result: list[Outcome | None]
) -> None:
    """Settle what the ledger answers already (URLs answered, lists whose create is not
    known) and put the rest in each list's `pending`, in sheet order."""
    entries = session.ledger.lists(lists)
    answered = session.ledger.prospect_states(lists)
    resend = session.settings.resend_unknown
    for key, item in lists.items():
        item.entry = entries.get(key)
        uncertain = item.entry is not None and item.entry.status in (Status.UNKNOWN, Status.SENDING)
        for url in item.rows:
            status, detail = answered.get((key, url), (None, ""))
            if status in _ANSWERED:
                shown = _ANSWERED[status]
                errors = (detail,) if detail else ()
                _settle(
                    result,
                    item,
                    url,
                    Outcome(shown, item.entry.list_id if item.entry else "", errors=errors),
                )
            elif uncertain and not resend:
                _settle(result, item, url, Outcome(Status.UNKNOWN, errors=(_list_unknown(item),)))
            else:
                item.pending.append(url)
        if uncertain and resend:
            item.entry = None  # a person looked: created anew


def _list_unknown(item: _List) -> str:
    return (
        f"list {item.name!r}: its create was sent and whether it went through is not known "
        "(no call finds a list again); look in Extrovert, then rerun with --resend-unknown "
        "if it is not there"
    )


def _settle(result: list[Outcome | None], item: _List, url: str, outcome: Outcome) -> None:
    for position in item.rows[url]:
        result[position] = outcome


async def _send(
    session: Session, lists: Mapping[str, _List], result: list[Outcome | None], filled: Filled
) -> None:
    """Create the lists that need it (with their first chunk), then add the rest."""
    creates = []
    for item in lists.values():
        if not item.pending:
            continue
        created = item.entry is not None and item.entry.status is Status.CREATED
        if created or (item.entry is not None and item.entry.status not in SEND_AGAIN):
            continue
        first, item.pending = item.pending[:CHUNK], item.pending[CHUNK:]
        creates.append(
            Operation.create_list(
                item.key,
                item.name,
                item.campaign_id,
                first,
                _positions(item, first),
                **_switches(session),
            )
        )
    by_key = dict(lists)

    def before(operation: Operation) -> None:
        if operation.action is not Action.CREATE_LIST:
            return  # adding is idempotent: nothing to commit first
        item = by_key[operation.key]
        try:
            session.ledger.mark_list_sending(
                item.key,
                campaign_key=item.campaign_key,
                name=item.name,
                campaign_id=item.campaign_id,
            )
        except sqlite3.Error as error:
            raise NotRecorded(
                f"the ledger {session.ledger.path} could not be written: {error}"
            ) from None

    tried: dict[str, Outcome] = {}

    def after(operation: Operation, outcome: Outcome) -> None:
        item = by_key[operation.key]
        if operation.action is Action.CREATE_LIST:
            tried[item.key] = outcome
            session.ledger.record_list(
                item.key,
                outcome.status,
                list_id=outcome.campaign_id,
                http_status=outcome.http_status,
                error=outcome.errors[0] if outcome.errors else "",
            )
            if outcome.status is Status.CREATED:
                item.entry = _created(item, outcome.campaign_id)
        urls = [str(url) for url in operation.body["userUrls"]]
        _answered(session, item, operation, urls, outcome, result, filled)

    width = max(1, session.settings.send.concurrency)
    for start in range(0, len(creates), width):
        if session.stop or filled.over_limit:
            break
        await session.sender.apply(creates[start : start + width], before, after)
    for item in lists.values():
        outcome = tried.get(item.key)
        if outcome is not None and not _exists(item.entry) and item.pending:
            # The rest of a list whose create did not go through share its fate.
            said = _unsent(item, Action.CREATE_LIST, outcome)
            for url in item.pending:
                _settle(result, item, url, said)
            item.pending = []
    per_list = [
        [
            Operation.add_prospects(
                item.key,
                item.entry.list_id,
                item.campaign_id,
                chunk,
                _positions(item, chunk),
                **_switches(session),
            )
            for chunk in _chunks(item.pending)
        ]
        for item in lists.values()
        if _exists(item.entry) and item.entry is not None
    ]
    # A list's chunks go one after another (in sheet order); lists side by side.
    waves = [
        [chunks[index] for chunks in per_list if index < len(chunks)]
        for index in range(max((len(chunks) for chunks in per_list), default=0))
    ]
    for wave in waves:
        for start in range(0, len(wave), width):
            if session.stop or filled.over_limit:
                break
            await session.sender.apply(wave[start : start + width], before, after)


def _switches(session: Session) -> dict[str, bool]:
    """The two switches every list request carries, as the settings say (decision 13)."""
    settings = session.settings
    return {
        "move_own_duplicated": settings.move_own_duplicated,
        "delete_if_inactive": settings.delete_if_inactive,
    }


def _created(item: _List, list_id: str) -> ListEntry:
    return ListEntry(
        item.key,
        item.campaign_key,
        item.name,
        item.campaign_id,
        list_id,
        Status.CREATED,
        None,
        "",
        "",
        "",
        "",
    )


def _positions(item: _List, urls: Sequence[str]) -> tuple[int, ...]:
    return tuple(p for url in urls for p in item.rows[url])


def _chunks(urls: Sequence[str]) -> list[list[str]]:
    return [list(urls[start : start + CHUNK]) for start in range(0, len(urls), CHUNK)]


def _answered(
    session: Session,
    item: _List,
    operation: Operation,
    urls: Sequence[str],
    outcome: Outcome,
    result: list[Outcome | None],
    filled: Filled,
) -> None:
    """Each URL of a request settled by its answer (decision 14), and recorded; a
    request without an answer settles its URLs as it ended."""
    list_id = item.entry.list_id if item.entry is not None else ""
    if outcome.status not in (Status.CREATED, Status.ADDED):
        said = _unsent(item, operation.action, outcome)
        for url in urls:
            _settle(result, item, url, said)
        return
    data = outcome.data if isinstance(outcome.data, dict) else {}
    if data.get("totalUrlsLimit") is not None or data.get("perMonthUrlsLimit") is not None:
        filled.limits = {
            "totalUrlsLimit": data.get("totalUrlsLimit"),
            "perMonthUrlsLimit": data.get("perMonthUrlsLimit"),
        }
        session.ledger.record_limits(filled.limits)
    said_of = _per_url(data)
    recorded: dict[str, tuple[Status, str]] = {}
    for url in urls:
        status, detail = said_of.get(url, (Status.ADDED, ""))
        filled.over_limit = filled.over_limit or status is Status.OVER_LIMIT
        recorded[url] = (status, detail)
        errors = (detail,) if detail else ()
        _settle(
            result,
            item,
            url,
            Outcome(status, list_id, outcome.http_status, outcome.attempts, errors),
        )
    session.ledger.record_prospects(item.key, recorded)


def _unsent(item: _List, action: Action, outcome: Outcome) -> Outcome:
    """A URL's outcome when its request (or its list's create) did not go through."""
    list_id = item.entry.list_id if item.entry is not None else ""
    errors = outcome.errors
    if outcome.status is Status.UNKNOWN and action is Action.CREATE_LIST:
        errors = (_list_unknown(item), *errors)
    elif outcome.status is Status.FAILED:
        errors = (*errors, "sent again by the next run")
    elif outcome.status is Status.REJECTED and action is Action.CREATE_LIST:
        errors = (f"list {item.name!r}: the API refused to create it", *errors)
    return Outcome(outcome.status, list_id, outcome.http_status, outcome.attempts, errors)


def _per_url(data: Mapping[str, Any]) -> dict[str, tuple[Status, str]]:
    """What an answer says of each URL (decision 14); a URL it does not name was added
    (the API skips one already in the list without a word)."""
    said: dict[str, tuple[Status, str]] = {}
    for url in data.get("submittedUrls") or ():
        said[str(url)] = (Status.ADDED, "")
    for url in data.get("validationRejectedUrls") or ():
        said[str(url)] = (Status.REJECTED, "linkedin_url: the API refused this profile link")
    existed = data.get("existedUrlsMap") or {}
    if isinstance(existed, dict):
        for campaign_id, held in existed.items():
            name = held.get("campaignName", "") if isinstance(held, dict) else ""
            found = held.get("urls", ()) if isinstance(held, dict) else held
            where = f"campaign {name!r} ({campaign_id})" if name else f"campaign {campaign_id}"
            for url in found or ():
                said[str(url)] = (Status.EXISTS, f"linkedin_url: already a prospect of {where}")
    for url in data.get("outOfLimitUrls") or ():
        said[str(url)] = (
            Status.OVER_LIMIT,
            "linkedin_url: over the account's prospect limit; a later run sends it again",
        )
    return said
