"""Helpers shared by the sandbox tests: valid payloads by hand and a client.

Fake time for the sandbox is `tests.fakes.FakeTiming`: pass `clock=fake.monotonic` and
`sleep=fake.sleep` to `create_app`."""

from __future__ import annotations

from typing import Any, Final

import httpx
from starlette.applications import Starlette

from sandbox.server import API_PREFIX, DEFAULT_API_KEY, DEFAULT_MEMBERS

CREATE: Final = f"{API_PREFIX}/campaign"
LIST: Final = f"{API_PREFIX}/campaign"
MEMBERS: Final = f"{API_PREFIX}/user/team-members"
STATS: Final = "/_sandbox/stats"
RESET: Final = "/_sandbox/reset"

ANNA, BEN, CARLA = (member.id for member in DEFAULT_MEMBERS)
STYLE_ID: Final = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
CONTEXT_ID: Final = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"
TOPIC_ID: Final = "0f6c7b1e-2f5d-4c3a-9e8b-7a6d5c4b3a21"


def target_user_payload(**changes: Any) -> dict[str, Any]:
    """A complete, valid TARGET_USER body owned by Anna; `changes` replace top-level fields."""
    payload: dict[str, Any] = {
        "ownerId": ANNA,
        "name": "Q3 prospects",
        "type": "TARGET_USER",
        "userStyleId": STYLE_ID,
        "userContextId": CONTEXT_ID,
        "postMaxAgeDays": 30,
        "skipTeammatesLeads": True,
        "isIndirectEngagementEnabled": False,
        "postActivityFilter": {
            "emotionTypes": ["LIKE", "CELEBRATE"],
            "monitoredTopicIds": [TOPIC_ID],
            "isShowImportantTargetUsersFirstEnabled": True,
            "isShowDirectPostFirstEnabled": False,
            "minPostLikes": 25,
        },
        "connectingSettings": {
            "isSendConnectionRequestEnabled": True,
            "sendConnectionRequestOnDirectCommentCount": 3,
            "isSendConnectionRequestOnIndirectCommentEnabled": False,
            "sendConnectionRequestOnIndirectCommentCount": 3,
            "isSendConnectionRequestOnTimeoutEnabled": True,
            "sendConnectionRequestOnTimeoutDays": 14,
            "isSendConnectionRequestOnNoPostsEnabled": False,
        },
        "dmSettings": {
            "isGenerateDmEnabled": True,
            "isGenerateDmOnConnectEnabled": True,
            "generateDmOnConnectAfterDaysCount": 1,
            "isGenerateDmOnRelevantPostEnabled": False,
            "generateDmOnRelevantPostAfterDaysCount": 1,
            "isGenerateDmOnTimeoutEnabled": False,
            "generateDmOnTimeoutAfterDaysCount": 14,
        },
        "applyCommentIntervalH": 48,
    }
    payload.update(changes)
    return payload


def keyword_payload(**changes: Any) -> dict[str, Any]:
    """A complete, valid KEYWORD body owned by Ben; `changes` replace top-level fields."""
    payload: dict[str, Any] = {
        "ownerId": BEN,
        "name": "AI topic watch",
        "type": "KEYWORD",
        "userStyleId": STYLE_ID,
        "userContextId": CONTEXT_ID,
        "postMaxAgeDays": 30,
        "skipTeammatesLeads": False,
        "isIndirectEngagementEnabled": False,
        "postActivityFilter": {
            "emotionTypes": [],
            "monitoredTopicIds": [],
            "isShowImportantTargetUsersFirstEnabled": False,
            "isShowDirectPostFirstEnabled": False,
            "minPostLikes": 0,
        },
    }
    payload.update(changes)
    return payload


def client_for(app: Starlette, api_key: str | None = DEFAULT_API_KEY) -> httpx.AsyncClient:
    """An in-process client of `app`, sending `api_key` unless it is None."""
    headers = {} if api_key is None else {"X-API-Key": api_key}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://sandbox.test", headers=headers)
