"""Helpers for the tests of `campaigns serve`: the page's settings in a test folder, a
visitor that calls the app in process (httpx over ASGI: cookies kept, each POST with the
page's Origin and CSRF token), and for the browser tests a real server on loopback and
Chromium driven by Playwright (Debian's `chromium`; Playwright's own browser download
cannot work here). Without Chromium the browser tests skip, naming the command that
installs it. Plain fixtures: pytest-playwright does not work with warnings as errors."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
from starlette.applications import Starlette

from pipeline.settings import Secret, SendSettings
from web.app import make_app
from web.guard import CSRF_FIELD
from web.server import bind_loopback, run_in_thread
from web.workspace import ServeSettings, Workspace

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM: Final = shutil.which("chromium")
INSTALL_CHROMIUM: Final = "apt-get install -y chromium"
PORT: Final = 8760  # what the in-process app believes it listens on
TOKEN: Final = "launch-token-for-tests"
EXAMPLE: Final = Path(__file__).parent.parent / "input_templates" / "example.xlsx"
FAST: Final = SendSettings(rate=1000.0, concurrency=4, timeout=10.0, backoff_initial=0.0)


def serve_settings(folder: Path, **changes: Any) -> ServeSettings:
    """The page's settings with every file in `folder`: a rehearsal (the sandbox) unless
    `changes` say otherwise; no key."""
    reports = folder / "reports"
    base = ServeSettings(
        reports=reports,
        state=reports / "state.sqlite",
        sandbox_state=reports / "sandbox-state.sqlite",
        base_url="https://extrovert.invalid",
        api_key=None,
        sandbox=True,
        send=FAST,
    )
    return replace(base, **changes)


def keyed(settings: ServeSettings, key: str, base_url: str) -> ServeSettings:
    """`settings` for a real API at `base_url` with `key` (from the environment)."""
    return replace(
        settings,
        api_key=Secret(key),
        key_source="EXTROVERT_API_KEY",
        base_url=base_url,
        sandbox=False,
    )


class Visitor:
    """A person at the page, in process. `enter()` opens the launch link (the cookie is
    kept from then on); `post` sends what the page's own forms send (Origin, CSRF token)
    unless told otherwise."""

    def __init__(self, app: Starlette, *, host: str = f"127.0.0.1:{PORT}") -> None:
        self.app = app
        self.base = f"http://{host}"
        self.cookies = httpx.Cookies()

    @property
    def workspace(self) -> Workspace:
        found = self.app.state.workspace
        assert isinstance(found, Workspace)
        return found

    @property
    def csrf(self) -> str:
        return str(self.app.state.csrf)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport, base_url=self.base, cookies=self.cookies
            ) as client:
                response = await client.request(method, path, **kwargs)
                self.cookies.update(client.cookies)
                return response

        return asyncio.run(go())

    def enter(self) -> httpx.Response:
        return self.get(f"/?token={TOKEN}")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(
        self,
        path: str,
        *,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
        origin: str | None = "",
        csrf: str | None = "",
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST as the page's forms do; `origin`/`csrf` None leaves that out, a text
        sends it instead of the right one."""
        sent = dict(headers or {})
        if origin is not None:
            sent["origin"] = origin or self.base
        fields = dict(data or {})
        if csrf is not None:
            fields[CSRF_FIELD] = csrf or self.csrf
        return self.request("POST", path, data=fields, files=files, headers=sent, **kwargs)

    def upload(self, name: str, data: bytes) -> httpx.Response:
        return self.post("/upload", files={"sheet": (name, data)})


def visitor_of(settings: ServeSettings) -> Iterator[Visitor]:
    """A fresh app for `settings` and a visitor who has opened its link; closed after."""
    app = make_app(settings, port=PORT, token=TOKEN)
    visitor = Visitor(app)
    try:
        visitor.enter()
        yield visitor
    finally:
        visitor.workspace.close()


# --- the real thing: a server on loopback, Chromium -----------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A rehearsal page served on a free loopback port: its launch link."""
    settings = serve_settings(tmp_path_factory.mktemp("served"))
    sock = bind_loopback(0)
    app = make_app(settings, port=int(sock.getsockname()[1]), token=TOKEN)
    with run_in_thread(app, sock) as url:
        yield f"{url}/?token={TOKEN}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, headless (skips the test when it is not installed)."""
    if CHROMIUM is None:
        pytest.skip(f"Chromium is not installed: {INSTALL_CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab at laptop size that accepts downloads."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()
