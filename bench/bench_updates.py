"""Updates at the rate limit: 1,000 campaigns created, 100 rows edited, a rerun timed.

Run with `python -m bench.bench_updates`. The sandbox is served by `run_in_thread` in
this process with a limit of `RATE` requests/s, and the client sends at the same rate.
The first run creates `ROWS` campaigns (each row with its own `campaign_key`); then
`EDITED` rows get a new `min_post_likes` and the same ledger runs again. Issue 11's goal:
the rerun's wall time within 10% of `EDITED` requests at that rate (unchanged rows cost
no request and no measurable time). Prints the rerun's time, its requests (the sender's,
from the summary, and every API request the sandbox counted, list reads included), the
ideal time and the ratio; checks the counts and raises if they are not as expected.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from pipeline.run import RunResult, run_files
from pipeline.settings import Options, RunSettings, Secret, SendSettings
from pipeline.template import EXAMPLE_ROWS, write_template
from sandbox.config import DEFAULT_API_KEY, DEFAULT_MEMBERS, SandboxConfig
from sandbox.server import run_in_thread

ROWS = 1000
EDITED = 100
RATE = 50.0
GOAL = 1.10


def make_rows(count: int) -> list[dict[str, str]]:
    """`count` valid rows from the example rows, each with its own key, name and owner."""
    members = [member.id for member in DEFAULT_MEMBERS]
    rows = []
    for index in range(count):
        row = dict(EXAMPLE_ROWS[index % len(EXAMPLE_ROWS)])
        row["campaign_key"] = f"bench-update-{index:04d}"
        row["campaign_name"] = f"Bench update campaign {index}"
        row["owner"] = members[index % len(members)]
        rows.append(row)
    return rows


def edit(rows: list[dict[str, str]], count: int) -> list[dict[str, str]]:
    """A copy of `rows` with `min_post_likes` changed on `count` rows spread over it."""
    step = len(rows) // count
    edited = [dict(row) for row in rows]
    for row in edited[::step][:count]:
        row["min_post_likes"] = str(int(row.get("min_post_likes") or 0) + 1)
    return edited


class Timeline:
    """Progress hook: when the run starts sending and when each update settles."""

    def __init__(self) -> None:
        self.started = 0.0
        self.updates: list[float] = []

    def start(self, total: int) -> None:
        self.started = time.perf_counter()

    def advance(self, status: str) -> None:
        if status == "updated":
            self.updates.append(time.perf_counter())


def sandbox_stats(url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{url}/_sandbox/stats", timeout=5).json()
    return stats


def run(
    url: str, path: Path, folder: Path, name: str, timeline: Timeline | None = None
) -> tuple[RunResult, float]:
    settings = RunSettings(
        state=folder / "state.sqlite",
        base_url=url,
        api_key=Secret(DEFAULT_API_KEY),
        send=SendSettings(rate=RATE, timeout=10),
    )
    began = time.perf_counter()
    options = Options(paths=(path,), out=folder / f"out-{name}")
    result = run_files(options, settings, progress=timeline)
    return result, time.perf_counter() - began


def expect(what: str, got: int, wanted: int) -> None:
    if got != wanted:
        raise RuntimeError(f"{what}: {got}, expected {wanted}")


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        rows = make_rows(ROWS)
        first_sheet = write_template(folder / "first.csv", rows=rows)
        second_sheet = write_template(folder / "second.csv", rows=edit(rows, EDITED))
        with run_in_thread(SandboxConfig(rate=RATE)) as url:
            first, first_seconds = run(url, first_sheet, folder, "first")
            expect("first run, created", first.counts.get("created", 0), ROWS)
            before = sandbox_stats(url)
            timeline = Timeline()
            began = time.perf_counter()
            second, seconds = run(url, second_sheet, folder, "rerun", timeline)
            ended = began + seconds
            after = sandbox_stats(url)
    counts = second.counts
    expect("rerun, updated", counts.get("updated", 0), EDITED)
    expect("rerun, already_created", counts.get("already_created", 0), ROWS - EDITED)
    sent = second.summary["requests"]
    expect("rerun, requests (summary)", sent, EDITED)
    api = after["requests"] - before["requests"]
    limited = after["rate_limited"] - before["rate_limited"]
    ideal = EDITED / RATE
    ratio = seconds / ideal
    print(f"first run: {ROWS} created in {first_seconds:.1f} s at {RATE:.0f} requests/s")
    print(
        f"rerun, {EDITED} of {ROWS} rows edited: {seconds:.2f} s; counts {counts}; "
        f"requests {sent} (summary), {api} API requests at the sandbox "
        f"({api - sent} other than updates: list and lookup reads), {limited} answered 429"
    )
    first_update, last_update = timeline.updates[0], timeline.updates[-1]
    print(
        f"rerun phases: {timeline.started - began:.2f} s load and check, "
        f"{first_update - timeline.started:.2f} s to the first update settled, "
        f"{last_update - first_update:.2f} s between first and last update, "
        f"{ended - last_update:.2f} s after it (ledger, reports)"
    )
    print(
        f"{EDITED} requests at {RATE:.0f}/s take {ideal:.2f} s; the rerun took "
        f"{ratio:.2f}x that (goal: <= {GOAL:.2f}x, {'met' if ratio <= GOAL else 'not met'})"
    )


if __name__ == "__main__":
    main()
