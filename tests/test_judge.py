"""`judge` alone: what every answer means for every kind of operation, as one table.

`judge` is pure, so nothing here needs an event loop, a client or time: no test in this
file is async or uses a fixture that needs a loop, and the whole file runs in
milliseconds. The table follows the one in `pipeline.operations`' module docstring.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.operations import (
    CAMPAIGN_PATH,
    PROSPECT_LIST_PATH,
    Action,
    Answer,
    Failure,
    Meaning,
    Operation,
    Streak,
    judge,
)

CAMPAIGN_ID = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"
LIST_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"

CREATE = Operation.create_campaign("owner/acme", {"name": "ACME"}, 0)
UPDATE = Operation(
    Action.UPDATE_CAMPAIGN,
    "PATCH",
    f"{CAMPAIGN_PATH}/{CAMPAIGN_ID}",
    {"name": "ACME"},
    "owner/acme",
    (0,),
    True,
)
CREATE_LIST = Operation(
    Action.CREATE_LIST, "POST", PROSPECT_LIST_PATH, {"name": "ACME"}, "owner/acme", (0,), False
)
ADD_PROSPECTS = Operation(
    Action.ADD_PROSPECTS,
    "POST",
    f"{PROSPECT_LIST_PATH}/{LIST_ID}/prospects",
    {"prospects": ["https://linkedin.com/in/someone"]},
    "owner/acme",
    (0, 1),
    True,
)
IDEMPOTENT = (UPDATE, ADD_PROSPECTS)


def success(status: int, data: Any) -> Answer:
    """A 2xx answer with the API's success envelope around `data`."""
    return Answer(status=status, body={"status": "success", "data": data})


def refusal(status: int, message: str = "nope", retry_after: str | None = None) -> Answer:
    """A non-2xx answer with the API's error envelope and message."""
    body = {"status": "error", "data": None, "message": message, "statusCode": status}
    return Answer(status=status, body=body, message=message, retry_after=retry_after)


def failed(failure: Failure, error: str) -> Answer:
    """A transport failure: no HTTP answer at all."""
    return Answer(failure=failure, error=error)


def row(
    name: str,
    answer: Answer,
    operation: Operation,
    meaning: Meaning,
    streak: Streak,
    *,
    pause: bool = False,
    rate_limited: bool = False,
    retry_after: str | None = None,
    created_id: str = "",
    message: str = "",
) -> Any:
    """One row of the table: an answer, an operation and every expected field."""
    expected = {
        "meaning": meaning,
        "streak": streak,
        "pause": pause,
        "rate_limited": rate_limited,
        "retry_after": retry_after,
        "created_id": created_id,
    }
    return pytest.param(answer, operation, expected, message, id=name)


TABLE = [
    # 2xx
    row(
        "201 create with an id: created",
        success(201, {"id": CAMPAIGN_ID}),
        CREATE,
        Meaning.CREATED,
        Streak.RESET,
        created_id=CAMPAIGN_ID,
    ),
    row(
        "201 create with an upper-case id: created, id lower-cased",
        success(201, {"id": CAMPAIGN_ID.upper()}),
        CREATE,
        Meaning.CREATED,
        Streak.RESET,
        created_id=CAMPAIGN_ID,
    ),
    row(
        "201 create without data: unknown",
        success(201, None),
        CREATE,
        Meaning.UNKNOWN,
        Streak.RESET,
        message="without a campaign id",
    ),
    row(
        "201 create with a non-uuid id: unknown",
        success(201, {"id": "not-a-uuid"}),
        CREATE,
        Meaning.UNKNOWN,
        Streak.RESET,
        message="HTTP 201 without a campaign id",
    ),
    row(
        "200 create with a non-JSON body: unknown",
        Answer(status=200, body=None),
        CREATE,
        Meaning.UNKNOWN,
        Streak.RESET,
        message="HTTP 200 without a campaign id",
    ),
    row(
        "200 update: done",
        success(200, {"id": CAMPAIGN_ID}),
        UPDATE,
        Meaning.DONE,
        Streak.RESET,
    ),
    row(
        "200 update with a non-JSON body: done",
        Answer(status=200, body=None),
        UPDATE,
        Meaning.DONE,
        Streak.RESET,
    ),
    row(
        "200 add prospects: done",
        success(200, None),
        ADD_PROSPECTS,
        Meaning.DONE,
        Streak.RESET,
    ),
    row(
        "201 create list with a listId: created",
        success(201, {"listId": LIST_ID}),
        CREATE_LIST,
        Meaning.CREATED,
        Streak.RESET,
        created_id=LIST_ID,
    ),
    row(
        "201 create list without a listId: unknown",
        success(201, {"id": LIST_ID}),
        CREATE_LIST,
        Meaning.UNKNOWN,
        Streak.RESET,
        message="without a list id",
    ),
    # 4xx
    *(
        row(
            f"{status} create: rejected, message kept",
            refusal(status, "name: must not be empty"),
            CREATE,
            Meaning.REJECTED,
            Streak.RESET,
            message="name: must not be empty",
        )
        for status in (400, 409, 422)
    ),
    row(
        "404 create: stop, no campaign endpoint at this base URL",
        refusal(404, "Not Found"),
        CREATE,
        Meaning.STOP,
        Streak.RESET,
        message="check --base-url",
    ),
    row(
        "404 update: rejected (the campaign was deleted)",
        refusal(404, "campaign not found"),
        UPDATE,
        Meaning.REJECTED,
        Streak.RESET,
        message="campaign not found",
    ),
    row(
        "409 update: rejected, message kept",
        refusal(409, "already running"),
        UPDATE,
        Meaning.REJECTED,
        Streak.RESET,
        message="already running",
    ),
    *(
        row(
            f"{status} create: stop, the key is refused",
            refusal(status, "Invalid API key"),
            CREATE,
            Meaning.STOP,
            Streak.RESET,
            message=f"refused the key (HTTP {status}): Invalid API key",
        )
        for status in (401, 403)
    ),
    row(
        "401 update: stop",
        refusal(401, "Invalid API key"),
        UPDATE,
        Meaning.STOP,
        Streak.RESET,
        message="HTTP 401",
    ),
    row(
        "408 create: retry without a pause, streak kept",
        refusal(408, "request timeout"),
        CREATE,
        Meaning.RETRY,
        Streak.KEEP,
        message="request timeout",
    ),
    row(
        "429 with Retry-After: retry, pause, rate limited",
        refusal(429, "slow down", retry_after="7"),
        CREATE,
        Meaning.RETRY,
        Streak.KEEP,
        pause=True,
        rate_limited=True,
        retry_after="7",
        message="slow down",
    ),
    row(
        "429 with a Retry-After date: passed through as is",
        refusal(429, "slow down", retry_after="Wed, 01 May 2024 12:00:10 GMT"),
        UPDATE,
        Meaning.RETRY,
        Streak.KEEP,
        pause=True,
        rate_limited=True,
        retry_after="Wed, 01 May 2024 12:00:10 GMT",
    ),
    row(
        "429 without Retry-After: retry, pause, rate limited",
        refusal(429, "slow down"),
        CREATE,
        Meaning.RETRY,
        Streak.KEEP,
        pause=True,
        rate_limited=True,
    ),
    # 5xx
    row(
        "503 create: retry, pause, counted, not rate limited",
        refusal(503, "busy"),
        CREATE,
        Meaning.RETRY,
        Streak.COUNT,
        pause=True,
        message="busy",
    ),
    row(
        "503 with Retry-After: pause for it",
        refusal(503, "busy", retry_after="3"),
        CREATE_LIST,
        Meaning.RETRY,
        Streak.COUNT,
        pause=True,
        retry_after="3",
    ),
    *(
        row(
            f"{status} create: unknown, counted",
            refusal(status, "oops"),
            CREATE,
            Meaning.UNKNOWN,
            Streak.COUNT,
            message=f"HTTP {status}: oops",
        )
        for status in (500, 502, 504)
    ),
    row(
        "500 create list: unknown, counted",
        refusal(500, "oops"),
        CREATE_LIST,
        Meaning.UNKNOWN,
        Streak.COUNT,
        message="HTTP 500: oops",
    ),
    *(
        row(
            f"{status} update: retry, counted",
            refusal(status, "oops"),
            UPDATE,
            Meaning.RETRY,
            Streak.COUNT,
            message=f"HTTP {status}: oops",
        )
        for status in (500, 502, 504)
    ),
    *(
        row(
            f"{status} add prospects: retry, counted",
            refusal(status, "oops"),
            ADD_PROSPECTS,
            Meaning.RETRY,
            Streak.COUNT,
            message=f"HTTP {status}",
        )
        for status in (500, 502, 504)
    ),
    # transport failures
    row(
        "not connected, create: retry, counted",
        failed(Failure.NOT_CONNECTED, "ConnectError"),
        CREATE,
        Meaning.RETRY,
        Streak.COUNT,
        message="ConnectError: connection failed before the request was sent",
    ),
    row(
        "not written, create: retry, counted",
        failed(Failure.NOT_WRITTEN, "WriteTimeout"),
        CREATE,
        Meaning.RETRY,
        Streak.COUNT,
        message="WriteTimeout",
    ),
    row(
        "timeout, create: unknown, counted",
        failed(Failure.TIMEOUT, "ReadTimeout"),
        CREATE,
        Meaning.UNKNOWN,
        Streak.COUNT,
        message="no answer within the timeout (ReadTimeout)",
    ),
    row(
        "lost, create: unknown, counted",
        failed(Failure.LOST, "RemoteProtocolError"),
        CREATE,
        Meaning.UNKNOWN,
        Streak.COUNT,
        message="connection lost after sending (RemoteProtocolError)",
    ),
    row(
        "timeout without an error name, create list: unknown, named by the failure",
        Answer(failure=Failure.TIMEOUT),
        CREATE_LIST,
        Meaning.UNKNOWN,
        Streak.COUNT,
        message="(timeout)",
    ),
    *(
        row(
            f"{failure}, {operation.action}: retry, counted",
            failed(failure, "SomeError"),
            operation,
            Meaning.RETRY,
            Streak.COUNT,
            message="SomeError",
        )
        for operation in IDEMPOTENT
        for failure in Failure
    ),
]


@pytest.mark.parametrize(("answer", "operation", "expected", "message"), TABLE)
def test_judge_table(
    answer: Answer, operation: Operation, expected: dict[str, Any], message: str
) -> None:
    """Each answer means what the table in `pipeline.operations` says, with its effects."""
    verdict = judge(answer, operation)
    found = {name: getattr(verdict, name) for name in expected}
    assert found == expected
    assert message in verdict.message
    if answer.status is not None:
        assert verdict.http_status == answer.status
    else:
        assert verdict.http_status is None


def test_the_table_has_enough_rows() -> None:
    """The table covers at least 24 distinct cases, each with its own readable id."""
    ids = [param.id for param in TABLE]
    assert len(ids) >= 24
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("operation", IDEMPOTENT, ids=lambda op: str(op.action))
def test_idempotent_transient_failures_are_never_unknown(operation: Operation) -> None:
    """For an idempotent operation every transient failure is a retry, never unknown."""
    answers = [failed(failure, "Error") for failure in Failure]
    answers += [refusal(status) for status in (*range(500, 512), 599)]
    answers += [refusal(status) for status in (408, 429)]
    for answer in answers:
        verdict = judge(answer, operation)
        assert verdict.meaning is Meaning.RETRY, answer


def test_non_idempotent_creates_are_unknown_only_when_they_may_have_landed() -> None:
    """On a create, only failures after the request was written are unknown."""
    meanings = {failure: judge(failed(failure, "E"), CREATE).meaning for failure in Failure}
    assert meanings == {
        Failure.NOT_CONNECTED: Meaning.RETRY,
        Failure.NOT_WRITTEN: Meaning.RETRY,
        Failure.TIMEOUT: Meaning.UNKNOWN,
        Failure.LOST: Meaning.UNKNOWN,
    }


def test_an_answer_without_status_or_failure_is_refused() -> None:
    """An Answer holding neither an HTTP status nor a failure raises ValueError."""
    with pytest.raises(ValueError, match="either an HTTP status or a failure"):
        judge(Answer(), CREATE)
