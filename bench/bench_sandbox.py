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
from typing import Any
from urllib.parse import urlsplit

import httpx

from sandbox.server import API_PREFIX, DEFAULT_API_KEY, DEFAULT_MEMBERS, run_in_thread

CREATES = 3000
WORKERS = 8
STYLE_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
CONTEXT_ID = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"


def _payload(number: int) -> dict[str, Any]:
    return {
        "ownerId": DEFAULT_MEMBERS[number % len(DEFAULT_MEMBERS)].id,
        "name": f"bench campaign {number}",
        "type": "TARGET_USER",
        "userStyleId": STYLE_ID,
        "userContextId": CONTEXT_ID,
        "postMaxAgeDays": 30,
        "skipTeammatesLeads": True,
        "isIndirectEngagementEnabled": False,
        "postActivityFilter": {
            "emotionTypes": [],
            "monitoredTopicIds": [],
            "isShowImportantTargetUsersFirstEnabled": False,
            "isShowDirectPostFirstEnabled": False,
            "minPostLikes": 0,
        },
        "connectingSettings": {
            "isSendConnectionRequestEnabled": True,
            "sendConnectionRequestOnDirectCommentCount": 3,
            "isSendConnectionRequestOnIndirectCommentEnabled": False,
            "sendConnectionRequestOnIndirectCommentCount": 3,
            "isSendConnectionRequestOnTimeoutEnabled": False,
            "sendConnectionRequestOnTimeoutDays": 14,
            "isSendConnectionRequestOnNoPostsEnabled": False,
        },
        "dmSettings": {
            "isGenerateDmEnabled": False,
            "isGenerateDmOnConnectEnabled": False,
            "generateDmOnConnectAfterDaysCount": 1,
            "isGenerateDmOnRelevantPostEnabled": False,
            "generateDmOnRelevantPostAfterDaysCount": 1,
            "isGenerateDmOnTimeoutEnabled": False,
            "generateDmOnTimeoutAfterDaysCount": 14,
        },
    }


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
