"""`campaigns serve` keeps the page to the person who started it: loopback only, the
launch token (then a cookie) on every request, the Host and Origin checked, a CSRF token
on every form, uploads capped and kept in a private folder under names of its own, and
the API key in no page, header or log."""

from __future__ import annotations

import html
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.server import SandboxConfig, run_in_thread
from tests.browser import PORT, TOKEN, Visitor, keyed, serve_settings, visitor_of
from web.command import serve_command
from web.guard import cookie_name
from web.server import bind_loopback

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


def test_uploads_are_kept_privately_under_names_of_the_servers_own(visitor: Visitor) -> None:
    """The private folder is 0700, the file in it is 0600 and named by the server; the
    name the browser gave (a path here) is only what the rows are called; closing the
    page removes the folder."""
    workspace = visitor.workspace
    response = visitor.upload("../../outside/../plan.csv", EXAMPLE_CSV)
    assert response.status_code == 303
    folder = workspace.folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    sheet = workspace.sheet
    assert sheet is not None
    assert sheet.stored == folder / "sheet-1.csv"
    assert stat.S_IMODE(sheet.stored.stat().st_mode) == 0o600
    assert sheet.name == "plan.csv"
    assert {row.source for row in sheet.checked.rows} == {"plan.csv"}  # as read, by name
    assert "plan.csv" in visitor.get("/check").text
    workspace.close()
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
