"""How many creates a second the sandbox takes over loopback (no latency, no faults).

Run with `python -m bench.bench_sandbox`. Two figures, both with the sandbox served by
`run_in_thread` in this process:

- httpx: what a real client gets. httpx's own per-request cost dominates it, and client
  and server share one interpreter lock, so it is a floor, not the sandbox's limit.
- raw: a bare keep-alive HTTP/1.1 client on asyncio streams, costing next to nothing,
  so the figure is about what the sandbox itself can take.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pipeline.load import load
from pipeline.map import map_rows
from pipeline.validate import apply_owners, validate
from sandbox.server import API_PREFIX, DEFAULT_API_KEY, DEFAULT_MEMBERS, run_in_thread

CREATES = 3000
WORKERS = 8
EXAMPLE = Path(__file__).resolve().parents[1] / "input_templates" / "example.csv"


def _mapped_example() -> dict[str, Any]:
    """The first example row as the pipeline maps it: what a real run sends."""
    owners = {member.email: member.id for member in DEFAULT_MEMBERS}
    payload = map_rows(apply_owners(validate(load([EXAMPLE])), owners, {}))[0]
    assert payload is not None
    return dict(payload)


TEMPLATE = _mapped_example()


def _payload(number: int) -> dict[str, Any]:
    owner = DEFAULT_MEMBERS[number % len(DEFAULT_MEMBERS)].id
    return {**TEMPLATE, "name": f"bench campaign {number}", "ownerId": owner}


async def _send_all(base_url: str) -> tuple[int, float]:
    """Send `CREATES` creates from `WORKERS` workers; the count of 201s and the seconds."""
    numbers = iter(range(CREATES))
    created = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal created
        for number in numbers:
            response = await client.post(f"{API_PREFIX}/campaign", json=_payload(number))
            created += response.status_code == 201

    limits = httpx.Limits(max_connections=WORKERS, max_keepalive_connections=WORKERS)
    headers = {"X-API-Key": DEFAULT_API_KEY}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(WORKERS)))
        return created, time.perf_counter() - started


def _raw_request(path: str, number: int) -> bytes:
    body = json.dumps(_payload(number)).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {DEFAULT_API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _send_all_raw(base_url: str) -> tuple[int, float]:
    """As `_send_all`, with a minimal client: one keep-alive connection per worker."""
    url = urlsplit(base_url)
    path = f"{API_PREFIX}/campaign"
    numbers = iter(range(CREATES))
    created = 0

    async def worker() -> None:
        nonlocal created
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            for number in numbers:
                writer.write(_raw_request(path, number))
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                fields = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
                await reader.readexactly(int(fields["content-length"]))
                created += lines[0].split(" ")[1] == "201"
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return created, time.perf_counter() - started


def _report(client: str, created: int, seconds: float) -> None:
    print(
        f"sandbox, {client:>5} client: {created}/{CREATES} creates in {seconds:.2f} s"
        f" = {created / seconds:,.0f} creates/s ({WORKERS} workers over loopback)"
    )


def main() -> None:
    """Start a sandbox on loopback, send the creates both ways, print creates/s."""
    with run_in_thread() as base_url:
        _report("httpx", *asyncio.run(_send_all(base_url)))
    with run_in_thread() as base_url:
        _report("raw", *asyncio.run(_send_all_raw(base_url)))


if __name__ == "__main__":
    main()
