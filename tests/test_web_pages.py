"""The pages of `campaigns serve` say what the library says: each problem at its cell,
the plan grouped with its changes, one apply at a time (running on when nobody
watches), the reports of that run to download, the ledger as `campaigns status` sees it;
a bad upload gets a clear page, never a traceback."""

from __future__ import annotations

import csv
import html
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from pipeline.errors import ConfigError
from pipeline.load import load_tables
from pipeline.model import Status
from pipeline.report import STATUS_COLOURS
from pipeline.run import RunResult
from tests.browser import Visitor, serve_settings, visitor_of
from tests.served import SECRET, Reply, Served
from web.app import DOWNLOADS
from web.views import SHOWN_ROWS, grid, place_messages, status_css
from web.workspace import Run, Workspace

ROOT = Path(__file__).parent.parent
EXAMPLE_CSV = (ROOT / "input_templates" / "example.csv").read_text(encoding="utf-8-sig")
EXAMPLE_XLSX = (ROOT / "input_templates" / "example.xlsx").read_bytes()
WAIT = 60  # seconds an apply against the sandbox may take before the test gives up


def with_errors() -> bytes:
    """The example with two bad cells: row 2's min_post_likes, row 3's owner."""
    text = EXAMPLE_CSV.replace(",10,true,2,", ",twenty,true,2,", 1)
    return text.replace("ben@example.com", "not-an-owner", 1).encode()


def many_rows(count: int) -> bytes:
    """The example's rows over and over, `count` of them, each its own campaign; every
    third one with a bad min_post_likes."""
    [header, *rows] = list(csv.reader(io.StringIO(EXAMPLE_CSV)))
    key, name, likes = (
        header.index(c) for c in ("campaign_key", "campaign_name", "min_post_likes")
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for number in range(count):
        row = list(rows[number % len(rows)])
        row[key], row[name] = f"{row[key]}-{number}", f"{row[name]} {number}"
        if number % 3 == 0:
            row[likes] = "twenty"
        writer.writerow(row)
    return out.getvalue().encode()


def text_of(response: object) -> str:
    return html.unescape(getattr(response, "text", ""))


@pytest.fixture
def visitor(tmp_path: Path) -> Iterator[Visitor]:
    """A person at a fresh rehearsal page."""
    yield from visitor_of(serve_settings(tmp_path))


def cell_html(page: str, row: int, column: str) -> str:
    """The <td> of `column` in the line of sheet row `row`."""
    line = re.search(rf'<tr data-row="{row}".*?</tr>', page, re.S)
    assert line is not None
    found = re.search(rf'<td data-column="{column}"[^>]*>.*?</td>', line.group(0), re.S)
    assert found is not None
    return found.group(0)


def test_messages_go_to_the_cell_their_header_names() -> None:
    """`header: message` goes under the header (the longest that fits); others stay whole."""
    cells, notes = place_messages(
        ["min_post_likes: is bad", "dm: x", "dm enabled: y", "rows 3 and 4 share a key"],
        ["dm", "dm enabled", "min_post_likes"],
    )
    assert cells == {"min_post_likes": ["is bad"], "dm": ["x"], "dm enabled": ["y"]}
    assert notes == ["rows 3 and 4 share a key"]


def test_the_grid_lays_each_row_on_the_sheets_cells() -> None:
    """Cells as read, in the sheet's columns; a message about a missing column is a note."""
    [table] = load_tables(b"Campaign Name,owner\nQ1,anna@example.com\n", "plan.csv")
    shown = grid(table, [(2, "invalid", ("owner: no good", "style_id: is required"))])
    assert shown.headers == ("Campaign Name", "owner")
    assert shown.columns == ("campaign_name", "owner")
    [line] = shown.lines
    assert [c.text for c in line.cells] == ["Q1", "anna@example.com"]
    assert [c.problems for c in line.cells] == [(), ("no good",)]
    assert line.notes == ("style_id: is required",)


def test_the_status_colours_are_those_of_results_xlsx() -> None:
    """Every status gets the colour results.xlsx gives it."""
    css = status_css()
    for status, colour in STATUS_COLOURS.items():
        assert f".status-{status.value} {{ background: #{colour[-6:].lower()}; }}" in css


def test_the_check_marks_each_bad_cell_with_the_librarys_message(visitor: Visitor) -> None:
    """Row 2's min_post_likes and row 3's owner are marked, in the CLI's words; the
    counts and the filter for rows that need a person follow."""
    assert visitor.upload("q1 plan.csv", with_errors()).headers["location"] == "/check"
    page = text_of(visitor.get("/check"))
    likes = cell_html(page, 2, "min_post_likes")
    assert 'class="bad"' in likes
    assert '"twenty" is not a whole number (e.g. 25)' in likes
    assert 'class="bad"' in cell_html(page, 3, "owner")
    assert 'class="bad"' not in cell_html(page, 2, "owner")
    assert page.count('class="bad"') == 2
    assert "3 valid" in page
    assert "2 invalid" in page
    assert "Check of q1 plan.csv" in page
    only = text_of(visitor.get("/check?show=attention"))
    assert re.findall(r'<tr data-row="(\d+)"', only) == ["2", "3"]


def test_prospects_have_their_own_tab(visitor: Visitor) -> None:
    """A workbook's prospects sheet is checked and shown on its own tab."""
    visitor.upload("example.xlsx", EXAMPLE_XLSX)
    page = text_of(visitor.get("/check?tab=prospects"))
    assert len(re.findall(r'<tr data-row="\d+"', page)) == 10
    assert "10 valid" in page
    assert 'data-column="linkedin_url"' in page


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("notes.txt", b"hello", "notes.txt: not a spreadsheet this tool reads"),
        ("plan.xlsx", b"not a zip at all", "plan.xlsx"),
        ("plan.csv", b"", "plan.csv"),
        ("plan.csv", b"who,what\nme,this\n", "plan.csv"),
    ],
)
def test_a_bad_upload_gets_a_clear_page(
    visitor: Visitor, name: str, data: bytes, said: str
) -> None:
    """Not a sheet, broken, empty, or a header the tool does not know: 400 with the
    library's message, and the previous sheet stays."""
    response = visitor.upload(name, data)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert said in text_of(response)
    assert "Traceback" not in response.text
    assert visitor.workspace.sheet is None


def test_an_empty_form_asks_for_a_sheet(visitor: Visitor) -> None:
    """Neither a file nor a link: the page says what it needs."""
    response = visitor.post("/upload", data={"link": ""})
    assert response.status_code == 400
    assert "Choose a .csv or .xlsx file, or paste a link." in response.text


def test_a_link_that_is_not_allowed_gets_the_librarys_words(visitor: Visitor) -> None:
    """A plain-http link to another host is refused as `campaigns validate` refuses it."""
    response = visitor.post("/upload", data={"link": "http://example.com/plan.csv"})
    assert response.status_code == 400
    assert "plain http, which is allowed only for loopback hosts" in text_of(response)


@pytest.mark.slow
def test_a_pasted_link_is_read_and_named_without_its_query(
    visitor: Visitor, server: Served
) -> None:
    """A shared sheet's link is downloaded as `campaigns validate URL` downloads it, and the
    check names it by its address without the query (which may hold a secret)."""
    url = server.serve(
        f"/sheets/export?format=csv&token={SECRET}",
        Reply(body=EXAMPLE_CSV.encode(), headers={"Content-Type": "text/csv"}),
    )
    assert visitor.post("/upload", data={"link": url}).headers["location"] == "/check"
    page = text_of(visitor.get("/check"))
    assert f"Check of {server.base}/sheets/export" in page
    assert "5 valid" in page
    assert SECRET not in page


@pytest.mark.parametrize("name", ["campaigns.xlsx", "campaigns.csv", "example.xlsx", "example.csv"])
def test_the_template_and_the_example_download_here(visitor: Visitor, name: str) -> None:
    """Each download is a sheet the loader reads (the example with its 5 rows)."""
    response = visitor.get(f"/download/{name}")
    assert response.status_code == 200
    assert f'filename="{name}"' in response.headers["content-disposition"]
    tables = load_tables(response.content, name)
    assert len(tables[0].frame) == (5 if name.startswith("example") else 0)


def test_the_upload_page_offers_each_download(visitor: Visitor) -> None:
    """The Upload page links every sheet /download/ serves, from the same list."""
    page = visitor.get("/").text
    for download in DOWNLOADS:
        assert f'href="/download/{download.name}"' in page
    assert page.count('href="/download/') == len(DOWNLOADS)


def test_pages_before_a_sheet_say_what_to_do_first(visitor: Visitor) -> None:
    """Check goes back to Upload; Plan, Apply and Results ask for the step before."""
    assert visitor.get("/check").headers["location"] == "/"
    assert "Upload a sheet first" in visitor.get("/plan").text
    assert "Make a plan first" in visitor.get("/apply").text
    assert "No run yet" in visitor.get("/results").text
    refused = visitor.post("/apply")
    assert refused.status_code == 409
    assert "Make a plan of the sheet first" in refused.text


def test_the_ledger_page_says_what_status_says_of_a_missing_ledger(visitor: Visitor) -> None:
    """Before any run: the library's `no ledger at ...` and its hint."""
    page = text_of(visitor.get("/ledger"))
    assert "no ledger at" in page
    assert "Run `campaigns run` first" in page


def test_without_a_key_the_apply_page_says_how_and_offers_the_sandbox(tmp_path: Path) -> None:
    """No key and no sandbox: the library's words, where to set the key, a sandbox button
    that switches this page to a rehearsal."""
    for visitor in visitor_of(serve_settings(tmp_path, sandbox=False)):
        page = text_of(visitor.get("/apply"))
        assert "no API key: set EXTROVERT_API_KEY or give --api-key-file" in page
        assert "restart <code>campaigns serve</code>" in page
        assert 'id="use-sandbox"' in page
        assert 'type="password"' not in page and "api_key" not in page.replace("api_key_file", "")
        visitor.post("/sandbox")
        assert visitor.workspace.sandbox
        assert "Sandbox rehearsal" in visitor.get("/").text


def apply_and_wait(visitor: Visitor) -> None:
    assert visitor.post("/apply").status_code == 303
    run = visitor.workspace.run
    assert run is not None
    assert run.finished.wait(WAIT)


@pytest.mark.slow
def test_plan_apply_and_download_against_the_sandbox(visitor: Visitor) -> None:
    """The plan groups what would happen; apply does exactly that in the background (the
    test watches no page meanwhile), a second apply is refused politely, the reports come
    from the run's folder, and the ledger page counts what was created."""
    visitor.upload("example.xlsx", EXAMPLE_XLSX)
    assert visitor.post("/plan").headers["location"] == "/plan"
    plan = text_of(visitor.get("/plan"))
    assert "Campaigns to create (5)" in plan
    assert "Prospects to add (10) to 4 list(s)" in plan
    assert "5 to create" in plan
    apply_and_wait(visitor)
    again = visitor.post("/apply")
    assert again.status_code == 409
    assert "This plan has been applied already" in again.text
    progress = text_of(visitor.get("/apply/progress"))
    assert "5 created" in progress
    assert "10 added" in progress
    assert "hx-trigger" not in progress  # finished: the page stops asking
    assert progress.count(">created</td>") == 5  # a line per row sent
    results = visitor.get("/results")
    assert "results.xlsx" in results.text
    download = visitor.get("/results/results.xlsx")
    workbook = load_workbook(io.BytesIO(download.content), read_only=True)
    rows = list(workbook["results"].iter_rows(values_only=True))
    statuses = [row[rows[0].index("status")] for row in rows[1:]]
    assert statuses == [Status.CREATED.value] * 5
    assert visitor.get("/results/summary.json").json()["counts"] == {"created": 5}
    assert "5 campaign keys" in visitor.get("/ledger").text


@pytest.mark.slow
def test_a_second_apply_while_one_runs_is_refused_politely(
    visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a run goes on (held here until the test lets it go), another apply gets a
    409 that says so, and the Apply page keeps polling its progress."""
    workspace = visitor.workspace
    visitor.upload("example.csv", EXAMPLE_CSV.encode())
    visitor.post("/plan")
    going = threading.Event()

    def held(run: Run) -> RunResult:
        going.wait(WAIT)
        raise ConfigError("let go by the test")

    monkeypatch.setattr(workspace, "_applying", held)
    assert visitor.post("/apply").status_code == 303
    refused = visitor.post("/apply")
    assert refused.status_code == 409
    assert "A run is going on already" in refused.text
    assert 'hx-get="/apply/progress"' in visitor.get("/apply").text
    going.set()
    run = workspace.run
    assert run is not None
    assert run.finished.wait(WAIT)
    assert "let go by the test" in visitor.get("/apply/progress").text


@pytest.mark.slow
def test_a_changed_row_is_planned_as_an_update_with_its_changes(visitor: Visitor) -> None:
    """After a run, the same sheet with one cell changed plans one update, its change
    shown `column: old -> new`, and the rest unchanged."""
    visitor.upload("example.csv", EXAMPLE_CSV.encode())
    visitor.post("/plan")
    apply_and_wait(visitor)
    visitor.upload("example.csv", EXAMPLE_CSV.replace(",10,true,2,", ",11,true,2,", 1).encode())
    visitor.post("/plan")
    plan = text_of(visitor.get("/plan"))
    assert "Campaigns to update (1)" in plan
    assert "min_post_likes: 10 -&gt; 11" in visitor.get("/plan").text
    assert "Unchanged (4)" in plan


@pytest.mark.slow
def test_the_progress_lists_each_row_as_it_is_settled(
    visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a run goes on, the progress lists every row the plan sends: those settled
    with their status (as the library reports each one), the others waiting."""
    workspace = visitor.workspace
    visitor.upload("example.csv", EXAMPLE_CSV.encode())
    visitor.post("/plan")
    going = threading.Event()

    def two_settled(run: Run) -> RunResult:
        run.tally.start(5)
        run.tally.advance(Status.CREATED, 0)
        run.tally.advance(Status.REJECTED, 2)
        going.wait(WAIT)
        raise ConfigError("let go by the test")

    monkeypatch.setattr(workspace, "_applying", two_settled)
    assert visitor.post("/apply").status_code == 303
    page = visitor.get("/apply/progress").text
    going.set()
    table = page[page.index('id="progress-rows"') :]
    lines = table.split("<tr>")[2:]
    assert len(lines) == 5
    assert "example.csv row 2" in lines[0] and 'class="status-created">created<' in lines[0]
    assert "waiting" in lines[1]
    assert "example.csv row 4" in lines[2] and 'class="status-rejected">rejected<' in lines[2]
    assert all("waiting" in line for line in lines[3:])
    assert '<span id="done">2</span> of 5 rows done' in page
    run = workspace.run
    assert run is not None and run.finished.wait(WAIT)


def held_apply(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """From now on an apply goes on until the test sets the event it returns (then it
    stops with an error)."""
    going = threading.Event()

    def held(run: Run) -> RunResult:
        going.wait(WAIT)
        raise ConfigError("let go by the test")

    monkeypatch.setattr(workspace, "_applying", held)
    return going


def test_the_check_of_a_large_sheet_lists_the_first_rows_and_counts_them_all(
    visitor: Visitor,
) -> None:
    """3,000 rows: the page lays out the first SHOWN_ROWS, says how many more there are,
    and still counts every row; the filter picks the rows that need a person before it
    cuts, and says how many there are."""
    visitor.upload("big.csv", many_rows(3000))
    page = text_of(visitor.get("/check"))
    assert page.count("<tr") == SHOWN_ROWS + 1  # the header's, and one per row shown
    assert "2000 valid" in page and "1000 invalid" in page
    assert f"and {3000 - SHOWN_ROWS} more rows (3000 in all)" in page
    assert 'Show only rows that need a person (<span id="attention-count">1000</span>)' in page
    only = text_of(visitor.get("/check?show=attention"))
    shown_rows = re.findall(r'<tr data-row="(\d+)"', only)
    assert len(shown_rows) == SHOWN_ROWS
    assert shown_rows[:2] == ["2", "5"]  # rows 2, 5, 8... are the bad ones
    assert f"and {1000 - SHOWN_ROWS} more rows that need a person (1000 in all)" in only


@pytest.mark.slow
def test_the_plan_and_the_results_of_a_large_sheet_list_the_first_rows_of_each_group(
    visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each group of the plan lists at most SHOWN_ROWS rows and says how many more; its
    heading counts them all. The Results page's table too."""
    visitor.upload("big.csv", many_rows(1200))
    visitor.post("/plan")
    page = text_of(visitor.get("/plan"))
    assert "Campaigns to create (800)" in page
    assert "Rows that need a person (400)" in page
    assert page.count('<span class="status-would_create mark">') == SHOWN_ROWS
    assert page.count('<span class="status-invalid mark">') == 400
    assert f"and {800 - SHOWN_ROWS} more (every row is in the plan's reports)" in page
    planned = visitor.workspace.planned
    assert planned is not None
    monkeypatch.setattr(visitor.workspace, "_applying", lambda run: planned.result)
    apply_and_wait(visitor)
    results = text_of(visitor.get("/results"))
    assert results.count("<tr") == SHOWN_ROWS + 1
    assert f"and {1200 - SHOWN_ROWS} more rows" in results
    assert "800 would_create" in results


def test_the_progress_before_any_run_says_there_is_none(visitor: Visitor) -> None:
    """/apply/progress before an apply: a page saying so, not an error."""
    response = visitor.get("/apply/progress")
    assert response.status_code == 200
    assert "No run yet in this session" in response.text


def test_an_unexpected_error_is_a_500_page_with_the_guards_headers_and_no_traceback(
    visitor: Visitor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a page: 500, the error page in the page's words (the traceback only in
    the log), and the headers that keep the page to itself."""

    def broken() -> str:
        raise RuntimeError("a bug with a detail the page must not show")

    monkeypatch.setattr("web.app.status_css", broken)
    response = visitor.get("/status.css")
    assert response.status_code == 500
    assert "The page failed unexpectedly; the server's log says why." in text_of(response)
    assert "Traceback" not in response.text and "must not show" not in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "a bug with a detail" in caplog.text


@pytest.mark.slow
def test_after_an_apply_a_new_plan_can_be_applied(visitor: Visitor) -> None:
    """Upload, plan, apply; then a changed sheet planned: the Apply page offers to apply
    the new plan (and links the run before), and applying it runs that plan."""
    visitor.upload("example.csv", EXAMPLE_CSV.encode())
    visitor.post("/plan")
    apply_and_wait(visitor)
    first = visitor.workspace.run
    visitor.upload("example.csv", EXAMPLE_CSV.replace(",10,true,2,", ",11,true,2,", 1).encode())
    visitor.post("/plan")
    page = visitor.get("/apply").text
    assert 'id="apply-button"' in page
    assert 'id="previous-run"' in page
    assert 'id="progress"' not in page
    assert 'id="apply-button"' in visitor.get("/plan").text
    apply_and_wait(visitor)
    run = visitor.workspace.run
    assert run is not None and run is not first
    assert run.planned is visitor.workspace.planned
    assert run.result is not None and run.result.counts == {"updated": 1, "already_created": 4}
    page = visitor.get("/apply").text
    assert 'id="finished"' in page and 'id="apply-button"' not in page
    assert 'id="applied"' in visitor.get("/plan").text


def test_without_a_key_a_plan_that_needs_one_says_how_on_the_plan_page(tmp_path: Path) -> None:
    """No key, no sandbox, owners given by e-mail: the plan fails with the library's words
    on the Plan page, with where to set the key and the sandbox button."""
    for visitor in visitor_of(serve_settings(tmp_path, sandbox=False)):
        visitor.upload("example.csv", EXAMPLE_CSV.encode())
        response = visitor.post("/plan")
        assert response.status_code == 400
        page = text_of(response)
        assert "is an e-mail that a plan must resolve to a team member" in page
        assert "Set EXTROVERT_API_KEY (or give --api-key-file) and plan again." in page
        assert "restart <code>campaigns serve</code>" in page
        assert 'id="use-sandbox"' in page
        assert 'id="plan-button"' in page


def test_without_a_key_the_plan_page_offers_no_apply(tmp_path: Path) -> None:
    """No key, no sandbox: a plan that needs no key is shown, and instead of the Apply
    button the page says how to set a key and offers the sandbox."""
    team_member = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
    sheet = re.sub(r"\b\w+@example\.com\b", team_member, EXAMPLE_CSV)
    for visitor in visitor_of(serve_settings(tmp_path, sandbox=False)):
        visitor.upload("example.csv", sheet.encode())
        assert visitor.post("/plan").status_code == 303
        page = text_of(visitor.get("/plan"))
        assert "Campaigns to create (5)" in page
        assert 'id="apply-button"' not in page
        assert 'id="no-key"' in page and 'id="use-sandbox"' in page


@pytest.mark.slow
def test_no_plan_is_made_while_a_run_goes_on(
    visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While an apply runs, planning is refused (its rows would count as still to
    create) and the Plan buttons are disabled; once it is over, planning works again."""
    workspace = visitor.workspace
    visitor.upload("example.csv", EXAMPLE_CSV.encode())
    visitor.post("/plan")
    planned = workspace.planned
    going = held_apply(workspace, monkeypatch)
    assert visitor.post("/apply").status_code == 303
    refused = visitor.post("/plan")
    assert refused.status_code == 409
    assert "A run is going on: wait for it to finish, then plan again." in refused.text
    assert workspace.planned is planned
    assert re.search(r'id="plan-button" disabled', visitor.get("/check").text)
    going.set()
    run = workspace.run
    assert run is not None and run.finished.wait(WAIT)
    assert 'id="plan-button" disabled' not in visitor.get("/check").text
    assert visitor.post("/plan").status_code == 303


@pytest.mark.slow
def test_the_plans_report_folder_is_named_after_the_sheet(visitor: Visitor) -> None:
    """As `campaigns plan "q1 plan.csv"` names it: `<time>-q1 plan`."""
    visitor.upload("q1 plan.csv", EXAMPLE_CSV.encode())
    visitor.post("/plan")
    planned = visitor.workspace.planned
    assert planned is not None
    assert planned.path.parent.name.endswith("-q1 plan")
    assert planned.path.parent.parent == visitor.workspace.settings.reports
