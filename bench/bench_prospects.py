"""Prospects at scale: lists filled at the rate limit, and what prospect rows add to validate.

Run with `python -m bench.bench_prospects`. Two parts (issue 12's speed section):

1. Sending. `CAMPAIGNS` Prospects campaigns with `PER_CAMPAIGN` profiles each (distinct
   canonical profile URLs), as a campaigns CSV beside a prospects CSV, go through
   `run_files` against a sandbox served by `run_in_thread` in this process with a limit
   of `RATE` requests/s; the client sends at the same rate. Each campaign's prospects
   go to one list, created with its first 100 URLs, the rest added in chunks of 100;
   before its first create a run reads the account's campaigns once. So

       requests = 1 read + campaigns + sum over lists of ceil(urls / 100)
                = 1 + campaigns + lists (list creates) + sum of (ceil(urls / 100) - 1) (adds)

   (issue 12 writes "lists + ceil(URLs/100) chunks": the same 150 here without the
   read). The bench checks that against the sandbox's own counts (every API request
   it saw, its creates, list creates, list adds, URLs stored, URLs sent twice to a list
   and lists created twice, both of which must be 0), then prints the run's wall time
   against `requests / RATE` as a ratio (goal: <= 1.10), and where the time went: a
   transport wrapped around the client's notes when each request went out and came back.
2. Validating. `campaigns validate` (`validate_files`, each in a fresh process) on
   `ROWS` campaign rows alone (bench/inputs.py's rows), then on the same rows with a
   prospects file of `PROSPECT_ROWS` rows naming the Prospects campaigns among them,
   `PROSPECTS_PER_CAMPAIGN` each, in up to 3 lists (a fifth of the links written as
   people paste them); alternated, the best of `REPEATS` each. Prints both times (wall
   and CPU) and the difference (goal: <= 2 s).

Prints figures and raises only when a count is not what the formula says.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.inputs import make_rows, prospect_rows, write_csv, write_prospects
from pipeline.lists import CHUNK
from pipeline.run import RunResult, run_files
from pipeline.settings import Options, RunSettings, Secret, SendSettings
from pipeline.template import EXAMPLE_ROWS, write_template
from sandbox.config import DEFAULT_API_KEY, DEFAULT_MEMBERS, SandboxConfig
from sandbox.server import run_in_thread

CAMPAIGNS = 50
PER_CAMPAIGN = 200
RATE = 50.0
GOAL = 1.10
READS = 1  # the account's campaigns, read once before the first create
ROWS = 100_000
PROSPECT_ROWS = 100_000
PROSPECTS_PER_CAMPAIGN = 200  # validate: 500 campaigns of 200 prospects (in 1 to 3 lists)
REPEATS = 2
VALIDATE_GOAL = 2.0


def profile_url(number: int) -> str:
    return f"https://www.linkedin.com/in/bench-prospect-{number:06d}"


def campaign_rows(count: int) -> list[dict[str, str]]:
    """`count` valid Prospects (TARGET_USER) rows from the example rows of that type."""
    prospects = [
        row for row in EXAMPLE_ROWS if row["campaign_type"] in ("Prospects", "TARGET_USER")
    ]
    members = [member.id for member in DEFAULT_MEMBERS]
    rows = []
    for index in range(count):
        row = dict(prospects[index % len(prospects)])
        row["campaign_key"] = f"bench-prospects-{index:03d}"
        row["campaign_name"] = f"Bench prospects campaign {index}"
        row["owner"] = members[index % len(members)]
        rows.append(row)
    return rows


def sending_inputs(folder: Path) -> tuple[Path, Path, list[int]]:
    """The campaigns CSV, the prospects CSV, and the number of URLs of each list."""
    rows = campaign_rows(CAMPAIGNS)
    campaigns = write_template(folder / "campaigns.csv", rows=rows)
    prospects = [
        [row["campaign_key"], profile_url(index * PER_CAMPAIGN + number), ""]
        for index, row in enumerate(rows)
        for number in range(PER_CAMPAIGN)
    ]
    urls = {url for _, url, _ in prospects}
    if len(urls) != CAMPAIGNS * PER_CAMPAIGN:
        raise RuntimeError("the generated profile URLs are not distinct")
    return (
        campaigns,
        write_prospects(folder / "prospects.csv", prospects),
        [PER_CAMPAIGN] * len(rows),
    )


class Recorder(httpx.AsyncHTTPTransport):
    """The client's transport, noting when each request went out and its answer came
    back, and its path. It keeps the pool size the client would have had."""

    def __init__(self, concurrency: int) -> None:
        pool = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        super().__init__(limits=pool)
        self.requests: list[tuple[float, float, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.perf_counter()
        response = await super().handle_async_request(request)
        self.requests.append((sent, time.perf_counter(), request.url.path))
        return response


def sandbox_stats(url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{url}/_sandbox/stats", timeout=5).json()
    return stats


def expect(what: str, got: int, wanted: int) -> None:
    if got != wanted:
        raise RuntimeError(f"{what}: {got}, expected {wanted}")


def send(folder: Path) -> None:
    campaigns, prospects, sizes = sending_inputs(folder)
    lists = len(sizes)
    chunks = sum(math.ceil(size / CHUNK) for size in sizes)
    adds = chunks - lists
    # One read of the account's campaigns (the snapshot a run takes before any create),
    # the campaign creates, then per list its create (first 100 URLs) and its adds.
    wanted = READS + CAMPAIGNS + chunks
    send_settings = SendSettings(rate=RATE, timeout=10)
    recorder = Recorder(send_settings.concurrency)
    with run_in_thread(SandboxConfig(rate=RATE)) as url:
        settings = RunSettings(
            state=folder / "state.sqlite",
            base_url=url,
            api_key=Secret(DEFAULT_API_KEY),
            send=send_settings,
        )
        options = Options(paths=(campaigns, prospects), out=folder / "out-run")
        before = sandbox_stats(url)
        began = time.perf_counter()
        result: RunResult = run_files(options, settings, transport=recorder)
        seconds = time.perf_counter() - began
        after = sandbox_stats(url)
    delta = {key: after[key] - before[key] for key in after if isinstance(after[key], int)}
    expect("campaigns created", result.counts.get("created", 0), CAMPAIGNS)
    expect("prospects added", result.prospect_counts.get("added", 0), CAMPAIGNS * PER_CAMPAIGN)
    expect("sandbox created", delta["created"], CAMPAIGNS)
    expect("sandbox lists_created", delta["lists_created"], lists)
    expect("sandbox list_adds", delta["list_adds"], adds)
    expect("sandbox prospects_stored", delta["prospects_stored"], sum(sizes))
    expect("sandbox duplicates_in_list", delta["duplicates_in_list"], 0)
    expect("sandbox duplicate_lists", delta["duplicate_lists"], 0)
    expect("sandbox requests", delta["requests"] - delta["rate_limited"], wanted)
    ideal = wanted / RATE
    ratio = seconds / ideal
    print(
        f"{CAMPAIGNS} Prospects campaigns x {PER_CAMPAIGN} profiles = {sum(sizes):,} URLs in "
        f"{lists} lists; sandbox and client at {RATE:.0f} requests/s "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"requests = {READS} account read + {CAMPAIGNS} campaign creates + sum over lists of "
        f"ceil(urls/{CHUNK}) {chunks} (= {lists} list creates + {adds} adds) = {wanted}"
    )
    print(
        f"sandbox: requests {delta['requests']} ({delta['rate_limited']} answered 429), "
        f"created {delta['created']}, lists_created {delta['lists_created']}, "
        f"list_adds {delta['list_adds']}, prospects_stored {delta['prospects_stored']}, "
        f"duplicates_in_list {delta['duplicates_in_list']}, "
        f"duplicate_lists {delta['duplicate_lists']}; the summary's requests "
        f"{result.summary.get('requests')} (the account read aside)"
    )
    phases(recorder.requests, began, seconds)
    print(
        f"{wanted} requests at {RATE:.0f}/s take {ideal:.2f} s; the run took {seconds:.2f} s = "
        f"{ratio:.2f}x that (goal: <= {GOAL:.2f}x, {'met' if ratio <= GOAL else 'not met'})"
    )


def phases(requests: list[tuple[float, float, str]], began: float, seconds: float) -> None:
    """Where the run's time went: before the first request, the campaign requests, the
    prospect-list requests (each against its count at the rate), after the last answer."""
    creates = [r for r in requests if "/prospect-list" not in r[2]]
    filled = [r for r in requests if "/prospect-list" in r[2]]
    first, last = requests[0][0], requests[-1][1]
    campaign_span = creates[-1][1] - creates[0][0]
    list_span = filled[-1][1] - filled[0][0]
    print(
        f"run phases: {first - began:.2f} s load and check before the first request; "
        f"{len(creates)} campaign requests in {campaign_span:.2f} s "
        f"({campaign_span * RATE / len(creates):.2f}x their time at the rate); "
        f"{filled[0][0] - creates[-1][1]:.2f} s between; "
        f"{len(filled)} prospect-list requests in {list_span:.2f} s "
        f"({list_span * RATE / len(filled):.2f}x); "
        f"{began + seconds - last:.2f} s after the last answer (ledger, reports)"
    )
    print(
        f"first request to last answer: {last - first:.2f} s = "
        f"{(last - first) * RATE / len(requests):.2f}x {len(requests)} requests at the rate"
    )


def validating_inputs(folder: Path) -> tuple[Path, Path, int]:
    """A campaigns CSV of `ROWS` rows (bench/inputs.py's), and a prospects CSV of
    `PROSPECT_ROWS` rows naming its valid Prospects rows, `PROSPECTS_PER_CAMPAIGN` each;
    a fifth of the links written as people paste them (to be made canonical). The number
    of campaigns named."""
    rows = make_rows(ROWS)
    prospects, named = prospect_rows(rows, PROSPECT_ROWS, PROSPECTS_PER_CAMPAIGN)
    campaigns = write_csv(folder / "campaigns.csv", rows)
    return campaigns, write_prospects(folder / "prospects.csv", prospects), named


_CHILD = """
import json, sys, time
from pathlib import Path
from pipeline.run import validate_files
from pipeline.settings import Options
out, *paths = sys.argv[1:]
began, cpu = time.perf_counter(), time.process_time()
result = validate_files(Options(paths=tuple(Path(p) for p in paths), out=Path(out)))
seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
print(json.dumps({
    "seconds": seconds,
    "cpu": cpu,
    "rows": result.total,
    "counts": result.counts,
    "prospects": len(result.prospects),
    "prospect_counts": result.prospect_counts,
}))
"""


def measure_once(out: Path, *paths: Path) -> dict[str, Any]:
    """A fresh process validating `paths`: its seconds, CPU seconds and counts."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(out), *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def validate(folder: Path) -> None:
    began = time.perf_counter()
    campaigns, prospects, named = validating_inputs(folder)
    print(
        f"validate inputs: {ROWS:,} campaign rows, {PROSPECT_ROWS:,} prospect rows "
        f"({named} campaigns of {PROSPECTS_PER_CAMPAIGN}) generated in "
        f"{time.perf_counter() - began:.1f} s"
    )
    # Alternated, so that a change in the machine's load falls on both alike; the best
    # of `REPEATS` each, wall and CPU time apart (CPU time is the steadier on a busy box).
    alone: list[dict[str, Any]] = []
    both: list[dict[str, Any]] = []
    for attempt in range(REPEATS):
        alone.append(measure_once(folder / f"out-alone-{attempt}", campaigns))
        both.append(measure_once(folder / f"out-both-{attempt}", campaigns, prospects))
    expect("validate, prospect rows", both[0]["prospects"], PROSPECT_ROWS)
    wall = [min(run["seconds"] for run in runs) for runs in (alone, both)]
    cpu = [min(run["cpu"] for run in runs) for runs in (alone, both)]
    print(
        f"validate, {ROWS:,} campaign rows alone:            {wall[0]:6.2f} s "
        f"({cpu[0]:.2f} s CPU; best of {REPEATS}; {alone[0]['counts']})"
    )
    print(
        f"validate, the same + {PROSPECT_ROWS:,} prospect rows:   {wall[1]:6.2f} s "
        f"({cpu[1]:.2f} s CPU; best of {REPEATS}; prospects {both[0]['prospect_counts']})"
    )
    extra = wall[1] - wall[0]
    print(
        f"{PROSPECT_ROWS:,} prospect rows add {extra:.2f} s to validate "
        f"({cpu[1] - cpu[0]:.2f} s CPU; goal: <= {VALIDATE_GOAL:.0f} s, "
        f"{'met' if extra <= VALIDATE_GOAL else 'not met'})"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "send").mkdir()
        (folder / "validate").mkdir()
        send(folder / "send")
        validate(folder / "validate")


if __name__ == "__main__":
    main()
