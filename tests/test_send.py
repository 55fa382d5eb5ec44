"""The sender alone: what is retried, pacing, pausing and stopping, and the client's key.

Requests go to an `httpx.MockTransport` handler passed to `ExtrovertClient`; time is
`tests.fakes.FakeTiming` (sleeping moves its clock at once), so nothing here waits. What
each answer means is `judge`'s table, tested on its own in `tests/test_judge.py`; here the
sender carries it out. Tests are sync and drive the loop with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from pipeline.client import ExtrovertClient
from pipeline.errors import ConfigError
from pipeline.model import Outcome, Status
from pipeline.operations import (
    CAMPAIGN_PATH,
    PROSPECT_LIST_PATH,
    Action,
    Answer,
    Failure,
    Operation,
)
from pipeline.send import Pacer, Sender, retry_after
from pipeline.settings import Secret, SendSettings, check_base_url
from pipeline.stop import Stop
from pipeline.timing import backoff
from tests.fakes import FakeTiming

CAMPAIGN_ID = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"
KEY = "test-key-123"
BASE_URL = "http://127.0.0.1:9"

Handler = Callable[[httpx.Request], httpx.Response]


def created(request: httpx.Request) -> httpx.Response:
    """The API's answer to a campaign it created."""
    return httpx.Response(201, json={"status": "success", "data": {"id": CAMPAIGN_ID}})


def ok(request: httpx.Request) -> httpx.Response:
    """The API's answer to an update it made."""
    return httpx.Response(200, json={"status": "success", "data": {"id": CAMPAIGN_ID}})


def envelope(status: int, message: str = "nope", **headers: str) -> httpx.Response:
    """The API's error envelope with `message`."""
    body = {"status": "error", "data": None, "message": message, "statusCode": status}
    return httpx.Response(status, json=body, headers=headers)


def creates(count: int) -> list[Operation]:
    """`count` campaign creations, at positions 0..count-1."""
    return [Operation.create_campaign(f"key-{i}", {"name": f"c{i}"}, i) for i in range(count)]


def update(position: int = 0) -> Operation:
    """A campaign update: idempotent (repeating it is harmless)."""
    path = f"{CAMPAIGN_PATH}/{CAMPAIGN_ID}"
    return Operation(
        Action.UPDATE_CAMPAIGN, "PATCH", path, {"name": "x"}, f"key-{position}", (position,), True
    )


def client_for(handler: Handler, key: str = KEY) -> ExtrovertClient:
    """A client whose requests go to `handler`, in-process."""
    return ExtrovertClient(BASE_URL, Secret(key), transport=httpx.MockTransport(handler))


@dataclass
class Run:
    """What one `Sender.apply` left: outcomes by position, the sender, its stop and time."""

    outcomes: list[Outcome]
    sender: Sender
    stop: Stop
    fake: FakeTiming
    events: list[tuple[str, int]] = field(default_factory=list)

    @property
    def statuses(self) -> list[Status]:
        return [outcome.status for outcome in self.outcomes]


def send(
    handler: Handler,
    work: int | Sequence[Operation] = 1,
    fake: FakeTiming | None = None,
    after: Callable[[Operation, Outcome], None] | None = None,
    **settings: Any,
) -> Run:
    """Apply `work` (a count of creations, or operations) through `handler`."""
    fake = fake or FakeTiming()
    operations = creates(work) if isinstance(work, int) else list(work)
    options: dict[str, Any] = {"rate": 1000.0, "concurrency": 2, **settings}
    found: dict[int, Outcome] = {}
    events: list[tuple[str, int]] = []

    def before(operation: Operation) -> None:
        events.append(("before", operation.positions[0]))

    def record(operation: Operation, outcome: Outcome) -> None:
        events.append(("after", operation.positions[0]))
        found[operation.positions[0]] = outcome
        if after is not None:
            after(operation, outcome)

    async def go() -> tuple[Sender, Stop]:
        stop = Stop(fake.sleep)
        async with client_for(handler) as client:
            sender = Sender(client, SendSettings(**options), fake.timing, stop)
            await sender.apply(operations, before, record)
        return sender, stop

    sender, stop = asyncio.run(go())
    outcomes = [found[position] for position in sorted(found)]
    return Run(outcomes, sender, stop, fake, events)


# What each answer leads to


def test_created_needs_a_readable_id() -> None:
    """A 201 with data.id is created; the id is kept in lower case."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"status": "success", "data": {"id": CAMPAIGN_ID.upper()}})

    [outcome] = send(handler).outcomes
    assert outcome == Outcome(Status.CREATED, CAMPAIGN_ID, 201, 1)


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(httpx.Response(201, json={"status": "success", "data": {}}), id="no id"),
        pytest.param(httpx.Response(201, text="<html>ok</html>"), id="not json"),
        pytest.param(
            httpx.Response(200, json={"status": "success", "data": {"id": "not-a-uuid"}}),
            id="not a uuid",
        ),
    ],
)
def test_success_without_an_id_is_unknown(response: httpx.Response) -> None:
    """A 2xx that does not name the new campaign leaves its existence unknown."""
    [outcome] = send(lambda request: response).outcomes
    assert outcome.status is Status.UNKNOWN
    assert outcome.attempts == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_on_a_create_are_unknown_and_never_retried(status: int) -> None:
    """500/502/504 may have created the campaign: one attempt, status unknown."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return envelope(status)

    [outcome] = send(handler).outcomes
    assert (outcome.status, outcome.http_status, len(calls)) == (Status.UNKNOWN, status, 1)


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.ReadError("x")],
    ids=type,
)
def test_errors_after_sending_a_create_are_unknown(error: Exception) -> None:
    """A timeout or a dropped connection after a create was written is unknown, once."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise error

    [outcome] = send(handler).outcomes
    assert outcome.status is Status.UNKNOWN
    assert outcome.http_status is None
    assert len(calls) == 1


@pytest.mark.parametrize("status", [400, 409, 422])
def test_other_client_errors_are_rejected_with_the_api_message(status: int) -> None:
    """Any other 4xx is rejected, once, with the API's own message."""
    [outcome] = send(lambda request: envelope(status, "name: must not be empty")).outcomes
    assert outcome == Outcome(Status.REJECTED, "", status, 1, ("name: must not be empty",))


# Retries


@pytest.mark.parametrize("status", [408, 429, 503])
def test_safe_answers_are_retried_until_success(status: int) -> None:
    """408, 429 and 503 cannot have created anything: they are retried."""
    answers = iter([envelope(status), envelope(status)])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or created(request)

    run = send(handler, max_attempts=5)
    [outcome] = run.outcomes
    assert (outcome.status, outcome.attempts) == (Status.CREATED, 3)
    assert run.sender.stats.retries == 2


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.WriteError("broken")],
    ids=type,
)
def test_a_request_that_never_went_out_is_retried(error: Exception) -> None:
    """A connection never made, or a request never fully written, is retried."""
    errors = [error]

    def handler(request: httpx.Request) -> httpx.Response:
        if errors:
            raise errors.pop()
        return created(request)

    [outcome] = send(handler).outcomes
    assert (outcome.status, outcome.attempts) == (Status.CREATED, 2)


@pytest.mark.parametrize(
    ("first", "error"),
    [
        pytest.param(httpx.ReadTimeout("slow"), "ReadTimeout", id="read timeout"),
        pytest.param(envelope(500, "oops"), "HTTP 500", id="500"),
    ],
)
def test_an_idempotent_update_is_retried_never_unknown(
    first: httpx.Response | Exception, error: str
) -> None:
    """An update answered by a timeout or a 500, then 200, is updated after 2 attempts."""
    answers = [first]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "PATCH"
        if answers:
            answer = answers.pop()
            if isinstance(answer, Exception):
                raise answer
            return answer
        return ok(request)

    run = send(handler, [update()])
    [outcome] = run.outcomes
    assert outcome == Outcome(Status.UPDATED, "", 200, 2)
    assert run.sender.stats.retries == 1
    assert not run.stop


def test_a_done_add_prospects_does_not_stop_the_run() -> None:
    """A 2xx for adding prospects settles the operation in one attempt; the run goes on."""
    adding = Operation(
        Action.ADD_PROSPECTS, "POST", f"{PROSPECT_LIST_PATH}/x/prospects", {}, "key-0", (0,), True
    )
    run = send(ok, [adding, *creates(2)[1:]], concurrency=1)
    assert not run.stop
    assert run.outcomes[0].status is Status.ADDED
    assert run.outcomes[0].attempts == 1


def test_retries_end_as_failed_after_max_attempts() -> None:
    """Safe retries stop at max_attempts and the row is failed."""
    [outcome] = send(lambda request: envelope(503, "busy"), max_attempts=3).outcomes
    assert (outcome.status, outcome.attempts, outcome.http_status) == (Status.FAILED, 3, 503)
    [error] = outcome.errors
    assert "gave up after 3 attempts" in error and "busy" in error


def test_backoff_uses_full_jitter_within_its_ceiling() -> None:
    """Waits between plain retries are random in [0, initial * 2^n], capped."""
    fake = FakeTiming()
    send(
        lambda request: httpx.Response(408),
        fake=fake,
        max_attempts=6,
        backoff_initial=1.0,
        backoff_max=4.0,
    )
    waits = [s for s in fake.sleeps if s > 0.0005]  # pacing slots are 1 ms apart
    assert len(waits) >= 3
    assert all(0 <= w <= 4.0 for w in waits)
    assert len(set(waits)) == len(waits)  # jittered, not one fixed wait


def test_429s_are_waited_out_within_the_budget_without_using_attempts() -> None:
    """Throttling is not failure: 429s go on past max_attempts until the time budget."""
    answers = [envelope(429, "slow", **{"Retry-After": "1"}) for _ in range(6)]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop() if answers else created(request)

    run = send(handler, max_attempts=2)
    [outcome] = run.outcomes
    assert (outcome.status, outcome.attempts) == (Status.CREATED, 7)
    assert run.sender.stats.rate_limited == 6


def test_time_budget_is_measured_on_the_injected_clock() -> None:
    """Endless 429s stop at the time budget, counted in (fake) seconds."""
    fake = FakeTiming()
    [outcome] = send(
        lambda request: envelope(429, "slow", **{"Retry-After": "1"}),
        fake=fake,
        time_budget=10.0,
    ).outcomes
    assert outcome.status is Status.FAILED
    assert 10.0 <= fake.elapsed <= 13.0
    assert 9 <= outcome.attempts <= 12


# Pausing and pacing


def test_retry_after_pauses_and_slows_every_worker() -> None:
    """A 429 with Retry-After holds every request back for that long."""
    fake = FakeTiming()
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(fake.monotonic())
        if len(seen) == 1:
            return envelope(429, "slow down", **{"Retry-After": "7"})
        return created(request)

    run = send(handler, 4, fake=fake, rate=10.0, concurrency=4)
    assert run.statuses == [Status.CREATED] * 4
    assert len(seen) == 5
    assert all(t >= seen[0] + 7 for t in seen[1:])
    assert run.sender.stats.rate_limited == 1


def test_the_pause_after_a_503_without_retry_after_is_a_seeded_backoff() -> None:
    """A 503 without Retry-After pauses for `backoff` drawn from the timing's random."""

    def pauses(seed: int) -> list[float]:
        answers = [envelope(503, "busy")]

        def handler(request: httpx.Request) -> httpx.Response:
            return answers.pop() if answers else created(request)

        fake = FakeTiming(seed=seed)
        run = send(handler, fake=fake, backoff_initial=2.0, backoff_max=30.0)
        assert run.statuses == [Status.CREATED]
        return [s for s in fake.sleeps if s > 0]

    expected = backoff(1, initial=2.0, cap=30.0, rng=random.Random(7))
    assert pauses(7) == [pytest.approx(expected)]
    assert pauses(7) == pauses(7)
    assert pauses(8) != pauses(7)


def test_pacer_never_bursts() -> None:
    """Slots are 1/rate apart, even for requests that were all waiting at once."""
    fake = FakeTiming()
    wakes: list[float] = []

    def sleep(seconds: float) -> Awaitable[None]:
        # FakeTiming's sleep, noting when the sleeper asked to wake (its slot); concurrent
        # fake sleeps add up on the one clock, so the clock after them says less.
        wakes.append(fake.monotonic() + seconds)
        return fake.sleep(seconds)

    start = fake.monotonic()
    pacer = Pacer(4.0, fake.timing, Stop(sleep))
    taken: list[float] = []

    async def take() -> None:
        await pacer.acquire()
        taken.append(fake.monotonic())

    async def go() -> None:
        await asyncio.gather(*(take() for _ in range(8)))

    asyncio.run(go())
    assert len(taken) == 8
    # The first went at once; each other one waited for its own slot, 0.25 s apart.
    assert sorted(wakes) == pytest.approx([start + 0.25 * k for k in range(1, 8)])
    assert all(t >= start + 0.25 * k for k, t in enumerate(sorted(taken)))


def test_pacer_recovers_its_rate_gradually() -> None:
    """After a pause the rate is halved, then climbs back a tenth per quiet interval."""
    fake = FakeTiming()
    pacer = Pacer(10.0, fake.timing, Stop(fake.sleep), recovery=5.0)
    pacer.pause(1.0)
    assert pacer.rate == 5.0
    rates = []

    async def go() -> None:
        for _ in range(200):
            await pacer.acquire()
            rates.append(pacer.rate)

    asyncio.run(go())
    assert rates[0] == 5.0
    assert rates[-1] == 10.0
    assert all(0 <= b - a <= 1.0 + 1e-9 for a, b in itertools.pairwise(rates))


def test_concurrent_429s_halve_the_rate_once() -> None:
    """Four 429s of requests already in flight are one episode: the rate halves once."""
    fake = FakeTiming()
    pacer = Pacer(40.0, fake.timing, Stop(fake.sleep))
    for _ in range(4):
        pacer.pause(1.0)
    assert pacer.rate == 20.0
    fake.advance(1.0)
    pacer.pause(1.0)  # a new episode, once the first has ended
    assert pacer.rate == 10.0


def test_pacer_acquire_returns_at_once_when_stopped() -> None:
    """A stopped run's pacer hands out no slot and does not wait, even mid-pause."""
    fake = FakeTiming()
    stop = Stop(fake.sleep)
    pacer = Pacer(1.0, fake.timing, stop)
    pacer.pause(100.0)
    stop.set("interrupted")

    async def go() -> None:
        for _ in range(3):
            await pacer.acquire()

    asyncio.run(go())
    assert fake.sleeps == []
    assert fake.elapsed == 0.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Retry-After may be seconds or an HTTP date; both are capped; garbage is ignored."""
    now = dt.datetime(2026, 11, 26, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after("3", now, 60) == 3.0
    assert retry_after("Thu, 26 Nov 2026 12:00:10 GMT", now, 60) == 10.0
    assert retry_after("Thu, 26 Nov 2026 11:59:00 GMT", now, 60) == 0.0
    assert retry_after("9999", now, 60) == 60.0
    assert retry_after("Fri, 27 Nov 2026 12:00:00 GMT", now, 60) == 60.0
    assert retry_after("-5", now, 60) == 0.0
    assert retry_after("soon", now, 60) is None
    assert retry_after("", now, 60) is None
    assert retry_after(None, now, 60) is None


# Stopping


def test_stop_nap_returns_at_once_when_the_stop_is_set_meanwhile() -> None:
    """A nap whose (real, hour-long) sleep is under way ends as soon as the run stops."""

    async def go() -> None:
        stop = Stop(asyncio.sleep)
        napping = asyncio.ensure_future(stop.nap(3600))
        await asyncio.sleep(0)
        assert not napping.done()
        stop.set("interrupted")
        async with asyncio.timeout(5):
            await napping

    asyncio.run(go())


def test_stop_nap_does_not_sleep_once_stopped() -> None:
    """A nap after the stop was set returns without sleeping at all."""
    fake = FakeTiming()
    stop = Stop(fake.sleep)
    stop.set("the key is refused", 401)
    asyncio.run(stop.nap(100.0))
    assert fake.sleeps == []
    assert (bool(stop), stop.reason, stop.http_status) == (True, "the key is refused", 401)


def test_the_first_stop_reason_wins() -> None:
    """A 401 after Ctrl-C does not rename the stop, and interrupt() marks it interrupted."""
    stop = Stop(FakeTiming().sleep)
    assert not stop
    stop.interrupt()
    stop.set("the key is refused", 401)
    assert stop.interrupted
    assert (stop.reason, stop.http_status) == ("interrupted (Ctrl-C)", None)


def test_unauthorised_stops_the_run() -> None:
    """401 stops everything: the rest is not sent and the stop names the status."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return envelope(401, "Invalid API key")

    run = send(handler, 10, concurrency=1)
    assert run.stop.http_status == 401
    assert "Invalid API key" in run.stop.reason
    assert run.statuses == [Status.NOT_SENT] * 10
    assert run.outcomes[0].http_status == 401
    assert len(calls) == 1


def test_circuit_breaker_stops_after_consecutive_server_errors() -> None:
    """N server errors in a row stop the run; the rest is not_sent."""
    run = send(lambda request: envelope(500), 20, concurrency=1, max_consecutive_errors=4)
    assert run.statuses[:4] == [Status.UNKNOWN] * 4
    assert run.statuses[4:] == [Status.NOT_SENT] * 16
    assert "4 server errors in a row (last: HTTP 500)" in run.stop.reason
    assert run.stop.http_status == 500


def test_transport_failures_count_towards_the_circuit_breaker() -> None:
    """Refused connections count too; the stop names the transport error."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    run = send(handler, 3, concurrency=1, max_consecutive_errors=3, max_attempts=10)
    assert "3 server errors in a row (last: ConnectError)" in run.stop.reason
    assert run.statuses == [Status.NOT_SENT] * 3


def test_a_success_resets_the_circuit_breaker() -> None:
    """Errors separated by successes never trip the breaker."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return envelope(500) if count[0] % 2 else created(request)

    run = send(handler, 20, concurrency=1, max_consecutive_errors=2)
    assert not run.stop
    assert Status.NOT_SENT not in run.statuses


def test_a_stop_wakes_a_long_pause() -> None:
    """A stop (Ctrl-C, 401) during a long Retry-After pause ends the run at once."""
    fake = FakeTiming()
    # Real sleep: the 100 s pause would really last 100 s unless the stop cuts it short.
    timing = replace(fake.timing, sleep=asyncio.sleep)
    found: list[Outcome] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return envelope(429, "slow", **{"Retry-After": "100"})

    async def go() -> Stop:
        stop = Stop(timing.sleep)
        async with client_for(handler) as client:
            sender = Sender(client, SendSettings(rate=1000), timing, stop)

            async def interrupt() -> None:
                while not sender.stats.rate_limited:
                    await asyncio.sleep(0)
                await asyncio.sleep(0.01)  # every worker is now held by the pause
                stop.interrupt()

            async with asyncio.timeout(5):
                await asyncio.gather(
                    sender.apply(creates(3), lambda op: None, lambda op, o: found.append(o)),
                    interrupt(),
                )
        return stop

    stop = asyncio.run(go())
    assert stop.interrupted
    assert [outcome.status for outcome in found] == [Status.NOT_SENT] * 3


# before / after


def test_before_runs_before_each_request_and_after_after_its_outcome() -> None:
    """`before` precedes every attempt, `after` follows each operation's outcome, in order."""
    answers = [envelope(503)]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop() if answers else created(request)

    run = send(handler, 3, concurrency=1)
    assert run.events == [
        ("before", 0),
        ("before", 0),  # the retry after the 503
        ("after", 0),
        ("before", 1),
        ("after", 1),
        ("before", 2),
        ("after", 2),
    ]


def test_an_exception_in_after_stops_the_run() -> None:
    """If an outcome cannot be recorded the run stops; the rest is not sent (key scrubbed)."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return created(request)

    def after(operation: Operation, outcome: Outcome) -> None:
        if operation.positions == (0,):
            raise OSError(f"disk full while writing {KEY}")

    run = send(handler, 5, concurrency=1, after=after)
    assert len(calls) == 1
    assert run.statuses == [Status.CREATED] + [Status.NOT_SENT] * 4
    reason = "an outcome could not be recorded: OSError: disk full while writing ***"
    assert run.stop.reason == reason
    assert KEY not in run.outcomes[1].errors[0]


def test_an_exception_in_before_leaves_the_row_unknown_and_stops() -> None:
    """An unexpected error around a request leaves it unknown and stops the others."""

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return created(request)

    async def go() -> tuple[list[Outcome], Stop]:
        fake = FakeTiming()
        stop = Stop(fake.sleep)
        found: list[Outcome] = []

        def before(operation: Operation) -> None:
            raise RuntimeError("ledger is gone")

        async with client_for(handler) as client:
            sender = Sender(client, SendSettings(rate=1000, concurrency=1), fake.timing, stop)
            await sender.apply(creates(3), before, lambda op, outcome: found.append(outcome))
        return found, stop

    found, stop = asyncio.run(go())
    assert [outcome.status for outcome in found] == [Status.UNKNOWN] + [Status.NOT_SENT] * 2
    assert stop.reason == "an unexpected error: RuntimeError: ledger is gone"
    assert calls == []


# The key


def test_api_messages_echoing_the_key_are_masked() -> None:
    """A server that repeats the key in its message: the key is masked in the outcome."""
    run = send(lambda request: envelope(400, f"bad key {request.headers['X-API-Key']}"))
    assert run.outcomes[0].errors == ("bad key ***",)


def test_stop_reasons_echoing_the_key_are_masked() -> None:
    """A 401 whose message repeats the key: neither the stop reason nor the rows show it."""
    run = send(lambda request: envelope(401, f"key {request.headers['X-API-Key']} refused"), 2)
    assert run.stop.reason == "the API refused the key (HTTP 401): key *** refused"
    assert all(KEY not in error for outcome in run.outcomes for error in outcome.errors)


def test_sender_stop_scrubs_the_key() -> None:
    """`Sender.stop` masks the key in any reason it is given."""
    fake = FakeTiming()
    stop = Stop(fake.sleep)

    async def go() -> None:
        async with client_for(created) as client:
            sender = Sender(client, SendSettings(), fake.timing, stop)
            sender.stop(f"echo {KEY} echo", 500)

    asyncio.run(go())
    assert (stop.reason, stop.http_status) == ("echo *** echo", 500)


def test_the_key_goes_in_the_header_and_nowhere_else() -> None:
    """X-API-Key carries the key; the body and URL do not."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return created(request)

    async def go() -> None:
        async with client_for(handler, "k-123") as client:
            answer = await client.send(Operation.create_campaign("k", {"name": "x"}, 0))
        assert answer.status == 201

    asyncio.run(go())
    [request] = seen
    assert request.headers["X-API-Key"] == "k-123"
    assert b"k-123" not in request.content and "k-123" not in str(request.url)
    assert request.headers["Content-Type"] == "application/json"
    assert (request.method, request.url.path) == ("POST", CAMPAIGN_PATH)


@pytest.mark.parametrize("key", ["two\nlines", "with space", "naïve"])
def test_keys_a_header_cannot_carry_are_refused(key: str) -> None:
    """A key with a line break, a space or non-ASCII letters is refused before any request."""
    with pytest.raises(ConfigError) as refused:
        ExtrovertClient(BASE_URL, Secret(key))
    assert key not in str(refused.value)


# Settings


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://prod-nginx-v2.goextrovert.com/webgateway", True),
        ("http://127.0.0.1:8750", True),
        ("http://localhost:8750/", True),
        ("http://[::1]:8750", True),
        ("http://example.com", False),
        ("ftp://example.com", False),
        ("https://example.com/?key=x", False),
    ],
)
def test_base_url_must_be_https_unless_loopback(url: str, ok: bool) -> None:
    """Plain http only for loopback hosts."""
    if ok:
        assert not check_base_url(url).endswith("/")
    else:
        with pytest.raises(ConfigError):
            check_base_url(url)


@pytest.mark.parametrize("name", ["rate", "concurrency", "timeout", "max_attempts"])
def test_send_settings_that_cannot_work_are_refused(name: str) -> None:
    """A zero rate, concurrency, timeout or max_attempts raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=rf"^{name} = 0 cannot work"):
        SendSettings(**{name: 0})


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (httpx.ConnectError("refused"), Failure.NOT_CONNECTED),
        (httpx.ConnectTimeout("slow"), Failure.NOT_CONNECTED),
        (httpx.PoolTimeout("busy"), Failure.NOT_CONNECTED),
        (httpx.WriteError("broken"), Failure.NOT_WRITTEN),
        (httpx.WriteTimeout("slow"), Failure.NOT_WRITTEN),
        (httpx.ReadTimeout("late"), Failure.TIMEOUT),
        (httpx.ReadError("reset"), Failure.LOST),
        (httpx.RemoteProtocolError("closed"), Failure.LOST),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_the_client_turns_each_transport_error_into_its_failure(
    error: httpx.HTTPError, failure: Failure
) -> None:
    """Connect and pool errors were never sent, write errors never written, a read timeout
    or a dropped answer may have reached the API; the Answer says which."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    async def go() -> Answer:
        client = ExtrovertClient(BASE_URL, Secret(KEY), transport=httpx.MockTransport(handler))
        async with client:
            return await client.send(Operation.create_campaign("k", {}, 0))

    answer = asyncio.run(go())
    assert (answer.status, answer.failure, answer.error) == (None, failure, type(error).__name__)
