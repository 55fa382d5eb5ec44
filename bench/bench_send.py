"""`campaigns run` against the sandbox: sustained rate, 429 share, per-row overhead.

The sandbox runs in its own process (`python -m pipeline sandbox`) so that client and
server do not share one interpreter. Measured, side by side in one run:
1. 300 rows, sandbox at 40 requests/s with 50 ms latency, client `--rate 40`:
   sustained creates/s against the limit (goal >= 95%).
2. The same with client `--rate 80` (twice the limit): creates/s (goal >= 90%) and the
   share of requests answered 429 (goal <= 5%).
3. The same 300 rows through a plain sequential httpx loop; the ratio of 1 to it.
4. 10,000 rows against a sandbox with no limit and no latency: client time per row.
Prints its figures; asserts nothing about time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from pipeline.load import load
from pipeline.map import map_rows
from pipeline.run import run_files
from pipeline.settings import Options, RunSettings, Secret, SendSettings
from pipeline.template import EXAMPLE_ROWS, write_template
from pipeline.validate import apply_owners, validate
from sandbox.config import DEFAULT_API_KEY, DEFAULT_MEMBERS

LIMIT = 40.0
ROWS = 300
BIG = 10_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def sandbox(*options: str) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "sandbox", "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/_sandbox/stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def sheet(folder: Path, count: int) -> Path:
    members = [m.id for m in DEFAULT_MEMBERS]
    rows = []
    for index in range(count):
        row = dict(EXAMPLE_ROWS[index % len(EXAMPLE_ROWS)])
        row["campaign_key"] = f"bench-{index}"
        row["campaign_name"] = f"Bench campaign {index}"
        row["owner"] = members[index % len(members)]
        rows.append(row)
    path = folder / f"bench-{count}.csv"
    write_template(path, rows=rows)
    return path


class Clock:
    """Progress hook that notes when each row settles."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def start(self, total: int) -> None:
        self.times.clear()

    def advance(self, status: str) -> None:
        self.times.append(time.perf_counter())

    def rate(self) -> float:
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


def pipeline_run(url: str, path: Path, folder: Path, rate: float) -> tuple[dict[str, Any], float]:
    clock = Clock()
    settings = RunSettings(
        state=folder / f"state-{rate}.sqlite",
        base_url=url,
        api_key=Secret(DEFAULT_API_KEY),
        send=SendSettings(rate=rate, concurrency=8, timeout=10),
    )
    result = run_files(Options(paths=(path,), out=folder / f"out-{rate}"), settings, progress=clock)
    return result.summary, clock.rate()


def sequential(url: str, path: Path) -> float:
    checked = validate(load([path]))
    emails = {m.email: m.id for m in DEFAULT_MEMBERS}
    payloads = [p for p in map_rows(apply_owners(checked, emails, {})) if p is not None]
    began = time.perf_counter()
    with httpx.Client(base_url=url, headers={"X-API-Key": DEFAULT_API_KEY}) as client:
        for payload in payloads:
            while client.post("/api/client/v2/campaign", json=payload).status_code == 429:
                time.sleep(0.05)
    return len(payloads) / (time.perf_counter() - began)


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        small = sheet(folder, ROWS)
        limited = ("--rate", str(LIMIT), "--latency-ms", "50")
        with sandbox(*limited) as url:
            at_limit, at_rate = pipeline_run(url, small, folder, LIMIT)
        with sandbox(*limited) as url:
            over, over_rate = pipeline_run(url, small, folder, 2 * LIMIT)
        with sandbox(*limited) as url:
            plain = sequential(url, small)
        print(
            f"--rate {LIMIT:.0f} (= limit):  {at_rate:5.1f} creates/s = "
            f"{at_rate / LIMIT:6.1%} of the limit (goal >= 95%), "
            f"429s {at_limit['rate_limited']}/{at_limit['requests']}"
        )
        share = over["rate_limited"] / max(1, over["requests"])
        print(
            f"--rate {2 * LIMIT:.0f} (2x limit): {over_rate:5.1f} creates/s = "
            f"{over_rate / LIMIT:6.1%} of the limit (goal >= 90%), "
            f"429s {over['rate_limited']}/{over['requests']} = {share:.1%} (goal <= 5%)"
        )
        print(
            f"plain sequential httpx loop: {plain:5.1f} creates/s; "
            f"campaigns run is {at_rate / plain:.1f}x faster"
        )
        big = sheet(folder, BIG)
        with sandbox() as url:
            began = time.perf_counter()
            summary, _ = pipeline_run(url, big, folder, 100_000.0)
            seconds = time.perf_counter() - began
        print(
            f"{BIG} rows, no limit: {seconds:.1f} s, {seconds / BIG * 1000:.2f} ms per row "
            f"(load, check, ledger commits, request, report), {summary['counts']}"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
