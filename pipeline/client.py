"""The Extrovert API over HTTP: one `httpx.AsyncClient`, the key in a header, no logic.

`ExtrovertClient` makes the three calls the pipeline uses and returns raw responses or
parsed lists; deciding what an answer means is `pipeline.send`'s job. The API key lives
in a `Secret`, whose `repr` and `str` never show it, and goes nowhere but the header.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import orjson

from pipeline.errors import ConfigError

API_PREFIX: Final = "/api/client/v2"
CAMPAIGN_PATH: Final = f"{API_PREFIX}/campaign"
MEMBERS_PATH: Final = f"{API_PREFIX}/user/team-members"
DEFAULT_BASE_URL: Final = "https://prod-nginx-v2.goextrovert.com/webgateway"
USER_AGENT: Final = "campaigns/0.1 (+batch provisioning)"
# What a header value may hold: visible ASCII, no spaces or line breaks.
_HEADER_SAFE: Final = re.compile(r"[\x21-\x7e]+")

# httpx logs every request at INFO, with URLs; keep its loggers quiet whatever the root says.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class Secret:
    """A value that never appears in a repr, a str, a log line or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; https unless the host is loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--base-url {url!r} is not an http(s) URL")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"--base-url {url!r} must use https (plain http is allowed only for loopback hosts)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"--base-url {url!r} must not carry a query or fragment")
    return url.rstrip("/")


@dataclass(frozen=True)
class ApiAnswer:
    """What a read call gave: the `data` of the envelope, or why there is none."""

    data: Any
    status: int


class ExtrovertClient:
    """The calls the pipeline makes. `transport` lets tests route requests in-process."""

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        timeout: float = 30.0,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        if not _HEADER_SAFE.fullmatch(api_key.reveal()):
            raise ConfigError(
                "the API key holds characters an HTTP header cannot carry "
                "(spaces, line breaks or non-ASCII letters)",
                hint="Check the key file or EXTROVERT_API_KEY: it should be one line.",
            )
        self._key = api_key
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "X-API-Key": api_key.reveal(),
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> ExtrovertClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def scrub(self, text: str) -> str:
        """`text` with the API key masked, for anything that echoes a server's words."""
        key = self._key.reveal()
        return text.replace(key, "***") if key in text else text

    def message(self, response: httpx.Response) -> str:
        """The API's own message for a refusal (key masked), else the status line."""
        return self.scrub(error_message(response))

    async def create_campaign(self, payload: Mapping[str, Any]) -> httpx.Response:
        """POST one payload; transport errors propagate for the sender to classify."""
        return await self._client.post(
            CAMPAIGN_PATH,
            content=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
        )

    async def get(self, path: str) -> ApiAnswer:
        """GET an envelope; `data` is None unless the answer is a 2xx JSON envelope."""
        response = await self._client.get(path)
        data = None
        if response.is_success:
            body = parse_json(response)
            if isinstance(body, dict):
                data = body.get("data")
        return ApiAnswer(data, response.status_code)


def parse_json(response: httpx.Response) -> Any:
    """The JSON body, or None when there is none or it is not JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def error_message(response: httpx.Response) -> str:
    """The API's own message for a refusal, else the status line."""
    body = parse_json(response)
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return str(body["message"])[:500]
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()
