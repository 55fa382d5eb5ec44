"""What tests of updates, plans and applies share: a transport that records every request
sent to an in-process sandbox, the example rows with keys, and looks at the ledger and
the reports."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from pipeline.ledger import Entry, Ledger
from pipeline.load import load
from pipeline.map import map_rows
from pipeline.template import EXAMPLE_ROWS, write_template
from pipeline.timing import Timing
from pipeline.validate import apply_owners, validate
from sandbox.server import DEFAULT_MEMBERS

OWNERS = {member.email: member.id for member in DEFAULT_MEMBERS}


class Recorder(httpx.AsyncBaseTransport):
    """Routes requests to a sandbox app in process and keeps each one's method, path and
    JSON body (key order kept)."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        return await self.inner.handle_async_request(request)

    def made(self, method: str) -> list[tuple[str, Any]]:
        return [(path, body) for m, path, body in self.requests if m == method]


def base_rows() -> list[dict[str, str]]:
    """The five example rows, each with a campaign_key."""
    made = [dict(row) for row in EXAMPLE_ROWS]
    made[2]["campaign_key"] = "agency-partners"
    return made


def write(tmp_path: Path, rows: Sequence[Mapping[str, str]], name: str) -> Path:
    return write_template(tmp_path / name, rows=list(rows))


def results(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def sheet_payloads(path: Path) -> dict[str, dict[str, Any]]:
    """Per campaign key, the payload the sheet asks for (owners resolved as the sandbox's
    team resolves them)."""
    checked = apply_owners(validate(load([path])), OWNERS, {})
    payloads = map_rows(checked)
    return {
        key: dict(payload)
        for key, payload in zip(checked.keys, payloads, strict=True)
        if payload is not None
    }


def entries(tmp_path: Path) -> dict[str, Entry]:
    with Ledger.open(
        tmp_path / "state.sqlite", run_id="peek", timing=Timing.real(), lock=False
    ) as ledger:
        return {entry.key: entry for entry in ledger.entries()}
