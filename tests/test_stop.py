"""Stopping in two steps: the first lets requests in flight finish, an abort cancels them.

The sender's requests go to an `httpx.MockTransport` handler that waits (really, on
`asyncio.sleep`, always bounded by `asyncio.timeout`) so that they are surely in flight;
an abort must end them at once, their rows `unknown`. The whole run is driven in-process
against the sandbox app: the ledger records an aborted request `unknown` (never created,
never not sent), and the next run settles it from the campaign list with no duplicate.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from pipeline.client import ExtrovertClient
from pipeline.ledger import Ledger
from pipeline.model import Outcome, Status
from pipeline.operations import Operation
from pipeline.run import RunResult, run_files, run_files_async
from pipeline.send import Sender
from pipeline.settings import Options, RunSettings, Secret, SendSettings
from pipeline.status import ledger_status
from pipeline.stop import ABORTED_IN_FLIGHT, INTERRUPTED, Interrupt, Stop
from pipeline.timing import Timing
from tests.fakes import FakeTiming
from tests.helpers import SettingsFor, numbered_sheet, run_settings

CAMPAIGN_ID = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"
LONG = 60.0  # seconds a held request would take: far beyond every bound below
BOUND = 5.0  # no test here may take longer than this to stop

AsyncHandler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def creates(count: int) -> list[Operation]:
    """`count` campaign creations, at positions 0..count-1."""
    return [Operation.create_campaign(f"key-{i}", {"name": f"c{i}"}, i) for i in range(count)]


async def held(request: httpx.Request) -> httpx.Response:
    """An answer that takes `LONG` seconds: the request stays in flight."""
    await asyncio.sleep(LONG)
    return httpx.Response(201, json={"status": "success", "data": {"id": CAMPAIGN_ID}})


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until `condition` holds."""
    while not condition():
        await asyncio.sleep(0.001)


async def apply(
    handler: AsyncHandler,
    count: int,
    act: Callable[[Stop], Awaitable[None]],
    concurrency: int = 2,
) -> tuple[dict[int, Outcome], list[int]]:
    """Apply `count` creations through `handler` while `act(stop)` runs beside them;
    return the outcomes by position and the positions `before` saw, within `BOUND`."""
    stop = Stop(FakeTiming().sleep)
    found: dict[int, Outcome] = {}
    sent: list[int] = []
    transport = httpx.MockTransport(handler)
    async with ExtrovertClient("http://127.0.0.1:9", Secret("k"), transport=transport) as client:
        sender = Sender(
            client, SendSettings(rate=1000, concurrency=concurrency), Timing.real(), stop
        )
        work = sender.apply(
            creates(count),
            lambda operation: sent.append(operation.positions[0]),
            lambda operation, outcome: found.__setitem__(operation.positions[0], outcome),
        )
        async with asyncio.timeout(BOUND):
            await asyncio.gather(work, act(stop))
    assert stop.in_flight == 0
    return found, sent


def test_an_abort_cancels_the_requests_in_flight_and_leaves_their_rows_unknown() -> None:
    """stop.abort() ends requests in flight at once: their rows unknown, the rest not_sent."""

    async def abort_when_both_are_out(stop: Stop) -> None:
        await until(lambda: stop.in_flight == 2)
        stop.abort()

    began = time.monotonic()
    found, sent = asyncio.run(apply(held, 5, abort_when_both_are_out))

    assert time.monotonic() - began < BOUND
    assert sorted(sent) == [0, 1]
    for position in (0, 1):
        assert found[position] == Outcome(Status.UNKNOWN, attempts=1, errors=(ABORTED_IN_FLIGHT,))
    for position in (2, 3, 4):
        assert found[position].status is Status.NOT_SENT
        assert found[position].errors == (f"not sent: {INTERRUPTED}",)


def test_a_first_stop_lets_the_requests_in_flight_finish() -> None:
    """stop.interrupt() while requests are out: they finish (created), nothing new starts."""
    release = asyncio.Event()

    async def answered_when_released(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(201, json={"status": "success", "data": {"id": CAMPAIGN_ID}})

    async def interrupt_then_release(stop: Stop) -> None:
        await until(lambda: stop.in_flight == 2)
        stop.interrupt()
        await asyncio.sleep(0.01)  # an abort-less stop must not cut them short meanwhile
        assert stop.in_flight == 2
        release.set()

    found, _ = asyncio.run(apply(answered_when_released, 4, interrupt_then_release))

    assert [found[p].status for p in range(4)] == [Status.CREATED] * 2 + [Status.NOT_SENT] * 2


def test_in_flight_counts_each_request_until_its_answer_is_back() -> None:
    """Stop.in_flight rises as requests go out and falls as their answers come back."""
    releases = [asyncio.Event() for _ in range(3)]
    seen: list[int] = []

    async def answered_in_turn(request: httpx.Request) -> httpx.Response:
        number = int(json.loads(request.content)["name"].removeprefix("c"))
        await releases[number].wait()
        return httpx.Response(201, json={"status": "success", "data": {"id": CAMPAIGN_ID}})

    async def watch(stop: Stop) -> None:
        await until(lambda: stop.in_flight == 3)
        for release in releases:
            seen.append(stop.in_flight)
            release.set()
            await until(lambda: stop.in_flight == seen[-1] - 1)
        seen.append(stop.in_flight)

    found, _ = asyncio.run(apply(answered_in_turn, 3, watch, concurrency=3))

    assert seen == [3, 2, 1, 0]
    assert {outcome.status for outcome in found.values()} == {Status.CREATED}


def test_unless_aborted_gives_the_answer_or_none_and_starts_nothing_once_aborted() -> None:
    """A request done before an abort gives its answer; after an abort none is started."""
    started: list[str] = []

    async def request(name: str) -> str:
        started.append(name)
        return name

    async def go() -> tuple[str | None, str | None]:
        stop = Stop(FakeTiming().sleep)
        before = await stop.unless_aborted(request("before"))
        stop.abort()
        after = await stop.unless_aborted(request("after"))  # closed unawaited, no warning
        return before, after

    assert asyncio.run(go()) == ("before", None)
    assert started == ["before"]


def test_an_abort_is_also_an_interrupt_with_the_first_exit_code() -> None:
    """abort() stops the run as interrupted; the first interrupt's reason and code stay."""
    stop = Stop(FakeTiming().sleep)
    stop.interrupt("terminated (SIGTERM)", 143)
    stop.abort()
    assert (stop.interrupted, stop.aborted, stop.reason, stop.exit_code) == (
        True,
        True,
        "terminated (SIGTERM)",
        143,
    )
    fresh = Stop(FakeTiming().sleep)
    fresh.abort()
    assert (fresh.interrupted, fresh.reason, fresh.exit_code) == (True, INTERRUPTED, 130)


def test_interrupt_routes_set_abort_and_in_flight_to_the_attached_stop() -> None:
    """Interrupt: set() twice does not abort; abort() does; in_flight reads the run's."""

    async def go() -> None:
        interrupt = Interrupt()
        assert interrupt.in_flight == 0
        stop = Stop(FakeTiming().sleep)
        interrupt.attach(stop)
        stop.in_flight = 3
        assert interrupt.in_flight == 3
        interrupt.set()
        interrupt.set()
        await asyncio.sleep(0)  # set() reaches the loop through call_soon_threadsafe
        assert (stop.interrupted, stop.aborted) == (True, False)
        interrupt.abort()
        await asyncio.sleep(0)
        assert stop.aborted and interrupt.is_aborted()
        interrupt.detach()
        assert interrupt.in_flight == 0

    asyncio.run(go())


def test_an_abort_given_before_the_run_attaches_aborts_it_on_attach() -> None:
    """Interrupt.abort() before the run listens: the run is aborted as soon as it does."""

    async def go() -> Stop:
        interrupt = Interrupt()
        interrupt.set("terminated (SIGTERM)", 143)
        interrupt.abort()
        stop = Stop(FakeTiming().sleep)
        interrupt.attach(stop)
        return stop

    stop = asyncio.run(go())
    assert (stop.aborted, stop.reason, stop.exit_code) == (True, "terminated (SIGTERM)", 143)


class HeldCreates(httpx.AsyncBaseTransport):
    """The sandbox app, but creates after the first `through` are held (never reach it):
    once `hold` of them are out, `then(interrupt)` runs, as a person's Ctrl-C would."""

    def __init__(
        self,
        app: Starlette,
        interrupt: Interrupt,
        then: Callable[[Interrupt], None],
        through: int = 2,
        hold: int = 2,
    ) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.interrupt, self.then = interrupt, then
        self.through, self.hold = through, hold
        self.creates = 0
        self.held = 0
        self.in_flight_seen = -1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return await self.inner.handle_async_request(request)
        self.creates += 1
        if self.creates <= self.through:
            return await self.inner.handle_async_request(request)
        self.held += 1
        if self.held == self.hold:
            self.in_flight_seen = self.interrupt.in_flight
            self.then(self.interrupt)
        await asyncio.sleep(LONG)
        raise AssertionError("a held request was not cancelled")  # pragma: no cover


def run_held(
    path: Path,
    out: Path,
    settings: RunSettings,
    transport: httpx.AsyncBaseTransport,
    interrupt: Interrupt,
) -> RunResult:
    """`run_files_async` through `transport`, bounded by `BOUND` seconds."""

    async def bounded() -> RunResult:
        async with asyncio.timeout(BOUND):
            return await run_files_async(
                Options(paths=(path,), out=out),
                settings,
                transport=transport,
                timing=FakeTiming().timing,
                interrupt=interrupt,
            )

    return asyncio.run(bounded())


def results(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_run_aborted_mid_request_reports_every_row_and_the_next_run_settles_it(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """Interrupt then abort with two creates out: exit 130, every row reported (the two
    unknown, recorded unknown in the ledger), and a rerun creates each once."""
    rows = 8
    path = numbered_sheet(tmp_path, rows)
    settings = settings_for(send=SendSettings(rate=1000, concurrency=2, timeout=1.0))
    interrupt = Interrupt()

    def ctrl_c_twice(interrupt: Interrupt) -> None:
        interrupt.set()
        interrupt.abort()

    transport = HeldCreates(app, interrupt, ctrl_c_twice)
    began = time.monotonic()
    result = run_held(path, tmp_path / "o1", settings, transport, interrupt)

    assert time.monotonic() - began < BOUND
    assert transport.in_flight_seen == 2
    assert result.exit_code == 130
    lines = results(tmp_path / "o1")
    assert len(lines) == rows
    assert [line["status"] for line in lines].count("created") == 2
    unknown = [line for line in lines if line["status"] == "unknown"]
    assert len(unknown) == 2
    assert all(line["errors"] == ABORTED_IN_FLIGHT for line in unknown)
    assert {line["status"] for line in lines} == {"created", "unknown", "not_sent"}
    with Ledger.open(settings.state, run_id="peek", timing=Timing.real(), lock=False) as ledger:
        counts = ledger.counts()
    assert (counts["created"], counts["unknown"], counts["sending"]) == (2, 2, 0)
    assert ledger_status(settings.state).runs[-1]["exit_code"] == 130

    again = run_files(
        Options(paths=(path,), out=tmp_path / "o2"),
        settings,
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )

    assert again.exit_code == 0, again.counts
    assert set(again.counts) <= {"created", "already_created"}
    assert app.state.sandbox.stats.created == rows
    assert app.state.sandbox.stats.duplicates == 0


class InterruptAtThirdCreate(httpx.AsyncBaseTransport):
    """The sandbox app; the third create gives SIGTERM's `interrupt.set(...)` and is still in
    flight when the stop arrives (it is answered a moment later)."""

    def __init__(self, app: Starlette, interrupt: Interrupt) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.interrupt = interrupt
        self.creates = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.creates += 1
            if self.creates == 3:
                self.interrupt.set("terminated (SIGTERM)", 143)
                await asyncio.sleep(0.01)
        return await self.inner.handle_async_request(request)


def test_an_interrupt_with_an_exit_code_is_the_run_s_exit_code_everywhere(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """Interrupt.set(reason, 143) (the CLI's SIGTERM): the result, summary.json and the
    ledger all say 143; the request in flight finishes; rows not sent give the reason."""
    path = numbered_sheet(tmp_path, 6)
    settings = settings_for(send=SendSettings(rate=1000, concurrency=2, timeout=1.0))
    interrupt = Interrupt()
    transport = InterruptAtThirdCreate(app, interrupt)

    result = run_held(path, tmp_path / "out", settings, transport, interrupt)

    assert result.exit_code == 143
    assert result.summary["exit_code"] == 143
    assert ledger_status(settings.state).runs[-1]["exit_code"] == 143
    lines = results(tmp_path / "out")
    statuses = [line["status"] for line in lines]
    assert set(statuses) == {"created", "not_sent"}
    assert statuses.count("created") == transport.creates == app.state.sandbox.stats.created
    assert transport.creates >= 3
    not_sent = [line["errors"] for line in lines if line["status"] == "not_sent"]
    assert set(not_sent) == {"not sent: terminated (SIGTERM)"}


def test_the_stopping_lines_count_requests_in_flight_in_words() -> None:
    """The CLI's lines name the --timeout and the requests in flight, singular or plural."""
    from pipeline.cli import stopping_line, stopping_now_line

    assert stopping_line(4, 30.0) == (
        "Stopping: waiting up to 30 s for 4 requests in flight; press Ctrl-C again to stop now"
    )
    assert stopping_line(1, 2.5).startswith("Stopping: waiting up to 2.5 s for 1 request in")
    assert stopping_line(0, 30.0) == (
        "Stopping: no request in flight; press Ctrl-C again to stop now"
    )
    assert stopping_now_line(1).startswith("Stopping now: cancelling 1 request in flight; ")
    assert stopping_now_line(3).startswith("Stopping now: cancelling 3 requests in flight; ")
    assert stopping_now_line(0) == "Stopping now."


def test_sigterm_before_the_run_attaches_ends_at_once_with_143(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM while the sheet is read (no run attached): "Terminated.", exit 143, and
    the handlers in place before are back afterwards."""
    import pipeline.run
    from pipeline.cli import _interruptibly, _running

    def terminated_while_loading(*args: object, **kwargs: object) -> RunResult:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(BOUND)  # the handler raises in this thread before it is over
        raise AssertionError("SIGTERM was not handled")  # pragma: no cover

    monkeypatch.setattr(pipeline.run, "run_files", terminated_while_loading)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    settings = run_settings(tmp_path)

    with pytest.raises(SystemExit) as exited:
        _interruptibly(settings, True, _running(Options(paths=(tmp_path,)), settings, None))

    assert exited.value.code == 143
    assert capsys.readouterr().err == "Terminated.\n"
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_an_ignored_signal_stays_ignored_during_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM or SIGINT ignored by the parent (nohup, a background job) stays ignored."""
    import pipeline.run
    from pipeline.cli import _interruptibly, _running

    seen: list[object] = []

    def look(*args: object, **kwargs: object) -> RunResult:
        seen.extend([signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)])
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.run, "run_files", look)
    for ignored in (signal.SIGTERM, signal.SIGINT):
        previous = signal.signal(ignored, signal.SIG_IGN)
        try:
            with pytest.raises(KeyboardInterrupt):
                settings = run_settings(tmp_path)
                work = _running(Options(paths=(tmp_path,)), settings, None)
                _interruptibly(settings, True, work)
            assert seen[-2 if ignored is signal.SIGTERM else -1] is signal.SIG_IGN
            assert signal.getsignal(ignored) is signal.SIG_IGN
        finally:
            signal.signal(ignored, previous)
