"""The online half of `campaigns run`, in order: consult the ledger, look up, send, settle.

`execute` takes checked rows and returns an `Execution`: one `Outcome` per row and the
counters. Its promises: a key the ledger knows as created is never created again; its
campaign is updated (`PATCH`, decision 8) when the payload the row builds now differs
from the one the ledger says it holds (decision 7: canonical JSON; a version-1 key by
its hash; a key whose payload is not known, adopted by `--skip-existing` or left by an
update whose outcome is not known, always), and left alone (`already_created`, no
request) when it does not; owner and type never change (decision 9: `invalid`). Every
create is preceded by a committed `sending` and every update by a committed
`begin_update`, each followed by a committed outcome; an `unknown` create is settled by
the campaign list (found: created; absent on two looks a few seconds apart: sent again)
or left `unknown` until `--resend-unknown`, while an update, idempotent, is retried on
any transient failure and, if it never gets its 200, simply sent again by the next run
(decision 10; a 404 is `rejected`: the campaign was deleted in Extrovert). A stop
(401/403, circuit breaker, Ctrl-C) lets requests in flight finish, keeps what the ledger
knows (created rows stay `already_created`, uncertain ones `unknown`) and marks the rest
`not_sent`.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum, auto
from functools import partial
from typing import Any, Final

from pipeline.changes import describe
from pipeline.errors import PipelineError, ReportError, StalePlan
from pipeline.ledger import UPDATING, Entry, canonical_json, payload_hash
from pipeline.lists import fill_lists
from pipeline.lookups import ADOPTED_NOTE, check_account, look_at_account, settle_uncertain
from pipeline.model import (
    EXIT_STOPPED,
    SEND_AGAIN,
    Outcome,
    Status,
    campaign_key,
    counts,
    exit_code,
    is_uuid,
    normalise_name,
    place,
)
from pipeline.operations import Action, Operation
from pipeline.prospects import CheckedProspects, with_campaign_keys
from pipeline.send import NotRecorded
from pipeline.session import Progress, Session, open_session
from pipeline.settings import RunSettings
from pipeline.stop import ABORTED_IN_FLIGHT, Interrupt
from pipeline.timing import Timing
from pipeline.validate import Checked
from schemas.payload import Payload

__all__ = ["Execution", "Expected", "Step", "StepKind", "execute"]


class StepKind(StrEnum):
    """What the ledger says a row needs; the value is how plan files name it."""

    CREATE = "create"  # POST campaign
    UPDATE = "update"  # PATCH campaign/{id}
    SETTLE = "settle"  # an earlier create's outcome not known: looked up, created if absent
    MOVE = "move"  # a row created without a campaign_key now has one: the ledger only


@dataclass(frozen=True)
class Step:
    """One thing a run does for a row, as decided from the ledger before anything is
    looked up or sent: what a saved plan records and `apply` checks again."""

    kind: StepKind
    position: int
    key: str
    body: Payload | None = None  # what a create or an update sends
    campaign_id: str = ""  # the campaign an update changes
    moved_from: str = ""  # the key a move leaves

    def same_as(self, other: Step) -> bool:
        """The same step: kind, row, key, campaign and body (compared as canonical JSON)."""
        mine, theirs = self.body, other.body
        return (
            (self.kind, self.position, self.key, self.campaign_id, self.moved_from)
            == (other.kind, other.position, other.key, other.campaign_id, other.moved_from)
            and (mine is None) == (theirs is None)
            and (mine is None or theirs is None or canonical_json(mine) == canonical_json(theirs))
        )


@dataclass(frozen=True)
class Expected:
    """What a saved plan saw (`pipeline.plan`), for `apply`: the ledger's identity, the
    state of every key it looked at (`Ledger.key_states`; a key absent then is missing),
    its steps, and each row's planned status. A run given one refuses (`StalePlan`)
    before it writes or sends anything when the ledger is another or has moved since,
    and sends only what the plan shows: creates of `would_create` rows, updates of
    `would_update` rows."""

    ledger_id: str
    key_states: Mapping[str, Mapping[str, Any]]
    steps: tuple[Step, ...]
    statuses: tuple[Status, ...]
    name: str  # how messages name the plan (its file)
    # Prospect lists: the state of each list the plan looked at (`Ledger.list_states`),
    # and per list the URLs it shows being added (the only ones apply sends).
    list_states: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    adds: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def may_send(self, position: int, kind: StepKind) -> bool:
        wanted = Status.WOULD_UPDATE if kind is StepKind.UPDATE else Status.WOULD_CREATE
        return self.statuses[position] is wanted


@dataclass(frozen=True)
class Execution:
    """What happened: an outcome per row, the counters, and why the run stopped early."""

    checked: Checked
    outcomes: list[Outcome]
    payloads: list[Payload | None]
    requests: int
    retries: int
    rate_limited: int
    stopped: str  # why the run stopped early ("" when it did not, or a person stopped it)
    stopped_status: int | None  # the HTTP status that stopped it (401, 403, 404), if any
    interrupted: bool
    interrupt_exit: int  # the exit code the person's stop asked for (Stop.exit_code)
    recovered: int  # rows an earlier run left in flight (`sending`), now settled here
    warnings: tuple[str, ...]
    # What the ledger said the rows need, in row order, and (when asked for: a plan)
    # the ledger's identity and the state of every key looked at.
    steps: tuple[Step, ...] = ()
    ledger_id: str = ""
    key_states: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # One outcome per prospect row (`pipeline.lists`), and the account's prospect limits
    # the last answer gave.
    prospect_outcomes: tuple[Outcome, ...] = ()
    prospect_limits: Mapping[str, Any] = field(default_factory=dict)
    # A plan's prospects: what is left to send per list (`Filled.planned`), and the
    # state of each list looked at.
    prospect_plan: tuple[Mapping[str, Any], ...] = ()
    list_states: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The prospect rows as sent: each with its campaign's key as the run knew it (an
    # owner e-mail resolved).
    prospects: CheckedProspects | None = None

    @property
    def exit_code(self) -> int:
        """130 interrupted (or the code the interrupt gave: 143 for SIGTERM), 3 stopped
        early, else 0/1 by the rows' statuses."""
        statuses = (o.status for o in (*self.outcomes, *self.prospect_outcomes))
        code = exit_code(statuses, stopped=bool(self.stopped), interrupted=self.interrupted)
        return self.interrupt_exit if self.interrupted else code


async def execute(
    checked: Checked,
    settings: RunSettings,
    run_id: str,
    *,
    timing: Timing,
    progress: Progress,
    command: str = "run",
    transport: object = None,
    interrupt: Interrupt | None = None,
    report: Callable[[Execution], None] = lambda execution: None,
    payloads: Sequence[Payload | None] | None = None,
    expected: Expected | None = None,
    record_state: bool = False,
    prospects: CheckedProspects | None = None,
) -> Execution:
    """Consult the ledger, look up what is uncertain, send what is due, and settle every
    row (owners are resolved and rows mapped by `open_session`, unless `payloads` are
    given: a saved plan's).

    `record_state` (a plan) keeps the ledger's identity and the state of every key looked
    at in the `Execution`; `expected` (applying a plan) checks them and the steps first,
    raising `StalePlan` (exit 2) before anything is written or sent, and sends only what
    the plan shows (see `Expected`). `prospects` (the run's prospect rows) are sent to
    their campaigns' lists once the campaigns are settled (`pipeline.lists`).

    `report(execution)` writes the reports while the ledger is still open, so that the
    exit code the ledger records is the one the run ends with. A ledger that cannot be
    written once the run is under way stops it (exit 3) with every row reported; reports
    that cannot be written after requests were made raise `ReportError` (exit 3), which
    says how many campaigns were created and that the ledger has them.
    """
    async with open_session(
        checked,
        settings,
        run_id,
        command=command,
        timing=timing,
        progress=progress,
        transport=transport,
        interrupt=interrupt,
        payloads=payloads,
    ) as session:
        session.progress.start(len(session.checked))
        if prospects is not None:  # their campaigns' keys as the run knows them now
            prospects = with_campaign_keys(prospects, session.checked.keys)
        found = _Classified()
        steps: tuple[Step, ...] = ()
        states: dict[str, dict[str, Any]] = {}
        try:
            found = _classify(session)
            steps = _steps(session, found)
            if record_state or expected is not None:
                states = session.ledger.key_states(found.looked)
            if expected is not None:
                _check_plan(session, found.looked, states, steps, expected)
                _check_lists(session, prospects, expected)
            for write in found.writes:
                write()
            if session.stop:  # before anything was looked up: a 401 on the team list, Ctrl-C
                why = f"not looked up in the campaign list: the run stopped ({session.stop.reason})"
                session.leave_unknown(found.uncertain, why)
            else:
                await _drive(session, found, expected)
        except sqlite3.Error as error:  # a full disk: stop, and report what is known
            session.stop.set(f"the ledger {session.ledger.path} could not be written: {error}")
        except StalePlan:
            with suppress(sqlite3.Error):
                session.ledger.finish_run({}, StalePlan.exit_code)
            raise
        _not_updated(session, found.updates)
        execution = _finish(session)
        if prospects is not None and len(prospects):
            keys = [p.list_key for p in prospects.prospects if p.campaign_key]
            lists_before = session.ledger.list_states(keys) if record_state else {}
            allowed = expected.adds if expected is not None else None
            filled = await fill_lists(session, prospects, execution.outcomes, allowed)
            stats = session.sender.stats
            execution = replace(
                execution,
                prospect_outcomes=tuple(filled.outcomes),
                prospect_limits=filled.limits,
                prospect_plan=tuple(filled.planned),
                list_states=lists_before,
                prospects=prospects,
                requests=stats.requests,
                retries=stats.retries,
                rate_limited=stats.rate_limited,
                stopped="" if session.stop.interrupted else session.stop.reason,
                stopped_status=session.stop.http_status,
                interrupted=session.stop.interrupted,
                interrupt_exit=session.stop.exit_code,
            )
        execution = replace(execution, steps=steps)
        if record_state:
            execution = replace(execution, ledger_id=session.ledger.identity, key_states=states)
        try:
            report(execution)
        except PipelineError as error:
            failure = _reports_lost(session, execution, error)
            with suppress(ReportError):  # the ledger failing too: the reports' error stands
                _record_end(session, execution, failure.exit_code)
            raise failure from None
        _record_end(session, execution, execution.exit_code)
        return execution


async def _drive(session: Session, found: _Classified, expected: Expected | None) -> None:
    """Look at the account once (its campaigns: the snapshot before any create), settle
    earlier uncertain rows, keep rows whose campaign exists already from creating it
    again, then send the creates and the updates (or say what would be sent); applying a
    plan, only those it shows."""
    settings = session.settings
    to_send, uncertain, updates = found.to_send, found.uncertain, found.updates
    status_if_found = Status.ALREADY_CREATED if settings.dry_run else Status.CREATED
    account = await look_at_account(session) if to_send or uncertain else None
    absent = await settle_uncertain(session, uncertain, status_if_found, from_earlier_runs=True)
    for position in absent:  # sent again as the sheet says now, and checked as such
        session.sending_now(position)
    to_send = check_account(session, account, [*to_send, *absent])
    if expected is not None:
        to_send, updates = _in_plan(session, expected, to_send, updates)
    if settings.dry_run:
        for position in to_send:
            session.settle(position, Outcome(Status.WOULD_CREATE))
        for update in updates:
            session.settle(update.position, update.outcome(Status.WOULD_UPDATE))
    elif (to_send or updates) and not session.stop:
        await _send_rounds(session, to_send, updates)


def _steps(session: Session, found: _Classified) -> tuple[Step, ...]:
    """What the ledger says the rows need, in row order (a move before its update)."""
    keys, payloads = session.checked.keys, session.payloads
    steps = [Step(StepKind.CREATE, p, keys[p], payloads[p]) for p in found.to_send]
    steps += [Step(StepKind.SETTLE, p, keys[p], payloads[p]) for p in found.uncertain]
    steps += [Step(StepKind.MOVE, p, keys[p], moved_from=old) for p, old in found.moves]
    steps += [
        Step(StepKind.UPDATE, u.position, keys[u.position], u.payload, u.entry.campaign_id)
        for u in found.updates
    ]
    order = (StepKind.MOVE, StepKind.CREATE, StepKind.SETTLE, StepKind.UPDATE)
    return tuple(sorted(steps, key=lambda step: (step.position, order.index(step.kind))))


def _check_plan(
    session: Session,
    looked: Sequence[str],
    states: Mapping[str, Mapping[str, Any]],
    steps: Sequence[Step],
    expected: Expected,
) -> None:
    """Raise `StalePlan` unless the ledger is the plan's, every key it looked at (in
    row order: `looked`) is as the plan saw it, and the ledger asks for the plan's
    steps, naming the first row that differs."""
    ledger = session.ledger
    if ledger.identity != expected.ledger_id:
        raise StalePlan(
            f"{expected.name} was made against another ledger (id {expected.ledger_id}), not "
            f"{ledger.path} (id {ledger.identity}); nothing was sent",
            hint="Make a new plan with the ledger you apply it to (--state).",
        )
    keys = session.checked.keys
    for key in dict.fromkeys([*looked, *expected.key_states]):
        then, now = expected.key_states.get(key), states.get(key)
        if (then or {}).get("fingerprint") != (now or {}).get("fingerprint"):
            raise StalePlan(
                f"{expected.name} is stale: {_row_of(session, key)}campaign_key {key} "
                f"{_moved(then, now)}; nothing was sent",
                hint=_NEW_PLAN,
            )
    mine = {(step.position, step.kind): step for step in steps}
    planned = {(step.position, step.kind): step for step in expected.steps}
    for position, kind in sorted({*mine, *planned}):
        step, plan = mine.get((position, kind)), planned.get((position, kind))
        if step is not None and plan is not None and step.same_as(plan):
            continue
        if step is None:
            asks = f"no longer asks to {kind.value}"
        elif plan is None:
            asks = f"now asks to {kind.value}, which the plan did not"
        else:
            asks = f"asks to {kind.value} with other settings than the plan's"
        raise StalePlan(
            f"{expected.name} is stale: {_row_of(session, keys[position])}the ledger "
            f"{asks} (campaign_key {keys[position]}); nothing was sent",
            hint=_NEW_PLAN,
        )


_NEW_PLAN: Final = "Make a new plan (`campaigns plan ...`) and review it again."


def _check_lists(session: Session, prospects: CheckedProspects | None, expected: Expected) -> None:
    """Raise `StalePlan` unless every prospect list the plan looked at is as it was then
    (not created since, no profile added to it since), naming its first prospect row."""
    rows = prospects.prospects if prospects is not None else []
    keys = [*expected.list_states, *(p.list_key for p in rows if p.campaign_key)]
    now = session.ledger.list_states(keys)
    for key in dict.fromkeys(keys):
        then, found = expected.list_states.get(key), now.get(key)
        if (then or {}).get("fingerprint") == (found or {}).get("fingerprint"):
            continue
        first = next((p for p in rows if p.list_key == key), None)
        where, name = "", key
        if first is not None:
            where, name = f"{place(first.source, first.sheet, first.row)}: ", first.list_name
        raise StalePlan(
            f"{expected.name} is stale: {where}the prospect list {name!r} changed in the "
            "ledger after the plan was made (created, or profiles added to it, by another "
            "run or by applying this plan already); nothing was sent",
            hint=_NEW_PLAN,
        )


def _row_of(session: Session, key: str) -> str:
    """`plan.xlsx [campaigns] row 5: ` for the first row of `key` (or of a row whose key
    without a campaign_key it is), "" when no row has it."""
    keys = session.checked.keys
    positions = [p for p, k in enumerate(keys) if k == key]
    if not positions:
        implicit = _keys_without_campaign_key(session, {})
        positions = [p for p, k in implicit.items() if k == key]
    if not positions:
        return ""
    origin = session.origin(positions[0])
    return f"{place(origin.source, origin.sheet, origin.row)}: "


def _moved(then: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> str:
    """How a key's ledger entry moved since a plan saw it (`Ledger.key_states`; None: the
    ledger did not know the key): `was not in the ledger when the plan was made; it is
    created now (campaign c-1, since 2026-11-27T10:00:00.000+00:00)`."""
    if now is None:
        return "was in the ledger when the plan was made and is not now"
    campaign = f"campaign {now['campaign_id']}, " if now.get("campaign_id") else ""
    since = f"({campaign}since {now['updated_at']})"
    if then is None:
        return f"was not in the ledger when the plan was made; it is {now['status']} now {since}"
    if then["status"] != now["status"]:
        return f"was {then['status']} when the plan was made; it is {now['status']} now {since}"
    return (
        f"changed in the ledger at {now['updated_at']}, after the plan was made (by another "
        "run, or by applying this plan already)"
    )


def _in_plan(
    session: Session, expected: Expected, to_send: list[int], updates: list[_Update]
) -> tuple[list[int], list[_Update]]:
    """The creates and updates a plan being applied shows; the rest are `not_sent`,
    saying what the plan said of them."""

    def refuse(position: int, update: _Update | None = None) -> None:
        said = expected.statuses[position].value.replace("_", " ")
        why = (
            f"not sent: {expected.name} did not plan this request (it showed the row as "
            f"{said}); make a new plan to send it"
        )
        not_sent = Outcome(Status.NOT_SENT, errors=(why,))
        if update is not None:
            not_sent = update.outcome(Status.NOT_SENT, not_sent)
        session.settle(position, not_sent)

    creates = [p for p in to_send if expected.may_send(p, StepKind.CREATE)]
    for position in to_send:
        if position not in creates:
            refuse(position)
    kept = [u for u in updates if expected.may_send(u.position, StepKind.UPDATE)]
    for update in updates:
        if not expected.may_send(update.position, StepKind.UPDATE):
            refuse(update.position, update)
    return creates, kept


class Applied(Enum):
    """What the ledger knows of the settings a created key's campaign holds, against the
    payload its row builds now (decision 7)."""

    SAME = auto()  # the payload it holds is the row's: nothing to send
    SAME_BY_HASH = auto()  # a version-1 key: the hash matches (the payload is stored now)
    CHANGED = auto()  # known, and different: update
    NOT_KNOWN = auto()  # adopted, or an earlier update's outcome not known: update


def applied(entry: Entry, payload: Mapping[str, Any]) -> Applied:
    """How the payload a created key's campaign holds compares with `payload`: canonical
    JSON against the stored payload, else (a version-1 ledger) the hash against its hash.
    A campaign adopted by `--skip-existing` (by this version: no hash; by version 1: the
    hash of a row its settings never came from, noted `ADOPTED_NOTE`) is `NOT_KNOWN`."""
    if entry.payload is not None:
        same = canonical_json(entry.payload) == canonical_json(payload)
        return Applied.SAME if same else Applied.CHANGED
    if not entry.payload_hash or entry.last_error == ADOPTED_NOTE:
        return Applied.NOT_KNOWN
    if entry.payload_hash == payload_hash(payload):
        return Applied.SAME_BY_HASH
    return Applied.CHANGED


@dataclass(frozen=True)
class _Update:
    """A created key whose campaign is to be updated to the row's payload: what the
    ledger knew of it, and what the row says about it."""

    position: int
    entry: Entry  # as the ledger had it before the update: id, payload (or hash) applied
    payload: Payload
    notes: tuple[str, ...]
    changes: tuple[str, ...]

    def outcome(self, status: Status, answered: Outcome | None = None) -> Outcome:
        """The row's outcome: `status`, with what the update's answer says (HTTP status,
        attempts, messages), its campaign id, notes and changes."""
        said = answered or Outcome(status)
        return Outcome(
            status,
            self.entry.campaign_id,
            said.http_status,
            said.attempts,
            (*self.notes, *said.errors),
            self.changes,
        )


def _planned_update(
    session: Session,
    position: int,
    entry: Entry,
    payload: Payload,
    found: _Classified,
    notes: tuple[str, ...] = (),
) -> _Update | None:
    """The update a created key's row asks for, or None when its campaign holds the
    row's payload already (the row is then settled `already_created`; a version-1 key's
    payload is to be stored, outside a dry run: `found.writes`)."""
    state = applied(entry, _as_applied(payload, entry))
    if state in (Applied.SAME, Applied.SAME_BY_HASH):
        if state is Applied.SAME_BY_HASH and not session.settings.dry_run:
            found.writes.append(partial(session.ledger.keep_payload, entry.key, payload))
        session.settle(position, Outcome(Status.ALREADY_CREATED, entry.campaign_id, errors=notes))
        return None
    if entry.payload is None:
        notes = (*notes, _unknown_settings(entry, session.settings.dry_run))
    changes = describe(entry.payload, _as_applied(payload, entry))
    return _Update(position, entry, payload, notes, changes)


def _as_applied(payload: Payload, entry: Entry) -> Payload:
    """The payload as compared with what the campaign holds: an owner e-mail a dry run
    without a key could not resolve stands for the owner the key was created for (the
    owner is never part of an update, and a changed owner is caught before)."""
    if is_uuid(payload["ownerId"]) or not entry.owner_id:
        return payload
    return {**payload, "ownerId": entry.owner_id}


def _unknown_settings(entry: Entry, dry_run: bool) -> str:
    """Why an update sends the row's settings without knowing what they replace."""
    if entry.last_error.startswith(UPDATING):
        why = "an earlier update's outcome was not known"
    elif entry.payload_hash and entry.last_error != ADOPTED_NOTE:
        why = "an older ledger kept only a hash of them"
    else:
        why = "the campaign existed before this tool adopted it (--skip-existing)"
    sent = "are sent" if dry_run else "were sent"
    return (
        f"campaign_key: the settings campaign {entry.campaign_id} held were not known "
        f"here ({why}), so all of this row's settings {sent}"
    )


@dataclass
class _Classified:
    """What the ledger alone tells of the rows: the creates, the uncertain rows, the
    updates, the keys moved (row, key it had), the ledger writes that follow from it
    (made once a plan being applied is found to agree) and the keys looked at."""

    to_send: list[int] = field(default_factory=list)
    uncertain: list[int] = field(default_factory=list)
    updates: list[_Update] = field(default_factory=list)
    moves: list[tuple[int, str]] = field(default_factory=list)
    writes: list[Callable[[], None]] = field(default_factory=list)
    looked: list[str] = field(default_factory=list)


def _classify(session: Session) -> _Classified:
    """Settle what the ledger alone can tell (invalid rows, unchanged created campaigns,
    keys reused for another campaign, refusals of unchanged rows, owner + name already
    sent under another key) and sort the rest; write nothing to the ledger (see
    `_Classified.writes`)."""
    keys, payloads = session.checked.keys, session.payloads
    looked = [k for k, p in zip(keys, payloads, strict=True) if p]
    entries = session.ledger.get_many(looked)
    implicit = _keys_without_campaign_key(session, entries)
    earlier = session.ledger.get_many(implicit.values())
    sharing = Counter(implicit.values())
    by_name = session.ledger.entries_by_owner_and_name()
    found = _Classified(looked=[*looked, *implicit.values()])
    to_send, uncertain, updates = found.to_send, found.uncertain, found.updates
    for position, payload in enumerate(payloads):
        if payload is None:
            errors = session.checked.errors[position]
            session.settle(position, Outcome(Status.INVALID, errors=errors))
            continue
        entry = entries.get(keys[position])
        if entry is None and sharing[implicit.get(position, "")] == 1:
            moved = earlier.get(implicit[position])
            if moved is not None and moved.status is Status.CREATED:
                update = _move_to_campaign_key(session, position, moved, payload, found)
                if update is not None:
                    updates.append(update)
                continue
        reused = _reused(session, position, entry, payload) if entry is not None else ""
        if reused and entry is not None and entry.status not in SEND_AGAIN:
            session.settle(position, Outcome(Status.INVALID, errors=(reused,)))
            continue
        if entry is None or entry.status in SEND_AGAIN:
            origin = session.origin(position)
            other = by_name.get((origin.owner, normalise_name(origin.name)))
            if other is not None and other.key != keys[position]:
                session.settle(position, Outcome(Status.INVALID, errors=(_sent_as(other),)))
                continue
        if entry is None:
            to_send.append(position)
        elif entry.status is Status.REJECTED and entry.payload_hash == payload_hash(payload):
            when = entry.updated_at[:10]
            why = (
                f"campaign_key: rejected on {when} ({entry.last_error}); not sent again "
                "until the row changes"
            )
            session.settle(position, Outcome(Status.REJECTED, "", entry.http_status, 0, (why,)))
        elif entry.status in SEND_AGAIN:
            to_send.append(position)
        elif entry.status is Status.CREATED:
            if update := _planned_update(session, position, entry, payload, found):
                updates.append(update)
        else:  # unknown, or sending left by a run that holds no lock (dry run)
            uncertain.append(position)
            session.sent_earlier(position, entry)
    return found


def _reused(session: Session, position: int, entry: Entry, payload: Mapping[str, Any]) -> str:
    """Why a key sent before for one owner and campaign type cannot now serve a row of
    another ("" when it can): owner and type cannot change (decision 9)."""
    owner = session.origin(position).owner
    # An owner not resolved to an id (a dry run without a key) cannot be compared.
    moved = is_uuid(owner) and bool(entry.owner_id) and owner != entry.owner_id
    kind, was = payload.get("type"), (entry.payload or {}).get("type")
    if not moved and not (was and kind != was):
        return ""
    changed = "owner" if moved else "campaign_type"
    sent = (
        f"created as campaign {entry.campaign_id}"
        if entry.status is Status.CREATED
        else f"sent (outcome {entry.status})"
    )
    return (
        f"campaign_key: this key was used on {entry.created_at[:10]} for {entry.name!r} of "
        f"owner {entry.owner_id}" + (f" ({was})" if was else "") + f", {sent}; its {changed} "
        "cannot change. Give this row a new campaign_key to create a new campaign"
    )


def _sent_as(other: Entry) -> str:
    """Why a row with a new key creates nothing: its owner and name went out under
    another key of this ledger."""
    if other.status is Status.CREATED:
        return (
            f"campaign_name: this owner's campaign {other.name!r} was created on "
            f"{other.created_at[:10]} for campaign_key {other.key} ({other.campaign_id}); "
            "nothing was created. Use that campaign_key, or give this row another name"
        )
    return (
        f"campaign_name: this owner's campaign {other.name!r} was sent on "
        f"{other.updated_at[:10]} for campaign_key {other.key}, and whether it was created "
        "is not known; nothing was sent. Settle that key first (`campaigns resolve`), "
        "or give this row another name"
    )


def _keys_without_campaign_key(session: Session, entries: Mapping[str, Entry]) -> dict[int, str]:
    """For rows that name a campaign_key the ledger does not know: the key the row had
    without one (owner + name), which the ledger may know from an earlier run."""
    values = session.checked.values
    found: dict[int, str] = {}
    for position, key in enumerate(session.checked.keys):
        explicit = values["campaign_key"][position]
        if session.payloads[position] is None or key in entries or not explicit:
            continue
        owner, name = values["owner"][position], values["campaign_name"][position]
        found[position] = campaign_key(None, owner, name)
    return found


def _move_to_campaign_key(
    session: Session, position: int, entry: Entry, payload: Payload, found: _Classified
) -> _Update | None:
    """A row created without a campaign_key now has one (the only row of the run that
    does): the ledger keeps its campaign under the new key (`found.moves`, and outside a
    dry run `found.writes`), never created again, and updates it if its settings changed
    meanwhile (the update, if any, is returned; else the row is settled). A row of
    another owner or type is invalid instead."""
    if reused := _reused(session, position, entry, payload):
        session.settle(position, Outcome(Status.INVALID, errors=(reused,)))
        return None
    key = session.checked.keys[position]
    note = (
        f"campaign_key: created on {entry.created_at[:10]} without a campaign_key (as "
        f"{entry.key}); the ledger keeps it under this key from now on"
    )
    found.moves.append((position, entry.key))
    if not session.settings.dry_run:
        found.writes.append(partial(session.ledger.rekey, entry.key, key, note))
        entry = replace(entry, key=key)
    return _planned_update(session, position, entry, payload, found, (note,))


async def _send_rounds(session: Session, to_send: list[int], updates: list[_Update]) -> None:
    """Send the creates and the updates, then settle this run's unknown creates from the
    list, and send again those the list says were never created (a few rounds at most).
    Updates go out in the first round only: an update is retried by the sender, and one
    that never got its 200 is sent again by the next run."""
    pending = to_send
    for _ in range(1 + session.settings.resolve_rounds):
        unknown = await _send(session, pending, updates)
        updates = []
        if session.stop or not unknown:
            return
        pending = await settle_uncertain(session, unknown, Status.CREATED, from_earlier_runs=False)
        if not pending or session.stop:
            return


async def _send(
    session: Session, positions: Sequence[int], updates: Sequence[_Update]
) -> list[int]:
    """Create the rows' campaigns and make the updates (in row order, one sender);
    returns the rows whose create's outcome is `unknown`."""
    ledger, keys = session.ledger, session.checked.keys
    operations = []
    for position in positions:
        payload = session.payloads[position]
        if payload is None:  # pragma: no cover - invalid rows are settled by _classify
            raise ValueError(f"row {position} has no payload to send")
        session.sending_now(position)
        operations.append(Operation.create_campaign(keys[position], payload, position))
    planned = {update.position: update for update in updates}
    for update in updates:
        campaign = update.entry.campaign_id
        operations.append(
            Operation.update_campaign(
                keys[update.position], campaign, update.payload, update.position
            )
        )
    operations.sort(key=lambda operation: operation.positions)
    marked: set[str] = set()
    unknown: list[int] = []

    def before(operation: Operation) -> None:
        (position,) = operation.positions
        try:
            session.exists()  # this request may create a campaign: the ledger is bound now
            if operation.action is Action.UPDATE_CAMPAIGN:
                ledger.begin_update(operation.key)
            else:
                origin = session.origin(position)
                ledger.mark_sending(operation.key, payload=operation.body, origin=origin)
        except sqlite3.Error as error:
            raise NotRecorded(f"the ledger {ledger.path} could not be written: {error}") from None
        marked.add(operation.key)

    def after(operation: Operation, outcome: Outcome) -> None:
        # The report first: should the ledger fail to record, the row still says what
        # happened, and the ledger's `sending` is settled by the next run.
        (position,) = operation.positions
        if operation.action is Action.UPDATE_CAMPAIGN:
            _updated(session, planned[position], outcome, recorded=operation.key in marked)
            return
        session.settle(position, outcome)
        if outcome.status is Status.UNKNOWN:
            unknown.append(position)
        if outcome.status is Status.CREATED:
            session.exists()
        if operation.key in marked:
            ledger.record(
                operation.key,
                outcome.status,
                campaign_id=outcome.campaign_id,
                http_status=outcome.http_status,
                error=outcome.errors[0] if outcome.errors else "",
                attempts=outcome.attempts,
            )

    await session.sender.apply(operations, before, after)
    return unknown


def _updated(session: Session, update: _Update, outcome: Outcome, *, recorded: bool) -> None:
    """Settle an update's row, then (when its `begin_update` was committed) record what
    its campaign now holds: the new payload after a 200, the old one after a refusal
    (nothing was applied), else not known (it may have been applied: the next run sends
    it again)."""
    if outcome.status in (Status.UNKNOWN, Status.FAILED):
        # Given up, or unknown (aborted in flight, an unexpected error): either way it may
        # have been applied, and an update is simply made again.
        said = outcome.errors[0] if outcome.errors else "no answer"
        if said == ABORTED_IN_FLIGHT:
            said = "interrupted while the update was in flight: it may have been applied"
        again = f"{said}; the next run sends it again"
        outcome = replace(outcome, status=Status.FAILED, errors=(again, *outcome.errors[1:]))
    session.settle(update.position, update.outcome(outcome.status, outcome))
    if not recorded:
        return
    key, old = session.checked.keys[update.position], update.entry
    error = outcome.errors[0] if outcome.errors else ""
    origin = None
    holds: Mapping[str, Any] | None
    if outcome.status is Status.UPDATED:
        holds, held_hash, error = update.payload, "", ""
        origin = session.origin(update.position)
    elif outcome.status is Status.REJECTED:
        # Nothing was applied: what the ledger knew stands, and so does not knowing (an
        # adoption's hash is of a row its settings never came from: keep it unknown even
        # though the API's message replaces the note that said so).
        known = applied(old, update.payload) is not Applied.NOT_KNOWN
        holds, held_hash = old.payload, old.payload_hash if known else ""
    else:
        holds, held_hash, error = None, "", f"{UPDATING} ({error})"
    session.ledger.record_update(
        key,
        applied=holds,
        applied_hash=held_hash,
        origin=origin,
        http_status=outcome.http_status,
        error=error,
        attempts=outcome.attempts,
    )


def _not_updated(session: Session, updates: Sequence[_Update]) -> None:
    """Updates the run stopped before: `not_sent`, with their campaign id."""
    reason = session.stop.reason
    errors = (f"not sent: {reason}",) if reason else ()
    for update in updates:
        if session.outcomes[update.position] is None:
            not_sent = Outcome(Status.NOT_SENT, errors=errors)
            session.settle(update.position, update.outcome(Status.NOT_SENT, not_sent))


def _finish(session: Session) -> Execution:
    """Every row's outcome (invalid rows, and rows nobody reached: not_sent), recorded."""
    stop = session.stop
    outcomes = []
    for position, outcome in enumerate(session.outcomes):
        if outcome is None and session.payloads[position] is None:
            outcome = Outcome(Status.INVALID, errors=session.checked.errors[position])
        elif outcome is None and session.was_sent_earlier(position):
            why = f"not looked up in the campaign list: the run stopped ({stop.reason})"
            outcome = Outcome(Status.UNKNOWN, errors=(why,))
        elif outcome is None:
            errors = (f"not sent: {stop.reason}",) if stop.reason else ()
            outcome = Outcome(Status.NOT_SENT, errors=errors)
        outcomes.append(outcome)
    stats = session.sender.stats
    execution = Execution(
        checked=session.checked,
        outcomes=outcomes,
        payloads=session.payloads,
        requests=stats.requests,
        retries=stats.retries,
        rate_limited=stats.rate_limited,
        stopped="" if stop.interrupted else stop.reason,
        stopped_status=stop.http_status,
        interrupted=stop.interrupted,
        interrupt_exit=stop.exit_code,
        recovered=session.ledger.recovered,
        warnings=tuple(session.warnings),
    )
    return execution


def _record_end(session: Session, execution: Execution, code: int) -> None:
    """The ledger records how the run ended (not in a dry run)."""
    if session.settings.dry_run:
        return
    statuses = (o.status for o in execution.outcomes)
    try:
        session.ledger.release_endpoint()
        session.ledger.finish_run(counts(statuses), code)
    except sqlite3.Error as error:
        stopped = f"the run stopped early ({execution.stopped}), and " if execution.stopped else ""
        raise ReportError(
            f"{stopped}the ledger {session.ledger.path} could not record the end of this run "
            f"({error}); the reports are written",
            exit_code=EXIT_STOPPED,
        ) from None


def _reports_lost(session: Session, execution: Execution, error: PipelineError) -> ReportError:
    """Reports that could not be written: after requests were made, exit 3 and say where
    the ids are; before, the error's own exit code."""
    if not execution.requests:
        return ReportError(error.message, exit_code=error.exit_code, hint=error.hint)
    made = sum(o.status is Status.CREATED for o in execution.outcomes)
    state = session.ledger.path
    return ReportError(
        f"{error.message}; {made} campaign(s) were created in this run and the ledger "
        f"({state}) has them",
        exit_code=EXIT_STOPPED,
        hint=f"campaigns status --state {state} --export ids.csv lists every campaign id.",
    )
