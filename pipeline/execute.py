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
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.batch import Batch, Progress, RunSettings, Silent
from pipeline.client import ExtrovertClient
from pipeline.errors import StoppedError
from pipeline.ledger import Ledger
from pipeline.map import map_rows
from pipeline.report import Outcome, counts, rows_exit_code
from pipeline.validate import Checked
from schemas.payload import Payload

__all__ = ["Execution", "Progress", "RunSettings", "execute"]


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
    run = Batch(checked, settings, run_id, client, progress or Silent(), sleep, clock)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            state = settings.state
            if settings.dry_run and not state.exists():  # a dry run leaves no ledger behind
                state = Path(scratch) / "empty.sqlite"
            return await _with_ledger(run, state, command)
    finally:
        if client is not None:
            await client.aclose()


async def _with_ledger(run: Batch, state: Path, command: str) -> Execution:
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


async def _drive(run: Batch, ledger: Ledger) -> Execution:
    settings = run.settings
    found = "already_created" if settings.dry_run else "created"
    to_send, uncertain = run.classify(ledger)
    if settings.skip_existing and to_send:
        to_send = await run.skip_existing(to_send)
    to_send += await run.settle_uncertain(uncertain, found, from_earlier_runs=True)
    if settings.dry_run:
        for position in to_send:
            run.settle(position, Outcome("would_create"))
    elif to_send and not run.interrupted:
        await _send_rounds(run, to_send)
    if run.interrupted:
        return _finish(run, ledger, stopped="interrupted (Ctrl-C)", interrupted=True)
    stopped = run.sender.stop_reason if run.sender is not None else ""
    return _finish(run, ledger, stopped=stopped)


def _finish(run: Batch, ledger: Ledger, *, stopped: str, interrupted: bool = False) -> Execution:
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


async def _send_rounds(run: Batch, to_send: list[int]) -> None:
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
