"""The sandbox's endpoints, keys, rate limit, counters and storage, in process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.server import DEFAULT_API_KEY, DEFAULT_MEMBERS, SandboxConfig, create_app
from tests.fakes import FakeTiming
from tests.sandbox_fixtures import (
    ANNA,
    BEN,
    CREATE,
    LIST,
    MEMBERS,
    RESET,
    STATS,
    client_for,
    keyword_payload,
    target_user_payload,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_default_members_are_three_fixed_demo_members() -> None:
    """The defaults are Anna, Ben and Carla with fixed uuids and example.com e-mails."""
    emails = [member.email for member in DEFAULT_MEMBERS]
    assert emails == ["anna@example.com", "ben@example.com", "carla@example.com"]
    assert len({member.id for member in DEFAULT_MEMBERS}) == 3


@pytest.mark.parametrize(("method", "path"), [("POST", CREATE), ("GET", LIST), ("GET", MEMBERS)])
@pytest.mark.parametrize(
    ("key", "message"), [(None, "missing X-API-Key header"), ("wrong", "invalid API key")]
)
async def test_api_calls_need_a_configured_key(
    method: str, path: str, key: str | None, message: str
) -> None:
    """Without a configured X-API-Key every API call answers 401 in the error envelope."""
    async with client_for(create_app(), api_key=key) as client:
        response = await client.request(method, path, json=target_user_payload())
    assert response.status_code == 401
    assert response.json() == {
        "status": "error",
        "data": None,
        "message": message,
        "statusCode": 401,
    }


async def test_any_configured_key_is_accepted() -> None:
    """A sandbox may accept several keys."""
    app = create_app(SandboxConfig(api_keys=frozenset({"one", "two"})))
    async with client_for(app, api_key="two") as client:
        assert (await client.get(MEMBERS)).status_code == 200


async def test_team_members_lists_the_configured_members() -> None:
    """GET team-members answers the members, shaped as the API documents, in the envelope."""
    async with client_for(create_app()) as client:
        response = await client.get(MEMBERS)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["data"][0] == {
        "id": ANNA,
        "name": "Anna Adams",
        "firstName": "Anna",
        "lastName": "Adams",
        "linkedInProfile": {
            "email": "anna@example.com",
            "linkedInUrl": "https://www.linkedin.com/in/anna-adams-example",
        },
    }
    assert [m["linkedInProfile"]["email"] for m in body["data"]] == [
        m.email for m in DEFAULT_MEMBERS
    ]


async def test_campaign_list_shows_created_campaigns_in_order() -> None:
    """GET campaign lists every created campaign as {id, name, isActive, isDeleted, owner}."""
    async with client_for(create_app()) as client:
        first = (await client.post(CREATE, json=target_user_payload())).json()["data"]["id"]
        second = (await client.post(CREATE, json=keyword_payload())).json()["data"]["id"]
        response = await client.get(LIST)
    assert response.status_code == 200
    assert response.json()["data"] == [
        {
            "id": first,
            "name": "Q3 prospects",
            "isActive": True,
            "isDeleted": False,
            "owner": {"id": ANNA},
        },
        {
            "id": second,
            "name": "AI topic watch",
            "isActive": True,
            "isDeleted": False,
            "owner": {"id": BEN},
        },
    ]


async def test_store_keeps_the_exact_body() -> None:
    """The stored campaign carries the body as sent, for tests to inspect."""
    app = create_app()
    payload = target_user_payload()
    async with client_for(app) as client:
        campaign_id = (await client.post(CREATE, json=payload)).json()["data"]["id"]
    campaign = app.state.sandbox.store.get(campaign_id)
    assert campaign is not None
    assert campaign.payload == payload


async def test_campaign_list_can_be_switched_off() -> None:
    """With campaign_list=False the list answers 404, so clients can be tested without it."""
    async with client_for(create_app(SandboxConfig(campaign_list=False))) as client:
        created = await client.post(CREATE, json=target_user_payload())
        response = await client.get(LIST)
    assert created.status_code == 201
    assert response.status_code == 404
    assert response.json()["statusCode"] == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/client/v2/nothing-here", 404), ("DELETE", CREATE, 405)],
)
async def test_unknown_routes_answer_in_the_envelope(method: str, path: str, status: int) -> None:
    """Unknown paths and methods answer 404/405 in the error envelope, not plain text."""
    async with client_for(create_app()) as client:
        response = await client.request(method, path)
    assert response.status_code == status
    assert response.json()["statusCode"] == status


async def test_stats_count_requests_outcomes_and_duplicates(fake_timing: FakeTiming) -> None:
    """Stats count requests, creates, refusals, 429s and owner+name duplicates."""
    app = create_app(SandboxConfig(rate=1, burst=6), clock=fake_timing.monotonic)
    async with client_for(app) as client:
        await client.post(CREATE, json=target_user_payload())
        await client.post(CREATE, json=target_user_payload())  # duplicate 1
        await client.post(CREATE, json=target_user_payload())  # duplicate 2
        await client.post(CREATE, json=target_user_payload(ownerId=BEN))  # other owner
        await client.post(CREATE, json=target_user_payload(name="q3 prospects"))  # other name
        await client.post(CREATE, json=target_user_payload(name=""))  # rejected
        await client.post(CREATE, json=target_user_payload(name="late"))  # rate limited
        async with client_for(app, api_key="wrong") as stranger:
            await stranger.get(LIST)  # rejected: bad key
        stats = (await client.get(STATS)).json()
    assert stats == {
        "requests": 8,
        "created": 5,
        "updated": 0,
        "rejected": 2,
        "rate_limited": 1,
        "faults": {
            "503": 0,
            "500_before": 0,
            "500_after": 0,
            "drop_after": 0,
            "timeout_after": 0,
            "502_html": 0,
        },
        "duplicates": 2,
        "lists_created": 0,
        "list_adds": 0,
        "prospects_stored": 0,
        "prospects_moved": 0,
        "over_limit": 0,
        "duplicates_in_list": 0,
        "duplicate_lists": 0,
        "prospect_faults": {
            "503": 0,
            "500_before": 0,
            "500_after": 0,
            "drop_after": 0,
            "timeout_after": 0,
            "502_html": 0,
        },
    }


async def test_inspection_needs_no_key_and_is_not_counted() -> None:
    """/_sandbox calls work without a key and do not count as requests."""
    async with client_for(create_app(), api_key=None) as client:
        await client.get(STATS)
        stats = (await client.get(STATS)).json()
    assert stats["requests"] == 0


async def test_reset_clears_campaigns_and_counters() -> None:
    """POST /_sandbox/reset forgets every campaign and zeroes every count."""
    app = create_app()
    async with client_for(app) as client:
        await client.post(CREATE, json=target_user_payload())
        await client.post(CREATE, json=target_user_payload())
        reset = await client.post(RESET)
        listed = (await client.get(LIST)).json()["data"]
        again = await client.post(CREATE, json=target_user_payload())
        stats = (await client.get(STATS)).json()
    assert reset.status_code == 200
    assert reset.json()["created"] == 0
    assert listed == []
    assert again.status_code == 201
    assert (stats["requests"], stats["created"], stats["duplicates"]) == (2, 1, 0)


async def _statuses(client: httpx.AsyncClient, count: int) -> list[int]:
    return [(await client.get(MEMBERS)).status_code for _ in range(count)]


async def test_rate_limit_answers_429_with_retry_after(fake_timing: FakeTiming) -> None:
    """Past `burst` requests at `rate`/s a key gets 429 with Retry-After and the envelope."""
    app = create_app(SandboxConfig(rate=2, burst=2), clock=fake_timing.monotonic)
    async with client_for(app) as client:
        assert await _statuses(client, 2) == [200, 200]
        refused = await client.get(MEMBERS)
        fake_timing.advance(0.5)
        assert await _statuses(client, 2) == [200, 429]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["statusCode"] == 429


async def test_retry_after_is_whole_seconds_rounded_up(fake_timing: FakeTiming) -> None:
    """Retry-After is the wait for the next token in seconds, rounded up."""
    app = create_app(SandboxConfig(rate=0.25, burst=1), clock=fake_timing.monotonic)
    async with client_for(app) as client:
        await client.get(MEMBERS)
        first = await client.get(MEMBERS)
        fake_timing.advance(1.5)
        second = await client.get(MEMBERS)
    assert (first.headers["Retry-After"], second.headers["Retry-After"]) == ("4", "3")


async def test_rate_limit_is_per_key(fake_timing: FakeTiming) -> None:
    """One key's bucket running dry does not limit another key."""
    config = SandboxConfig(api_keys=frozenset({"a", "b"}), rate=1, burst=1)
    app = create_app(config, clock=fake_timing.monotonic)
    async with client_for(app, api_key="a") as a, client_for(app, api_key="b") as b:
        assert await _statuses(a, 2) == [200, 429]
        assert await _statuses(b, 1) == [200]


async def test_default_burst_is_one_seconds_worth(fake_timing: FakeTiming) -> None:
    """Without `burst`, a key may send `rate` requests at once."""
    app = create_app(SandboxConfig(rate=3), clock=fake_timing.monotonic)
    async with client_for(app) as client:
        assert await _statuses(client, 4) == [200, 200, 200, 429]


@pytest.mark.parametrize("rate", [None, 0])
async def test_no_rate_means_unlimited(rate: float | None, fake_timing: FakeTiming) -> None:
    """rate None or 0 never answers 429."""
    app = create_app(SandboxConfig(rate=rate), clock=fake_timing.monotonic)
    async with client_for(app) as client:
        assert set(await _statuses(client, 50)) == {200}


async def test_latency_waits_on_the_injected_sleep(fake_timing: FakeTiming) -> None:
    """Every API call waits latency_ms plus up to jitter_ms, through the injected sleep."""
    app = create_app(SandboxConfig(latency_ms=200, jitter_ms=50), sleep=fake_timing.sleep)
    async with client_for(app) as client:
        await client.get(MEMBERS)
        await client.post(CREATE, json=target_user_payload())
        await client.get(STATS)  # inspection: no latency
    assert len(fake_timing.sleeps) == 2
    assert all(0.2 <= seconds <= 0.25 for seconds in fake_timing.sleeps)


async def test_jitter_is_repeatable_with_the_seed() -> None:
    """The same seed draws the same jitter."""
    delays = []
    for _ in range(2):
        fake = FakeTiming()
        app = create_app(SandboxConfig(jitter_ms=100, seed=5), sleep=fake.sleep)
        async with client_for(app) as client:
            for _ in range(5):
                await client.get(MEMBERS)
        delays.append(fake.sleeps)
    assert delays[0] == delays[1]
    assert len(set(delays[0])) == 5


async def test_no_latency_means_no_sleep(fake_timing: FakeTiming) -> None:
    """Without latency the sandbox never sleeps."""
    async with client_for(create_app(sleep=fake_timing.sleep)) as client:
        await client.post(CREATE, json=target_user_payload())
    assert fake_timing.sleeps == []


async def test_db_keeps_campaigns_across_restarts(tmp_path: Path) -> None:
    """With a db file, a new sandbox lists and de-duplicates what an earlier one created."""
    config = SandboxConfig(db=tmp_path / "sandbox.db")
    first = create_app(config)
    async with client_for(first) as client:
        created = (await client.post(CREATE, json=target_user_payload())).json()["data"]["id"]
    first.state.sandbox.close()

    second = create_app(config)
    try:
        async with client_for(second) as client:
            listed = (await client.get(LIST)).json()["data"]
            await client.post(CREATE, json=target_user_payload())
            stats = (await client.get(STATS)).json()
    finally:
        second.state.sandbox.close()
    assert [campaign["id"] for campaign in listed] == [created]
    assert second.state.sandbox.store.get(created).payload == target_user_payload()
    assert (stats["created"], stats["duplicates"]) == (1, 1)


async def test_reset_empties_the_db(tmp_path: Path) -> None:
    """A reset also deletes the campaigns kept in the db file."""
    config = SandboxConfig(db=tmp_path / "sandbox.db")
    first = create_app(config)
    async with client_for(first) as client:
        await client.post(CREATE, json=target_user_payload())
        await client.post(RESET)
    first.state.sandbox.close()
    second = create_app(config)
    second.state.sandbox.close()
    assert second.state.sandbox.store.all() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"api_keys": frozenset()}, "api_keys: at least one API key"),
        ({"rate": -1}, "rate: -1"),
        ({"burst": 0}, "burst: 0 is below 1"),
        ({"latency_ms": -5}, "latency_ms: -5 is below 0"),
        ({"faults": {"bogus": 0.1}}, "unknown fault kind 'bogus'"),
        ({"faults": {"503": 1.5}}, "fault 503: probability 1.5 is outside 0..1"),
        ({"faults": {"503": 0.6, "500_after": 0.6}}, "add up to 1.2"),
    ],
)
def test_config_refuses_bad_values(changes: dict[str, Any], message: str) -> None:
    """SandboxConfig raises ValueError naming the bad value."""
    with pytest.raises(ValueError, match=message):
        SandboxConfig(**changes)


def test_config_faults_cannot_change_after_the_fact() -> None:
    """The config keeps its own read-only copy of the fault table."""
    faults = {"503": 0.5}
    config = SandboxConfig(faults=faults)
    faults["503"] = 1.0
    assert config.faults["503"] == 0.5
    with pytest.raises(TypeError):
        config.faults["503"] = 1.0  # type: ignore[index]


def test_default_api_key_is_the_demo_key() -> None:
    """The default config accepts `sandbox-key`."""
    assert SandboxConfig().api_keys == frozenset({DEFAULT_API_KEY}) == frozenset({"sandbox-key"})
