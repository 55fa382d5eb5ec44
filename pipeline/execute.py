"""The sending half of `campaigns run`: owners, ledger, lookups, sending, outcomes.

`execute` takes checked rows and returns one `Outcome` per row. Its promises: a key the
ledger knows as created is never sent again; every request is preceded by a committed
`sending` and followed by a committed outcome; an `unknown` row is settled by the
campaign list (found: created; absent on two looks a few seconds apart: sent again) or
left `unknown` until `--resend-unknown`; a stop (401/403, circuit breaker, Ctrl-C) lets
requests in flight finish and marks the rest `not_sent`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from pipeline.client import ExtrovertClient, Secret
from pipeline.errors import PipelineError, StoppedError
from pipeline.ledger import Entry, Ledger, payload_hash
from pipeline.map import map_rows
from pipeline.report import Outcome, counts, rows_exit_code
from pipeline.resolve import CampaignIndex, campaign_index, team_directory
from pipeline.send import Job, Sender, SendSettings, Sent
from pipeline.validate import Checked, apply_owners
from schemas.payload import Payload

NO_LIST_HINT = (
    "the API may have created it and offers no campaign list to check: look for it in "
    "Extrovert, then rerun with --resend-unknown if it is not there"
)


class Progress(Protocol):
    """Where the CLI shows progress (a tqdm bar); the library never prints."""

    def start(self, total: int) -> None: ...

    def advance(self, status: str) -> None: ...


class _Silent:
    def start(self, total: int) -> None:
        pass

    def advance(self, status: str) -> None:
        pass


@dataclass(frozen=True)
class RunSettings:
    """What `campaigns run` needs beyond the input files."""

    state: Path
    base_url: str
    api_key: Secret | None
    dry_run: bool = False
    resend_unknown: bool = False
    skip_existing: bool = False
    send: SendSettings = field(default_factory=SendSettings)
    recheck_delay: float = 3.0
    resolve_rounds: int = 2
    endpoint: str = ""  # what the ledger is bound to; the base URL when empty


@dataclass
class Execution:
    """What happened: an outcome per row, the counters, and why the run stopped early."""

    checked: Checked
    outcomes: list[Outcome]
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    stopped: str = ""
    interrupted: bool = False
    payloads: list[Payload | None] = field(default_factory=list)
    recovered: int = 0  # rows an earlier run left in flight (`sending`), now settled here

    @property
    def exit_code(self) -> int:
        """130 interrupted, 3 stopped early, else 0/1 by the rows' statuses."""
        if self.interrupted:
            return 130
        if self.stopped:
            return 3
        return rows_exit_code(self.outcomes)


def _outcome(sent: Sent) -> Outcome:
    return Outcome(
        sent.status,
        sent.campaign_id,
        sent.http_status,
        sent.attempts,
        (sent.error,) if sent.error and sent.status != "created" else (),
    )


class _Run:
    def __init__(
        self,
        checked: Checked,
        settings: RunSettings,
        run_id: str,
        client: ExtrovertClient | None,
        progress: Progress,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float] | None,
    ) -> None:
        self.checked = checked
        self.settings = settings
        self.run_id = run_id
        self.client = client
        self.progress = progress
        self.sleep = sleep
        self.outcomes: list[Outcome | None] = [None] * len(checked)
        self.payloads: list[Payload | None] = []
        self.sender: Sender | None = None
        if client is not None:
            extra: dict[str, Any] = {"sleep": sleep}
            if clock is not None:
                extra["clock"] = clock
            self.sender = Sender(client, settings.send, **extra)
        self.ledger: Ledger | None = None
        self.marked: set[str] = set()
        # What earlier runs sent for rows whose outcome they left unknown: those are looked
        # up in the campaign list as sent, even if the sheet has changed since.
        self.sent_before: dict[int, Entry] = {}
        self.interrupted = False
        rows = checked.rows
        self._locations = list(
            zip(rows["source"].tolist(), rows["sheet"].tolist(), rows["row"].tolist(), strict=True)
        )

    # -- rows and their cells ----------------------------------------------------------

    def _where(self, position: int) -> tuple[str, str, int]:
        source, sheet, row = self._locations[position]
        return str(source), str(sheet), int(row)

    def _owner_and_name(self, position: int) -> tuple[str, str]:
        earlier = self.sent_before.get(position)
        if earlier is not None:
            return earlier.owner_id, earlier.name
        values = self.checked.values
        return str(values["owner"][position]), str(values["campaign_name"][position])

    def _settle(self, position: int, outcome: Outcome) -> None:
        """Give a row its outcome; a row settled again keeps its earlier attempts."""
        previous = self.outcomes[position]
        if previous is not None:
            outcome = replace(outcome, attempts=outcome.attempts + previous.attempts)
        self.outcomes[position] = outcome
        if previous is None:
            self.progress.advance(outcome.status)

    async def nap(self, seconds: float) -> None:
        """Wait, but not past a stop (Ctrl-C, 401): the sender wakes its sleepers then."""
        await (self.sender.nap(seconds) if self.sender is not None else self.sleep(seconds))

    # -- the stages --------------------------------------------------------------------

    async def resolve_owners(self, ledger: Ledger) -> None:
        """Owner e-mails -> member ids, from the team list (or, with no key, the ledger)."""
        values, checked = self.checked.values, self.checked
        emails = {
            o
            for o, errors in zip(values["owner"], checked.errors, strict=True)
            if isinstance(o, str) and "@" in o and not errors
        }
        if not emails:
            return
        if self.client is None:  # a dry run without a key: what earlier runs learned
            self.checked = apply_owners(checked, ledger.owners(), {})
            return
        directory = await team_directory(self.client, emails, self.sleep)
        if not self.settings.dry_run:
            ledger.remember_owners(directory.ids)
        self.checked = apply_owners(checked, directory.ids, directory.problems)

    def classify(self, ledger: Ledger) -> tuple[list[int], list[int]]:
        """Settle invalid and already-created rows; return (to send, uncertain)."""
        keys = self.checked.keys
        entries = ledger.get_many(k for k, p in zip(keys, self.payloads, strict=True) if p)
        to_send: list[int] = []
        uncertain: list[int] = []
        for position, payload in enumerate(self.payloads):
            if payload is None:
                errors = self.checked.errors[position]
                self._settle(position, Outcome("invalid", errors=errors))
                continue
            entry = entries.get(keys[position])
            if entry is None or entry.status in ("rejected", "failed", "not_sent"):
                to_send.append(position)
            elif entry.status == "created":
                notes: tuple[str, ...] = ()
                if entry.payload_hash != payload_hash(payload):
                    notes = (
                        f"campaign_key: created on {entry.created_at[:10]} from different cell "
                        "values; campaigns are not updated, so the changes were not sent",
                    )
                self._settle(position, Outcome("already_created", entry.campaign_id, errors=notes))
            else:  # unknown, or sending left by a run that holds no lock (dry run)
                uncertain.append(position)
                self.sent_before[position] = entry
        return to_send, uncertain

    async def index(self) -> tuple[CampaignIndex | None, str]:
        """The campaign list, or None and why it cannot settle anything now."""
        if self.client is None:
            return None, "a dry run without a key cannot consult the campaign list"
        try:
            index = await campaign_index(self.client, self.sleep)
        except PipelineError as exc:  # unreadable now: never send again on its word
            return None, f"{exc.message}; the next run looks again"
        return index, "" if index is not None else NO_LIST_HINT

    def adopt(self, position: int, campaign_id: str, note: str) -> None:
        if self.ledger is None or self.settings.dry_run:
            return
        source, sheet, row = self._where(position)
        owner, name = self._owner_and_name(position)
        payload = self.payloads[position]
        assert payload is not None
        earlier = self.sent_before.get(position)
        self.ledger.adopt(
            self.checked.keys[position],
            campaign_id=campaign_id,
            payload_hash=earlier.payload_hash if earlier else payload_hash(payload),
            source=source,
            sheet=sheet,
            row=row,
            owner_id=owner,
            name=name,
            note=note,
        )

    def _leave_unknown(self, positions: Sequence[int], why: str) -> None:
        for position in positions:
            before = self.outcomes[position]
            if before is None:
                self._settle(position, Outcome("unknown", errors=(why,)))
            else:
                self.outcomes[position] = replace(before, errors=(*before.errors, why))

    async def settle_uncertain(
        self, positions: Sequence[int], status_if_found: str, *, from_earlier_runs: bool
    ) -> list[int]:
        """Look the rows up in the campaign list (twice, a few seconds apart); those found
        are settled with `status_if_found`; returns the rows to send again: absent on both
        looks, or, without a list, those of earlier runs when `--resend-unknown` says so
        (an outcome of this run is never resent without the list's word)."""
        if not positions:
            return []
        left = list(positions)
        # A create that just timed out may still be under way: give it the timeout again.
        delay = self.settings.recheck_delay
        if not from_earlier_runs:
            delay = max(delay, self.settings.send.timeout)
        for look in range(2):
            if look:
                await self.nap(delay)
                if self.interrupted:
                    self._leave_unknown(left, "interrupted before the second look in the list")
                    return []
            index, why = await self.index()
            if index is None:
                if self.settings.resend_unknown and from_earlier_runs and self.client:
                    return left  # the person checked: --resend-unknown
                self._leave_unknown(left, why)
                return []
            known = self.ledger.known_campaign_ids() if self.ledger is not None else set()
            still: list[int] = []
            for position in left:
                found = index.find(*self._owner_and_name(position), exclude=known)
                if found:
                    self.adopt(position, found, "found in the campaign list")
                    known.add(found)
                    self._settle(position, Outcome(status_if_found, found))
                else:
                    still.append(position)
            left = still
            if not left:
                break
        return left

    async def skip_existing(self, to_send: list[int]) -> list[int]:
        index, why = await self.index()
        if index is None and self.client is not None:
            raise PipelineError(
                f"--skip-existing needs the campaign list: {why}; nothing was sent",
                hint="Run again later, or without --skip-existing.",
            )
        if index is None or self.ledger is None:
            return to_send
        known = self.ledger.known_campaign_ids()
        left = []
        for position in to_send:
            found = index.find(*self._owner_and_name(position), exclude=known)
            if found:
                self.adopt(position, found, "existed before the first run (--skip-existing)")
                known.add(found)
                self._settle(position, Outcome("already_created", found))
            else:
                left.append(position)
        return left

    async def send(self, positions: Sequence[int]) -> list[int]:
        """Send the rows; returns those whose outcome is `unknown`."""
        assert self.sender is not None and self.ledger is not None
        ledger, checked = self.ledger, self.checked
        jobs = []
        for position in positions:
            payload = self.payloads[position]
            assert payload is not None
            self.sent_before.pop(position, None)  # from now on it is sent as the sheet says
            jobs.append(Job(position, checked.keys[position], payload))
        unknown: list[int] = []

        def before(job: Job) -> None:
            source, sheet, row = self._where(job.position)
            owner, name = self._owner_and_name(job.position)
            ledger.mark_sending(
                job.key,
                payload_hash=payload_hash(job.payload),
                source=source,
                sheet=sheet,
                row=row,
                owner_id=owner,
                name=name,
            )
            self.marked.add(job.key)

        def after(job: Job, sent: Sent) -> None:
            # The report first: should the ledger fail to record, the row still says what
            # happened, and the ledger's `sending` is settled by the next run.
            self._settle(job.position, _outcome(sent))
            if sent.status == "unknown":
                unknown.append(job.position)
            if job.key in self.marked:
                ledger.record(
                    job.key,
                    sent.status,
                    campaign_id=sent.campaign_id,
                    http_status=sent.http_status,
                    error=sent.error,
                    attempts=sent.attempts,
                )

        await self.sender.send_all(jobs, before, after)
        return unknown


async def execute(
    checked: Checked,
    settings: RunSettings,
    run_id: str,
    *,
    progress: Progress | None = None,
    transport: Any = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
    command: str = "run",
) -> Execution:
    """Resolve owners, consult the ledger, send what is due and settle every row."""
    client = None
    if settings.api_key is not None:
        client = ExtrovertClient(
            settings.base_url,
            settings.api_key,
            timeout=settings.send.timeout,
            concurrency=settings.send.concurrency,
            transport=transport,
        )
    run = _Run(checked, settings, run_id, client, progress or _Silent(), sleep, clock)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            state = settings.state
            if settings.dry_run and not state.exists():  # a dry run leaves no ledger behind
                state = Path(scratch) / "empty.sqlite"
            return await _with_ledger(run, state, command)
    finally:
        if client is not None:
            await client.aclose()


async def _with_ledger(run: _Run, state: Path, command: str) -> Execution:
    settings = run.settings
    ledger = Ledger.open(state, run_id=run.run_id, lock=not settings.dry_run)
    run.ledger = ledger
    loop = asyncio.get_running_loop()

    def on_interrupt() -> None:
        # The first Ctrl-C lets requests in flight finish; the next one is Python's own.
        run.interrupted = True
        if run.sender is not None:
            run.sender.stop("interrupted (Ctrl-C)")
        with suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)

    with ledger:
        with suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, on_interrupt)
        try:
            ledger.bind_endpoint(
                settings.endpoint or settings.base_url, record=not settings.dry_run
            )
            if not settings.dry_run:
                ledger.start_run(command, dt.datetime.now(dt.UTC))
            try:
                await run.resolve_owners(ledger)
            except StoppedError as exc:  # 401/403 on the team list: nothing was sent
                run.payloads = map_rows(run.checked)
                return _finish(run, ledger, stopped=exc.message)
            run.payloads = map_rows(run.checked)
            run.progress.start(len(run.checked))
            return await _drive(run, ledger)
        finally:
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)


async def _drive(run: _Run, ledger: Ledger) -> Execution:
    settings = run.settings
    found = "already_created" if settings.dry_run else "created"
    to_send, uncertain = run.classify(ledger)
    if settings.skip_existing and to_send:
        to_send = await run.skip_existing(to_send)
    to_send += await run.settle_uncertain(uncertain, found, from_earlier_runs=True)
    if settings.dry_run:
        for position in to_send:
            run._settle(position, Outcome("would_create"))
    elif to_send and not run.interrupted:
        await _send_rounds(run, to_send)
    if run.interrupted:
        return _finish(run, ledger, stopped="interrupted (Ctrl-C)", interrupted=True)
    stopped = run.sender.stop_reason if run.sender is not None else ""
    return _finish(run, ledger, stopped=stopped)


def _finish(run: _Run, ledger: Ledger, *, stopped: str, interrupted: bool = False) -> Execution:
    """Every row's outcome (invalid rows, and rows nobody reached: not_sent), recorded."""
    settings = run.settings
    outcomes = []
    for position, outcome in enumerate(run.outcomes):
        if outcome is None and run.payloads[position] is None:
            outcome = Outcome("invalid", errors=run.checked.errors[position])
        elif outcome is None:
            outcome = Outcome("not_sent", errors=(f"not sent: {stopped}",) if stopped else ())
        outcomes.append(outcome)
    stats = run.sender.stats if run.sender is not None else None
    execution = Execution(
        checked=run.checked,
        outcomes=outcomes,
        requests=stats.requests if stats else 0,
        retries=stats.retries if stats else 0,
        rate_limited=stats.rate_limited if stats else 0,
        stopped="" if interrupted else stopped,
        interrupted=interrupted,
        payloads=run.payloads,
        recovered=ledger.recovered,
    )
    if not settings.dry_run:
        ledger.finish_run(counts(outcomes), execution.exit_code, dt.datetime.now(dt.UTC))
    return execution


async def _send_rounds(run: _Run, to_send: list[int]) -> None:
    """Send, then settle this run's unknown outcomes from the list, and send again those
    the list says were never created (a few rounds at most)."""
    sender = run.sender
    assert sender is not None
    pending = to_send
    for _ in range(1 + run.settings.resolve_rounds):
        unknown = await run.send(pending)
        if sender.stopped or not unknown:
            return
        pending = await run.settle_uncertain(unknown, "created", from_earlier_runs=False)
        if not pending or sender.stopped:
            return
