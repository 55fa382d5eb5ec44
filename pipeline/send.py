"""Operations -> outcomes: pacing, concurrency, retries, and the effects of each answer.

`Sender.apply` makes each operation's request with N workers under one `Pacer` (one rate
limit and one in-flight cap for every endpoint: the API limits the key). What an answer
means is `pipeline.operations.judge`'s word; this module carries it out, in one place
(`Sender._carry_out`): a 429/503 pauses everyone for `Retry-After` (or a backoff) and
halves the rate, which climbs back by a tenth of its target every few quiet seconds;
transport failures and 5xx count towards the circuit breaker; 401/403 stop the run.

Retries use tenacity, bounded by attempts and by a time budget, and end as `failed`.
Every wait (a retry's backoff; a pause, `Retry-After` or else a backoff; a pacing slot)
is slept through the run's `Stop`, so that a stop wakes it and tests never wait. Every
request is made through `Stop.unless_aborted`: counted in flight, cancelled by an abort.
Each answer is logged as a `request` event at DEBUG (`log_request`: what `--verbose` shows).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.stop import stop_base

from pipeline import logs
from pipeline.client import Api
from pipeline.model import Outcome, Status
from pipeline.operations import Action, Answer, Meaning, Operation, Streak, Verdict, judge
from pipeline.settings import SendSettings
from pipeline.stop import ABORTED_IN_FLIGHT, Stop
from pipeline.timing import Timing, backoff

_log = logging.getLogger(__name__)

# What a `done` answer means for the row, by action.
_DONE: Final = {Action.UPDATE_CAMPAIGN: Status.UPDATED, Action.ADD_PROSPECTS: Status.ADDED}


@dataclass
class Stats:
    """Counters for summary.json."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0


class NotRecorded(Exception):
    """Raised by `before(operation)` when it could not record the request (a full disk):
    the request is not made, the row is `not_sent` and the run stops."""


class _Retry(Exception):
    """An attempt to try again (the judge said `retry`); tenacity catches it."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


class Pacer:
    """Hands out request slots `1/rate` seconds apart; never more than one at a time.

    aiolimiter's leaky bucket lets `max_rate` requests through at once and cannot change
    its rate while running or read an injected clock; this does all three in a few lines.
    """

    def __init__(self, rate: float, timing: Timing, stop: Stop, recovery: float = 5.0) -> None:
        self.target = rate
        self.rate = rate
        self._recovery = recovery
        self._stop = stop
        self._clock = timing.monotonic
        self._next = self._clock()
        self._paused_until = 0.0
        self._last_change = self._clock()

    async def acquire(self) -> None:
        """Wait for the next slot; return at once when the run is stopped."""
        while not self._stop:
            now = self._clock()
            if now < self._paused_until:
                await self._stop.nap(self._paused_until - now)
                continue
            self._recover(now)
            slot = max(self._next, now)
            self._next = slot + 1.0 / self.rate
            if slot > now:
                await self._stop.nap(slot - now)
            if self._clock() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        """Everyone waits `seconds`; the rate is halved once per episode (the other 429s
        of requests that were already in flight when it began do not halve it again)."""
        now = self._clock()
        if now >= self._paused_until:
            self.rate = max(self.target / 16, self.rate / 2)
        self._paused_until = max(self._paused_until, now + seconds)
        self._next = max(self._next, self._paused_until)
        self._last_change = self._paused_until

    def _recover(self, now: float) -> None:
        if self.rate < self.target and now - self._last_change >= self._recovery:
            self.rate = min(self.target, self.rate + self.target / 10)
            self._last_change = now


def log_request(
    method: str, path: str, answer: Answer | None, seconds: float, attempt: int
) -> None:
    """Log one request as a `request` event (DEBUG): method, path (no query string),
    status or why there is none, latency, attempt; never the key or the body."""
    if answer is None:
        status, failure = None, "cancelled"
    else:
        status, failure = answer.status, answer.error or str(answer.failure or "")
    logs.request(
        _log, method, path, status=status, failure=failure, seconds=seconds, attempt=attempt
    )


def retry_after(value: str | None, now: dt.datetime, cap: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), cap)


class Sender:
    """Applies operations with N workers, one pacer and one circuit breaker.

    `before(operation)` runs right before each request (the ledger commits `sending`;
    `NotRecorded` from it means the request must not go out: the row is `not_sent`);
    `after(operation, outcome)` right after its outcome. A stop (Ctrl-C, 401/403, the
    circuit breaker, an unexpected error in a request or in `after`) lets requests in
    flight finish and leaves the rest `not_sent`; an abort (a second Ctrl-C) cancels the
    requests in flight, whose rows are `unknown` (`after` still runs for them); `apply`
    itself does not raise.
    """

    def __init__(self, client: Api, settings: SendSettings, timing: Timing, stop: Stop) -> None:
        self.client = client
        self.settings = settings
        self.stats = Stats()
        self._timing = timing
        self._stop = stop
        self._pacer = Pacer(settings.rate, timing, stop, settings.recovery_interval)
        self._consecutive_errors = 0

    def stop(self, reason: str, http_status: int | None = None) -> None:
        """Stop the run; `reason` is scrubbed of the key (it may echo the server)."""
        self._stop.set(self.client.scrub(reason), http_status)

    async def apply(
        self,
        operations: Sequence[Operation],
        before: Callable[[Operation], None],
        after: Callable[[Operation, Outcome], None],
    ) -> None:
        queue: asyncio.Queue[Operation] = asyncio.Queue()
        for operation in operations:
            queue.put_nowait(operation)

        def settle(operation: Operation, outcome: Outcome) -> None:
            try:
                after(operation, outcome)
            except Exception as exc:
                self.stop(f"an outcome could not be recorded: {type(exc).__name__}: {exc}")

        async def worker() -> None:
            while not queue.empty():
                operation = queue.get_nowait()
                if self._stop:
                    settle(operation, self._not_sent(0))
                    continue
                try:
                    outcome = await self.apply_one(operation, before)
                except Exception as exc:
                    # Something unforeseen (the ledger's disk, a bug): the request may have
                    # gone out, so the row is unknown (the ledger still says `sending`,
                    # which the next run settles); the others stop as for a 401.
                    self.stop(f"an unexpected error: {type(exc).__name__}: {exc}")
                    error = f"unexpected error: {type(exc).__name__}"
                    outcome = Outcome(Status.UNKNOWN, errors=(error,))
                settle(operation, outcome)

        workers = max(1, min(self.settings.concurrency, len(operations)))
        await asyncio.gather(*(worker() for _ in range(workers)))

    def _not_sent(self, attempts: int) -> Outcome:
        return Outcome(
            Status.NOT_SENT, attempts=attempts, errors=(f"not sent: {self._stop.reason}",)
        )

    async def apply_one(self, operation: Operation, before: Callable[[Operation], None]) -> Outcome:
        """Make one request, retrying what the judge says to retry.

        Retries stop after `max_attempts` failed attempts or `time_budget` seconds. A 429
        is throttling, not failure: it is waited out within the time budget but does not
        use up an attempt (a run that starts far above the API's limit needs a few
        halvings of its rate, and its first rows must not fail meanwhile).
        """
        attempts = 0
        failures = 0
        clock = self._timing.monotonic
        started = clock()
        settings = self.settings

        async def attempt() -> Outcome:
            nonlocal attempts, failures
            await self._pacer.acquire()
            if self._stop:
                return self._not_sent(attempts)
            try:
                before(operation)
            except NotRecorded as exc:  # the request is not made: nothing can be created
                self.stop(str(exc))
                return Outcome(Status.NOT_SENT, attempts=attempts, errors=(f"not sent: {exc}",))
            attempts += 1
            self.stats.requests += 1
            sent_at = clock()
            answer = await self._stop.unless_aborted(self.client.send(operation))
            log_request(operation.method, operation.path, answer, clock() - sent_at, attempts)
            if answer is None:  # a second Ctrl-C cancelled it: it may have gone through
                return Outcome(Status.UNKNOWN, attempts=attempts, errors=(ABORTED_IN_FLIGHT,))
            verdict = judge(answer, operation)
            self._carry_out(verdict, answer, attempts)
            if verdict.meaning is Meaning.RETRY:
                failures += not verdict.rate_limited
                raise _Retry(verdict)
            return _outcome(verdict, answer, operation, attempts)

        class GiveUp(stop_base):
            # tenacity's stop_after_delay reads the real clock; time here is injected.
            def __call__(inner, state: RetryCallState) -> bool:
                return (
                    failures >= settings.max_attempts or clock() - started >= settings.time_budget
                )

        def count(state: RetryCallState) -> None:
            self.stats.retries += 1

        retrying = AsyncRetrying(
            stop=GiveUp(),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self._stop.nap,
            before_sleep=count,
            reraise=True,
        )
        try:
            async for trial in retrying:
                with trial:
                    return await attempt()
        except _Retry as exc:
            return Outcome(
                Status.FAILED,
                http_status=exc.verdict.http_status,
                attempts=attempts,
                errors=(f"gave up after {attempts} attempts: {exc.verdict.message}",),
            )
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Retry) and failure.verdict.pause:
            return 0.0  # the pacer already holds every worker for the pause
        return self._backoff(state.attempt_number - 1)

    def _backoff(self, attempt: int) -> float:
        settings = self.settings
        return backoff(
            attempt,
            initial=settings.backoff_initial,
            cap=settings.backoff_max,
            rng=self._timing.random,
        )

    def _carry_out(self, verdict: Verdict, answer: Answer, attempts: int) -> None:
        """The effects a verdict asks for: pause, count, trip the breaker, stop."""
        if verdict.pause:
            self.stats.rate_limited += verdict.rate_limited
            cap = self.settings.retry_after_cap
            pause = retry_after(verdict.retry_after, self._timing.now(), cap)
            self._pacer.pause(self._backoff(attempts) if pause is None else pause)
        if verdict.streak is Streak.RESET:
            self._consecutive_errors = 0
        elif verdict.streak is Streak.COUNT:
            self._consecutive_errors += 1
            if self._consecutive_errors >= self.settings.max_consecutive_errors:
                last = f"HTTP {answer.status}" if answer.status is not None else answer.error
                self.stop(
                    f"{self._consecutive_errors} server errors in a row (last: {last})",
                    answer.status,
                )
        if verdict.meaning is Meaning.STOP:
            self.stop(verdict.message, verdict.http_status)


def _outcome(verdict: Verdict, answer: Answer, operation: Operation, attempts: int) -> Outcome:
    status = verdict.http_status
    match verdict.meaning:
        case Meaning.CREATED:
            return Outcome(Status.CREATED, verdict.created_id, status, attempts, data=answer.data)
        case Meaning.DONE:
            return Outcome(_DONE[operation.action], "", status, attempts, data=answer.data)
        case Meaning.REJECTED:
            return Outcome(Status.REJECTED, "", status, attempts, (verdict.message,))
        case Meaning.STOP:
            error = f"HTTP {status}: {answer.message}"
            return Outcome(Status.NOT_SENT, "", status, attempts, (error,))
        case _:
            return Outcome(Status.UNKNOWN, "", status, attempts, (verdict.message,))
