"""The sandbox's ASGI application: the Extrovert client API, as strict as its contract.

A create request (`POST /campaign`) goes through, in order: API key (401), rate limit
(429), latency, content type (415), body size (413), the fault draw (a `503`,
`500_before` or `502_html` fault answers here), JSON (400), the payload contract (400),
storing, then the faults that strike after storing (`500_after`, `drop_after`,
`timeout_after`) or 201. An update (`PATCH /campaign/{id}`) takes the same steps and
the same draws; after JSON come the id in the path (400 unless a canonical lower-case
uuid), the campaign (404 when there is none), the update contract (400, see
`sandbox.contract`), storing, then the same faults or 200 with `data: null`.

A list create (`POST /prospect-list`) takes the same steps, its fault drawn from the
prospect-list table: after JSON come the list contract (400), the campaign (400 naming
`campaignId` when unknown or not TARGET_USER), storing the list, then the URLs
`sandbox.prospects` places in it, then the faults after storing or 201 with the
placement as `data`. An add (`POST /prospect-list/{listId}/add-users-to-list`): after
JSON, the id in the path (400), the list (404 when there is none, or its campaign is
gone), the add contract (400, `listId` and `campaignId` must be the list's), storing,
then the same faults or 200 with the same `data`. `sandbox.faults` says what a client
sees for each fault.

`/_sandbox/stats`, `/_sandbox/campaigns` (each campaign's current settings, by id, in
creation order), `/_sandbox/lists` (each list with its URLs in order, in creation
order), `/_sandbox/new-month` (the account's next month: its monthly prospect allowance
is whole again) and `/_sandbox/reset` are the sandbox's own inspection calls: no key,
no rate limit, no faults, not counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sandbox.config import FAULTS_BEFORE_STORING, FaultTarget, SandboxConfig
from sandbox.contract import (
    PayloadChecker,
    add_to_list_problem,
    create_list_problem,
    parse_json,
    path_id_problem,
)
from sandbox.faults import BAD_GATEWAY_HTML, DroppedResponse, FaultPlan, Sleep, hold
from sandbox.lists import ListStore
from sandbox.prospects import Placement, list_campaign, placement
from sandbox.ratelimit import RateLimiter
from sandbox.state import Campaign, CampaignStore, Stats

API_PREFIX: Final = "/api/client/v2"
SUCCESS_MESSAGE: Final = "Operation completed successfully"
# Whole seconds a 503 fault asks the client to wait.
UNAVAILABLE_RETRY_AFTER: Final = 1

Clock = Callable[[], float]


def success(data: Any, status: int = 200) -> JSONResponse:
    """The success envelope."""
    return JSONResponse(
        {"status": "success", "data": data, "message": SUCCESS_MESSAGE}, status_code=status
    )


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The error envelope."""
    body = {"status": "error", "data": None, "message": message, "statusCode": status}
    return JSONResponse(body, status_code=status, headers=headers)


class SandboxState:
    """Everything one sandbox app holds; tests reach it as `app.state.sandbox`."""

    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.store = CampaignStore(config.db)
        self.lists = ListStore(config.db)
        self.stats = Stats()
        self.limiter = RateLimiter(config.rate or 0, config.bucket_size, clock)
        self.faults = FaultPlan(config)
        self.checker = PayloadChecker(member.id for member in config.members)

    def reset(self) -> None:
        """Forget campaigns, lists and counts, start the month over, refill rate buckets,
        restart the fault draws."""
        self.store.clear()
        self.lists.clear()
        self.stats = Stats()
        self.limiter.reset()
        self.faults.reseed()

    def add_prospects(self, list_id: str, campaign: Campaign, body: Mapping[str, Any]) -> Placement:
        """Place the URLs of a checked list create or add body in the list `list_id` of
        `campaign` (see `sandbox.prospects`), store what goes in it, and count."""
        placed = placement(
            body, campaign, list_id, campaigns=self.store, lists=self.lists, config=self.config
        )
        self.lists.put(list_id, placed.submitted, placed.moved, body["shouldBeDeletedIfInactive"])
        stats = self.stats
        stats.prospects_stored += len(placed.submitted)
        stats.prospects_moved += len(placed.moved)
        stats.over_limit += len(placed.over_limit)
        stats.duplicates_in_list += placed.repeated
        return placed

    def close(self) -> None:
        self.store.close()
        self.lists.close()


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return media_type == "application/json"


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be over `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _Api:
    """The route handlers, bound to one `SandboxState`."""

    def __init__(self, state: SandboxState, sleep: Sleep) -> None:
        self.state = state
        self.sleep = sleep

    def _reject(self, status: int, message: str) -> JSONResponse:
        self.state.stats.rejected += 1
        return error(status, message)

    async def _admit(self, request: Request) -> Response | None:
        """Count the request, check its key and rate, add latency; a refusal or None."""
        state = self.state
        state.stats.requests += 1
        key = request.headers.get("x-api-key")
        if key is None:
            return self._reject(401, "missing X-API-Key header")
        if key not in state.config.api_keys:
            return self._reject(401, "invalid API key")
        wait = state.limiter.acquire(key)
        if wait is not None:
            state.stats.rate_limited += 1
            return error(429, "rate limit exceeded", headers={"Retry-After": str(wait)})
        delay = state.faults.delay()
        if delay > 0:
            await self.sleep(delay)
        return None

    def _fault(self, kind: str, target: FaultTarget) -> Response:
        self.state.stats.fault_counts(target)[kind] += 1
        if kind == "503":
            headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
            return error(503, "service temporarily unavailable", headers=headers)
        if kind == "502_html":
            return HTMLResponse(BAD_GATEWAY_HTML, status_code=502)
        return error(500, "internal server error")

    async def campaign(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create_campaign(request)
        return await self.list_campaigns(request)

    async def _receive(
        self, request: Request, target: FaultTarget
    ) -> tuple[Any, str | None] | Response:
        """The steps every change shares: key, rate limit, latency, content type, body
        size, the fault draw from `target`'s table (a fault before storing answers here)
        and JSON. Returns the parsed body and the fault still to strike, or the answer."""
        refused = await self._admit(request)
        if refused is not None:
            return refused
        content_type = request.headers.get("content-type")
        if not _is_json(content_type):
            return self._reject(415, f"Content-Type must be application/json, not {content_type!r}")
        limit = self.state.config.max_body_bytes
        try:
            raw = await _read_limited(request, limit)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        if raw is None:
            return self._reject(413, f"the body is over {limit} bytes")
        fault = self.state.faults.draw(target)
        if fault is not None and fault in FAULTS_BEFORE_STORING:
            return self._fault(fault, target)
        try:
            return parse_json(raw), fault
        except ValueError as exc:
            return self._reject(400, f"malformed JSON: {exc}")

    async def _stored(
        self, request: Request, fault: str | None, target: FaultTarget, answer: JSONResponse
    ) -> Response:
        """The answer to a request whose change is stored, or the fault that strikes after."""
        if fault == "500_after":
            return self._fault(fault, target)
        if fault == "drop_after":
            self.state.stats.fault_counts(target)[fault] += 1
            return DroppedResponse(
                answer.body, status_code=answer.status_code, media_type="application/json"
            )
        if fault == "timeout_after":
            self.state.stats.fault_counts(target)[fault] += 1
            await hold(self.sleep, self.state.config.hold_seconds, request.receive)
        return answer

    async def create_campaign(self, request: Request) -> Response:
        received = await self._receive(request, "campaigns")
        if isinstance(received, Response):
            return received
        body, fault = received
        problem = self.state.checker.problem(body)
        if problem is not None:
            return self._reject(400, problem)
        campaign, duplicate = self.state.store.add(body)
        self.state.stats.created += 1
        self.state.stats.duplicates += duplicate
        answer = success({"id": campaign.id}, status=201)
        return await self._stored(request, fault, "campaigns", answer)

    async def update_campaign(self, request: Request) -> Response:
        campaign_id = request.path_params["campaign_id"]
        received = await self._receive(request, "campaigns")
        if isinstance(received, Response):
            return received
        body, fault = received
        problem = path_id_problem(campaign_id)
        if problem is not None:
            return self._reject(400, problem)
        campaign = self.state.store.get(campaign_id)
        if campaign is None:
            return self._reject(404, f"campaign {campaign_id} not found")
        problem = self.state.checker.update_problem(body, campaign_id, campaign.payload)
        if problem is not None:
            return self._reject(400, problem)
        self.state.store.update(campaign_id, body)
        self.state.stats.updated += 1
        return await self._stored(request, fault, "campaigns", success(None))

    async def create_list(self, request: Request) -> Response:
        received = await self._receive(request, "prospects")
        if isinstance(received, Response):
            return received
        body, fault = received
        problem = create_list_problem(body)
        if problem is not None:
            return self._reject(400, problem)
        state = self.state
        campaign = list_campaign(body["campaignId"], state.store)
        if isinstance(campaign, str):
            return self._reject(400, campaign)
        prospect_list, duplicate = state.lists.create(
            campaign.id, body["listName"], body["shouldBeDeletedIfInactive"]
        )
        state.stats.lists_created += 1
        state.stats.duplicate_lists += duplicate
        placed = state.add_prospects(prospect_list.id, campaign, body)
        answer = success(placed.to_json(prospect_list.id, state.config), status=201)
        return await self._stored(request, fault, "prospects", answer)

    async def add_to_list(self, request: Request) -> Response:
        list_id = request.path_params["list_id"]
        received = await self._receive(request, "prospects")
        if isinstance(received, Response):
            return received
        body, fault = received
        problem = path_id_problem(list_id, field="listId")
        if problem is not None:
            return self._reject(400, problem)
        state = self.state
        prospect_list = state.lists.get(list_id)
        # A list dies with its campaign: deleting a campaign in Extrovert takes its lists.
        campaign = None if prospect_list is None else state.store.get(prospect_list.campaign_id)
        if prospect_list is None or campaign is None:
            return self._reject(404, f"prospect list {list_id} not found")
        problem = add_to_list_problem(body, list_id, campaign.id)
        if problem is not None:
            return self._reject(400, problem)
        placed = state.add_prospects(list_id, campaign, body)
        state.stats.list_adds += 1
        answer = success(placed.to_json(list_id, state.config))
        return await self._stored(request, fault, "prospects", answer)

    async def list_campaigns(self, request: Request) -> Response:
        if not self.state.config.campaign_list:
            # As if the route did not exist: clients must cope without the list.
            return error(404, f"Cannot GET {request.url.path}")
        refused = await self._admit(request)
        if refused is not None:
            return refused
        return success([campaign.to_json() for campaign in self.state.store.all()])

    async def team_members(self, request: Request) -> Response:
        refused = await self._admit(request)
        if refused is not None:
            return refused
        return success([member.to_json() for member in self.state.config.members])

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.state.stats.to_json())

    async def campaigns(self, request: Request) -> Response:
        return JSONResponse({c.id: dict(c.payload) for c in self.state.store.all()})

    async def lists(self, request: Request) -> Response:
        return JSONResponse([prospect_list.to_json() for prospect_list in self.state.lists.all()])

    async def new_month(self, request: Request) -> Response:
        return JSONResponse({"month": self.state.lists.new_month()})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse(self.state.stats.to_json())


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods answer in the envelope too, as the real API does.
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail, headers=exc.headers)


def create_app(
    config: SandboxConfig | None = None,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> Starlette:
    """A sandbox app for `config` (default: `SandboxConfig()`).

    `clock` (monotonic seconds) drives the rate limit; `sleep` is awaited for latency
    and for the `timeout_after` hold. Tests pass fakes so they never wait. The state is
    `app.state.sandbox` (a `SandboxState`); the lifespan shutdown closes its SQLite file,
    and in-process users without a lifespan call `app.state.sandbox.close()`.
    """
    state = SandboxState(config or SandboxConfig(), clock)
    api = _Api(state, sleep)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.close()

    routes = [
        Route(f"{API_PREFIX}/campaign", api.campaign, methods=["GET", "POST"]),
        Route(f"{API_PREFIX}/campaign/{{campaign_id}}", api.update_campaign, methods=["PATCH"]),
        Route(f"{API_PREFIX}/user/team-members", api.team_members, methods=["GET"]),
        Route(f"{API_PREFIX}/prospect-list", api.create_list, methods=["POST"]),
        Route(
            f"{API_PREFIX}/prospect-list/{{list_id}}/add-users-to-list",
            api.add_to_list,
            methods=["POST"],
        ),
        Route("/_sandbox/stats", api.stats, methods=["GET"]),
        Route("/_sandbox/campaigns", api.campaigns, methods=["GET"]),
        Route("/_sandbox/lists", api.lists, methods=["GET"]),
        Route("/_sandbox/new-month", api.new_month, methods=["POST"]),
        Route("/_sandbox/reset", api.reset, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: _http_error}, lifespan=lifespan
    )
    app.state.sandbox = state
    return app
