"""The sandbox's Update Campaign call: decision 8's strict contract, 404, auth, rate limit
and every fault kind, and the settings it keeps for tests to compare with the sheet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from sandbox.faults import Sleep
from sandbox.server import FAULT_KINDS, SandboxConfig, SandboxDrop, create_app
from tests.fakes import FakeTiming
from tests.sandbox_fixtures import (
    CREATE,
    LIST,
    STATS,
    client_for,
    keyword_payload,
    target_user_payload,
)

pytestmark = pytest.mark.anyio

CAMPAIGNS = "/_sandbox/campaigns"
ABSENT = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def update_path(campaign_id: str) -> str:
    return f"{CREATE}/{campaign_id}"


def update_body(campaign_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Decision 8: the create body without ownerId and type, `id` first."""
    rest = {k: v for k, v in payload.items() if k not in ("ownerId", "type")}
    return {"id": campaign_id, **rest}


async def created(client: httpx.AsyncClient, payload: dict[str, Any]) -> str:
    response = await client.post(CREATE, json=payload)
    assert response.status_code == 201
    campaign_id: str = response.json()["data"]["id"]
    return campaign_id


def settings_of(app: Starlette, campaign_id: str) -> dict[str, Any]:
    campaign = app.state.sandbox.store.get(campaign_id)
    assert campaign is not None
    return dict(campaign.payload)


def edited(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` renamed, with other likes, topics off, and no comment interval."""
    changed = {k: v for k, v in payload.items() if k != "applyCommentIntervalH"}
    changed["name"] = "Q3 prospects, renamed"
    changed["postActivityFilter"] = {
        **payload["postActivityFilter"],
        "minPostLikes": 40,
        "monitoredTopicIds": [],
    }
    return changed


async def test_update_replaces_the_settings_and_answers_200_with_null_data() -> None:
    """A whole update body: 200, `data: null`; the campaign holds exactly the new state
    (owner and type kept, a field left out is gone), the list shows the new name, and
    /_sandbox/campaigns and the stats say so."""
    app = create_app()
    original = target_user_payload()
    wanted = edited(original)
    async with client_for(app) as client:
        campaign_id = await created(client, original)
        response = await client.patch(
            update_path(campaign_id), json=update_body(campaign_id, wanted)
        )
        listed = (await client.get(LIST)).json()["data"]
        stats = (await client.get(STATS)).json()
        kept = (await client.get(CAMPAIGNS)).json()

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "data": None,
        "message": "Operation completed successfully",
    }
    assert settings_of(app, campaign_id) == wanted
    assert "applyCommentIntervalH" not in settings_of(app, campaign_id)
    assert kept == {campaign_id: wanted}
    assert [(c["id"], c["name"]) for c in listed] == [(campaign_id, "Q3 prospects, renamed")]
    assert (stats["requests"], stats["created"], stats["updated"]) == (3, 1, 1)  # and the list
    assert stats["duplicates"] == 0


async def test_a_renamed_campaign_frees_its_old_name_for_the_duplicate_count() -> None:
    """After a rename, creating a campaign with the old name is no duplicate; with the
    new name it is."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await created(client, target_user_payload())
        body = update_body(campaign_id, target_user_payload(name="Renamed"))
        await client.patch(update_path(campaign_id), json=body)
        await created(client, target_user_payload())
        await created(client, target_user_payload(name="Renamed"))
    assert app.state.sandbox.stats.duplicates == 1


def _drop(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda body: {k: v for k, v in body.items() if k != name}


REFUSED: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str]] = [
    (
        "owner",
        lambda body: {**body, "ownerId": body["id"]},
        "ownerId: must not be sent in an update: a campaign's owner cannot change",
    ),
    (
        "type",
        lambda body: {**body, "type": "TARGET_USER"},
        "type: must not be sent in an update: a campaign's type cannot change",
    ),
    ("no id", _drop("id"), "id: is required in an update"),
    ("other id", lambda body: {**body, "id": ABSENT}, f"id: '{ABSENT}' is not the campaign id"),
    (
        "upper-case id",
        lambda body: {**body, "id": body["id"].upper()},
        "is not the campaign id of the path",
    ),
    (
        "id last",
        lambda body: {**_drop("id")(body), "id": body["id"]},
        "id: must be the first field of an update body",
    ),
    ("no name", _drop("name"), "'name' is a required property"),
    ("no filter", _drop("postActivityFilter"), "'postActivityFilter' is a required property"),
    (
        "partial filter",
        lambda body: {**body, "postActivityFilter": {"minPostLikes": 40}},
        "postActivityFilter: 'emotionTypes' is a required property",
    ),
    (
        "no dm settings",
        _drop("dmSettings"),
        "'dmSettings' is a required property for a TARGET_USER campaign",
    ),
    (
        "unknown field",
        lambda body: {**body, "isActive": True},
        "Additional properties are not allowed ('isActive' was unexpected)",
    ),
    ("a float", lambda body: {**body, "postMaxAgeDays": 30.0}, "postMaxAgeDays: 30.0 is not"),
    ("not an object", lambda body: [body], "payload: [{"),
]


@pytest.mark.parametrize(
    ("change", "message"), [(c, m) for _, c, m in REFUSED], ids=[i for i, _, _ in REFUSED]
)
async def test_update_refuses_what_decision_8_does_not_allow(
    change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    """ownerId, type, a missing or other id (canonical lower-case, as in the path), `id`
    not first, a partial body, an unknown field, a float: 400 naming the field; the
    campaign keeps its settings and no update is counted."""
    app = create_app()
    original = target_user_payload()
    async with client_for(app) as client:
        campaign_id = await created(client, original)
        body = change(update_body(campaign_id, edited(original)))
        response = await client.patch(update_path(campaign_id), json=body)

    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert message in response.json()["message"]
    assert settings_of(app, campaign_id) == original
    stats = app.state.sandbox.stats
    assert (stats.updated, stats.rejected) == (0, 1)


async def test_a_keyword_campaign_is_held_to_its_own_type_on_update() -> None:
    """A KEYWORD campaign's update is checked as a KEYWORD body: Prospects-only settings
    are refused, naming the field and the type."""
    app = create_app()
    original = keyword_payload()
    async with client_for(app) as client:
        campaign_id = await created(client, original)
        body = update_body(campaign_id, {**original, "applyCommentIntervalH": 24})
        refused = await client.patch(update_path(campaign_id), json=body)
        body = update_body(campaign_id, {**original, "name": "AI topic watch 2"})
        accepted = await client.patch(update_path(campaign_id), json=body)

    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "applyCommentIntervalH: must not be sent for a KEYWORD campaign"
    )
    assert accepted.status_code == 200
    assert settings_of(app, campaign_id) == {**original, "name": "AI topic watch 2"}


async def test_update_of_an_unknown_campaign_is_404() -> None:
    """A well-formed id the sandbox does not hold: 404 in the error envelope."""
    app = create_app()
    async with client_for(app) as client:
        body = update_body(ABSENT, target_user_payload())
        response = await client.patch(update_path(ABSENT), json=body)
    assert response.status_code == 404
    assert response.json() == {
        "status": "error",
        "data": None,
        "message": f"campaign {ABSENT} not found",
        "statusCode": 404,
    }


async def test_update_path_id_must_be_a_canonical_uuid() -> None:
    """An upper-case (or otherwise non-canonical) id in the path is refused with 400."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await created(client, target_user_payload())
        upper = campaign_id.upper()
        response = await client.patch(
            update_path(upper), json=update_body(upper, target_user_payload())
        )
    assert response.status_code == 400
    assert "in the path is not a canonical lower-case uuid" in response.json()["message"]


@pytest.mark.parametrize(
    ("key", "message"), [(None, "missing X-API-Key header"), ("wrong", "invalid API key")]
)
async def test_update_needs_a_configured_key(key: str | None, message: str) -> None:
    """Without a configured key an update answers 401 and changes nothing."""
    app = create_app()
    original = target_user_payload()
    async with client_for(app) as client:
        campaign_id = await created(client, original)
        async with client_for(app, api_key=key) as stranger:
            response = await stranger.patch(
                update_path(campaign_id), json=update_body(campaign_id, edited(original))
            )
    assert (response.status_code, response.json()["message"]) == (401, message)
    assert settings_of(app, campaign_id) == original


async def test_updates_share_the_rate_limit_with_creates(fake_timing: FakeTiming) -> None:
    """Creates and updates draw on one bucket per key: past it an update gets 429 with
    Retry-After, and changes nothing."""
    app = create_app(SandboxConfig(rate=2, burst=2), clock=fake_timing.monotonic)
    original = target_user_payload()
    async with client_for(app) as client:
        campaign_id = await created(client, original)
        body = update_body(campaign_id, edited(original))
        first = await client.patch(update_path(campaign_id), json=body)
        second = await client.patch(
            update_path(campaign_id), json=update_body(campaign_id, original)
        )
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["Retry-After"]
    assert settings_of(app, campaign_id) == edited(original)
    assert app.state.sandbox.stats.rate_limited == 1


async def test_update_needs_a_json_content_type() -> None:
    """A body sent as something other than application/json: 415, nothing changed."""
    app = create_app()
    original = target_user_payload()
    async with client_for(app) as client:
        campaign_id = await created(client, original)
        response = await client.patch(update_path(campaign_id), content=b"{}")
    assert response.status_code == 415
    assert settings_of(app, campaign_id) == original


# -- faults -----------------------------------------------------------------------------


async def _updated_under(kind: str, sleep: Sleep | None = None) -> tuple[Starlette, str, Any]:
    """Update a stored campaign with fault `kind` always drawn: the app, the campaign id,
    and the update's response (or the exception the client raised)."""
    app = create_app(SandboxConfig(faults={kind: 1.0}), sleep=sleep or FakeTiming().sleep)
    campaign = app.state.sandbox.store.add(target_user_payload())[0]
    async with client_for(app) as client:
        body = update_body(campaign.id, edited(target_user_payload()))
        try:
            answer: Any = await client.patch(update_path(campaign.id), json=body)
        except httpx.HTTPError as exc:
            answer = exc
    return app, campaign.id, answer


@pytest.mark.parametrize("kind", ["503", "500_before", "502_html"])
async def test_faults_before_storing_strike_updates_and_change_nothing(kind: str) -> None:
    """`503`, `500_before`, `502_html` answer an update as they answer a create; the
    campaign keeps its settings."""
    app, campaign_id, response = await _updated_under(kind)
    assert response.status_code == int(kind[:3])
    assert settings_of(app, campaign_id) == target_user_payload()
    assert app.state.sandbox.stats.faults[kind] == 1
    assert app.state.sandbox.stats.updated == 0


async def test_500_after_stores_the_update_then_answers_500() -> None:
    """`500_after`: the update is stored, yet the client hears 500."""
    app, campaign_id, response = await _updated_under("500_after")
    assert response.status_code == 500
    assert settings_of(app, campaign_id) == edited(target_user_payload())
    assert app.state.sandbox.stats.updated == 1


async def test_drop_after_stores_the_update_then_drops_the_connection() -> None:
    """`drop_after`: the update is stored, then the connection drops (RemoteProtocolError)."""
    app, campaign_id, raised = await _updated_under("drop_after")
    assert isinstance(raised, SandboxDrop)
    assert settings_of(app, campaign_id) == edited(target_user_payload())
    assert app.state.sandbox.stats.faults["drop_after"] == 1


async def test_timeout_after_stores_the_update_then_holds_the_answer() -> None:
    """`timeout_after`: the update is stored, then the answer is held (here the held
    sleep raises the client's ReadTimeout)."""

    async def give_up(seconds: float) -> None:
        raise httpx.ReadTimeout(f"gave up before {seconds} s")

    app, campaign_id, raised = await _updated_under("timeout_after", sleep=give_up)
    assert isinstance(raised, httpx.ReadTimeout)
    assert settings_of(app, campaign_id) == edited(target_user_payload())
    assert app.state.sandbox.stats.faults["timeout_after"] == 1


async def test_a_fault_after_storing_spares_an_invalid_update() -> None:
    """An invalid update body is refused with 400 even when a fault after storing was
    drawn, and nothing is stored."""
    app = create_app(SandboxConfig(faults={"drop_after": 1.0}))
    campaign = app.state.sandbox.store.add(target_user_payload())[0]
    async with client_for(app) as client:
        body = {**update_body(campaign.id, target_user_payload()), "ownerId": campaign.id}
        response = await client.patch(update_path(campaign.id), json=body)
    assert response.status_code == 400
    assert settings_of(app, campaign.id) == target_user_payload()


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_updates_take_their_draw_from_the_same_seeded_plan(kind: str) -> None:
    """Creates and updates share one seeded sequence of draws: with a fault at 50 %,
    alternating creates and updates strike the same requests as creates alone would."""
    config = SandboxConfig(faults={kind: 0.5}, seed=5)

    def struck(app: Starlette) -> int:
        return int(app.state.sandbox.stats.faults[kind])

    plain = create_app(config, sleep=FakeTiming().sleep)
    mixed = create_app(config, sleep=FakeTiming().sleep)
    seed_campaign = mixed.state.sandbox.store.add(target_user_payload(name="seed"))[0]
    draws = [plain.state.sandbox.faults.draw() for _ in range(12)]
    plain.state.sandbox.faults.reseed()
    seen: list[str | None] = []
    async with client_for(mixed) as client:
        for number in range(12):
            before = struck(mixed)
            try:
                if number % 2:
                    body = update_body(seed_campaign.id, target_user_payload(name=f"u{number}"))
                    await client.patch(update_path(seed_campaign.id), json=body)
                else:
                    await client.post(CREATE, json=target_user_payload(name=f"c{number}"))
            except httpx.HTTPError:
                pass
            seen.append(kind if struck(mixed) > before else None)
    assert seen == draws


async def test_updates_survive_a_restart_with_a_db(tmp_path: Path) -> None:
    """With `db`, an update is written through: a restarted sandbox holds the new settings
    and the new name."""
    db = tmp_path / "sandbox.sqlite"
    first = create_app(SandboxConfig(db=db))
    original = target_user_payload()
    async with client_for(first) as client:
        campaign_id = await created(client, original)
        await client.patch(
            update_path(campaign_id), json=update_body(campaign_id, edited(original))
        )
    first.state.sandbox.close()
    again = create_app(SandboxConfig(db=db))
    try:
        assert settings_of(again, campaign_id) == edited(original)
        assert again.state.sandbox.store.get(campaign_id).name == "Q3 prospects, renamed"
    finally:
        again.state.sandbox.close()
