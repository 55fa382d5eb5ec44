"""The committed example sheets, mapped by the pipeline, pass the sandbox's strict review,
and the example workbook's prospects fill their lists there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from pipeline.load import load
from pipeline.map import map_rows
from pipeline.run import RunResult, run_files
from pipeline.settings import Options
from pipeline.template import EXAMPLE_PROSPECTS
from pipeline.validate import apply_owners, validate
from sandbox.server import DEFAULT_API_KEY, DEFAULT_MEMBERS, SandboxConfig, create_app
from tests.fakes import FakeTiming
from tests.helpers import run_settings

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


def test_example_workbook_creates_its_campaigns_and_fills_their_lists(tmp_path: Path) -> None:
    """`make demo` in process: example.xlsx creates every campaign and adds every prospect
    to its list in the sandbox; run again, each is already_created / already_added."""
    app = create_app(SandboxConfig())
    try:

        def run(out: str) -> RunResult:
            return run_files(
                Options(paths=(EXAMPLES / "example.xlsx",), out=tmp_path / out),
                run_settings(tmp_path),
                transport=httpx.ASGITransport(app=app),
                timing=FakeTiming().timing,
            )

        first = run("first")
        assert (first.exit_code, first.counts) == (0, {"created": 5})
        assert first.prospect_counts == {"added": len(EXAMPLE_PROSPECTS)}
        held = {url for item in app.state.sandbox.lists.all() for url in item.urls}
        assert held == {p.url for p in first.prospects}
        again = run("again")
        assert (again.exit_code, again.counts) == (0, {"already_created": 5})
        assert again.prospect_counts == {"already_added": len(EXAMPLE_PROSPECTS)}
    finally:
        app.state.sandbox.close()
