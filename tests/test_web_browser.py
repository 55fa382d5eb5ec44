"""The whole page in a real browser (Chromium), against the sandbox: a sheet with errors
marked at its cells, the fixed sheet checked, planned, applied with progress, its
results.xlsx downloaded and read back, the ledger shown; a screenshot of each page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests import browser as helpers

# The shared fixtures: one server and one Chromium for this module, a fresh tab per test.
served, browser, page = helpers.served, helpers.browser, helpers.page
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

ROOT = Path(__file__).parent.parent
# Generous: the first launch of Chromium on a fresh machine fills its caches.
WAIT_MS = 60_000


def sheet_with_errors(folder: Path) -> Path:
    """The example CSV with two bad cells: row 2's min_post_likes, row 3's owner."""
    text = (ROOT / "input_templates" / "example.csv").read_text(encoding="utf-8-sig")
    text = text.replace(",10,true,2,", ",twenty,true,2,", 1)
    text = text.replace("ben@example.com", "not-an-owner", 1)
    path = folder / "q1 plan.csv"
    path.write_text(text, encoding="utf-8")
    return path


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 0


def test_a_sheet_goes_from_its_errors_to_downloaded_results(
    page: Page, served: str, tmp_path: Path
) -> None:
    """Upload a sheet with errors (its bad cells marked with the library's messages),
    upload the fixed one, plan, apply against the sandbox, download results.xlsx."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(served))
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.set_default_timeout(WAIT_MS)

    page.goto(served)
    expect(page).to_have_url(f"{origin}/")  # the token left the address bar
    expect(page.get_by_role("heading", name="Upload a sheet")).to_be_visible()
    shoot(page, tmp_path, "1-upload")

    page.set_input_files("#sheet-file", str(sheet_with_errors(tmp_path)))
    page.click("#check-button")
    expect(page).to_have_url(f"{origin}/check")
    likes = page.locator('#sheet-table tr[data-row="2"] td[data-column="min_post_likes"]')
    expect(likes).to_have_class(re.compile(r"\bbad\b"))
    expect(likes).to_contain_text('"twenty" is not a whole number (e.g. 25)')
    owner = page.locator('#sheet-table tr[data-row="3"] td[data-column="owner"]')
    expect(owner).to_have_class(re.compile(r"\bbad\b"))
    expect(owner).to_contain_text('"not-an-owner" is neither a team member')
    expect(page.locator("#sheet-table td.bad")).to_have_count(2)
    expect(page.locator(".counts")).to_contain_text("2 invalid")
    page.click("#show-attention")
    expect(page.locator("#sheet-table tbody tr")).to_have_count(2)
    shoot(page, tmp_path, "2-check-errors")

    page.get_by_role("link", name="Upload").click()
    page.set_input_files("#sheet-file", str(helpers.EXAMPLE))
    page.click("#check-button")
    expect(page.locator(".counts")).to_contain_text("5 valid")
    expect(page.locator("#sheet-table td.bad")).to_have_count(0)
    page.click("#prospects-tab")
    expect(page.locator("#sheet-table tbody tr")).to_have_count(10)
    shoot(page, tmp_path, "3-check-prospects")

    page.click("#plan-button")
    expect(page).to_have_url(f"{origin}/plan")
    expect(page.locator("#group-create li")).to_have_count(5)
    expect(page.locator("#group-prospects")).to_contain_text("Prospects to add (10)")
    shoot(page, tmp_path, "4-plan")

    page.click("#apply-button")
    expect(page).to_have_url(f"{origin}/apply")
    expect(page.locator("#finished")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#progress .counts")).to_contain_text("5 created")
    shoot(page, tmp_path, "5-apply")

    page.click("#see-results")
    with page.expect_download() as downloading:
        page.click("#file-results-xlsx")
    saved = tmp_path / "results.xlsx"
    downloading.value.save_as(saved)
    workbook = load_workbook(saved, read_only=True)
    rows = list(workbook["results"].iter_rows(values_only=True))
    status = rows[0].index("status")
    assert [row[status] for row in rows[1:]] == ["created"] * 5
    shoot(page, tmp_path, "6-results")

    page.get_by_role("link", name="Ledger").click()
    expect(page.locator("#ledger-total")).to_contain_text("5 campaign keys")
    shoot(page, tmp_path, "7-ledger")

    assert [url for url in asked if not url.startswith(origin)] == []
    assert problems == []


def test_the_page_works_from_the_keyboard(page: Page, served: str) -> None:
    """Tab reaches the file picker and the check button, and Enter on a step link opens it."""
    page.goto(served)
    reached: list[str] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(
            str(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
        )
    assert "sheet-file" in reached
    assert "check-button" in reached
    page.get_by_role("link", name="Ledger").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Ledger")).to_be_visible()
