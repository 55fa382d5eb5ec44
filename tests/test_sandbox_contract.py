"""The sandbox holds every Create Campaign body to the exact payload contract."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.contract import PayloadChecker
from sandbox.server import DEFAULT_MEMBERS, Member, SandboxConfig, create_app
from tests.sandbox_fixtures import (
    CREATE,
    STATS,
    client_for,
    keyword_payload,
    target_user_payload,
)

pytestmark = pytest.mark.anyio

CHECKER = PayloadChecker(member.id for member in DEFAULT_MEMBERS)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _set(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `payload` with the dotted `path` set to `value`."""
    changed = copy.deepcopy(payload)
    *parents, last = path.split(".")
    target = changed
    for parent in parents:
        target = target[parent]
    target[last] = value
    return changed


def _drop(payload: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of `payload` without the dotted `path`."""
    changed = copy.deepcopy(payload)
    *parents, last = path.split(".")
    target = changed
    for parent in parents:
        target = target[parent]
    del target[last]
    return changed


async def _post(body: Any, **config: Any) -> httpx.Response:
    async with client_for(create_app(SandboxConfig(**config))) as client:
        return await client.post(CREATE, json=body)


def test_helper_payloads_keep_the_contract() -> None:
    """The hand-built TARGET_USER and KEYWORD payloads are valid (or the tests prove nothing)."""
    assert CHECKER.problem(target_user_payload()) is None
    assert CHECKER.problem(keyword_payload()) is None
    assert CHECKER.problem(_drop(target_user_payload(), "applyCommentIntervalH")) is None


@pytest.mark.parametrize("payload", [target_user_payload(), keyword_payload()])
async def test_valid_payload_is_created(payload: dict[str, Any]) -> None:
    """A valid body of either type answers 201 with a new uuid in the success envelope."""
    response = await _post(payload)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert body["message"] == "Operation completed successfully"
    new_id = uuid.UUID(body["data"]["id"])
    assert (new_id.version, str(new_id)) == (4, body["data"]["id"])


TU = target_user_payload()
KW = keyword_payload()
REFUSALS: list[tuple[str, dict[str, Any] | list[Any], str]] = [
    ("unknown top-level field", dict(TU, campaignId=TU["ownerId"]), "'campaignId' was unexpected"),
    (
        "unknown nested field",
        _set(TU, "postActivityFilter.minPostComments", 3),
        "postActivityFilter: Additional properties are not allowed ('minPostComments'",
    ),
    (
        "fractional integer",
        _set(TU, "postActivityFilter.minPostLikes", 25.5),
        "postActivityFilter.minPostLikes: 25.5 is not of type 'integer'",
    ),
    (
        "integer sent as 25.0",
        _set(TU, "postActivityFilter.minPostLikes", 25.0),
        "postActivityFilter.minPostLikes: 25.0 is not of type 'integer'",
    ),
    (
        "boolean where an integer is due",
        dict(TU, postMaxAgeDays=True),
        "postMaxAgeDays: True is not of type 'integer'",
    ),
    (
        "string where a boolean is due",
        dict(TU, skipTeammatesLeads="TRUE"),
        "skipTeammatesLeads: 'TRUE' is not of type 'boolean'",
    ),
    (
        "integer where a boolean is due",
        _set(TU, "dmSettings.isGenerateDmEnabled", 1),
        "dmSettings.isGenerateDmEnabled: 1 is not of type 'boolean'",
    ),
    ("upper-case uuid", dict(TU, userStyleId=TU["userStyleId"].upper()), "userStyleId: '3C90C3CC"),
    ("uuid without dashes", dict(TU, userContextId="8d256aa69b1249a793eebf41634b5b60"), "userC"),
    (
        "non-canonical uuid in a list",
        _set(
            TU, "postActivityFilter.monitoredTopicIds", ["{0f6c7b1e-2f5d-4c3a-9e8b-7a6d5c4b3a21}"]
        ),
        "postActivityFilter.monitoredTopicIds[0]: '{0f6c7b1e",
    ),
    ("empty name", dict(TU, name=""), "name: '' should be non-empty"),
    ("untrimmed name", dict(TU, name=" Q3 "), "name: ' Q3 ' does not match"),
    ("missing type", _drop(TU, "type"), "payload: 'type' is a required property"),
    ("unknown type", dict(TU, type="PROSPECTS"), "type: 'PROSPECTS' is not one of"),
    ("postMaxAgeDays 0", dict(TU, postMaxAgeDays=0), "postMaxAgeDays: 0 is less than the minimum"),
    ("negative likes", _set(TU, "postActivityFilter.minPostLikes", -1), "minPostLikes: -1 is less"),
    (
        "lower-case emotion",
        _set(TU, "postActivityFilter.emotionTypes", ["like"]),
        "emotionTypes[0]",
    ),
    ("interval not 24n", dict(TU, applyCommentIntervalH=36), "36 is not a multiple of 24"),
    (
        "zero count",
        _set(TU, "connectingSettings.sendConnectionRequestOnTimeoutDays", 0),
        "0 is less",
    ),
    (
        "incomplete settings",
        _drop(TU, "connectingSettings.isSendConnectionRequestOnNoPostsEnabled"),
        "connectingSettings: 'isSendConnectionRequestOnNoPostsEnabled' is a required property",
    ),
    (
        "TARGET_USER without dmSettings",
        _drop(TU, "dmSettings"),
        "payload: 'dmSettings' is a required property for a TARGET_USER campaign",
    ),
    (
        "KEYWORD with connectingSettings",
        dict(KW, connectingSettings=TU["connectingSettings"]),
        "connectingSettings: must not be sent for a KEYWORD campaign",
    ),
    (
        "KEYWORD with dmSettings",
        dict(KW, dmSettings=TU["dmSettings"]),
        "dmSettings: must not be sent for a KEYWORD campaign",
    ),
    (
        "KEYWORD with a comment interval",
        dict(KW, applyCommentIntervalH=24),
        "applyCommentIntervalH: must not be sent for a KEYWORD campaign",
    ),
    (
        "KEYWORD skipping teammates' leads",
        dict(KW, skipTeammatesLeads=True),
        "skipTeammatesLeads: False was expected for a KEYWORD campaign",
    ),
    (
        "KEYWORD with indirect engagement",
        dict(KW, isIndirectEngagementEnabled=True),
        "isIndirectEngagementEnabled: False was expected for a KEYWORD campaign",
    ),
    (
        "owner outside the team",
        dict(TU, ownerId="3c90c3cc-0d44-4b50-8888-8dd25736052a"),
        "ownerId: '3c90c3cc-0d44-4b50-8888-8dd25736052a' is not a member of this team",
    ),
    ("body not an object", [TU], "payload: [{"),
]


@pytest.mark.parametrize(
    ("body", "message"), [case[1:] for case in REFUSALS], ids=[case[0] for case in REFUSALS]
)
async def test_contract_breach_is_refused_naming_the_field(body: Any, message: str) -> None:
    """A body that breaks the contract answers 400 in the error envelope, naming the field."""
    response = await _post(body)
    assert response.status_code == 400
    envelope = response.json()
    assert envelope["status"] == "error"
    assert envelope["data"] is None
    assert envelope["statusCode"] == 400
    assert message in envelope["message"]


async def test_refused_body_is_not_stored_and_counts_as_rejected() -> None:
    """A refused create stores nothing and counts in `rejected`."""
    app = create_app()
    async with client_for(app) as client:
        await client.post(CREATE, json=dict(target_user_payload(), name=""))
        stats = (await client.get(STATS)).json()
    assert app.state.sandbox.store.all() == []
    assert (stats["created"], stats["rejected"]) == (0, 1)


async def test_owner_must_be_a_configured_member() -> None:
    """`ownerId` is checked against the sandbox's own members, not the defaults."""
    only = Member("0d9f8e7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f", "Dora", "Diaz", "dora@example.com", "")
    refused = await _post(target_user_payload(), members=(only,))
    accepted = await _post(target_user_payload(ownerId=only.id), members=(only,))
    assert refused.status_code == 400
    assert accepted.status_code == 201


async def test_long_values_are_cut_short_in_the_message() -> None:
    """A huge offending value does not make a huge error message."""
    response = await _post(target_user_payload(name=" " + "x" * 100_000))
    assert response.status_code == 400
    assert len(response.json()["message"]) <= 300


async def _post_raw(
    content: bytes, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with client_for(create_app()) as client:
        return await client.post(CREATE, content=content, headers=headers)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"name": ', "malformed JSON: Expecting value"),
        (b"", "malformed JSON"),
        (b'{"minPostLikes": NaN}', "malformed JSON: NaN is not JSON"),
        (b'{"name": "a", "name": "b"}', "malformed JSON: key 'name' appears twice"),
        ('{"name": "é"}'.encode("latin-1"), "malformed JSON: the body is not UTF-8"),
    ],
    ids=["truncated", "empty", "NaN", "duplicate key", "latin-1"],
)
async def test_malformed_json_is_refused(content: bytes, message: str) -> None:
    """A body that is not strict JSON answers 400 saying so."""
    response = await _post_raw(content)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_wrong_content_type_is_refused(content_type: str | None) -> None:
    """A create that is not sent as application/json answers 415 in the envelope."""
    response = await _post_raw(json.dumps(target_user_payload()).encode(), content_type)
    assert response.status_code == 415
    assert response.json()["statusCode"] == 415


async def test_json_content_type_with_charset_is_accepted() -> None:
    """`application/json; charset=utf-8` is JSON too."""
    content = json.dumps(target_user_payload()).encode()
    response = await _post_raw(content, "Application/JSON; charset=utf-8")
    assert response.status_code == 201


async def test_body_over_one_megabyte_is_refused() -> None:
    """A body over 1 MB answers 413 without being parsed."""
    response = await _post_raw(b" " * (1_048_576 + 1))
    assert response.status_code == 413
    assert response.json()["message"] == "the body is over 1048576 bytes"


async def test_body_of_exactly_one_megabyte_is_read() -> None:
    """A 1 MB body is within the limit (and then judged as JSON)."""
    content = json.dumps(target_user_payload()).encode()
    response = await _post_raw(content + b" " * (1_048_576 - len(content)))
    assert response.status_code == 201


async def test_chunked_body_over_the_limit_is_refused() -> None:
    """A body without Content-Length is cut off as soon as it passes the limit."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 50

    async with client_for(create_app(SandboxConfig(max_body_bytes=120))) as client:
        response = await client.post(
            CREATE, content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413


INTEGER_FIELDS = [
    "postMaxAgeDays",
    "applyCommentIntervalH",
    "postActivityFilter.minPostLikes",
    "connectingSettings.sendConnectionRequestOnDirectCommentCount",
    "connectingSettings.sendConnectionRequestOnIndirectCommentCount",
    "connectingSettings.sendConnectionRequestOnTimeoutDays",
    "dmSettings.generateDmOnConnectAfterDaysCount",
    "dmSettings.generateDmOnRelevantPostAfterDaysCount",
    "dmSettings.generateDmOnTimeoutAfterDaysCount",
]
BOOLEAN_FIELDS = [
    "skipTeammatesLeads",
    "isIndirectEngagementEnabled",
    "postActivityFilter.isShowImportantTargetUsersFirstEnabled",
    "postActivityFilter.isShowDirectPostFirstEnabled",
    "connectingSettings.isSendConnectionRequestEnabled",
    "connectingSettings.isSendConnectionRequestOnNoPostsEnabled",
    "dmSettings.isGenerateDmEnabled",
    "dmSettings.isGenerateDmOnTimeoutEnabled",
]
NOT_INTEGERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.text(), st.none()
)
NOT_BOOLEANS = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.text(), st.none(), st.lists(st.booleans())
)


def _refusal_names(path: str) -> Callable[[str | None], bool]:
    return lambda problem: problem is not None and problem.startswith(f"{path}: ")


@given(path=st.sampled_from(INTEGER_FIELDS), value=NOT_INTEGERS)
def test_anything_but_a_json_integer_is_refused_where_an_integer_is_due(
    path: str, value: Any
) -> None:
    """Floats (even whole ones), booleans, strings and null are never integers."""
    assert _refusal_names(path)(CHECKER.problem(_set(TU, path, value)))


@given(path=st.sampled_from(BOOLEAN_FIELDS), value=NOT_BOOLEANS)
def test_anything_but_a_json_boolean_is_refused_where_a_boolean_is_due(
    path: str, value: Any
) -> None:
    """Numbers, strings, null and lists are never booleans."""
    assert _refusal_names(path)(CHECKER.problem(_set(TU, path, value)))


def test_owner_check_accepts_each_default_member() -> None:
    """Every default member may own a campaign."""
    for member in DEFAULT_MEMBERS:
        assert CHECKER.problem(target_user_payload(ownerId=member.id)) is None


@pytest.mark.parametrize("which", ["payload", "create list", "add to list"])
def test_every_schema_the_sandbox_checks_against_is_a_valid_json_schema(which: str) -> None:
    """The sandbox compiles its schemas without checking them (at every start, that cost
    0.06 s): they are checked here, once."""
    from jsonschema import Draft202012Validator

    from sandbox import contract

    schemas = {
        "payload": lambda: contract._forbid_by_not(contract.load_schema()),
        "create list": lambda: contract._list_schema(contract.CREATE_LIST_FIELDS),
        "add to list": lambda: contract._list_schema(contract.ADD_TO_LIST_FIELDS),
    }
    Draft202012Validator.check_schema(schemas[which]())
