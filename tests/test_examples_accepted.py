"""The committed example sheets, mapped by the pipeline, pass the sandbox's strict review."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from pipeline.load import load
from pipeline.map import map_rows
from pipeline.validate import apply_owners, validate
from sandbox.server import DEFAULT_API_KEY, DEFAULT_MEMBERS, create_app

EXAMPLES = Path(__file__).resolve().parents[1] / "input_templates"


@pytest.mark.parametrize("name", ["example.xlsx", "example.csv"])
def test_every_example_row_is_accepted_by_the_sandbox(name: str) -> None:
    """Each payload mapped from the example sheet is created (201) by the sandbox."""
    checked = validate(load([EXAMPLES / name]))
    owners = {member.email: member.id for member in DEFAULT_MEMBERS}
    payloads = map_rows(apply_owners(checked, owners, {}))
    assert payloads and all(p is not None for p in payloads)

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app()),
            base_url="http://sandbox",
            headers={"X-API-Key": DEFAULT_API_KEY},
        ) as client:
            return [await client.post("/api/client/v2/campaign", json=p) for p in payloads]

    answers = asyncio.run(post_all())
    assert [a.status_code for a in answers] == [201] * len(payloads), [a.text for a in answers]
