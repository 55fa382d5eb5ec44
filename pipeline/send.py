"""Payloads -> outcomes: pacing, concurrency, retries and what each answer means.

How an attempt to create one campaign ends:

    created    2xx with a readable `data.id`
    rejected   any other 4xx (the API's message kept); 401/403 also stop the run
    retry      nothing can have been created: connection never made, request never
               fully written, 408, 429, 503 (429 and 503 pause every worker first)
    unknown    the request may have reached the backend: read timeout, connection
               dropped after the request was written, 500, 502, 504 and other 5xx,
               a 2xx without a readable id. Never retried here: `pipeline.resolve`
               decides, from the campaign list, whether to send it again.

Retries use tenacity (exponential backoff with full jitter, bounded by attempts and by a
time budget) and stop as `failed`. One `Pacer` spaces requests at the configured rate
and never bursts; a 429/503 pauses everyone for `Retry-After` (or a backoff), halves the
rate, and the rate climbs back by a tenth of its target every few quiet seconds. Time
(clock and sleep) is injected so that tests never wait.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from pipeline.client import ExtrovertClient, parse_json
from pipeline.parse import is_uuid

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
SAFE_TO_RETRY: Final = frozenset({408, 429, 503})
PAUSING: Final = frozenset({429, 503})
STOPPING: Final = frozenset({401, 403})
# Transport errors raised before the request could reach the server.
NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Raised while the body was still being written: the request never completed.
NOT_WRITTEN_ERRORS: Final = (httpx.WriteError, httpx.WriteTimeout)


@dataclass(frozen=True)
class SendSettings:
    """How hard to push. Defaults follow extrovert-api.md: 5 requests/s, 4 in flight."""

    rate: float = 5.0
    concurrency: int = 4
    timeout: float = 30.0
    max_attempts: int = 5
    time_budget: float = 300.0
    max_consecutive_errors: int = 20
    retry_after_cap: float = 120.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    recovery_interval: float = 5.0


@dataclass(frozen=True)
class Sent:
    """The outcome of sending one payload (the ledger and the report take it as is)."""

    status: str
    campaign_id: str = ""
    http_status: int | None = None
    attempts: int = 0
    error: str = ""


@dataclass(frozen=True)
class Job:
    """One payload to send; `position` is the row's place in the run."""

    position: int
    key: str
    payload: Mapping[str, Any]


@dataclass
class Stats:
    """Counters for summary.json and the progress bar."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0


class _Retry(Exception):
    """An attempt that cannot have created anything; tenacity tries again."""

    def __init__(self, message: str, http_status: int | None, pause: float | None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.pause = pause


class Pacer:
    """Hands out request slots `1/rate` seconds apart; never more than one at a time.

    aiolimiter's leaky bucket lets `max_rate` requests through at once and cannot change
    its rate while running or read an injected clock; this does all three in a few lines.
    """

    def __init__(
        self,
        rate: float,
        clock: Clock,
        sleep: Sleep,
        recovery: float = 5.0,
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self.target = rate
        self._recovery = recovery
        self._stopped = stopped
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self._paused_until = 0.0
        self._last_change = clock()

    async def acquire(self) -> None:
        """Wait for the next slot; return at once when the run is stopped."""
        while not self._stopped():
            now = self._clock()
            if now < self._paused_until:
                await self._sleep(self._paused_until - now)
                continue
            self._recover(now)
            slot = max(self._next, now)
            self._next = slot + 1.0 / self.rate
            if slot > now:
                await self._sleep(slot - now)
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
    """Sends jobs with N workers, one pacer and one circuit breaker.

    `before(job)` runs right before each request (the ledger commits `sending`);
    `after(job, sent)` right after its outcome. `stop(reason)` (Ctrl-C, 401/403, the
    circuit breaker, an unexpected error in a request or in `after`) lets requests in
    flight finish and leaves the rest `not_sent`; `send_all` itself does not raise.
    """

    def __init__(
        self,
        client: ExtrovertClient,
        settings: SendSettings,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.client = client
        self.settings = settings
        self.stats = Stats()
        self.stop_reason = ""
        self.stop_status: int | None = None
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._stopping = asyncio.Event()
        self._pacer = Pacer(
            settings.rate, clock, self.nap, settings.recovery_interval, lambda: self.stopped
        )
        self._consecutive_errors = 0
        self._backoff = wait_random_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        )

    @property
    def stopped(self) -> bool:
        return bool(self.stop_reason)

    def stop(self, reason: str, http_status: int | None = None) -> None:
        if not self.stop_reason:
            self.stop_reason = self.client.scrub(reason)
            self.stop_status = http_status
            self._stopping.set()

    async def nap(self, seconds: float) -> None:
        """Sleep, but wake at once when the run is stopped (a pause can be long)."""
        if self._stopping.is_set():
            return
        napping = asyncio.ensure_future(self._sleep(seconds))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({napping, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (napping, stopping):
                task.cancel()
            await asyncio.gather(napping, stopping, return_exceptions=True)

    async def send_all(
        self,
        jobs: Sequence[Job],
        before: Callable[[Job], None],
        after: Callable[[Job, Sent], None],
    ) -> None:
        queue: asyncio.Queue[Job] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)

        def settle(job: Job, sent: Sent) -> None:
            try:
                after(job, sent)
            except Exception as exc:
                self.stop(f"an outcome could not be recorded: {type(exc).__name__}: {exc}")

        async def worker() -> None:
            while not queue.empty():
                job = queue.get_nowait()
                if self.stopped:
                    settle(job, Sent("not_sent", error=f"not sent: {self.stop_reason}"))
                    continue
                try:
                    sent = await self.send_one(job, before)
                except Exception as exc:
                    # Something unforeseen (the ledger's disk, a bug): the request may have
                    # gone out, so the row is unknown (the ledger still says `sending`,
                    # which the next run settles); the others stop as for a 401.
                    self.stop(f"an unexpected error: {type(exc).__name__}: {exc}")
                    sent = Sent("unknown", error=f"unexpected error: {type(exc).__name__}")
                settle(job, sent)

        workers = max(1, min(self.settings.concurrency, len(jobs)))
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def send_one(self, job: Job, before: Callable[[Job], None]) -> Sent:
        """Send one payload, retrying only what cannot have created a campaign.

        Retries stop after `max_attempts` failed attempts or `time_budget` seconds. A 429
        is throttling, not failure: it is waited out within the time budget but does not
        use up an attempt (a run that starts far above the API's limit needs a few
        halvings of its rate, and its first rows must not fail meanwhile).
        """
        attempts = 0
        failures = 0
        started = self._clock()

        async def attempt() -> Sent:
            nonlocal attempts, failures
            await self._pacer.acquire()
            if self.stopped:
                return Sent("not_sent", attempts=attempts, error=f"not sent: {self.stop_reason}")
            before(job)
            attempts += 1
            self.stats.requests += 1
            try:
                return self._judge(await self._post(job), attempts)
            except _Retry as exc:
                failures += exc.http_status != 429
                raise

        class GiveUp(stop_base):
            # tenacity's stop_after_delay reads the real clock; time here is injected.
            def __call__(inner, state: RetryCallState) -> bool:
                spent = self._clock() - started
                return failures >= self.settings.max_attempts or spent >= self.settings.time_budget

        def count(state: RetryCallState) -> None:
            self.stats.retries += 1

        retrying = AsyncRetrying(
            stop=GiveUp(),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self.nap,
            before_sleep=count,
            reraise=True,
        )
        try:
            async for trial in retrying:
                with trial:
                    return await attempt()
        except _Retry as exc:
            return Sent(
                "failed",
                http_status=exc.http_status,
                attempts=attempts,
                error=f"gave up after {attempts} attempts: {exc}",
            )
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    async def _post(self, job: Job) -> httpx.Response | BaseException:
        try:
            return await self.client.create_campaign(job.payload)
        except httpx.HTTPError as exc:
            return exc

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Retry) and failure.pause is not None:
            return 0.0  # the pacer already holds every worker for the pause
        return float(self._backoff(state))

    def _judge(self, answer: httpx.Response | BaseException, attempts: int) -> Sent:
        if isinstance(answer, BaseException):
            return self._judge_error(answer, attempts)
        status = answer.status_code
        if answer.is_success:
            self._consecutive_errors = 0
            body = parse_json(answer)
            data = body.get("data") if isinstance(body, dict) else None
            found = data.get("id") if isinstance(data, dict) else None
            if isinstance(found, str) and is_uuid(found.lower()):
                return Sent("created", found.lower(), status, attempts)
            return Sent("unknown", "", status, attempts, f"HTTP {status} without a campaign id")
        message = self.client.message(answer)
        if status in SAFE_TO_RETRY:
            pause = None
            if status in PAUSING:
                self.stats.rate_limited += status == 429
                header = answer.headers.get("Retry-After")
                pause = retry_after(header, self._wall_clock(), self.settings.retry_after_cap)
                if pause is None:  # no usable Retry-After: back off with full jitter
                    ceiling = self.settings.backoff_initial * 2**attempts
                    pause = random.uniform(0, min(self.settings.backoff_max, ceiling))
                self._pacer.pause(pause)
            if status >= 500:
                self._server_error(status, f"HTTP {status}")
            raise _Retry(message, status, pause)
        if status in STOPPING:
            self.stop(f"the API refused the key (HTTP {status}): {message}", status)
            return Sent("not_sent", "", status, attempts, f"HTTP {status}: {message}")
        if status < 500:
            self._consecutive_errors = 0
            return Sent("rejected", "", status, attempts, message)
        self._server_error(status, f"HTTP {status}")
        return Sent("unknown", "", status, attempts, f"HTTP {status}: {message}")

    def _judge_error(self, error: BaseException, attempts: int) -> Sent:
        kind = type(error).__name__
        if isinstance(error, NOT_SENT_ERRORS + NOT_WRITTEN_ERRORS):
            self._server_error(None, kind)
            raise _Retry(f"{kind}: connection failed before the request was sent", None, None)
        self._server_error(None, kind)
        if isinstance(error, httpx.TimeoutException):
            return Sent("unknown", "", None, attempts, f"no answer within the timeout ({kind})")
        return Sent("unknown", "", None, attempts, f"connection lost after sending ({kind})")

    def _server_error(self, status: int | None, what: str) -> None:
        self._consecutive_errors += 1
        if self._consecutive_errors >= self.settings.max_consecutive_errors:
            self.stop(f"{self._consecutive_errors} server errors in a row (last: {what})", status)
