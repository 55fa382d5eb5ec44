"""The Extrovert API over HTTP: one `httpx.AsyncClient`, the key in a header, no logic.

`ExtrovertClient` sends `Operation`s and reads envelopes, and turns every response and
every transport error into an `Answer` (plain data); deciding what an answer means is
`pipeline.operations.judge`'s job. `download` fetches an input sheet by URL into a
`Downloaded` (plain data too; `pipeline.inputs` decides what it means). This is the only
module of `pipeline/` that imports httpx. The API key lives in a `Secret`, whose `repr`
and `str` never show it, and goes nowhere but the header.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from pipeline import __version__
from pipeline.errors import ConfigError
from pipeline.operations import Answer, Failure, Operation
from pipeline.settings import Secret, check_base_url, redirect_problem

USER_AGENT: Final = f"campaigns/{__version__} (+batch provisioning)"
# What a header value may hold: visible ASCII, no spaces or line breaks.
_HEADER_SAFE: Final = re.compile(r"[\x21-\x7e]+")
# Transport errors raised before the request could reach the server.
_NOT_CONNECTED: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Raised while the body was still being written: the request never completed.
_NOT_WRITTEN: Final = (httpx.WriteError, httpx.WriteTimeout)


class Api(Protocol):
    """What the run asks of the API: `ExtrovertClient`, or `Keyless` for a dry run
    without a key (which asks nothing of it)."""

    base_url: str

    @property
    def keyed(self) -> bool: ...

    async def send(self, operation: Operation) -> Answer: ...

    async def get(self, path: str) -> Answer: ...

    def scrub(self, text: str) -> str: ...

    async def aclose(self) -> None: ...


class Keyless:
    """The API as a dry run without a key sees it: nothing may be asked of it."""

    base_url = ""
    keyed = False

    async def send(self, operation: Operation) -> Answer:
        raise ConfigError(f"no API key: cannot {operation.action} (a dry run sends nothing)")

    async def get(self, path: str) -> Answer:
        raise ConfigError(f"no API key: cannot read {path}")

    def scrub(self, text: str) -> str:
        return text

    async def aclose(self) -> None:
        pass


class ExtrovertClient:
    """The calls the pipeline makes. `transport` lets tests route requests in-process."""

    keyed = True

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
        # Plain http is allowed only for a loopback host (the sandbox): its requests never
        # make TLS, so they need none of the system's certificates, whose loading takes
        # ~0.1 s. The context left to httpx trusts nothing, should TLS ever be tried.
        verify: ssl.SSLContext | bool = True
        if urlsplit(self.base_url).scheme == "http":
            verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
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
            verify=verify,
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

    async def send(self, operation: Operation) -> Answer:
        """Make the operation's request; a transport error becomes an `Answer` too."""
        try:
            response = await self._client.request(
                operation.method,
                operation.path,
                content=orjson.dumps(operation.body),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return _failed(exc)
        return self._answer(response)

    async def get(self, path: str) -> Answer:
        """GET an envelope; `Answer.data` is None unless it is a 2xx JSON envelope."""
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            return _failed(exc)
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> Answer:
        return Answer(
            status=response.status_code,
            body=parse_json(response),
            message="" if response.is_success else self.message(response),
            retry_after=response.headers.get("Retry-After"),
        )


def _failed(error: httpx.HTTPError) -> Answer:
    if isinstance(error, _NOT_CONNECTED):
        failure = Failure.NOT_CONNECTED
    elif isinstance(error, _NOT_WRITTEN):
        failure = Failure.NOT_WRITTEN
    elif isinstance(error, httpx.TimeoutException):
        failure = Failure.TIMEOUT
    else:
        failure = Failure.LOST
    return Answer(failure=failure, error=type(error).__name__)


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


# Redirects a download follows before giving up (a sign-in flow can take a few).
MAX_REDIRECTS: Final = 10
# `Downloaded.failure` of a download stopped at its overall deadline.
DEADLINE_PASSED: Final = "DeadlinePassed"
# What a download may be routed through instead of the network (tests: httpx.MockTransport).
DownloadTransport = httpx.BaseTransport


@dataclass(frozen=True)
class Downloaded:
    """What an input URL served, as plain data (`pipeline.inputs` judges it).

    `final_url` is the URL that answered (after redirects). `status` is 0 when nothing
    answered; `failure` then names the transport error (`DEADLINE_PASSED` when the
    whole download took longer than its deadline). A redirect not followed, because its
    target is not allowed (`pipeline.settings.redirect_problem`), keeps its 3xx
    `status`, its `location`, and as `final_url` the URL that redirected. `body` is the
    whole body of a 2xx answer, and empty for any other answer or when the body passed
    `max_bytes` (`too_large`; reading stopped there).
    """

    final_url: str
    status: int = 0
    content_type: str = ""
    filename: str = ""  # from Content-Disposition, as the server wrote it
    body: bytes = b""
    too_large: bool = False
    location: str = ""
    failure: str = ""


def download(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    deadline: float,
    monotonic: Callable[[], float],
    transport: DownloadTransport | None = None,
) -> Downloaded:
    """GET `url`, following redirects to allowed addresses only; never raises for what
    the network or the server does. The body is streamed and never held past
    `max_bytes` (a Content-Length above it stops before reading).

    `timeout` bounds each step (connecting, each read); `deadline` bounds the whole
    download, redirects included, as `monotonic` counts seconds: a server that sends a
    byte now and then cannot hold a run. Every step's wait is cut to what is left of
    the deadline, so the download ends at the deadline, or at the latest when the read
    under way then ends (never more than `timeout` later)."""
    end = monotonic() + deadline
    try:
        with httpx.Client(
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            follow_redirects=False,
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                left = end - monotonic()
                if left <= 0:
                    return Downloaded(url, failure=DEADLINE_PASSED)
                wait = min(timeout, left)
                limits = httpx.Timeout(wait, connect=min(wait, 10.0))
                with client.stream("GET", url, timeout=limits) as response:
                    if not response.is_redirect:
                        return _downloaded(response, max_bytes, end, monotonic)
                    location = str(response.url.join(response.headers["Location"]))
                    if redirect_problem(url, location):
                        return Downloaded(url, response.status_code, location=location)
                    url = location
            return Downloaded(url, failure="TooManyRedirects")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        if isinstance(exc, httpx.TimeoutException) and monotonic() >= end:
            return Downloaded(url, failure=DEADLINE_PASSED)
        return Downloaded(url, failure=type(exc).__name__)


def _downloaded(
    response: httpx.Response, max_bytes: int, end: float, monotonic: Callable[[], float]
) -> Downloaded:
    final = str(response.url)
    status = response.status_code
    content_type = response.headers.get("Content-Type", "")
    filename = _filename(response.headers.get("Content-Disposition", ""))
    if not response.is_success:
        return Downloaded(final, status, content_type, filename)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return Downloaded(final, status, content_type, filename, too_large=True)
    body = bytearray()
    # Each piece as it arrives (no chunk size: httpx would wait to fill one), so that
    # the size and the deadline are checked after every read.
    for chunk in response.iter_bytes():
        if len(body) + len(chunk) > max_bytes:
            return Downloaded(final, status, content_type, filename, too_large=True)
        if monotonic() >= end:
            return Downloaded(final, failure=DEADLINE_PASSED)
        body += chunk
    return Downloaded(final, status, content_type, filename, bytes(body))


def _filename(disposition: str) -> str:
    """The file name a Content-Disposition header gives (`filename*=` decoded), or ""."""
    if not disposition:
        return ""
    header = Message()
    header["Content-Disposition"] = disposition
    try:
        return header.get_filename() or ""
    except (ValueError, LookupError):  # a malformed or unknown encoding: no name
        return ""
