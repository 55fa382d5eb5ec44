"""The sender alone: what each answer means, what is retried, pacing and stopping.

Requests go to an `httpx.MockTransport` handler; time is a virtual clock that jumps
to the next wake-up, so nothing here waits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pipeline.client import ExtrovertClient, Secret, check_base_url
from pipeline.errors import ConfigError
from pipeline.send import Job, Pacer, Sender, SendSettings, Sent, retry_after

CAMPAIGN_ID = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"


class VirtualTime:
    """Concurrent sleepers on one timeline: time jumps to the earliest wake-up."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (self.now + max(seconds, 0), id(future), future))
        await future

    async def run(self, *work: Any) -> None:
        tasks = [asyncio.ensure_future(w) for w in work]
        idle = 0
        while not all(t.done() for t in tasks):
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            while self._waiting and self._waiting[0][2].done():
                heapq.heappop(self._waiting)  # a sleep that was cancelled
            if self._waiting:
                idle = 0
                wake, _, future = heapq.heappop(self._waiting)
                self.now = max(self.now, wake)
                future.set_result(None)
            else:
                idle += 1
                assert idle < 1000, "deadlock: tasks wait on something other than time"
        for task in tasks:
            task.result()


def created(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"status": "success", "data": {"id": CAMPAIGN_ID}})


def envelope(status: int, message: str = "nope", **headers: str) -> httpx.Response:
    body = {"status": "error", "data": None, "message": message, "statusCode": status}
    return httpx.Response(status, json=body, headers=headers)


def send(
    handler: Callable[[httpx.Request], httpx.Response],
    jobs: int = 1,
    time: VirtualTime | None = None,
    **settings: Any,
) -> tuple[list[Sent], Sender]:
    time = time or VirtualTime()
    options: dict[str, Any] = {"rate": 1000.0, "concurrency": 2, **settings}
    results: list[Sent] = []

    async def go() -> Sender:
        client = ExtrovertClient(
            "http://127.0.0.1:9", Secret("test-key-123"), transport=httpx.MockTransport(handler)
        )
        sender = Sender(client, SendSettings(**options), clock=time.clock, sleep=time.sleep)
        work = [Job(i, f"key-{i}", {"name": f"c{i}"}) for i in range(jobs)]
        await sender.send_all(work, lambda job: None, lambda job, sent: results.append(sent))
        await client.aclose()
        return sender

    senders: list[Sender] = []

    async def keep() -> None:
        senders.append(await go())

    asyncio.run(time.run(keep()))
    return results, senders[0]


def test_created_needs_a_readable_id() -> None:
    """A 201 with data.id is created; the id is kept in lower case."""
    [sent], _ = send(created)
    assert sent == Sent("created", CAMPAIGN_ID, 201, 1)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(201, json={"status": "success", "data": {}}),
        httpx.Response(201, text="<html>ok</html>"),
        httpx.Response(200, json={"status": "success", "data": {"id": "not-a-uuid"}}),
    ],
)
def test_success_without_an_id_is_unknown(response: httpx.Response) -> None:
    """A 2xx that does not name the new campaign leaves its existence unknown."""
    [sent], _ = send(lambda request: response)
    assert sent.status == "unknown"
    assert sent.attempts == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_unknown_and_never_retried(status: int) -> None:
    """500/502/504 may have created the campaign: one attempt, status unknown."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return envelope(status)

    [sent], _ = send(handler)
    assert (sent.status, sent.http_status, len(calls)) == ("unknown", status, 1)


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.ReadError("x")]
)
def test_errors_after_sending_are_unknown(error: Exception) -> None:
    """A timeout or a dropped connection after the request was written is unknown."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise error

    [sent], _ = send(handler)
    assert sent.status == "unknown"
    assert len(calls) == 1


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_client_errors_are_rejected_with_the_api_message(status: int) -> None:
    """Any other 4xx is rejected, once, with the API's own message."""
    [sent], _ = send(lambda request: envelope(status, "name: must not be empty"))
    assert sent == Sent("rejected", "", status, 1, "name: must not be empty")


@pytest.mark.parametrize("status", [408, 429, 503])
def test_safe_answers_are_retried_until_success(status: int) -> None:
    """408, 429 and 503 cannot have created anything: they are retried."""
    answers = iter([envelope(status), envelope(status)])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or created(request)

    [sent], sender = send(handler, max_attempts=5)
    assert (sent.status, sent.attempts) == ("created", 3)
    assert sender.stats.retries == 2


def test_connection_never_made_is_retried() -> None:
    """A refused connection never reached the server: retried."""
    answers: list[Exception] = [httpx.ConnectError("refused")]

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            raise answers.pop()
        return created(request)

    [sent], _ = send(handler)
    assert (sent.status, sent.attempts) == ("created", 2)


def test_retries_end_as_failed_after_max_attempts() -> None:
    """Safe retries stop at --max-attempts and the row is failed."""
    [sent], _ = send(lambda request: envelope(503, "busy"), max_attempts=3)
    assert (sent.status, sent.attempts, sent.http_status) == ("failed", 3, 503)
    assert "gave up after 3 attempts" in sent.error


def test_backoff_uses_full_jitter_within_its_ceiling() -> None:
    """Waits between plain retries are random in [0, initial * 2^n], capped."""
    time = VirtualTime()
    send(
        lambda request: httpx.Response(408),
        time=time,
        max_attempts=6,
        backoff_initial=1.0,
        backoff_max=4.0,
    )
    waits = [s for s in time.sleeps if s > 0.0005]  # pacing slots are 1 ms apart
    assert waits and all(0 <= w <= 4.0 for w in waits)


def test_retry_after_pauses_and_slows_every_worker() -> None:
    """A 429 with Retry-After holds every request back for that long and halves the rate."""
    time = VirtualTime()
    seen: list[float] = []
    first = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(time.now)
        if first[0]:
            first[0] = False
            return envelope(429, "slow down", **{"Retry-After": "7"})
        return created(request)

    results, sender = send(handler, jobs=4, time=time, rate=10.0, concurrency=4)
    assert [s.status for s in results] == ["created"] * 4
    assert all(t >= seen[0] + 7 for t in seen[1:])
    assert sender.stats.rate_limited == 1


def test_unauthorised_stops_the_run() -> None:
    """401 stops everything: the rest is not sent and the stop reason names the status."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return envelope(401, "Invalid API key")

    results, sender = send(handler, jobs=10, concurrency=1)
    assert sender.stop_status == 401
    assert [s.status for s in results] == ["not_sent"] * 10
    assert len(calls) == 1


def test_circuit_breaker_stops_after_consecutive_server_errors() -> None:
    """N server errors in a row stop the run; the rest is not_sent."""
    results, sender = send(
        lambda request: envelope(500), jobs=20, concurrency=1, max_consecutive_errors=4
    )
    statuses = [s.status for s in results]
    assert statuses[:4] == ["unknown"] * 4
    assert statuses[4:] == ["not_sent"] * 16
    assert "4 server errors in a row" in sender.stop_reason


def test_a_success_resets_the_circuit_breaker() -> None:
    """Errors separated by successes never trip the breaker."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return envelope(500) if count[0] % 2 else created(request)

    results, sender = send(handler, jobs=20, concurrency=1, max_consecutive_errors=2)
    assert not sender.stopped
    assert "not_sent" not in {s.status for s in results}


def test_pacer_never_bursts() -> None:
    """Slots are 1/rate apart, even for requests that were all waiting at once."""
    time = VirtualTime()
    pacer = Pacer(4.0, time.clock, time.sleep)
    slots: list[float] = []

    async def take() -> None:
        await pacer.acquire()
        slots.append(time.now)

    asyncio.run(time.run(*(take() for _ in range(8))))
    ordered = sorted(slots)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert len(slots) == 8
    assert min(gaps) == pytest.approx(0.25)
    assert ordered[-1] - ordered[0] == pytest.approx(7 * 0.25)


def test_pacer_recovers_its_rate_gradually() -> None:
    """After a pause the rate is halved, then climbs back a tenth per quiet interval."""
    time = VirtualTime()
    pacer = Pacer(10.0, time.clock, time.sleep, recovery=5.0)
    pacer.pause(1.0)
    assert pacer.rate == 5.0
    rates = []

    async def go() -> None:
        for _ in range(200):
            await pacer.acquire()
            rates.append(pacer.rate)

    asyncio.run(time.run(go()))
    assert rates[0] == 5.0
    assert rates[-1] == 10.0
    assert all(b - a <= 1.0 + 1e-9 for a, b in itertools.pairwise(rates))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Retry-After may be seconds or an HTTP date; both are capped; garbage is ignored."""
    now = dt.datetime(2026, 11, 26, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after("3", now, 60) == 3.0
    assert retry_after("Thu, 26 Nov 2026 12:00:10 GMT", now, 60) == 10.0
    assert retry_after("9999", now, 60) == 60.0
    assert retry_after("soon", now, 60) is None
    assert retry_after(None, now, 60) is None


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://prod-nginx-v2.goextrovert.com/webgateway", True),
        ("http://127.0.0.1:8750", True),
        ("http://localhost:8750/", True),
        ("http://[::1]:8750", True),
        ("http://example.com", False),
        ("ftp://example.com", False),
    ],
)
def test_base_url_must_be_https_unless_loopback(url: str, ok: bool) -> None:
    """Plain http only for loopback hosts."""
    if ok:
        assert not check_base_url(url).endswith("/")
    else:
        with pytest.raises(ConfigError):
            check_base_url(url)


def test_the_key_goes_in_the_header_and_nowhere_else() -> None:
    """X-API-Key carries the key; the body and URL do not."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return created(request)

    async def go() -> None:
        client = ExtrovertClient(
            "http://127.0.0.1:9", Secret("k-123"), transport=httpx.MockTransport(handler)
        )
        await client.create_campaign({"name": "x"})
        await client.aclose()

    asyncio.run(go())
    [request] = seen
    assert request.headers["X-API-Key"] == "k-123"
    assert b"k-123" not in request.content and "k-123" not in str(request.url)
    assert request.headers["Content-Type"] == "application/json"


def test_429s_are_waited_out_within_the_budget_without_using_attempts() -> None:
    """Throttling is not failure: 429s go on past max_attempts until the time budget."""
    answers = [envelope(429, "slow", **{"Retry-After": "1"}) for _ in range(6)]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop() if answers else created(request)

    [sent], sender = send(handler, max_attempts=2)
    assert (sent.status, sent.attempts) == ("created", 7)
    assert sender.stats.rate_limited == 6


def test_time_budget_is_measured_on_the_injected_clock() -> None:
    """Endless 429s stop at the time budget, counted in (virtual) seconds."""
    time = VirtualTime()
    [sent], _ = send(
        lambda request: envelope(429, "slow", **{"Retry-After": "1"}),
        time=time,
        time_budget=10.0,
    )
    assert sent.status == "failed"
    assert 10.0 <= time.now <= 13.0
    assert 9 <= sent.attempts <= 12


def test_concurrent_429s_halve_the_rate_once() -> None:
    """Four 429s of requests already in flight are one episode: the rate halves once."""
    time = VirtualTime()
    pacer = Pacer(40.0, time.clock, time.sleep)
    for _ in range(4):
        pacer.pause(1.0)
    assert pacer.rate == 20.0


def test_stop_wakes_a_long_pause() -> None:
    """A stop (Ctrl-C, 401) during a long Retry-After pause ends the run at once."""
    time = VirtualTime()
    holder: list[Sender] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return envelope(429, "slow", **{"Retry-After": "100"})

    async def go() -> None:
        client = ExtrovertClient(
            "http://127.0.0.1:9", Secret("k"), transport=httpx.MockTransport(handler)
        )
        sender = Sender(client, SendSettings(rate=1000), clock=time.clock, sleep=time.sleep)
        holder.append(sender)
        results: list[Sent] = []

        async def interrupt() -> None:
            await time.sleep(2.0)
            sender.stop("interrupted (Ctrl-C)")

        work = [Job(i, f"k{i}", {"name": "x"}) for i in range(3)]
        await asyncio.gather(
            sender.send_all(work, lambda job: None, lambda job, sent: results.append(sent)),
            interrupt(),
        )
        await client.aclose()
        assert {s.status for s in results} == {"not_sent"}

    asyncio.run(time.run(go()))
    assert time.now < 10.0


def test_api_messages_echoing_the_key_are_masked() -> None:
    """A server that repeats the key in its message: the key is masked in the outcome."""
    [sent], _ = send(lambda request: envelope(400, f"bad key {request.headers['X-API-Key']}"))
    assert sent.error == "bad key ***"


@pytest.mark.parametrize("key", ["two\nlines", "with space", "naïve"])
def test_keys_a_header_cannot_carry_are_refused(key: str) -> None:
    """A key with a line break, a space or non-ASCII letters is refused before any request."""
    with pytest.raises(ConfigError) as refused:
        ExtrovertClient("http://127.0.0.1:9", Secret(key))
    assert key not in str(refused.value)
