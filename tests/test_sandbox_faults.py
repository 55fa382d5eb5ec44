"""Each fault kind, in process: what the client hears and what the sandbox kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from sandbox.server import FAULT_KINDS, SandboxConfig, SandboxDrop, create_app
from tests.fakes import FakeTiming
from tests.sandbox_fixtures import (
    CREATE,
    LIST,
    MEMBERS,
    client_for,
    target_user_payload,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _always(kind: str, **config: Any) -> Starlette:
    return create_app(SandboxConfig(faults={kind: 1.0}, **config), sleep=FakeTiming().sleep)


def _kept(app: Starlette) -> tuple[int, dict[str, int]]:
    """How many campaigns the sandbox stored, and its fault counts."""
    state = app.state.sandbox
    return len(state.store.all()), {k: n for k, n in state.stats.faults.items() if n}


async def test_503_answers_with_retry_after_before_storing() -> None:
    """`503`: 503 in the error envelope with Retry-After; nothing stored."""
    app = _always("503")
    async with client_for(app) as client:
        response = await client.post(CREATE, json=target_user_payload())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["statusCode"] == 503
    assert _kept(app) == (0, {"503": 1})


async def test_500_before_answers_500_before_storing() -> None:
    """`500_before`: 500 in the error envelope; nothing stored."""
    app = _always("500_before")
    async with client_for(app) as client:
        response = await client.post(CREATE, json=target_user_payload())
    assert response.status_code == 500
    assert response.json()["statusCode"] == 500
    assert _kept(app) == (0, {"500_before": 1})


async def test_502_html_answers_a_page_that_is_not_json() -> None:
    """`502_html`: a proxy's HTML 502 page, not JSON; nothing stored."""
    app = _always("502_html")
    async with client_for(app) as client:
        response = await client.post(CREATE, json=target_user_payload())
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text
    assert _kept(app) == (0, {"502_html": 1})


async def test_500_after_stores_then_answers_500() -> None:
    """`500_after`: the campaign is stored, yet the client hears 500."""
    app = _always("500_after")
    async with client_for(app) as client:
        response = await client.post(CREATE, json=target_user_payload())
        listed = (await client.get(LIST)).json()["data"]
    assert response.status_code == 500
    assert [campaign["name"] for campaign in listed] == ["Q3 prospects"]
    assert _kept(app) == (1, {"500_after": 1})


async def test_drop_after_stores_then_drops_the_connection() -> None:
    """`drop_after`: stored, then no response; in process httpx raises RemoteProtocolError."""
    app = _always("drop_after")
    async with client_for(app) as client:
        with pytest.raises(httpx.RemoteProtocolError) as raised:
            await client.post(CREATE, json=target_user_payload())
    assert isinstance(raised.value, SandboxDrop)
    assert raised.value.request.url.path == CREATE
    assert _kept(app) == (1, {"drop_after": 1})


async def test_timeout_after_stores_then_holds_the_answer(fake_timing: FakeTiming) -> None:
    """`timeout_after`: stored, then the answer waits hold_seconds on the injected sleep."""
    config = SandboxConfig(faults={"timeout_after": 1.0}, hold_seconds=90)
    app = create_app(config, sleep=fake_timing.sleep)
    async with client_for(app) as client:
        response = await client.post(CREATE, json=target_user_payload())
    assert fake_timing.sleeps == [90]
    assert response.status_code == 201  # in process nothing times out; the hold just ends
    assert _kept(app) == (1, {"timeout_after": 1})


async def test_timeout_after_with_a_raising_sleep_looks_like_a_client_timeout() -> None:
    """A sleep that raises ReadTimeout lets an in-process client live the timeout."""

    async def give_up(seconds: float) -> None:
        raise httpx.ReadTimeout(f"gave up before {seconds} s")

    app = create_app(SandboxConfig(faults={"timeout_after": 1.0}), sleep=give_up)
    async with client_for(app) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(CREATE, json=target_user_payload())
    assert _kept(app) == (1, {"timeout_after": 1})


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_faults_strike_creates_only(kind: str) -> None:
    """Reads (team members, campaign list) never get a fault."""
    app = _always(kind)
    async with client_for(app) as client:
        members = await client.get(MEMBERS)
        listed = await client.get(LIST)
    assert (members.status_code, listed.status_code) == (200, 200)
    assert _kept(app) == (0, {})


@pytest.mark.parametrize("kind", ["503", "500_before", "502_html"])
async def test_faults_before_storing_come_before_the_contract(kind: str) -> None:
    """A proxy-side fault answers even an invalid body, as a gateway would."""
    app = _always(kind)
    async with client_for(app) as client:
        response = await client.post(CREATE, json={"name": ""})
    assert response.status_code in (502, 503, 500)
    assert app.state.sandbox.stats.rejected == 0


async def test_fault_after_storing_spares_an_invalid_body() -> None:
    """An invalid body is refused with 400 even when a fault after storing was drawn."""
    app = _always("drop_after")
    async with client_for(app) as client:
        response = await client.post(CREATE, json={"name": ""})
    assert response.status_code == 400
    assert _kept(app) == (0, {})


async def _outcomes(seed: int, count: int = 40) -> list[int]:
    faults = {"503": 0.2, "500_before": 0.2, "500_after": 0.2}
    app = create_app(SandboxConfig(faults=faults, seed=seed))
    async with client_for(app) as client:
        return [
            (await client.post(CREATE, json=target_user_payload())).status_code
            for _ in range(count)
        ]


async def test_fault_draws_repeat_with_the_same_seed() -> None:
    """The same seed gives the same faults on the same requests; another seed does not."""
    first, again, other = await _outcomes(7), await _outcomes(7), await _outcomes(8)
    assert first == again
    assert first != other
    assert {201, 500, 503} <= set(first)


async def test_reset_restarts_the_fault_draws() -> None:
    """After a reset the sandbox draws the same faults as when it started."""
    app = create_app(SandboxConfig(faults={"503": 0.5}, seed=3))
    async with client_for(app) as client:
        first = [
            (await client.post(CREATE, json=target_user_payload())).status_code for _ in range(12)
        ]
        await client.post("/_sandbox/reset")
        again = [
            (await client.post(CREATE, json=target_user_payload())).status_code for _ in range(12)
        ]
    assert first == again


async def test_fault_rates_follow_their_probabilities() -> None:
    """Over many creates each kind fires about as often as configured."""
    faults = {"503": 0.1, "500_before": 0.2, "502_html": 0.3}
    app = create_app(SandboxConfig(faults=faults, seed=1))
    async with client_for(app) as client:
        for _ in range(1000):
            await client.post(CREATE, json=target_user_payload())
    counts = app.state.sandbox.stats.faults
    assert 60 <= counts["503"] <= 140
    assert 150 <= counts["500_before"] <= 250
    assert 250 <= counts["502_html"] <= 350
    assert app.state.sandbox.stats.created == 1000 - sum(counts.values())


async def test_zero_probability_never_fires() -> None:
    """A kind given probability 0 never strikes."""
    app = create_app(SandboxConfig(faults={kind: 0.0 for kind in FAULT_KINDS}))
    async with client_for(app) as client:
        statuses = {
            (await client.post(CREATE, json=target_user_payload())).status_code for _ in range(50)
        }
    assert statuses == {201}
