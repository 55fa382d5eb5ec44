"""`campaigns serve` keeps the page to the person who started it: loopback only, the
launch token (then a cookie) on every request, the Host and Origin checked, a CSRF token
on every form, uploads capped and kept in a private folder under names of its own, and
the API key in no page, header or log."""

from __future__ import annotations

import asyncio
import gc
import html
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from sandbox.server import SandboxConfig, run_in_thread
from tests.browser import PORT, TOKEN, Visitor, keyed, serve_settings, visitor_of
from web.app import make_app
from web.command import serve_command
from web.guard import Guard, cookie_name
from web.server import _config, bind_loopback
from web.server import run_in_thread as serve_in_thread
from web.workspace import Workspace

ROOT = Path(__file__).parent.parent
EXAMPLE_CSV = (ROOT / "input_templates" / "example.csv").read_bytes()
LIMIT = 20_000


@pytest.fixture
def visitor(tmp_path: Path) -> Iterator[Visitor]:
    """A person at a fresh page (uploads up to LIMIT bytes) who has opened its link."""
    yield from visitor_of(serve_settings(tmp_path, max_bytes=LIMIT))


@pytest.fixture
def stranger(visitor: Visitor) -> Visitor:
    """Someone at the same page who never had the link."""
    return Visitor(visitor.app)


def test_the_page_listens_on_loopback_only() -> None:
    """The socket is bound to 127.0.0.1, and the command has no option to choose another."""
    sock = bind_loopback(0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
    assert "host" not in {param.name for param in serve_command.params}


@pytest.mark.parametrize(
    "path", ["/", "/check", "/static/htmx.min.js", "/status.css", "/download/example.xlsx"]
)
def test_every_page_needs_the_launch_token(stranger: Visitor, path: str) -> None:
    """Without the token's cookie, every address answers 403 and says where the link is."""
    response = stranger.get(path)
    assert response.status_code == 403
    assert "campaigns serve" in response.text


def test_a_post_without_the_token_is_refused_and_does_nothing(stranger: Visitor) -> None:
    """An upload without the cookie is refused before it is read."""
    response = stranger.upload("plan.csv", EXAMPLE_CSV)
    assert response.status_code == 403
    assert stranger.workspace.sheet is None


def test_the_token_becomes_a_strict_cookie_and_leaves_the_address(visitor: Visitor) -> None:
    """?token= sets an HttpOnly, SameSite=Strict cookie and redirects to the same page
    without the token, keeping the other parameters."""
    fresh = Visitor(visitor.app)
    response = fresh.get(f"/check?tab=prospects&token={TOKEN}")
    assert response.status_code == 303
    assert response.headers["location"] == "/check?tab=prospects"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name(PORT)}={TOKEN};")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert fresh.get("/").status_code == 200


@pytest.mark.parametrize("path", ["//evil.example/", "///evil.example/x", "/\\evil.example/"])
def test_the_first_visit_redirects_only_within_the_page(visitor: Visitor, path: str) -> None:
    """A launch link whose path starts with slashes redirects to a path of this page,
    never to another host (`//evil.example/` would be one)."""
    response = Visitor(visitor.app).get(f"{visitor.base}{path}?token={TOKEN}")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert httpx.URL(visitor.base).join(location).host == "127.0.0.1"


def test_a_wrong_token_is_refused(stranger: Visitor) -> None:
    """A link with another token sets no cookie."""
    response = stranger.get("/?token=guessed")
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert stranger.get("/").status_code == 403


@pytest.mark.parametrize("host", ["evil.example:8760", "127.0.0.1:9999", "127.0.0.1", ""])
def test_a_host_that_is_not_this_page_is_refused(visitor: Visitor, host: str) -> None:
    """DNS rebinding: a request naming another host (or port) is refused, cookie or not."""
    response = visitor.get("/", headers={"host": host})
    assert response.status_code == 400


def test_localhost_is_this_page_too(visitor: Visitor) -> None:
    """localhost:PORT is as good as 127.0.0.1:PORT."""
    there = Visitor(visitor.app, host=f"localhost:{PORT}")
    assert there.get(f"/?token={TOKEN}").status_code == 303
    assert there.get("/").status_code == 200


@pytest.mark.parametrize("origin", [None, "http://evil.example", "null", "http://127.0.0.1:1"])
def test_a_post_from_another_origin_is_refused(visitor: Visitor, origin: str | None) -> None:
    """A form sent from another site (or without an Origin) changes nothing."""
    response = visitor.post("/upload", files={"sheet": ("plan.csv", EXAMPLE_CSV)}, origin=origin)
    assert response.status_code == 403
    assert visitor.workspace.sheet is None


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_a_post_without_the_pages_csrf_token_is_refused(visitor: Visitor, csrf: str | None) -> None:
    """The right Origin is not enough: the form must carry the page's CSRF token."""
    response = visitor.post("/upload", files={"sheet": ("plan.csv", EXAMPLE_CSV)}, csrf=csrf)
    assert response.status_code == 403
    assert "did not come from this page" in response.text
    assert visitor.workspace.sheet is None


@pytest.mark.parametrize("path", ["/plan", "/apply", "/sandbox"])
def test_every_form_needs_the_csrf_token_and_this_pages_origin(tmp_path: Path, path: str) -> None:
    """Planning, applying and switching to the sandbox: without the page's CSRF token, or
    from another origin, 403 and nothing changes."""
    for visitor in visitor_of(serve_settings(tmp_path, sandbox=False)):
        visitor.upload("plan.csv", EXAMPLE_CSV)
        for refused in (
            visitor.post(path, csrf=None),
            visitor.post(path, csrf="forged"),
            visitor.post(path, origin="http://evil.example"),
            visitor.post(path, origin=None),
        ):
            assert refused.status_code == 403
        workspace = visitor.workspace
        assert workspace.planned is None and workspace.run is None and not workspace.sandbox


def test_a_head_request_gets_the_headers_without_a_body(
    visitor: Visitor, stranger: Visitor
) -> None:
    """HEAD is answered as GET is (the same checks and headers), with no body."""
    response = visitor.request("HEAD", "/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-frame-options"] == "DENY"
    assert stranger.request("HEAD", "/").status_code == 403


def call_guard(scope: Scope) -> tuple[list[Message], list[str]]:
    """What the Guard sends for `scope` (its first message a connect), and the scope
    types it let through to the app."""
    sent: list[Message] = []
    passed: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        passed.append(scope["type"])

    async def receive() -> Message:
        return {"type": f"{scope['type']}.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    guard = Guard(app, token=TOKEN, port=PORT, max_body=LIMIT)
    asyncio.run(guard(scope, receive, send))
    return sent, passed


def test_a_websocket_is_closed_before_it_opens() -> None:
    """The page has no WebSocket: one is closed unopened (the server answers 403), even
    with the cookie and the right Host; the server's lifespan alone passes unchecked."""
    headers = [
        (b"host", f"127.0.0.1:{PORT}".encode()),
        (b"cookie", f"{cookie_name(PORT)}={TOKEN}".encode()),
    ]
    scope = {"type": "websocket", "path": "/", "query_string": b"", "headers": headers}
    sent, passed = call_guard(scope)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert passed == []
    assert call_guard({"type": "something-new"}) == ([], [])
    assert call_guard({"type": "lifespan"}) == ([], ["lifespan"])


def test_the_server_names_no_software_reads_no_proxy_headers_logs_no_requests(
    tmp_path: Path,
) -> None:
    """uvicorn as configured for the page: no Server header, no X-Forwarded-For taken
    for the client, no access log (a first visit's address holds the token)."""
    config = _config(make_app(serve_settings(tmp_path), port=PORT, token=TOKEN), None)
    assert config.server_header is False
    assert config.proxy_headers is False
    assert config.access_log is False


@pytest.mark.slow
def test_a_served_request_puts_neither_token_nor_key_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real server on loopback, with a key: the launch link, a page, a refused link and
    a missing page leave the token and the key out of every log record; and no Server
    header names the software."""
    caplog.set_level("DEBUG")
    settings = keyed(serve_settings(tmp_path), CANARY, "https://extrovert.invalid")
    sock = bind_loopback(0)
    app = make_app(settings, port=int(sock.getsockname()[1]), token=TOKEN)
    with serve_in_thread(app, sock) as url, httpx.Client() as client:
        answers = [
            client.get(f"{url}/?token={TOKEN}", follow_redirects=True),
            client.get(f"{url}/nowhere?token={TOKEN}"),
            client.get(f"{url}/apply"),
            httpx.get(f"{url}/?token=wrong-{TOKEN}"),
        ]
    assert [a.status_code for a in answers] == [200, 303, 200, 403]
    assert all("server" not in a.headers for a in answers)
    logged = "\n".join(
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))  # the test's own client
    )
    assert TOKEN not in logged
    assert CANARY not in logged


def test_the_csrf_token_in_a_header_counts(visitor: Visitor) -> None:
    """htmx sends the token as X-CSRF-Token instead of a field."""
    response = visitor.post(
        "/upload",
        files={"sheet": ("plan.csv", EXAMPLE_CSV)},
        csrf=None,
        headers={"x-csrf-token": visitor.csrf},
    )
    assert response.status_code == 303


def test_an_upload_past_the_limit_is_refused_with_a_clear_page(visitor: Visitor) -> None:
    """A file past --max-bytes: 413, saying the limit and the option."""
    response = visitor.upload("big.csv", b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert f"({LIMIT:,} bytes)" in response.text
    assert "--max-bytes" in response.text
    assert visitor.workspace.sheet is None


def test_a_body_past_the_limit_is_cut_off_while_it_is_read(visitor: Visitor) -> None:
    """No Content-Length (a chunked body): the page stops reading at the limit."""
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="sheet"; filename="big.csv"\r\n\r\n'
        for _ in range(1000):
            sent.append(1)
            yield b"y" * 10_000

    response = visitor.request(
        "POST",
        "/upload",
        content=endless(),
        headers={"origin": visitor.base, "content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert len(sent) < 100  # it did not read the whole 10 MB


def test_a_declared_length_past_the_limit_is_refused_unread(visitor: Visitor) -> None:
    """A Content-Length past the limit is refused before the body is read."""
    response = visitor.request(
        "POST",
        "/upload",
        content=b"z" * (LIMIT * 5),
        headers={"origin": visitor.base, "content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413


def test_uploads_are_kept_privately_in_folders_of_the_servers_own(visitor: Visitor) -> None:
    """The private folder is 0700; each upload is in a folder of its own the server
    numbers (0700), as a 0600 file under the browser's name made a bare name (a path
    here: it escapes nowhere); the rows are called by that name; closing the page
    removes the folder."""
    workspace = visitor.workspace
    response = visitor.upload("../../outside/../plan.csv", EXAMPLE_CSV)
    assert response.status_code == 303
    folder = workspace.folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    sheet = workspace.sheet
    assert sheet is not None
    assert sheet.stored == folder / "1" / "plan.csv"
    assert sheet.stored.resolve().is_relative_to(folder.resolve())
    assert stat.S_IMODE(sheet.stored.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(sheet.stored.stat().st_mode) == 0o600
    assert visitor.upload("..", EXAMPLE_CSV).status_code == 400  # "upload": not a sheet
    visitor.upload("/etc/plan.csv", EXAMPLE_CSV)
    again = workspace.sheet
    assert again is not None and again.stored == folder / "2" / "plan.csv"
    assert sheet.name == "plan.csv"
    assert {row.source for row in sheet.checked.rows} == {"plan.csv"}  # as read, by name
    assert "plan.csv" in visitor.get("/check").text
    workspace.close()
    assert not folder.exists()


def test_a_workspace_never_closed_still_removes_its_private_folder(tmp_path: Path) -> None:
    """The backstop: should the server end without closing its workspace, the private
    folder goes when the workspace does (or when the interpreter exits)."""
    workspace = Workspace.open(serve_settings(tmp_path))
    folder = workspace.folder
    workspace.take_file("plan.csv", EXAMPLE_CSV)
    assert folder.exists()
    del workspace
    gc.collect()
    assert not folder.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/results/../state.sqlite",
        "/results/%2e%2e%2fstate.sqlite",
        "/results/results.xlsx",
        "/download/..%2f..%2fetc%2fpasswd",
        "/download/plan.json",
        "/static/../workspace.py",
    ],
)
def test_no_address_reaches_a_file_outside_the_lists(visitor: Visitor, path: str) -> None:
    """Downloads are looked up by fixed names (and only a finished run has reports)."""
    assert visitor.get(path).status_code == 404


def test_a_pasted_path_is_not_read(visitor: Visitor, tmp_path: Path) -> None:
    """The link field takes links only: a file path typed there is never opened."""
    secret = tmp_path / "private.csv"
    secret.write_bytes(EXAMPLE_CSV)
    response = visitor.post("/upload", data={"link": str(secret)})
    assert response.status_code == 400
    assert "Paste the sheet's link" in html.unescape(response.text)
    assert visitor.workspace.sheet is None


def test_every_answer_keeps_the_page_to_itself(visitor: Visitor) -> None:
    """Nothing may frame the page or load from elsewhere; nothing is cached."""
    for response in (visitor.get("/"), visitor.get("/nowhere"), Visitor(visitor.app).get("/")):
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"


CANARY = "canary-key-7f3a9c1e5b"


@pytest.mark.slow
def test_the_key_appears_in_no_page_response_header_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against an API that takes the canary key: every page, download and error of a
    whole upload, plan and apply leaves it out."""
    caplog.set_level("DEBUG")
    seen: list[httpx.Response] = []
    with run_in_thread(SandboxConfig(api_keys=frozenset({CANARY}))) as url:
        settings = keyed(serve_settings(tmp_path), CANARY, url)
        for visitor in visitor_of(settings):
            seen.append(visitor.get("/"))
            seen.append(visitor.upload("plan.csv", EXAMPLE_CSV))
            seen.append(visitor.upload("notes.txt", b"hello"))
            seen += [visitor.get(p) for p in ("/check", "/check?tab=prospects", "/plan")]
            seen.append(visitor.post("/plan"))
            seen += [visitor.get("/plan"), visitor.get("/apply")]
            seen.append(visitor.post("/apply"))
            run = visitor.workspace.run
            assert run is not None
            run.finished.wait(60)
            seen.append(visitor.post("/apply"))  # refused: nothing left to do
            seen += [visitor.get(p) for p in ("/apply", "/apply/progress", "/results")]
            seen += [visitor.get(f"/results/{name}") for name in ("results.xlsx", "summary.json")]
            seen += [visitor.get(p) for p in ("/ledger", "/nowhere", "/results/nothing")]
            seen.append(Visitor(visitor.app).get("/"))
            seen.append(visitor.post("/plan", csrf="forged"))
            assert run.result is not None
            assert run.result.counts == {"created": 5}
    assert len(seen) > 20
    for response in seen:
        assert CANARY.encode() not in response.content
        assert CANARY not in str(response.headers)
    captured = capsys.readouterr()
    assert CANARY not in captured.out + captured.err
    assert CANARY not in caplog.text
    reports = (tmp_path / "reports").rglob("*")
    assert not [p for p in reports if p.is_file() and CANARY.encode() in p.read_bytes()]
