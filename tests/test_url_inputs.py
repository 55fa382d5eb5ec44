"""Inputs by URL: a sheet served by a local test server (a real loopback socket) is read
like a file; a sign-in page, an error status, an oversized body, a refused redirect or
no answer is one `Error:` line and exit 2; the query string is never shown or written.

The judging of a download (`sheet_suffix`) and the naming helpers are pure, tested as
tables without a server."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.client import DEADLINE_PASSED, Downloaded, download
from pipeline.errors import InputError
from pipeline.filenames import safe_name, unique_name
from pipeline.inputs import sheet_suffix, shown_urls, url_stem
from pipeline.run import validate_files
from pipeline.settings import Options, public_url, redirect_problem, url_problem
from tests.helpers import ROOT, TOPIC_ROW, csv_text, invoke, write_xlsx
from tests.served import SECRET, Reply, Served

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SIGN_IN = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"


@pytest.fixture
def workbook(tmp_path: Path) -> bytes:
    """An xlsx with one valid Topic row."""
    path = write_xlsx(tmp_path / "made.xlsx", [list(TOPIC_ROW), list(TOPIC_ROW.values())])
    return path.read_bytes()


def topic_csv() -> bytes:
    return csv_text(list(TOPIC_ROW), [list(TOPIC_ROW.values())]).encode()


def every_byte_written(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def results(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_a_shared_workbook_link_is_read_and_named_without_its_query(
    tmp_path: Path, server: Served, workbook: bytes
) -> None:
    """A Google-style export link serving an xlsx validates like a file: the report's
    source and summary.json name the URL without the query, and the secret in the query
    is nowhere in the report folder or the output."""
    url = server.serve(
        "/spreadsheets/d/abc/export",
        Reply(
            body=workbook,
            headers={
                "Content-Type": XLSX_TYPE,
                "Content-Disposition": 'attachment; filename="Q1 plan.xlsx"; '
                "filename*=UTF-8''Q1%20plan.xlsx",
            },
        ),
    )
    shown = f"{server.base}/spreadsheets/d/abc/export"
    out = tmp_path / "out"

    result = invoke("validate", url, "--out", out)

    assert result.exit_code == 0, result.output
    assert server.requests == [f"/spreadsheets/d/abc/export?format=xlsx&token={SECRET}"]
    assert [(r["source"], r["sheet"], r["status"]) for r in results(out)] == [
        (shown, "campaigns", "valid")
    ]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    [entry] = summary["inputs"]
    assert entry["path"] == shown
    assert entry["format"] == "xlsx"
    assert entry["copy"] == "inputs/Q1 plan.xlsx"
    assert entry["sha256"] == hashlib.sha256(workbook).hexdigest()
    assert (out / "inputs" / "Q1 plan.xlsx").read_bytes() == workbook
    assert SECRET.encode() not in every_byte_written(out)
    assert SECRET not in result.output


@pytest.mark.slow
def test_a_csv_link_is_read_by_its_content_and_the_run_id_names_the_link(
    tmp_path: Path, server: Served
) -> None:
    """A link without a file name serving CSV text is read as CSV; the run folder is
    named after the link's last path segment; the copy is named after it too."""
    url = server.serve(
        "/sheets/plan", Reply(body=topic_csv(), headers={"Content-Type": "text/csv"})
    )

    result = validate_files(Options(paths=(url,), reports_root=tmp_path / "reports"))

    assert result.exit_code == 0
    assert result.folder.name.endswith("Z-plan")
    assert result.rows[0].source == f"{server.base}/sheets/plan"
    assert (result.folder / "inputs" / "plan.csv").read_bytes() == topic_csv()
    assert result.summary["inputs"][0]["format"].startswith("csv")


@pytest.mark.slow
def test_the_format_comes_from_the_bytes_not_the_url(
    tmp_path: Path, server: Served, workbook: bytes
) -> None:
    """A URL ending in .csv that serves a workbook as plain bytes is read as a workbook."""
    url = server.serve(
        "/files/sheet.csv",
        Reply(body=workbook, headers={"Content-Type": "application/octet-stream"}),
    )

    result = validate_files(Options(paths=(url,), out=tmp_path / "out"))

    assert result.exit_code == 0
    assert result.summary["inputs"][0]["format"] == "xlsx"
    assert result.summary["inputs"][0]["copy"] == "inputs/sheet.xlsx"


@pytest.mark.slow
def test_a_redirect_is_followed_and_the_report_names_the_link_given(
    tmp_path: Path, server: Served, workbook: bytes
) -> None:
    """A 302 to another address (with its own signed query) is followed; the source is
    the link given, without its query; neither query is written."""
    server.serve("/final", Reply(body=workbook, headers={"Content-Type": XLSX_TYPE}))
    url = server.serve("/start", Reply(302, headers={"Location": f"/final?sig={SECRET}-2"}))
    out = tmp_path / "out"

    result = invoke("validate", url, "--out", out)

    assert result.exit_code == 0, result.output
    assert [r.split("?")[0] for r in server.requests] == ["/start", "/final"]
    assert results(out)[0]["source"] == f"{server.base}/start"
    assert SECRET.encode() not in every_byte_written(out)


def refused(result_output: str, stderr: str) -> str:
    """The one `Error:` line of a refused input (and nothing that looks like a traceback)."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines[0].startswith("Error: "), stderr
    assert SECRET not in result_output + stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(body=SIGN_IN, headers={"Content-Type": "text/html; charset=utf-8"}),
            "the link served a web page (HTML), not a CSV or XLSX file",
        ),
        (
            Reply(body=SIGN_IN, headers={"Content-Type": "text/plain"}),
            "the link served a web page (HTML)",
        ),
        (Reply(404, b"gone"), "the server answered HTTP 404 Not Found"),
        (Reply(403, SIGN_IN), "the server answered HTTP 403 Forbidden"),
        (Reply(503, b""), "the server answered HTTP 503 Service Unavailable"),
        (
            Reply(body=b'{"sheet": 1}', headers={"Content-Type": "application/json"}),
            "the link served application/json, not a CSV or XLSX file",
        ),
    ],
    ids=["html", "html-as-text", "404", "403", "503", "json"],
)
def test_what_is_not_a_sheet_is_one_error_line_and_exit_2(
    tmp_path: Path, server: Served, reply: Reply, expected: str
) -> None:
    """A sign-in page, an error status or another kind of file: exit 2, one line naming
    the link (without its query) and what came back, a hint on what to check, no report."""
    url = server.serve("/d/export", reply)

    result = invoke("validate", url, "--out", tmp_path / "out")

    assert result.exit_code == 2
    line = refused(result.output, result.stderr)
    assert line == f"Error: {server.base}/d/export: {expected}" or line.startswith(
        f"Error: {server.base}/d/export: {expected}"
    )
    assert len(result.stderr.splitlines()) == 2  # the line and its hint
    assert not (tmp_path / "out" / "results.csv").exists()


@pytest.mark.slow
def test_a_sign_in_page_hint_says_what_to_check(tmp_path: Path, server: Served) -> None:
    """The hint after a sign-in page says to open the link without signing in."""
    url = server.serve("/d/export", Reply(body=SIGN_IN, headers={"Content-Type": "text/html"}))

    result = invoke("validate", url)

    assert result.stderr.splitlines()[1].startswith("Open the link in a private browser window")


@pytest.mark.slow
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "no-content-length"])
def test_a_body_past_max_bytes_is_refused(tmp_path: Path, server: Served, length: bool) -> None:
    """More bytes than --max-bytes, declared or not, is exit 2 naming the limit."""
    url = server.serve("/big.csv", Reply(body=topic_csv() * 50, length=length))

    result = invoke("validate", url, "--max-bytes", "1000", "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert refused(result.output, result.stderr) == (
        f"Error: {server.base}/big.csv: the link serves more than 1,000 bytes "
        "(--max-bytes); the download was stopped"
    )


@pytest.mark.slow
def test_an_endless_body_is_never_read_whole(server: Served) -> None:
    """A body that never ends is dropped once past max_bytes: the download returns,
    having taken a small part of what the server would send."""
    url = server.serve("/endless", Reply(endless=True))

    got = download(url, max_bytes=1_000_000, timeout=10, deadline=60, monotonic=time.monotonic)

    assert got.too_large and got.body == b""
    assert server.sent < 100_000_000


@pytest.mark.slow
def test_a_redirect_to_plain_http_elsewhere_is_refused(tmp_path: Path, server: Served) -> None:
    """A redirect to http:// on a host that is not loopback is not followed (nothing
    leaves this machine): exit 2 naming where it led, without that link's query."""
    url = server.serve(
        "/start", Reply(302, headers={"Location": f"http://sheets.example.com/x?sig={SECRET}"})
    )

    result = invoke("validate", url, "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert refused(result.output, result.stderr) == (
        f"Error: {server.base}/start: the link redirected (HTTP 302) to "
        "http://sheets.example.com/x, which is refused: it uses plain http, which is "
        "allowed only for loopback hosts; use https://"
    )
    assert server.requests == [f"/start?format=xlsx&token={SECRET}"]


def test_a_plain_http_link_elsewhere_is_refused_before_anything_is_read() -> None:
    """http:// to a host that is not loopback is exit 2 at once, its query not shown."""
    result = invoke("validate", f"http://sheets.example.com/export?token={SECRET}")

    assert result.exit_code == 2
    assert refused(result.output, result.stderr) == (
        "Error: http://sheets.example.com/export: uses plain http, which is allowed only "
        "for loopback hosts; use https://"
    )


@pytest.mark.slow
def test_no_answer_is_one_error_line(tmp_path: Path) -> None:
    """A port nobody listens on: exit 2, `could not connect`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = invoke("validate", f"http://127.0.0.1:{port}/x.csv?token={SECRET}")

    assert result.exit_code == 2
    assert refused(result.output, result.stderr) == (
        f"Error: http://127.0.0.1:{port}/x.csv: could not connect to the server (ConnectError)"
    )


@pytest.mark.slow
def test_a_missing_column_in_a_downloaded_sheet_names_the_link(
    tmp_path: Path, server: Served
) -> None:
    """A check made after loading (a required column absent) names the link too."""
    row = {k: v for k, v in TOPIC_ROW.items() if k != "campaign_name"}
    body = csv_text(list(row), [list(row.values())]).encode()
    url = server.serve("/d/export", Reply(body=body, headers={"Content-Type": "text/csv"}))

    result = invoke("validate", url, "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert refused(result.output, result.stderr).startswith(
        f"Error: {server.base}/d/export: the sheet has no campaign_name column"
    )


@pytest.mark.slow
def test_the_same_link_twice_is_read_once_and_two_links_of_one_name_are_both_kept(
    tmp_path: Path, server: Served
) -> None:
    """A URL named twice is downloaded once; two links whose files share a name are
    both read and both kept in inputs/, under distinct names."""
    first = server.serve("/a/export", Reply(body=topic_csv()))
    other = dict(TOPIC_ROW, campaign_key="other")
    second = server.serve(
        "/b/export", Reply(body=csv_text(list(other), [list(other.values())]).encode())
    )

    result = validate_files(Options(paths=(first, first, second), out=tmp_path / "out"))

    assert result.exit_code == 0
    assert len(server.requests) == 2
    assert [i["copy"] for i in result.summary["inputs"]] == [
        "inputs/export.csv",
        "inputs/export-2.csv",
    ]
    assert (tmp_path / "out" / "inputs" / "export-2.csv").read_bytes().count(b"other") == 1


@pytest.mark.slow
def test_an_input_url_is_kept_as_typed_by_the_command_line(tmp_path: Path, server: Served) -> None:
    """A URL typed as a PATH reaches the server exactly as typed, through click (a
    click.Path would make `https://` `https:/`, and fold `//` or a trailing `/`)."""
    url = server.serve("/Sheets//Q1/plan.csv/", Reply(body=topic_csv()))

    result = invoke("validate", url, "--out", tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert server.requests == [f"/Sheets//Q1/plan.csv/?format=xlsx&token={SECRET}"]
    assert results(tmp_path / "out")[0]["source"] == f"{server.base}/Sheets//Q1/plan.csv/"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@Example.com/a/b.csv?x=1#frag", "https://Example.com/a/b.csv"),
        ("https://example.com:8443/export?format=xlsx", "https://example.com:8443/export"),
        ("http://[::1]:8000/x?y", "http://[::1]:8000/x"),
        ("https://user:s3cret@host:99999/x.csv?token=abc", "https://host:99999/x.csv"),
        ("https://user:s3cret@host:port/x.csv", "https://host/x.csv"),
        ("https://user:s3/cret@host/x.csv", "https://host/x.csv"),
        ("https://user:s3cret@[::1/x.csv", "https://[::1/x.csv"),
        ("https://example.com#top?a=1", "https://example.com"),
    ],
)
def test_public_url_drops_query_fragment_and_password(url: str, shown: str) -> None:
    """What is shown of a URL, valid or not: no query, fragment or user:password."""
    assert public_url(url).lower() == shown.lower()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://host:8443/x", ""),
        ("https://host:99999/x", "has the port 99999; a port is a whole number from 1 to 65535"),
        ("https://host:0/x", "has the port 0; a port is a whole number from 1 to 65535"),
        ("https://u:pw@host:pw/x", "has a port that is not a number; a port is a whole number"),
        ("https://[::1/x", "is not a valid address"),
    ],
)
def test_url_problem_names_a_bad_port(url: str, problem: str) -> None:
    """A port out of range or not a number is refused, the port's text never echoed
    unless it is a number."""
    assert url_problem(url).startswith(problem) and bool(problem) == bool(url_problem(url))


def test_a_password_in_a_link_with_a_bad_port_is_never_shown() -> None:
    """`validate` of a link with user:password and a port out of range: exit 2, one
    line naming the link without its password or query, and the port."""
    result = invoke("validate", "https://user:s3cret@host:99999/x.csv?token=abc")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Error: https://host:99999/x.csv: has the port 99999; a port is a whole number "
        "from 1 to 65535"
    )
    assert "s3cret" not in result.output + result.stderr
    assert "abc" not in result.output + result.stderr


@pytest.mark.slow
def test_two_tabs_of_one_sheet_get_sources_of_their_own(tmp_path: Path, server: Served) -> None:
    """Two links that differ only in their query (two tabs of one Google Sheet) are both
    read, and reports name them `.../export` and `.../export (2)`, never the query."""
    other = dict(TOPIC_ROW, campaign_key="other", min_post_likes="many")
    first = server.serve(f"/export?gid=0&token={SECRET}", Reply(body=topic_csv()))
    second = server.serve(
        f"/export?gid=123&token={SECRET}",
        Reply(body=csv_text(list(other), [list(other.values())]).encode()),
    )
    out = tmp_path / "out"

    result = invoke("validate", first, second, "--out", out)

    assert result.exit_code == 1, result.output
    shown = f"{server.base}/export"
    assert [(r["source"], r["row"], r["status"]) for r in results(out)] == [
        (shown, "2", "valid"),
        (f"{shown} (2)", "2", "invalid"),
    ]
    with (out / "failed.csv").open(encoding="utf-8-sig", newline="") as stream:
        assert [r["_source"] for r in csv.DictReader(stream)] == [f"{shown} (2)"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [i["path"] for i in summary["inputs"]] == [shown, f"{shown} (2)"]
    assert SECRET.encode() not in every_byte_written(out)
    assert "gid" not in result.output + result.stderr


def test_links_that_share_a_public_form_are_numbered_in_the_order_given() -> None:
    """`shown_urls`: each distinct link once, the second and later of one public form
    numbered; a link named twice is one input."""
    a0, a1 = "https://h/export?gid=0", "https://h/export?gid=1"
    b = "https://user:pw@h/other?x"
    assert shown_urls([a0, Path("f.csv"), b, a1, a0, "https://h/export#x"]) == {
        a0: "https://h/export",
        b: "https://h/other",
        a1: "https://h/export (2)",
        "https://h/export#x": "https://h/export (3)",
    }


@pytest.mark.slow
def test_a_file_named_before_and_after_a_link_is_read_once(tmp_path: Path, server: Served) -> None:
    """`a.csv URL a.csv` reads a.csv once; its place is the first it is named at, and the
    link keeps its place between (also when the file comes through its folder)."""
    sheet = tmp_path / "sheets" / "a.csv"
    sheet.parent.mkdir()
    other = dict(TOPIC_ROW, campaign_key="local")
    sheet.write_text(csv_text(list(other), [list(other.values())]), encoding="utf-8")
    url = server.serve("/export", Reply(body=topic_csv()))

    result = validate_files(Options(paths=(sheet, url, sheet), out=tmp_path / "out"))
    later = validate_files(Options(paths=(url, sheet.parent, sheet), out=tmp_path / "later"))

    assert result.exit_code == 0
    assert [r.source for r in result.rows] == ["a.csv", f"{server.base}/export"]
    assert [r.source for r in later.rows] == [f"{server.base}/export", "a.csv"]
    assert [i["path"] for i in later.summary["inputs"]] == [f"{server.base}/export", str(sheet)]


@pytest.mark.slow
def test_a_slow_server_is_stopped_at_the_download_deadline(
    tmp_path: Path, server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server sending a byte at a time (never slow enough for a read timeout) is
    dropped when the whole download passes its deadline: exit 2, one line saying so."""
    monkeypatch.setattr("pipeline.inputs.DOWNLOAD_DEADLINE", 0.5)
    url = server.serve("/slow.csv", Reply(body=topic_csv() * 20, trickle=0.02))

    began = time.monotonic()
    result = invoke("validate", url, "--out", tmp_path / "out")

    assert time.monotonic() - began < 10
    assert result.exit_code == 2
    assert refused(result.output, result.stderr) == (
        f"Error: {server.base}/slow.csv: the download took longer than 0.5 seconds in all "
        "and was stopped (the server sends the file too slowly)"
    )
    assert server.sent < len(topic_csv() * 20)


def test_the_deadline_counts_the_whole_download_not_each_read() -> None:
    """Every piece arriving in time is not enough: past the deadline, the download stops
    (a fake clock, a body streamed in pieces through httpx's MockTransport)."""
    pieces = 0

    def body() -> Iterator[bytes]:
        nonlocal pieces
        while True:
            pieces += 1
            yield b"a,b\r\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "text/csv"}, content=body())

    ticks = itertools.count()
    got = download(
        "https://example.com/x.csv",
        max_bytes=10_000,
        timeout=60,
        deadline=5,
        monotonic=lambda: float(next(ticks)),  # a second per look at the clock
        transport=httpx.MockTransport(handler),
    )

    assert got.failure == DEADLINE_PASSED and got.body == b""
    assert pieces < 10


def test_a_link_from_elsewhere_may_not_redirect_to_this_machine() -> None:
    """A redirect from a host elsewhere to a loopback address is not followed, and is
    judged an error naming where it led (httpx's MockTransport)."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:8080/admin?k=1"})

    got = download(
        f"https://sheets.example.com/export?token={SECRET}",
        max_bytes=100,
        timeout=1,
        deadline=10,
        monotonic=time.monotonic,
        transport=httpx.MockTransport(handler),
    )

    assert asked == [f"https://sheets.example.com/export?token={SECRET}"]
    assert (got.status, got.location) == (302, "http://127.0.0.1:8080/admin?k=1")
    with pytest.raises(InputError) as caught:
        sheet_suffix(got, "https://sheets.example.com/export", max_bytes=100)
    assert str(caught.value) == (
        "https://sheets.example.com/export: the link redirected (HTTP 302) to "
        "http://127.0.0.1:8080/admin, which is refused: it is on this machine (a loopback "
        "address), and a link from another host may not lead there"
    )


@pytest.mark.parametrize(
    ("origin", "target", "refused"),
    [
        ("https://a.example/x", "http://127.0.0.1:8080/", True),
        ("https://a.example/x", "https://localhost/", True),
        ("https://a.example/x", "https://api.localhost./", True),
        ("https://a.example/x", "https://127.1/", True),
        ("https://a.example/x", "https://2130706433/", True),
        ("https://a.example/x", "https://[::1]/", True),
        ("https://a.example/x", "https://[::ffff:127.0.0.1]/", True),
        ("https://a.example/x", "https://0.0.0.0/", True),
        ("https://a.example/x", "https://b.example/y", False),
        ("http://127.0.0.1:5000/x", "http://127.0.0.1:5001/y", False),
        ("http://localhost:5000/x", "https://[::1]/y", False),
    ],
)
def test_only_a_link_on_this_machine_may_redirect_to_it(
    origin: str, target: str, refused: bool
) -> None:
    """Loopback however written is refused as a redirect's target from elsewhere;
    loopback to loopback, and elsewhere to elsewhere over https, are followed."""
    assert bool(redirect_problem(origin, target)) is refused


@pytest.mark.slow
def test_an_empty_downloaded_sheet_lists_the_downloaded_workbooks_other_sheets(
    tmp_path: Path, server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warning for an empty sheet names the other sheets of the workbook served,
    not those of a file in the working folder that bears the download's name."""
    served = write_xlsx(
        tmp_path / "served.xlsx", [list(TOPIC_ROW)], other_sheets={"Q2": [["x"]]}
    ).read_bytes()
    here = tmp_path / "here"
    here.mkdir()
    write_xlsx(here / "plan.xlsx", [list(TOPIC_ROW)], other_sheets={"WRONG": [["x"]]})
    monkeypatch.chdir(here)
    url = server.serve(
        "/export",
        Reply(
            body=served,
            headers={
                "Content-Type": XLSX_TYPE,
                "Content-Disposition": 'attachment; filename="plan.xlsx"',
            },
        ),
    )

    result = validate_files(Options(paths=(url,), out=tmp_path / "out"))

    warning = f"{server.base}/export [campaigns]: the sheet has no data rows"
    assert f"{warning} (the workbook's other sheets: Q2)" in result.warnings


@pytest.mark.slow
def test_a_sandbox_rehearsal_of_a_link_knows_its_owners_and_downloads_once(
    tmp_path: Path, server: Served
) -> None:
    """`run --sandbox URL`: the stand-in team holds the owner e-mails of the downloaded
    sheet (every row created), and the link is downloaded once."""
    row = dict(TOPIC_ROW, owner="Zoe.Unknown@Real-Team.example")
    url = server.serve("/export", Reply(body=csv_text(list(row), [list(row.values())]).encode()))
    out = tmp_path / "o"

    result = invoke("run", url, "--sandbox", "--state", tmp_path / "s.sqlite", "--out", out)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"1 row: 1 created. Reports in {out}\n"
    assert len(server.requests) == 1


@pytest.mark.slow
def test_file_naming_imports_no_http_client() -> None:
    """Archiving and file naming load without httpx (`pipeline.filenames` is offline)."""
    code = "import sys, pipeline.archive, pipeline.filenames; print('httpx' in sys.modules)"
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "False"


def downloaded(
    body: bytes, content_type: str = "", filename: str = "", *, too_large: bool = False
) -> Downloaded:
    """A 200 answer from https://example.com/export."""
    url = "https://example.com/export"
    return Downloaded(url, 200, content_type, filename, body, too_large=too_large)


ZIP = b"PK\x03\x04rest"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest"


@pytest.mark.parametrize(
    ("got", "suffix"),
    [
        (downloaded(ZIP, XLSX_TYPE), ".xlsx"),
        (downloaded(ZIP, "application/octet-stream"), ".xlsx"),
        (downloaded(ZIP, "text/csv", "plan.csv"), ".xlsx"),
        (downloaded(ZIP, "", "plan.xlsm"), ".xlsm"),
        (downloaded(ZIP, "application/vnd.oasis.opendocument.spreadsheet"), ".ods"),
        (downloaded(OLE, "application/vnd.ms-excel"), ".xls"),
        (downloaded(OLE, "", "locked.xlsx"), ".xlsx"),
        (downloaded(b"a,b\r\n1,2\r\n", "text/csv; charset=utf-8"), ".csv"),
        (downloaded(b"a,b\r\n", "text/plain"), ".csv"),
        (downloaded(b"a,b\r\n", "application/octet-stream", "x.csv"), ".csv"),
        (downloaded(b"a\tb\r\n", "text/tab-separated-values"), ".tsv"),
        (downloaded(b"a\tb\r\n", "", "x.tsv"), ".tsv"),
        (downloaded("a,b\r\n".encode("utf-16"), "text/csv"), ".csv"),
        (downloaded(b"", "text/csv"), ".csv"),
    ],
)
def test_the_format_is_judged_from_bytes_and_headers(got: Downloaded, suffix: str) -> None:
    """A zip is a workbook whatever the headers say; text is CSV (or TSV by its headers)."""
    assert sheet_suffix(got, "https://example.com/export", max_bytes=100) == suffix


@pytest.mark.parametrize(
    ("got", "problem"),
    [
        (downloaded(SIGN_IN, "text/html"), "web page (HTML)"),
        (downloaded(b"\n  <html><body>", "text/plain"), "web page (HTML)"),
        (downloaded(b"{}", "application/json"), "served application/json"),
        (downloaded(b"%PDF\x00\x01", "application/octet-stream"), "binary data"),
        (downloaded(b"", "", too_large=True), "more than 100 bytes"),
        (Downloaded("https://example.com/x", failure="ReadTimeout"), "did not answer in time"),
        (Downloaded("https://example.com/x", failure="TooManyRedirects"), "more than 10 times"),
        (Downloaded("https://example.com/x", 500), "HTTP 500 Internal Server Error"),
        (
            Downloaded("https://example.com/x", 301, location="ftp://example.com/f"),
            "is not an https:// address",
        ),
    ],
)
def test_what_is_not_a_sheet_is_judged_an_input_error(got: Downloaded, problem: str) -> None:
    """Each way a download is not a sheet is an InputError naming the link given."""
    with pytest.raises(InputError, match=re.escape(problem)) as caught:
        sheet_suffix(got, "https://example.com/export", max_bytes=100)
    assert str(caught.value).startswith("https://example.com/export: ")


def test_a_google_link_that_answers_a_sign_in_page_says_how_to_share_it() -> None:
    """For Google's hosts the hint says to share the sheet or publish it."""
    got = Downloaded("https://accounts.google.com/ServiceLogin", 200, "text/html", body=SIGN_IN)
    with pytest.raises(InputError) as caught:
        sheet_suffix(got, "https://docs.google.com/spreadsheets/d/x/export", max_bytes=100)
    assert "Anyone with the link" in caught.value.hint
    assert "Publish to web" in caught.value.hint


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("plan.xlsx", "plan.xlsx"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("..", "input"),
        (".hidden.csv", "hidden.csv"),
        ('a<b>:c"d|e?f*.csv', "a_b__c_d_e_f_.csv"),
        ("tab\there.csv", "tab_here.csv"),
        ("CON.csv", "_CON.csv"),
        ("x" * 300 + ".xlsx", "x" * 95 + ".xlsx"),
        ("", "input"),
    ],
)
def test_safe_name_is_a_bare_harmless_file_name(given: str, safe: str) -> None:
    """No folders, no control or reserved characters, not hidden, at most 100 characters."""
    assert safe_name(given) == safe


def test_unique_name_numbers_a_taken_name_ignoring_case() -> None:
    """A taken name gets -2, -3... before its suffix; case does not make it new."""
    assert unique_name("a.csv", []) == "a.csv"
    assert unique_name("a.csv", ["A.CSV"]) == "a-2.csv"
    assert unique_name("a.csv", ["a.csv", "a-2.csv"]) == "a-3.csv"


@pytest.mark.parametrize(
    ("url", "stem"),
    [
        ("https://docs.google.com/spreadsheets/d/ID/export?format=xlsx", "export"),
        ("https://example.com/plans/q1%20plan.csv", "q1 plan"),
        ("https://example.com/", "example.com"),
        ("https://example.com/a/..", "example.com"),
    ],
)
def test_url_stem_is_readable(url: str, stem: str) -> None:
    """A URL's stem (for the run id and a copy's name): last segment, else host."""
    assert url_stem(url) == stem


def test_a_download_through_a_transport_never_raises() -> None:
    """Transport errors are data: `failure` names them (httpx's MockTransport)."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    got = download(
        "https://example.com/x",
        max_bytes=10,
        timeout=1,
        deadline=10,
        monotonic=time.monotonic,
        transport=httpx.MockTransport(handler),
    )
    assert got.failure == "ConnectError" and got.status == 0
