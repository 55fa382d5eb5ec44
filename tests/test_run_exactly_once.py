"""Exactly once: under every sandbox fault, 429 storms, circuit breakers, SIGKILL and the lock.

The promise checked throughout: after at most three runs against the same account every
row is created, and the sandbox saw no duplicate (no owner got two campaigns of one name).
"""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette

from pipeline.cli import cli
from pipeline.execute import execute
from pipeline.ledger import CRASHED, Ledger
from pipeline.load import load
from pipeline.run import RunResult, run_files
from pipeline.session import Silent
from pipeline.settings import Options
from pipeline.template import write_template
from pipeline.timing import Timing
from pipeline.validate import validate
from sandbox.server import DEFAULT_API_KEY, FAULT_KINDS, SandboxConfig, create_app, run_in_thread
from tests.fakes import FakeTiming
from tests.helpers import FAST, kill_mid_run, numbered_rows, numbered_sheet, run_settings
from tests.sandbox_fixtures import LIST, STATS

DONE = frozenset({"created", "already_created"})


def results(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def run_until_done(
    tmp_path: Path,
    path: Path,
    *,
    app: Starlette | None = None,
    runs: int = 3,
    **changes: Any,
) -> list[RunResult]:
    """Run `path` again and again (at most `runs` times) until every row is done."""
    done: list[RunResult] = []
    for number in range(runs):
        transport = None if app is None else httpx.ASGITransport(app=app)
        fake = FakeTiming()  # pauses (Retry-After, backoff, second looks) on fake time
        result = run_files(
            Options(paths=(path,), out=tmp_path / f"run{number}"),
            run_settings(tmp_path, **changes),
            transport=transport,
            timing=fake.timing,
        )
        done.append(result)
        if set(result.counts) <= DONE:
            break
    return done


def assert_each_row_created_once(
    final: list[dict[str, str]], campaigns: Sequence[Mapping[str, Any]], duplicates: int
) -> None:
    """Every row done, one stored campaign per row, each row's id that campaign's id."""
    assert Counter(row["status"] for row in final).keys() <= DONE
    assert duplicates == 0
    assert len(campaigns) == len(final)
    by_name = {campaign["name"]: campaign["id"] for campaign in campaigns}
    assert len(by_name) == len(final)
    for row in final:
        assert row["campaign_id"] == by_name[row["campaign_name"]]


def stored(app: Starlette) -> list[dict[str, Any]]:
    return [c.to_json() for c in app.state.sandbox.store.all()]


async def _read_timeout(seconds: float) -> None:
    # ASGITransport enforces no timeouts: the held answer becomes the client's timeout.
    raise httpx.ReadTimeout("held longer than the client waits")


# -- every fault kind -------------------------------------------------------------------


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_row_created_exactly_once_under_each_fault(tmp_path: Path, kind: str) -> None:
    """With the campaign list on, at most three runs create each of 40 rows exactly once."""
    app_sleep = _read_timeout if kind == "timeout_after" else asyncio.sleep
    app = create_app(SandboxConfig(faults={kind: 0.3}, seed=7), sleep=app_sleep)
    path = numbered_sheet(tmp_path, 40)

    done = run_until_done(tmp_path, path, app=app)

    stats = app.state.sandbox.stats
    assert stats.faults[kind] > 0
    assert_each_row_created_once(
        results(tmp_path / f"run{len(done) - 1}"), stored(app), stats.duplicates
    )
    assert done[-1].exit_code == 0


def test_every_row_created_exactly_once_under_all_faults_at_once(tmp_path: Path) -> None:
    """Every fault kind at once (half of all creates misbehave): still each row once."""
    faults = {kind: 0.1 for kind in FAULT_KINDS if kind != "timeout_after"}
    app = create_app(SandboxConfig(faults=faults, seed=11))
    path = numbered_sheet(tmp_path, 60)

    done = run_until_done(tmp_path, path, app=app)

    stats = app.state.sandbox.stats
    assert all(stats.faults[kind] > 0 for kind in faults)
    assert_each_row_created_once(
        results(tmp_path / f"run{len(done) - 1}"), stored(app), stats.duplicates
    )
    assert done[-1].exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["drop_after", "timeout_after"])
def test_dropped_and_timed_out_answers_over_loopback_create_once(tmp_path: Path, kind: str) -> None:
    """Over a real socket a dropped connection or a read timeout is settled from the list."""
    config = SandboxConfig(faults={kind: 0.3}, seed=7, hold_seconds=2.0)
    path = numbered_sheet(tmp_path, 20)
    with run_in_thread(config) as url:
        send = replace(FAST, timeout=0.3)
        done = run_until_done(tmp_path, path, base_url=url, send=send)
        headers = {"X-API-Key": DEFAULT_API_KEY}
        with httpx.Client(base_url=url, headers=headers) as client:
            stats = client.get(STATS).json()
            campaigns = client.get(LIST).json()["data"]

    assert stats["faults"][kind] > 0
    assert_each_row_created_once(
        results(tmp_path / f"run{len(done) - 1}"), campaigns, stats["duplicates"]
    )
    first = results(tmp_path / "run0")
    assert all(row["status"] in DONE for row in first)


# -- 429 storms ----------------------------------------------------------------------------


def test_429_storm_is_obeyed_on_injected_time(tmp_path: Path) -> None:
    """Sandbox 20/s burst 2, client 200/s: every row created once, each Retry-After slept."""
    fake = FakeTiming()
    app = create_app(SandboxConfig(rate=20, burst=2), clock=fake.monotonic)
    checked = validate(load([numbered_sheet(tmp_path, 40)]))
    storm = run_settings(tmp_path, send=replace(FAST, rate=200))

    execution = asyncio.run(
        execute(
            checked,
            storm,
            "storm",
            timing=fake.timing,
            progress=Silent(),
            transport=httpx.ASGITransport(app=app),
        )
    )

    stats = app.state.sandbox.stats
    assert Counter(o.status for o in execution.outcomes) == {"created": 40}
    assert stats.duplicates == 0
    assert len(app.state.sandbox.store.all()) == 40
    assert execution.rate_limited == stats.rate_limited > 0
    assert execution.exit_code == 0
    # Every 429 paused every worker until its Retry-After (whole seconds) had passed: on
    # the fake clock the run took at least what the sandbox's limit allows, and the
    # pauses were waited out in one sleep each, not spun.
    assert fake.elapsed >= (40 - 2) / 20
    assert sum(1 for pause in fake.sleeps if pause >= 0.9) >= 5
    assert len(fake.sleeps) < 10 * stats.requests


def test_429_storm_through_run_files_counts_rate_limits_in_the_summary(tmp_path: Path) -> None:
    """A 429 storm through run_files: all created once, rate_limited > 0 in summary.json."""
    app = create_app(SandboxConfig(rate=20, burst=2))
    path = numbered_sheet(tmp_path, 12)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        # This run keeps the wall clock: its pauses are really waited, capped short.
        waits.append(seconds)
        await asyncio.sleep(seconds)

    wall_clock = replace(Timing.real(), sleep=sleep)
    result = run_files(
        Options(paths=(path,), out=tmp_path / "out"),
        run_settings(tmp_path, send=replace(FAST, rate=200, retry_after_cap=0.05)),
        transport=httpx.ASGITransport(app=app),
        timing=wall_clock,
    )

    stats = app.state.sandbox.stats
    assert result.counts == {"created": 12}
    assert stats.duplicates == 0
    assert result.summary["rate_limited"] == stats.rate_limited > 0
    assert result.summary["retries"] >= stats.rate_limited
    assert any(0.04 <= wait <= 0.05 for wait in waits)  # the sandbox's Retry-After, capped


def test_retry_after_pause_is_one_injected_sleep_not_a_busy_wait(tmp_path: Path) -> None:
    """Through run_files, a 1 s Retry-After is one call of the injected sleep, not a spin."""
    app = create_app(SandboxConfig(faults={"503": 1.0}))
    path = write_template(tmp_path / "one.csv", rows=numbered_rows(1))
    fake = FakeTiming(limit=50)  # a pacer spinning on its clock fails here, not hangs

    result = run_files(
        Options(paths=(path,), out=tmp_path / "out"),
        run_settings(tmp_path, send=replace(FAST, max_attempts=2)),
        transport=httpx.ASGITransport(app=app),
        timing=fake.timing,
    )

    assert result.counts == {"failed": 1}
    assert len(fake.sleeps) <= 4
    assert any(0.9 <= pause <= 1.0 for pause in fake.sleeps)


# -- circuit breaker ----------------------------------------------------------------------


def test_consecutive_server_errors_stop_the_run(tmp_path: Path) -> None:
    """Five 500s in a row stop the run: exit 3, few requests made, the rest not_sent."""
    app = create_app(SandboxConfig(faults={"500_before": 1.0}))
    path = numbered_sheet(tmp_path, 30)
    send = replace(FAST, max_consecutive_errors=5)

    result = run_files(
        Options(paths=(path,), out=tmp_path / "out"),
        run_settings(tmp_path, send=send),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )

    assert result.exit_code == 3
    assert "5 server errors in a row" in result.stopped
    posts = sum(app.state.sandbox.stats.faults.values())
    assert posts == result.summary["requests"]
    assert 5 <= posts <= 5 + send.concurrency
    counts = result.counts
    assert counts["unknown"] == posts
    assert counts["not_sent"] == 30 - posts
    not_sent = [row for row in results(tmp_path / "out") if row["status"] == "not_sent"]
    assert all("5 server errors in a row" in row["errors"] for row in not_sent)
    assert all(row["attempts"] == "0" for row in not_sent)
    assert app.state.sandbox.store.all() == []


# -- SIGKILL part-way ---------------------------------------------------------------------


def _sending(state: Path) -> bool:
    """Whether the ledger holds a row marked `sending` (read beside the live run)."""
    if not state.exists():
        return False
    with Ledger.open(state, run_id="peek", timing=Timing.real(), lock=False) as ledger:
        return bool(ledger.entries(["sending"]))


@pytest.fixture
def slow_sandbox() -> Iterator[str]:
    with run_in_thread(SandboxConfig(latency_ms=50)) as url:
        yield url


@pytest.mark.slow
def test_run_killed_part_way_then_rerun_creates_each_row_once(
    tmp_path: Path, slow_sandbox: str
) -> None:
    """SIGKILL mid-run, then rerun: rows left `sending` are settled, each row created once."""
    path = numbered_sheet(tmp_path, 40)
    state = tmp_path / "state.sqlite"
    url = slow_sandbox
    # Killed once a few campaigns exist and a request is in flight (each takes 50 ms).
    kill_mid_run(path, url, state, tmp_path / "o1", counter="created", ready=_sending)
    headers = {"X-API-Key": DEFAULT_API_KEY}
    with httpx.Client(base_url=url, headers=headers) as client:
        with Ledger.open(state, run_id="peek", timing=Timing.real(), lock=False) as ledger:
            in_flight = {e.key for e in ledger.entries(["sending"])}
            created_before = {e.key: e.campaign_id for e in ledger.entries(["created"])}
        assert created_before
        assert in_flight
        assert len(created_before) < 40

        done = run_until_done(tmp_path, path, base_url=url)

        stats = client.get(STATS).json()
        campaigns = client.get(LIST).json()["data"]

    final = results(tmp_path / f"run{len(done) - 1}")
    assert_each_row_created_once(final, campaigns, stats["duplicates"])
    first = {row["campaign_key"]: row for row in results(tmp_path / "run0")}
    for key, campaign_id in created_before.items():
        assert first[key]["status"] == "already_created"
        assert first[key]["campaign_id"] == campaign_id
    by_name = {campaign["name"]: campaign["id"] for campaign in campaigns}
    for key in in_flight:
        assert first[key]["status"] == "created"
        assert first[key]["campaign_id"] == by_name[first[key]["campaign_name"]]
        # Found in the list (the request had reached the sandbox): not sent again, and it
        # says so; absent (it had not): sent once more, with nothing to say.
        found = first[key]["attempts"] == "0"
        note = f"found in the campaign list after {CRASHED}"
        assert first[key]["errors"] == (note if found else "")
    with Ledger.open(state, run_id="after", timing=Timing.real(), lock=False) as ledger:
        assert ledger.counts()["created"] == 40


# -- the lock -----------------------------------------------------------------------------


@pytest.mark.slow
def test_second_run_on_a_held_ledger_exits_2_naming_the_lock(tmp_path: Path) -> None:
    """While a ledger is held, `campaigns run` on it exits 2 and names the lock file."""
    path = numbered_sheet(tmp_path, 3)
    state = tmp_path / "state.sqlite"
    with run_in_thread() as url, Ledger.open(state, run_id="holder", timing=Timing.real()):
        outcome = CliRunner().invoke(
            cli,
            [
                "run",
                str(path),
                "--base-url",
                url,
                "--state",
                str(state),
                "--out",
                str(tmp_path / "out"),
            ],
            env={"EXTROVERT_API_KEY": DEFAULT_API_KEY, "EXTROVERT_BASE_URL": None},
        )
        with httpx.Client(base_url=url) as client:
            created = client.get(STATS).json()["created"]

    assert outcome.exit_code == 2
    assert f"{state}.lock" in outcome.stderr
    assert "in use" in outcome.stderr
    assert created == 0
