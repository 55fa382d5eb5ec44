"""The sandbox's prospect-list calls: the strict contract, 404s, where each URL goes
(same-list, own and teammates' duplicates), the account's limits and its month, faults,
the inspection calls and a restart on the same db."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette

from sandbox.command import sandbox_command
from sandbox.config import DEFAULT_PROSPECT_LIMIT, DEFAULT_PROSPECT_TOTAL_LIMIT
from sandbox.contract import is_profile_url
from sandbox.faults import Sleep
from sandbox.server import (
    API_PREFIX,
    DEFAULT_API_KEY,
    FAULT_KINDS,
    SandboxConfig,
    SandboxDrop,
    create_app,
    run_in_thread,
)
from tests.fakes import FakeTiming
from tests.sandbox_fixtures import (
    BEN,
    CREATE,
    RESET,
    STATS,
    client_for,
    keyword_payload,
    target_user_payload,
)

pytestmark = pytest.mark.anyio

PROSPECT_LIST: Final = f"{API_PREFIX}/prospect-list"
LISTS: Final = "/_sandbox/lists"
NEW_MONTH: Final = "/_sandbox/new-month"
ABSENT: Final = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def profile(slug: str) -> str:
    return f"https://www.linkedin.com/in/{slug}"


JANE, JOHN, MAX, ZOE = (profile(slug) for slug in ("jane-doe", "john-roe", "max-mu", "zoe-z"))


def add_path(list_id: str) -> str:
    return f"{PROSPECT_LIST}/{list_id}/add-users-to-list"


def list_body(
    campaign_id: str, urls: list[str], *, name: str = "Q3 prospects", move: bool = False
) -> dict[str, Any]:
    """A Create Prospect List body, fields in decision 13's order."""
    return {
        "listName": name,
        "campaignId": campaign_id,
        "userUrls": urls,
        "moveOwnDuplicated": move,
        "shouldBeDeletedIfInactive": False,
    }


def add_body(
    list_id: str, campaign_id: str, urls: list[str], *, move: bool = False
) -> dict[str, Any]:
    """An Add To List body, fields in decision 13's order."""
    return {
        "listId": list_id,
        "campaignId": campaign_id,
        "userUrls": urls,
        "moveOwnDuplicated": move,
        "shouldBeDeletedIfInactive": False,
    }


def data(
    list_id: str,
    submitted: list[str] | None = None,
    *,
    rejected: list[str] | None = None,
    existed: dict[str, Any] | None = None,
    over_limit: list[str] | None = None,
    config: SandboxConfig | None = None,
) -> dict[str, Any]:
    """The `data` an answer should carry."""
    config = config or SandboxConfig()
    return {
        "listId": list_id,
        "submittedUrls": submitted or [],
        "validationRejectedUrls": rejected or [],
        "existedUrlsMap": existed or {},
        "outOfLimitUrls": over_limit or [],
        "totalUrlsLimit": config.prospect_total_limit,
        "perMonthUrlsLimit": config.prospect_limit,
    }


async def campaign(client: httpx.AsyncClient, **changes: Any) -> str:
    """A new TARGET_USER campaign's id (Anna's unless `changes` say otherwise)."""
    response = await client.post(CREATE, json=target_user_payload(**changes))
    assert response.status_code == 201
    campaign_id: str = response.json()["data"]["id"]
    return campaign_id


async def new_list(
    client: httpx.AsyncClient, campaign_id: str, urls: list[str], **options: Any
) -> dict[str, Any]:
    """The `data` of a list create that must answer 201."""
    response = await client.post(PROSPECT_LIST, json=list_body(campaign_id, urls, **options))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()["data"]
    return answer


async def added(
    client: httpx.AsyncClient, list_id: str, campaign_id: str, urls: list[str], **options: Any
) -> dict[str, Any]:
    """The `data` of an add that must answer 200."""
    body = add_body(list_id, campaign_id, urls, **options)
    response = await client.post(add_path(list_id), json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["data"]
    return answer


def held(app: Starlette) -> dict[str, tuple[str, ...]]:
    """Each list's URLs, in order, by list id."""
    return {lst.id: lst.urls for lst in app.state.sandbox.lists.all()}


# -- the answers ------------------------------------------------------------------------


async def test_create_answers_201_with_the_list_and_where_each_url_went() -> None:
    """A valid create: 201 in the success envelope, `data` exactly the documented seven
    fields in order, a new uuid4 `listId`, the limits of the config; the list holds the
    URLs in the order sent."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        response = await client.post(PROSPECT_LIST, json=list_body(campaign_id, [JANE, JOHN]))

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["message"]) == ("success", "Operation completed successfully")
    list_id = body["data"]["listId"]
    assert str(uuid.UUID(list_id)) == list_id and uuid.UUID(list_id).version == 4
    assert body["data"] == data(list_id, [JANE, JOHN])
    assert list(body["data"]) == [
        "listId",
        "submittedUrls",
        "validationRejectedUrls",
        "existedUrlsMap",
        "outOfLimitUrls",
        "totalUrlsLimit",
        "perMonthUrlsLimit",
    ]
    assert (body["data"]["totalUrlsLimit"], body["data"]["perMonthUrlsLimit"]) == (
        DEFAULT_PROSPECT_TOTAL_LIMIT,
        DEFAULT_PROSPECT_LIMIT,
    )
    assert held(app) == {list_id: (JANE, JOHN)}


async def test_add_answers_200_with_the_same_shape_and_appends_in_order() -> None:
    """An add: 200, the same `data` shape with the list's own id; its URLs follow the
    list's in the order sent."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        list_id = (await new_list(client, campaign_id, [JANE]))["listId"]
        response = await client.post(
            add_path(list_id), json=add_body(list_id, campaign_id, [MAX, JOHN])
        )
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "data": data(list_id, [MAX, JOHN]),
        "message": "Operation completed successfully",
    }
    assert held(app) == {list_id: (JANE, MAX, JOHN)}


async def test_the_lists_endpoint_shows_each_list_in_creation_order() -> None:
    """GET /_sandbox/lists: each list's id, name, campaign, last
    shouldBeDeletedIfInactive and URLs in order; no key needed."""
    app = create_app()
    async with client_for(app) as client:
        first_campaign = await campaign(client)
        second_campaign = await campaign(client, name="Q4 prospects")
        first = (await new_list(client, first_campaign, [JANE], name="Founders"))["listId"]
        second = (await new_list(client, second_campaign, [JOHN, MAX]))["listId"]
        body = {**add_body(first, first_campaign, [ZOE]), "shouldBeDeletedIfInactive": True}
        await client.post(add_path(first), json=body)
        async with client_for(app, api_key=None) as inspector:
            listed = (await inspector.get(LISTS)).json()
    assert listed == [
        {
            "id": first,
            "name": "Founders",
            "campaignId": first_campaign,
            "shouldBeDeletedIfInactive": True,
            "urls": [JANE, ZOE],
        },
        {
            "id": second,
            "name": "Q3 prospects",
            "campaignId": second_campaign,
            "shouldBeDeletedIfInactive": False,
            "urls": [JOHN, MAX],
        },
    ]


# -- the contract -----------------------------------------------------------------------


def _without(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda body: {k: v for k, v in body.items() if k != name}


def _with(name: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda body: {**body, name: value}


REFUSED_CREATES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("no listName", _without("listName"), "payload: 'listName' is a required property"),
    ("no campaignId", _without("campaignId"), "payload: 'campaignId' is a required property"),
    ("no userUrls", _without("userUrls"), "payload: 'userUrls' is a required property"),
    (
        "no moveOwnDuplicated",
        _without("moveOwnDuplicated"),
        "payload: 'moveOwnDuplicated' is a required property",
    ),
    (
        "no shouldBeDeletedIfInactive",
        _without("shouldBeDeletedIfInactive"),
        "payload: 'shouldBeDeletedIfInactive' is a required property",
    ),
    ("empty name", _with("listName", ""), "listName: '' should be non-empty"),
    ("number as name", _with("listName", 7), "listName: 7 is not of type 'string'"),
    (
        "string flag",
        _with("moveOwnDuplicated", "true"),
        "moveOwnDuplicated: 'true' is not of type 'boolean'",
    ),
    (
        "number flag",
        _with("shouldBeDeletedIfInactive", 0),
        "shouldBeDeletedIfInactive: 0 is not of type 'boolean'",
    ),
    ("one URL as text", _with("userUrls", JANE), f"userUrls: '{JANE}' is not of type 'array'"),
    ("a URL as number", _with("userUrls", [JANE, 5]), "userUrls[1]: 5 is not of type 'string'"),
    ("empty userUrls", _with("userUrls", []), "userUrls: [] should be non-empty"),
    (
        "101 URLs",
        _with("userUrls", [profile(f"p{n}") for n in range(101)]),
        "userUrls: 101 URLs; at most 100 are sent in one request",
    ),
    (
        "upper-case campaignId",
        lambda body: {**body, "campaignId": body["campaignId"].upper()},
        "campaignId: '",
    ),
    (
        "unknown field",
        _with("listId", ABSENT),
        "payload: Additional properties are not allowed ('listId' was unexpected)",
    ),
    (
        "fields out of order",
        lambda body: {"campaignId": body["campaignId"], **_without("campaignId")(body)},
        "payload: the fields must come in the order listName, campaignId, userUrls, "
        "moveOwnDuplicated, shouldBeDeletedIfInactive",
    ),
    (
        "untrimmed name",
        _with("listName", " Q3 "),
        "listName: ' Q3 ' has white space at either end; text is sent trimmed",
    ),
    (
        "a tab in the name",
        _with("listName", "Q3\tlist"),
        "listName: 'Q3\\tlist' holds U+0009, a control or zero-width character; "
        "a list name is one line of visible text",
    ),
    (
        "a zero-width space in the name",
        _with("listName", "Q3\u200blist"),
        "listName: 'Q3\\u200blist' holds U+200B, a control or zero-width character; "
        "a list name is one line of visible text",
    ),
    (
        "a decomposed accent",
        _with("listName", "Cafe\u0301"),
        "listName: 'Cafe\\u0301' is not NFC-normalised",
    ),
    (
        "a 256-character name",
        _with("listName", "x" * 256),
        "listName: 256 characters long; at most 255",
    ),
    ("not an object", lambda body: [body], "payload: [{"),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [(change, message) for _, change, message in REFUSED_CREATES],
    ids=[name for name, _, _ in REFUSED_CREATES],
)
async def test_create_refuses_a_body_off_the_contract(
    change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    """A missing field, a wrong type, an empty or over-long userUrls, a non-canonical
    uuid, an unknown field, fields out of decision 13's order, a list name off decision
    16: 400 in the error envelope naming the field; nothing stored, one refusal counted."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        response = await client.post(PROSPECT_LIST, json=change(list_body(campaign_id, [JANE])))
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert response.json()["message"].startswith(message)
    assert held(app) == {}
    assert (app.state.sandbox.stats.rejected, app.state.sandbox.stats.lists_created) == (1, 0)


NOT_CANONICAL = [
    "https://example.com/in/jane-doe",
    "jane-doe",
    "http://www.linkedin.com/in/jane-doe",
    "https://linkedin.com/in/jane-doe",
    "https://de.linkedin.com/in/jane-doe",
    "https://www.linkedin.com/in/jane-doe/",
    "https://www.linkedin.com/in/jane-doe?trk=x",
    "https://www.linkedin.com/in/Jane-Doe",
    "https://www.linkedin.com/IN/jane-doe",
    "https://www.linkedin.com/in/",
    "https://www.linkedin.com/in/j%c3%bcrgen",
    "https://www.linkedin.com/in/j%C3%9Crgen",
    "https://www.linkedin.com/in/j%FF",
    "https://www.linkedin.com/in/jose%CC%81",
    "https://www.linkedin.com/in/jane%20doe",
    "https://www.linkedin.com/in/jane-doe%E2%80%8B",
    "https://www.linkedin.com/in/jane.doe",
    "https://www.linkedin.com/in/j\u00fcrgen",
    "https://www.linkedin.com/company/extrovert",
    "https://www.linkedin.com/pub/jane-doe/1/2/3",
    "https://lnkd.in/abc",
    " https://www.linkedin.com/in/jane-doe",
]


@pytest.mark.parametrize("url", NOT_CANONICAL)
async def test_a_url_not_in_the_canonical_profile_form_refuses_the_whole_request(
    url: str,
) -> None:
    """A URL that is not `https://www.linkedin.com/in/<slug>` in decision 12's one form
    (another host or scheme, a trailing slash or query, upper case, lower-case hex, bytes
    that are not UTF-8, a slug not in NFC form or holding an encoded space or zero-width
    character, a raw `.` or non-ASCII character, a company or /pub/ link): 400 naming
    the URL's place, and nothing is stored, not even the valid URLs."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        response = await client.post(PROSPECT_LIST, json=list_body(campaign_id, [JANE, url]))
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"userUrls[1]: {url!r} is not a LinkedIn profile URL in its one canonical form "
        "https://www.linkedin.com/in/<slug> (the slug lower-case, percent-encoded UTF-8 "
        "with upper-case hex, nothing after it)"
    )
    assert held(app) == {}


@pytest.mark.parametrize(
    "slug",
    ["jane-doe", "jane_doe-42", "j%C3%BCrgen-m%C3%BCller", "%E6%9D%8E", "jane%2Edoe", "a%2Fb"],
)
def test_canonical_profile_urls_are_accepted(slug: str) -> None:
    """Lower-case ASCII letters, digits, `-`, `_` and upper-case percent-encoded UTF-8
    (a `.` too) make a canonical slug."""
    assert is_profile_url(profile(slug))


async def test_a_list_needs_an_existing_prospects_campaign() -> None:
    """An unknown campaignId, or a KEYWORD campaign's: 400 naming campaignId; no list."""
    app = create_app()
    async with client_for(app) as client:
        topic = (await client.post(CREATE, json=keyword_payload())).json()["data"]["id"]
        unknown = await client.post(PROSPECT_LIST, json=list_body(ABSENT, [JANE]))
        keyword = await client.post(PROSPECT_LIST, json=list_body(topic, [JANE]))
    assert (unknown.status_code, keyword.status_code) == (400, 400)
    assert unknown.json()["message"] == (
        f"campaignId: there is no campaign {ABSENT} (see GET /campaign)"
    )
    assert keyword.json()["message"] == (
        f"campaignId: campaign {topic} is a KEYWORD campaign; "
        "prospect lists belong to TARGET_USER (Prospects) campaigns"
    )
    assert held(app) == {}


REFUSED_ADDS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("no listId", _without("listId"), "payload: 'listId' is a required property"),
    ("no campaignId", _without("campaignId"), "payload: 'campaignId' is a required property"),
    ("empty userUrls", _with("userUrls", []), "userUrls: [] should be non-empty"),
    (
        "a list name",
        lambda body: {"listName": "Q3", **body},
        "payload: Additional properties are not allowed ('listName' was unexpected)",
    ),
    ("another listId", _with("listId", ABSENT), f"listId: '{ABSENT}' is not the list id of"),
    ("another campaignId", _with("campaignId", ABSENT), f"campaignId: '{ABSENT}' is not the"),
    (
        "a non-LinkedIn URL",
        _with("userUrls", ["https://example.com/jane"]),
        "userUrls[0]: 'https://example.com/jane' is not a LinkedIn profile URL",
    ),
    (
        "fields out of order",
        lambda body: {"campaignId": body["campaignId"], **_without("campaignId")(body)},
        "payload: the fields must come in the order listId, campaignId, userUrls, "
        "moveOwnDuplicated, shouldBeDeletedIfInactive",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [(change, message) for _, change, message in REFUSED_ADDS],
    ids=[name for name, _, _ in REFUSED_ADDS],
)
async def test_add_refuses_a_body_off_the_contract(
    change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    """A missing or unknown field, an empty userUrls, a bad URL, a listId other than the
    path's or a campaignId other than the list's parent: 400 naming the field; the list
    is unchanged."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        list_id = (await new_list(client, campaign_id, [JANE]))["listId"]
        body = change(add_body(list_id, campaign_id, [JOHN]))
        response = await client.post(add_path(list_id), json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    assert held(app) == {list_id: (JANE,)}
    assert app.state.sandbox.stats.list_adds == 0


async def test_add_messages_name_the_ids_expected() -> None:
    """The mismatch messages say which id the list has and which campaign is its parent."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        list_id = (await new_list(client, campaign_id, [JANE]))["listId"]
        other_list = await client.post(
            add_path(list_id), json=add_body(ABSENT, campaign_id, [JOHN])
        )
        other_campaign = await client.post(
            add_path(list_id), json=add_body(list_id, ABSENT, [JOHN])
        )
    assert other_list.json()["message"] == (
        f"listId: '{ABSENT}' is not the list id of the path ({list_id})"
    )
    assert other_campaign.json()["message"] == (
        f"campaignId: '{ABSENT}' is not the parent campaign of list {list_id} ({campaign_id})"
    )


async def test_add_to_an_unknown_list_is_404_and_a_bad_path_id_400() -> None:
    """A well-formed list id the sandbox does not hold: 404 in the error envelope; an id
    that is no canonical uuid: 400."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        missing = await client.post(add_path(ABSENT), json=add_body(ABSENT, campaign_id, [JANE]))
        upper = ABSENT.replace("0", "A")
        bad = await client.post(add_path(upper), json=add_body(upper, campaign_id, [JANE]))
    assert missing.status_code == 404
    assert missing.json() == {
        "status": "error",
        "data": None,
        "message": f"prospect list {ABSENT} not found",
        "statusCode": 404,
    }
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        f"listId: '{upper}' in the path is not a canonical lower-case uuid"
    )


async def test_a_list_whose_campaign_is_deleted_is_404_and_holds_nothing_back() -> None:
    """Deleting a campaign takes its lists: adding to one is 404, and its URLs are new
    prospects to any other list."""
    app = create_app()
    async with client_for(app) as client:
        gone = await campaign(client)
        old_list = (await new_list(client, gone, [JANE]))["listId"]
        app.state.sandbox.store.remove(gone)
        response = await client.post(add_path(old_list), json=add_body(old_list, gone, [JOHN]))
        kept = await campaign(client, name="Q4 prospects")
        answer = await new_list(client, kept, [JANE])
    assert response.status_code == 404
    assert answer == data(answer["listId"], [JANE])


# -- where each URL goes ----------------------------------------------------------------


async def test_a_url_already_in_the_list_is_skipped_without_a_word() -> None:
    """A URL the list holds, or one sent twice in a request, is in no array, stored once,
    and counted in duplicates_in_list."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        first = await new_list(client, campaign_id, [JANE, JOHN, JANE])
        list_id = first["listId"]
        again = await added(client, list_id, campaign_id, [JOHN, MAX, MAX, JANE])
        stats = (await client.get(STATS)).json()
    assert first == data(list_id, [JANE, JOHN])
    assert again == data(list_id, [MAX])
    assert held(app) == {list_id: (JANE, JOHN, MAX)}
    assert (stats["prospects_stored"], stats["duplicates_in_list"]) == (3, 4)


@pytest.mark.parametrize("same_campaign", [True, False], ids=["same campaign", "own other"])
async def test_an_own_duplicate_moves_only_with_move_own_duplicated(same_campaign: bool) -> None:
    """A URL in another list of the same owner: with moveOwnDuplicated false it stays
    there and is reported under that list's campaign; with true it moves to the end of
    this list and is reported as submitted."""
    app = create_app()
    async with client_for(app) as client:
        first_campaign = await campaign(client)
        second_campaign = (
            first_campaign if same_campaign else await campaign(client, name="Q4 prospects")
        )
        first = (await new_list(client, first_campaign, [JANE, JOHN], name="A"))["listId"]
        kept = await new_list(client, second_campaign, [MAX, JANE], name="B")
        second = kept["listId"]
        moved = await added(client, second, second_campaign, [JANE, ZOE], move=True)
        stats = (await client.get(STATS)).json()
    reported = {first_campaign: {"campaignName": "Q3 prospects", "urls": [JANE]}}
    assert kept == data(second, [MAX], existed=reported)
    assert moved == data(second, [JANE, ZOE])
    assert held(app) == {first: (JOHN,), second: (MAX, JANE, ZOE)}
    assert (stats["prospects_stored"], stats["prospects_moved"]) == (5, 1)


async def test_a_teammates_duplicate_is_always_reported_never_moved() -> None:
    """A URL in a list of another owner's campaign is reported under that campaign with
    its name, with or without moveOwnDuplicated, and stays where it is."""
    app = create_app()
    async with client_for(app) as client:
        bens = await campaign(client, ownerId=BEN, name="Ben's people")
        annas = await campaign(client)
        ben_list = (await new_list(client, bens, [JANE, JOHN]))["listId"]
        kept = await new_list(client, annas, [JANE, MAX], move=True)
        anna_list = kept["listId"]
        again = await added(client, anna_list, annas, [JOHN, JANE], move=False)
    assert kept == data(
        anna_list, [MAX], existed={bens: {"campaignName": "Ben's people", "urls": [JANE]}}
    )
    assert again == data(
        anna_list, existed={bens: {"campaignName": "Ben's people", "urls": [JOHN, JANE]}}
    )
    assert held(app) == {ben_list: (JANE, JOHN), anna_list: (MAX,)}


async def test_rejected_urls_are_answered_in_validation_rejected_urls() -> None:
    """A canonical URL the config names in rejected_urls is reported in
    validationRejectedUrls and not stored; the others are."""
    app = create_app(SandboxConfig(rejected_urls=frozenset({JOHN})))
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        answer = await new_list(client, campaign_id, [JANE, JOHN, MAX])
    assert answer == data(answer["listId"], [JANE, MAX], rejected=[JOHN])
    assert held(app) == {answer["listId"]: (JANE, MAX)}


async def test_the_month_limit_sends_the_rest_out_of_limit_until_a_new_month() -> None:
    """Past the month's allowance new URLs come back in outOfLimitUrls, unstored; a move
    takes no allowance; POST /_sandbox/new-month makes the allowance whole again; both
    limits are reported as configured."""
    config = SandboxConfig(prospect_limit=3, prospect_total_limit=50)
    app = create_app(config)
    six = [profile(f"p{n}") for n in range(6)]
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        other = (await new_list(client, campaign_id, [JANE], name="Other"))["listId"]
        first = await new_list(client, campaign_id, six[:3])
        list_id = first["listId"]
        full = await added(client, list_id, campaign_id, [six[3], JANE], move=True)
        month = await client.post(NEW_MONTH)
        later = await added(client, list_id, campaign_id, six[3:])
        stats = (await client.get(STATS)).json()
    assert first == data(list_id, six[:2], over_limit=six[2:3], config=config)
    assert full == data(list_id, [JANE], over_limit=[six[3]], config=config)
    assert (month.status_code, month.json()) == (200, {"month": 1})
    assert later == data(list_id, six[3:], config=config)
    assert (later["perMonthUrlsLimit"], later["totalUrlsLimit"]) == (3, 50)
    assert held(app) == {other: (), list_id: (six[0], six[1], JANE, *six[3:])}
    assert stats["over_limit"] == 2


async def test_the_total_limit_holds_across_months() -> None:
    """prospect_total_limit caps the prospects held in all lists; a new month does not
    lift it."""
    config = SandboxConfig(prospect_total_limit=2)
    app = create_app(config)
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        first = await new_list(client, campaign_id, [JANE, JOHN, MAX])
        await client.post(NEW_MONTH)
        later = await added(client, first["listId"], campaign_id, [ZOE])
    assert first == data(first["listId"], [JANE, JOHN], over_limit=[MAX], config=config)
    assert later == data(first["listId"], over_limit=[ZOE], config=config)


# -- auth, rate limit, faults -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"), [(None, "missing X-API-Key header"), ("wrong", "invalid API key")]
)
async def test_list_calls_need_a_configured_key(key: str | None, message: str) -> None:
    """Without a configured key, create and add answer 401 and store nothing."""
    app = create_app()
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        list_id = (await new_list(client, campaign_id, [JANE]))["listId"]
        async with client_for(app, api_key=key) as stranger:
            create = await stranger.post(PROSPECT_LIST, json=list_body(campaign_id, [JOHN]))
            add = await stranger.post(add_path(list_id), json=add_body(list_id, campaign_id, [MAX]))
    assert [(r.status_code, r.json()["message"]) for r in (create, add)] == [(401, message)] * 2
    assert held(app) == {list_id: (JANE,)}


async def test_list_calls_share_the_rate_limit(fake_timing: FakeTiming) -> None:
    """List creates and adds draw on the key's one bucket: past it, 429 with Retry-After,
    nothing stored."""
    app = create_app(SandboxConfig(rate=2, burst=2), clock=fake_timing.monotonic)
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        list_id = (await new_list(client, campaign_id, [JANE]))["listId"]
        refused = await client.post(add_path(list_id), json=add_body(list_id, campaign_id, [JOHN]))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"]
    assert held(app) == {list_id: (JANE,)}


async def _under(kind: str, sleep: Sleep | None = None) -> tuple[Starlette, str, str, Any, Any]:
    """A list create and an add with prospect fault `kind` always drawn: the app, the
    campaign id, the id of a list made beforehand, and both outcomes (a response or the
    exception the client raised)."""
    config = SandboxConfig(prospect_faults={kind: 1.0})
    app = create_app(config, sleep=sleep or FakeTiming().sleep)
    state = app.state.sandbox
    campaign_id = state.store.add(target_user_payload())[0].id
    list_id = state.lists.create(campaign_id, "Before", False)[0].id
    outcomes: list[Any] = []
    async with client_for(app) as client:
        for path, body in (
            (PROSPECT_LIST, list_body(campaign_id, [JANE])),
            (add_path(list_id), add_body(list_id, campaign_id, [JOHN])),
        ):
            try:
                outcomes.append(await client.post(path, json=body))
            except httpx.HTTPError as exc:
                outcomes.append(exc)
    return app, campaign_id, list_id, outcomes[0], outcomes[1]


@pytest.mark.parametrize("kind", ["503", "500_before", "502_html"])
async def test_faults_before_storing_strike_list_calls_and_store_nothing(kind: str) -> None:
    """`503`, `500_before`, `502_html` answer a list create and an add as they answer a
    campaign create: no list made, no URL stored, counted as prospect faults."""
    app, _, list_id, create, add = await _under(kind)
    assert (create.status_code, add.status_code) == (int(kind[:3]),) * 2
    assert held(app) == {list_id: ()}
    stats = app.state.sandbox.stats
    assert (stats.prospect_faults[kind], stats.faults[kind]) == (2, 0)


async def test_500_after_stores_the_list_and_the_prospects_then_answers_500() -> None:
    """`500_after`: the list and its URLs are stored, and the added URL too, yet both
    calls hear 500."""
    app, _, list_id, create, add = await _under("500_after")
    assert (create.status_code, add.status_code) == (500, 500)
    created = [lst for lst in app.state.sandbox.lists.all() if lst.id != list_id]
    assert [lst.urls for lst in created] == [(JANE,)]
    assert held(app)[list_id] == (JOHN,)


async def test_drop_after_stores_then_drops_the_connection() -> None:
    """`drop_after`: stored, then the connection drops (RemoteProtocolError) on both."""
    app, _, list_id, create, add = await _under("drop_after")
    assert isinstance(create, SandboxDrop) and isinstance(add, SandboxDrop)
    assert len(held(app)) == 2
    assert held(app)[list_id] == (JOHN,)
    assert app.state.sandbox.stats.prospect_faults["drop_after"] == 2


async def test_timeout_after_stores_then_holds_the_answer() -> None:
    """`timeout_after`: stored, then the answer is held (here the held sleep raises the
    client's ReadTimeout)."""

    async def give_up(seconds: float) -> None:
        raise httpx.ReadTimeout(f"gave up before {seconds} s")

    app, _, list_id, create, add = await _under("timeout_after", sleep=give_up)
    assert isinstance(create, httpx.ReadTimeout) and isinstance(add, httpx.ReadTimeout)
    assert held(app)[list_id] == (JOHN,)
    assert app.state.sandbox.stats.lists_created == 1


async def test_a_fault_after_storing_spares_an_invalid_list_body() -> None:
    """An invalid list body is refused with 400 even when a fault after storing was
    drawn, and nothing is stored."""
    app = create_app(SandboxConfig(prospect_faults={"drop_after": 1.0}))
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        response = await client.post(PROSPECT_LIST, json=list_body(campaign_id, []))
    assert response.status_code == 400
    assert held(app) == {}


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_each_fault_table_strikes_only_its_own_requests(kind: str) -> None:
    """`faults` strike campaign creates, never list calls; `prospect_faults` strike list
    calls, never campaign creates."""
    campaign_faults = create_app(SandboxConfig(faults={kind: 1.0}), sleep=FakeTiming().sleep)
    campaign_id = campaign_faults.state.sandbox.store.add(target_user_payload())[0].id
    async with client_for(campaign_faults) as client:
        spared = await client.post(PROSPECT_LIST, json=list_body(campaign_id, [JANE]))
    list_faults = create_app(SandboxConfig(prospect_faults={kind: 1.0}))
    async with client_for(list_faults) as client:
        also_spared = await client.post(CREATE, json=target_user_payload())
    assert (spared.status_code, also_spared.status_code) == (201, 201)
    assert campaign_faults.state.sandbox.stats.faults[kind] == 0
    assert list_faults.state.sandbox.stats.prospect_faults[kind] == 0


async def test_list_calls_do_not_move_the_campaign_draws() -> None:
    """The two fault tables draw from their own seeded sequences: list calls between
    campaign creates leave the creates' faults where they were."""
    config = SandboxConfig(faults={"503": 0.5}, prospect_faults={"503": 0.5}, seed=4)

    async def create_statuses(with_lists: bool) -> list[int]:
        app = create_app(config)
        campaign_id = app.state.sandbox.store.add(target_user_payload(name="x"))[0].id
        statuses = []
        async with client_for(app) as client:
            for number in range(12):
                if with_lists:
                    body = list_body(campaign_id, [profile(f"p{number}")])
                    await client.post(PROSPECT_LIST, json=body)
                response = await client.post(CREATE, json=target_user_payload(name=f"c{number}"))
                statuses.append(response.status_code)
        return statuses

    alone, mixed = await create_statuses(False), await create_statuses(True)
    assert alone == mixed
    assert set(alone) == {201, 503}


# -- counts, reset, restart, config -----------------------------------------------------


async def test_stats_count_lists_prospects_and_duplicates() -> None:
    """/_sandbox/stats counts lists created, adds, URLs stored and moved, over-limit
    URLs, URLs sent again to their own list, and lists created twice under one name."""
    app = create_app(SandboxConfig(prospect_limit=4))
    async with client_for(app) as client:
        annas = await campaign(client)
        first = (await new_list(client, annas, [JANE, JOHN]))["listId"]
        await new_list(client, annas, [MAX])  # same name again: a duplicate list
        second = (await new_list(client, annas, [JANE], name="Other", move=True))["listId"]
        await added(client, first, annas, [JOHN, ZOE, profile("over")])
        await client.post(add_path(second), json=add_body(second, annas, []))  # rejected
        stats = (await client.get(STATS)).json()
    assert {name: stats[name] for name in list(stats)[7:]} == {
        "lists_created": 3,
        "list_adds": 1,
        "prospects_stored": 5,
        "prospects_moved": 1,
        "over_limit": 1,
        "duplicates_in_list": 1,
        "duplicate_lists": 1,
        "prospect_faults": dict.fromkeys(FAULT_KINDS, 0),
    }
    assert (stats["requests"], stats["rejected"]) == (6, 1)


async def test_reset_forgets_lists_and_starts_the_month_over(tmp_path: Path) -> None:
    """POST /_sandbox/reset forgets every list and prospect (in the db too) and the
    month; the allowance is whole again."""
    config = SandboxConfig(db=tmp_path / "sandbox.db", prospect_limit=1)
    app = create_app(config)
    async with client_for(app) as client:
        campaign_id = await campaign(client)
        await new_list(client, campaign_id, [JANE])
        await client.post(NEW_MONTH)
        await client.post(RESET)
        campaign_id = await campaign(client)
        answer = await new_list(client, campaign_id, [JOHN])
    app.state.sandbox.close()
    again = create_app(config)
    again.state.sandbox.close()
    assert answer == data(answer["listId"], [JOHN], config=config)
    assert [lst.urls for lst in again.state.sandbox.lists.all()] == [(JOHN,)]
    assert again.state.sandbox.lists.month == 0


async def test_lists_prospects_and_the_month_survive_a_restart_with_a_db(tmp_path: Path) -> None:
    """With `db`, a restarted sandbox holds the lists, their URLs in order (a moved URL
    in its new place), the month and what the month used; an add to a list made before
    the restart works and skips what the list holds."""
    config = SandboxConfig(db=tmp_path / "sandbox.db", prospect_limit=4)
    first = create_app(config)
    async with client_for(first) as client:
        campaign_id = await campaign(client)
        old = (await new_list(client, campaign_id, [JANE, JOHN], name="Old"))["listId"]
        await client.post(NEW_MONTH)
        list_id = (await new_list(client, campaign_id, [MAX, JOHN], move=True))["listId"]
    first.state.sandbox.close()

    again = create_app(config)
    try:
        async with client_for(again) as client:
            before = (await client.get(LISTS)).json()
            more = [profile(f"p{n}") for n in range(4)]
            answer = await added(client, list_id, campaign_id, [JOHN, *more])
    finally:
        again.state.sandbox.close()
    assert [(lst["id"], lst["name"], lst["urls"]) for lst in before] == [
        (old, "Old", [JANE]),
        (list_id, "Q3 prospects", [MAX, JOHN]),
    ]
    assert again.state.sandbox.lists.month == 1
    # Month 1 used one new prospect (MAX; the move took none): three are left.
    assert answer == data(list_id, more[:3], over_limit=more[3:], config=config)
    assert held(again)[list_id] == (MAX, JOHN, *more[:3])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prospect_limit": -1}, "prospect_limit: -1 is not a whole number of prospects >= 0"),
        ({"prospect_total_limit": 2.5}, "prospect_total_limit: 2.5 is not a whole number"),
        ({"rejected_urls": frozenset({"jane"})}, "rejected_urls: 'jane' is not a canonical"),
        ({"prospect_faults": {"bogus": 0.1}}, "prospect_faults: unknown fault kind 'bogus'"),
        ({"prospect_faults": {"503": 0.6, "502_html": 0.6}}, "prospect_faults: fault prob"),
    ],
)
def test_config_refuses_bad_prospect_settings(changes: dict[str, Any], message: str) -> None:
    """SandboxConfig raises ValueError naming the bad limit, URL or fault table."""
    with pytest.raises(ValueError, match=message):
        SandboxConfig(**changes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prospect-fault", "bogus=0.1"], "unknown fault kind 'bogus'"),
        (["--prospect-fault", "503"], "'503' is not KIND=P"),
        (["--prospect-limit", "-1"], "-1 is not in the range x>=0"),
        (["--prospect-total-limit", "many"], "'many' is not a valid integer"),
    ],
)
def test_bad_prospect_options_are_usage_errors(args: list[str], message: str) -> None:
    """A bad --prospect-fault or limit exits 2 with one line naming the value."""
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.slow
def test_a_dropped_list_create_over_a_socket_keeps_the_list() -> None:
    """Over loopback a list create struck by `drop_after` is a RemoteProtocolError, and
    the list and its URL are kept."""
    config = SandboxConfig(prospect_faults={"drop_after": 1.0})
    headers = {"X-API-Key": DEFAULT_API_KEY}
    with run_in_thread(config) as url, httpx.Client(base_url=url, headers=headers) as client:
        campaign_id = client.post(CREATE, json=target_user_payload()).json()["data"]["id"]
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(PROSPECT_LIST, json=list_body(campaign_id, [JANE]))
        listed = client.get(LISTS).json()
        stats = client.get(STATS).json()
    assert [(lst["campaignId"], lst["urls"]) for lst in listed] == [(campaign_id, [JANE])]
    assert (stats["lists_created"], stats["prospect_faults"]["drop_after"]) == (1, 1)
