"""One API request to make (`Operation`), what came back (`Answer`), what it means (`judge`).

An operation is a value: the action, the method, path and body, the ledger key it
settles, the rows it serves, and whether repeating it is harmless. `judge` is a pure
function of an answer and its operation; the sender carries out what it says (pause,
count, trip the breaker, stop) in one place. How an attempt ends:

    created    2xx with a readable id, for an operation that creates something
    done       2xx for an operation that creates nothing (update, add prospects)
    rejected   any other 4xx (the API's message kept); a 404 to a campaign update: the
               campaign was deleted in Extrovert (decision 10; the message says so)
    retry      the request cannot have taken effect (connection never made, request
               never fully written, 408, 429, 503), or it may have but repeating it is
               harmless (an idempotent operation: timeout, dropped connection, any 5xx).
               429 and 503 pause every worker first; a 429 does not use up an attempt
    unknown    a non-idempotent request may have reached the backend: read timeout,
               connection dropped after the request was written, 500, 502, 504 and
               other 5xx, a 2xx without a readable id. Never retried by the sender
    stop       401/403: the key is refused; a 404 to a campaign create: no such endpoint
               at this base URL; the run stops

Transport failures and 5xx count towards the circuit breaker; a 2xx or any other 4xx
resets its count; 408 and 429 leave it as it is (the server is alive, only busy). This
module does no I/O and knows nothing of httpx: `pipeline.client` turns responses and
transport errors into `Answer`s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum, auto
from typing import Any, Final

from pipeline.model import is_uuid

API_PREFIX: Final = "/api/client/v2"
CAMPAIGN_PATH: Final = f"{API_PREFIX}/campaign"
MEMBERS_PATH: Final = f"{API_PREFIX}/user/team-members"
PROSPECT_LIST_PATH: Final = f"{API_PREFIX}/prospect-list"

SAFE_TO_RETRY: Final = frozenset({408, 429, 503})
PAUSING: Final = frozenset({429, 503})
STOPPING: Final = frozenset({401, 403})


class Action(StrEnum):
    """What an operation does; the value is how logs and plans name it."""

    CREATE_CAMPAIGN = "create campaign"
    UPDATE_CAMPAIGN = "update campaign"
    CREATE_LIST = "create list"
    ADD_PROSPECTS = "add prospects"


# Where a created thing's id sits in the answer's `data`.
_ID_FIELD: Final = {Action.CREATE_CAMPAIGN: "id", Action.CREATE_LIST: "listId"}


@dataclass(frozen=True)
class Operation:
    """One API request: `body` is sent as JSON; `positions` are the rows it serves."""

    action: Action
    method: str
    path: str
    body: Mapping[str, Any]
    key: str
    positions: tuple[int, ...]
    idempotent: bool

    @property
    def creates(self) -> bool:
        """True when a success answers the id of something new."""
        return self.action in _ID_FIELD

    @classmethod
    def create_campaign(cls, key: str, payload: Mapping[str, Any], position: int) -> Operation:
        """`POST campaign`: not idempotent (the API has no idempotency key)."""
        return cls(Action.CREATE_CAMPAIGN, "POST", CAMPAIGN_PATH, payload, key, (position,), False)

    @classmethod
    def update_campaign(
        cls, key: str, campaign_id: str, payload: Mapping[str, Any], position: int
    ) -> Operation:
        """`PATCH campaign/{id}` (decision 8): the whole create payload but `ownerId` and
        `type` (neither can change), with `id` first; idempotent."""
        body = {"id": campaign_id, **{k: v for k, v in payload.items() if k not in _FIXED}}
        path = f"{CAMPAIGN_PATH}/{campaign_id}"
        return cls(Action.UPDATE_CAMPAIGN, "PATCH", path, body, key, (position,), True)

    @classmethod
    def create_list(
        cls,
        key: str,
        name: str,
        campaign_id: str,
        urls: Sequence[str],
        positions: tuple[int, ...],
        *,
        move_own_duplicated: bool = False,
        delete_if_inactive: bool = False,
    ) -> Operation:
        """`POST prospect-list` with its first URLs (decision 13, fields in that order):
        not idempotent (no call finds a list again)."""
        body = {
            "listName": name,
            "campaignId": campaign_id,
            "userUrls": list(urls),
            "moveOwnDuplicated": move_own_duplicated,
            "shouldBeDeletedIfInactive": delete_if_inactive,
        }
        return cls(Action.CREATE_LIST, "POST", PROSPECT_LIST_PATH, body, key, positions, False)

    @classmethod
    def add_prospects(
        cls,
        key: str,
        list_id: str,
        campaign_id: str,
        urls: Sequence[str],
        positions: tuple[int, ...],
        *,
        move_own_duplicated: bool = False,
        delete_if_inactive: bool = False,
    ) -> Operation:
        """`POST prospect-list/{listId}/add-users-to-list` (decision 13): idempotent (the
        API skips a URL already in the list)."""
        body = {
            "listId": list_id,
            "campaignId": campaign_id,
            "userUrls": list(urls),
            "moveOwnDuplicated": move_own_duplicated,
            "shouldBeDeletedIfInactive": delete_if_inactive,
        }
        path = f"{PROSPECT_LIST_PATH}/{list_id}/add-users-to-list"
        return cls(Action.ADD_PROSPECTS, "POST", path, body, key, positions, True)

    @property
    def campaign_id(self) -> str:
        """The id of the campaign an update changes ("" for any other operation)."""
        if self.action is not Action.UPDATE_CAMPAIGN:
            return ""
        return str(self.body.get("id", ""))


# What an update never sends: a campaign's owner and type cannot change (decision 9).
_FIXED: Final = frozenset({"ownerId", "type"})


class Failure(StrEnum):
    """How a request failed without an HTTP answer."""

    NOT_CONNECTED = "not connected"  # connection never made: nothing was sent
    NOT_WRITTEN = "not written"  # the request was never fully written
    TIMEOUT = "timeout"  # written, no answer in time: it may have taken effect
    LOST = "lost"  # the connection dropped after the request was written


@dataclass(frozen=True)
class Answer:
    """What one request got: an HTTP answer (`status`, parsed JSON `body`, the API's
    `message` with the key masked, `Retry-After`), or a transport `failure`."""

    status: int | None = None
    body: Any = None
    message: str = ""
    retry_after: str | None = None
    failure: Failure | None = None
    error: str = ""  # the transport error's name (ReadTimeout, ...)

    @property
    def data(self) -> Any:
        """The envelope's `data` of a 2xx JSON answer, else None."""
        if self.status is None or not 200 <= self.status < 300 or not isinstance(self.body, dict):
            return None
        return self.body.get("data")


class Meaning(Enum):
    """What an answer means (the table in the module docstring)."""

    CREATED = auto()
    DONE = auto()
    REJECTED = auto()
    RETRY = auto()
    UNKNOWN = auto()
    STOP = auto()


class Streak(StrEnum):
    """What an answer does to the circuit breaker's count of server errors in a row."""

    COUNT = "count"
    RESET = "reset"
    KEEP = "keep"


@dataclass(frozen=True)
class Verdict:
    """What an answer means and which effects it asks for; see the module docstring."""

    meaning: Meaning
    message: str = ""
    http_status: int | None = None
    created_id: str = ""
    pause: bool = False  # every worker waits (Retry-After, else a backoff)
    retry_after: str | None = None
    rate_limited: bool = False  # a 429: counted, does not use up an attempt
    streak: Streak = Streak.KEEP


def judge(answer: Answer, operation: Operation) -> Verdict:
    """What `answer` means for `operation` (pure; the table in the module docstring)."""
    if answer.failure is not None:
        return _judge_failure(answer, operation)
    status = answer.status
    if status is None:
        raise ValueError("an Answer holds either an HTTP status or a failure")
    if 200 <= status < 300:
        return _judge_success(answer, operation, status)
    if status in SAFE_TO_RETRY:
        return Verdict(
            Meaning.RETRY,
            answer.message,
            status,
            pause=status in PAUSING,
            retry_after=answer.retry_after if status in PAUSING else None,
            rate_limited=status == 429,
            streak=Streak.COUNT if status >= 500 else Streak.KEEP,
        )
    if status == 404 and operation.action is Action.CREATE_CAMPAIGN:
        # No campaign endpoint at this address: every row would be refused the same way.
        return Verdict(
            Meaning.STOP,
            f"the API answered HTTP 404 to {operation.method} {operation.path}: there is no "
            "campaign endpoint at this address; check --base-url (the part before "
            "/api/client/v2)",
            status,
            streak=Streak.RESET,
        )
    if status == 404 and operation.action is Action.UPDATE_CAMPAIGN:
        return Verdict(Meaning.REJECTED, _deleted(operation, answer), status, streak=Streak.RESET)
    if status in STOPPING:
        return Verdict(
            Meaning.STOP,
            f"the API refused the key (HTTP {status}): {answer.message}",
            status,
            streak=Streak.RESET,
        )
    if status < 500:
        return Verdict(Meaning.REJECTED, answer.message, status, streak=Streak.RESET)
    if operation.idempotent:
        return Verdict(
            Meaning.RETRY, f"HTTP {status}: {answer.message}", status, streak=Streak.COUNT
        )
    return Verdict(Meaning.UNKNOWN, f"HTTP {status}: {answer.message}", status, streak=Streak.COUNT)


def _deleted(operation: Operation, answer: Answer) -> str:
    """Decision 10: a 404 to an update means the campaign was deleted in Extrovert."""
    said = f" ({answer.message})" if answer.message else ""
    return (
        f"campaign_key: campaign {operation.campaign_id} is not in Extrovert any more (HTTP "
        f"404{said}): it was deleted there, so the update was not made; it is not created "
        "again by itself. To create it anew, give this row a new campaign_key"
    )


def _judge_success(answer: Answer, operation: Operation, status: int) -> Verdict:
    if not operation.creates:
        return Verdict(Meaning.DONE, "", status, streak=Streak.RESET)
    data = answer.data
    found = data.get(_ID_FIELD[operation.action]) if isinstance(data, dict) else None
    if isinstance(found, str) and is_uuid(found.lower()):
        return Verdict(Meaning.CREATED, "", status, created_id=found.lower(), streak=Streak.RESET)
    what = "campaign" if operation.action is Action.CREATE_CAMPAIGN else "list"
    return Verdict(
        Meaning.UNKNOWN, f"HTTP {status} without a {what} id", status, streak=Streak.RESET
    )


def _judge_failure(answer: Answer, operation: Operation) -> Verdict:
    kind = answer.error or str(answer.failure)
    if answer.failure in (Failure.NOT_CONNECTED, Failure.NOT_WRITTEN):
        message = f"{kind}: connection failed before the request was sent"
        return Verdict(Meaning.RETRY, message, streak=Streak.COUNT)
    if answer.failure is Failure.TIMEOUT:
        message = f"no answer within the timeout ({kind})"
    else:
        message = f"connection lost after sending ({kind})"
    meaning = Meaning.RETRY if operation.idempotent else Meaning.UNKNOWN
    return Verdict(meaning, message, streak=Streak.COUNT)
