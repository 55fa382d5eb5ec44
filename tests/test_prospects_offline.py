"""Prospect rows read, checked and reported with nothing sent (issue 12, items 1, 2, 5):
a workbook's `prospects` sheet or a prospects file, each row tied to one Prospects
campaign row of the run and to its list, its link made canonical, and every row in
prospects.csv, results.xlsx and (when it needs a person) failed-prospects.csv."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.load import PROSPECTS, load
from pipeline.prospects import check_prospects
from pipeline.run import RunResult, validate_files
from pipeline.settings import Options
from pipeline.template import EXAMPLE_ROWS
from pipeline.validate import validate
from tests.fakes import FakeTiming
from tests.helpers import invoke, rows_csv, write_csv, write_xlsx

CAMPAIGN_HEADER = list(EXAMPLE_ROWS[0])
PROSPECT_HEADER = ["campaign", "linkedin_url", "list_name"]


def campaign_rows() -> list[list[str]]:
    """The example rows (keys acme-q1-cto, acme-q1-vp-sales, ..., topic rows last)."""
    return [[row.get(h, "") for h in CAMPAIGN_HEADER] for row in EXAMPLE_ROWS]


def workbook(tmp_path: Path, prospects: Sequence[Sequence[Any]], name: str = "plan.xlsx") -> Path:
    """A workbook with the example campaign rows and a `prospects` sheet of `prospects`."""
    return write_xlsx(
        tmp_path / name,
        [CAMPAIGN_HEADER, *campaign_rows()],
        other_sheets={"prospects": [PROSPECT_HEADER, *prospects]},
    )


def check(tmp_path: Path, *paths: Path) -> RunResult:
    return validate_files(Options(paths=paths, out=tmp_path / "out"), timing=FakeTiming().timing)


def lines(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def by_row(result: RunResult) -> dict[int, Any]:
    return {p.row: p for p in result.prospects}


# -- reading ------------------------------------------------------------------------------


def test_a_workbooks_prospects_sheet_is_read_beside_its_campaigns(tmp_path: Path) -> None:
    """A workbook gives two tables: its campaign rows and its prospects sheet; campaign
    rows are checked as before, and the prospects sheet's rows are prospects."""
    path = workbook(tmp_path, [["acme-q1-cto", "linkedin.com/in/jane", ""]])

    tables = load([path])

    assert [(t.sheet, t.kind) for t in tables] == [
        ("campaigns", "campaigns"),
        ("prospects", PROSPECTS),
    ]
    assert len(validate(tables)) == len(EXAMPLE_ROWS)
    assert tables[1].frame.to_dict("records") == [
        {"campaign": "acme-q1-cto", "linkedin_url": "linkedin.com/in/jane", "list_name": ""}
    ]


def test_a_csv_whose_header_names_linkedin_url_is_a_prospects_file(tmp_path: Path) -> None:
    """A CSV with `Profile URL` and `Campaign Key` headers (aliases, any case) beside the
    campaigns CSV is a prospects file; its `_` columns are ignored; its row numbers are
    the file's."""
    campaigns = rows_csv(tmp_path / "campaigns.csv", list(EXAMPLE_ROWS))
    people = write_csv(
        tmp_path / "people.csv",
        ["Campaign Key", "Profile URL", "_note"],
        [["acme-q1-cto", "https://www.linkedin.com/in/Anna/", "met at a fair"], ["", "", "x"]],
    )

    result = check(tmp_path, campaigns, people)

    assert [(p.source, p.row, p.url, p.status.value) for p in result.prospects] == [
        ("people.csv", 2, "https://www.linkedin.com/in/anna", "valid")
    ]
    assert result.exit_code == 0
    assert result.prospect_counts == {"valid": 1}


def test_an_unknown_prospects_header_suggests_the_prospects_column(tmp_path: Path) -> None:
    """A prospects sheet's misspelt header is refused (exit 2) naming the closest
    prospects column, not a campaign column."""
    path = write_xlsx(
        tmp_path / "plan.xlsx",
        [CAMPAIGN_HEADER, *campaign_rows()],
        other_sheets={"prospects": [["campaign", "linkedin_url", "list_nmae"], ["a", "b", "c"]]},
    )

    result = invoke("validate", path, "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert (
        "plan.xlsx [prospects], row 1: unknown column C 'list_nmae' (did you mean list_name?)"
        in result.output
    )


def test_an_empty_prospects_sheet_is_no_prospects(tmp_path: Path) -> None:
    """A template's empty prospects sheet (header only, or nothing): no prospect rows,
    no prospects files, the campaign rows as before."""
    path = write_xlsx(
        tmp_path / "plan.xlsx",
        [CAMPAIGN_HEADER, *campaign_rows()],
        other_sheets={"prospects": [PROSPECT_HEADER]},
    )

    result = check(tmp_path, path)

    assert result.prospects == () and result.exit_code == 0
    assert not (tmp_path / "out" / "prospects.csv").exists()
    assert "prospects" not in result.summary


# -- checks -------------------------------------------------------------------------------


def test_each_prospect_row_is_tied_to_its_campaign_row_and_list(tmp_path: Path) -> None:
    """By campaign_key, or by a campaign_name no other row has (compared like keys);
    the list is the campaign's name when list_name is empty, else as first written;
    the link is sent in its canonical form."""
    path = workbook(
        tmp_path,
        [
            ["ACME-Q1-CTO", "https://www.linkedin.com/in/Jane-Doe/?trk=x", ""],
            ["  acme q1 - vps of sales ", "de.linkedin.com/in/Jürgen-Müller", "  VIP  "],
            ["acme-q1-vp-sales", "https://www.linkedin.com/in/bob", "vip"],
        ],
    )

    rows = by_row(check(tmp_path, path))

    assert (rows[2].campaign_key, rows[2].list_name) == ("acme-q1-cto", "ACME Q1 - CTOs in fintech")
    assert rows[2].url == "https://www.linkedin.com/in/jane-doe"
    assert (rows[3].campaign_key, rows[3].list_name) == ("acme-q1-vp-sales", "VIP")
    assert rows[3].url == "https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller"
    assert rows[4].list_name == "VIP"  # the name its list's first row wrote
    assert {row.status.value for row in rows.values()} == {"valid"}


@pytest.mark.parametrize(
    ("campaign", "link", "status", "message"),
    [
        ("", "linkedin.com/in/a", "invalid", "campaign: empty; write the campaign_key"),
        ("nope", "linkedin.com/in/a", "invalid", "'nope' names no campaign row of this run"),
        ("acme-q1-ct", "linkedin.com/in/a", "invalid", "(did you mean 'acme-q1-cto'?)"),
        ("topic-revops", "linkedin.com/in/a", "invalid", "is a Topic campaign; only Prospects"),
        ("acme-q1-cto", "https://www.linkedin.com/company/acme", "invalid", "a company page"),
        ("acme-q1-cto", "https://lnkd.in/abc", "invalid", "short link"),
        ("acme-q1-cto", "", "invalid", "linkedin_url: "),
    ],
)
def test_a_prospect_row_that_cannot_be_sent_says_why(
    tmp_path: Path, campaign: str, link: str, status: str, message: str
) -> None:
    """Empty, unknown and Topic campaigns, links that are not a person's profile, an
    empty link: invalid, each with its own message at its cell; exit 1."""
    result = check(tmp_path, workbook(tmp_path, [[campaign, link, ""]]))

    (row,) = result.prospects
    assert row.status.value == status
    assert message in " | ".join(row.errors)
    assert result.exit_code == 1


def test_a_name_two_campaign_rows_share_is_ambiguous(tmp_path: Path) -> None:
    """A campaign_name used by two campaign rows (of two owners) names neither: invalid,
    naming both rows and asking for the campaign_key."""
    rows = campaign_rows()
    twin = list(rows[0])
    twin[CAMPAIGN_HEADER.index("campaign_key")] = "acme-q1-cto-2"
    twin[CAMPAIGN_HEADER.index("owner")] = "bo@example.com"
    path = write_xlsx(
        tmp_path / "plan.xlsx",
        [CAMPAIGN_HEADER, *rows, twin],
        other_sheets={
            "prospects": [PROSPECT_HEADER, ["ACME Q1 - CTOs in fintech", "linkedin.com/in/a", ""]]
        },
    )

    (row,) = check(tmp_path, path).prospects

    assert row.status.value == "invalid"
    assert "is the campaign_name of 2 campaign rows" in row.errors[0]
    assert "plan.xlsx [campaigns] row 2, plan.xlsx [campaigns] row 7" in row.errors[0]


def test_a_prospect_of_an_invalid_campaign_row_is_not_sent_pointing_at_it(tmp_path: Path) -> None:
    """The campaign row is invalid: the prospect is not_sent, naming that row."""
    rows = campaign_rows()
    rows[0][CAMPAIGN_HEADER.index("min_post_likes")] = "many"
    path = write_xlsx(
        tmp_path / "plan.xlsx",
        [CAMPAIGN_HEADER, *rows],
        other_sheets={"prospects": [PROSPECT_HEADER, ["acme-q1-cto", "linkedin.com/in/a", ""]]},
    )

    (row,) = check(tmp_path, path).prospects

    assert row.status.value == "not_sent"
    assert "its campaign row (plan.xlsx [campaigns] row 2) is invalid" in row.errors[0]


def test_the_same_profile_twice_in_one_list_is_a_duplicate_but_not_across_lists(
    tmp_path: Path,
) -> None:
    """One canonical URL twice in a list (however written): the later row is duplicate,
    naming the first; in another list (or campaign) it is a prospect of its own."""
    path = workbook(
        tmp_path,
        [
            ["acme-q1-cto", "https://www.linkedin.com/in/jane", ""],
            ["acme-q1-cto", "LinkedIn.com/in/JANE/details/", ""],
            ["acme-q1-cto", "linkedin.com/in/jane", "second list"],
            ["acme-q1-vp-sales", "linkedin.com/in/jane", ""],
        ],
    )

    rows = by_row(check(tmp_path, path))

    assert [rows[n].status.value for n in (2, 3, 4, 5)] == ["valid", "duplicate", "valid", "valid"]
    assert "as plan.xlsx [prospects] row 2" in rows[3].errors[0]


# -- reports ------------------------------------------------------------------------------


def test_prospects_are_reported_in_csv_xlsx_summary_and_the_closing_line(tmp_path: Path) -> None:
    """prospects.csv (DESIGN.md's columns), a `prospects` sheet in results.xlsx, summary.json's
    counts, failed-prospects.csv with the rows that need a person (original cells plus
    `_source`, `_row`, `_status`, `_errors`), and the closing line's counts."""
    path = workbook(
        tmp_path,
        [
            ["acme-q1-cto", "https://www.linkedin.com/in/jane", ""],
            ["acme-q1-cto", "https://www.linkedin.com/company/acme", "x"],
        ],
    )

    result = invoke("validate", path, "--out", tmp_path / "out")

    out = tmp_path / "out"
    assert result.exit_code == 1
    assert "5 rows: 5 valid. 2 prospects: 1 valid, 1 invalid." in result.stdout
    assert "plan.xlsx [prospects] row 3: invalid: linkedin_url: " in result.stderr
    listed = lines(out / "prospects.csv")
    assert list(listed[0]) == [
        "source",
        "sheet",
        "row",
        "campaign_key",
        "list_name",
        "linkedin_url",
        "url",
        "status",
        "detail",
    ]
    assert [(r["row"], r["status"], r["url"]) for r in listed] == [
        ("2", "valid", "https://www.linkedin.com/in/jane"),
        ("3", "invalid", ""),
    ]
    failed = lines(out / "failed-prospects.csv")
    assert [
        (r["campaign"], r["list_name"], r["_source"], r["_row"], r["_status"]) for r in failed
    ] == [("acme-q1-cto", "x", "plan.xlsx", "3", "invalid")]
    assert failed[0]["_errors"].startswith("linkedin_url: ")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["prospects"] == {"rows": 2, "counts": {"valid": 1, "invalid": 1}}
    book = openpyxl.load_workbook(out / "results.xlsx")
    assert book.sheetnames == ["results", "prospects", "summary"]
    sheet = book["prospects"]
    assert [c.value for c in sheet[1]] == list(listed[0])
    assert [sheet.cell(r, 8).value for r in (2, 3)] == ["valid", "invalid"]


def test_failed_prospects_fed_back_replace_the_rows_they_came_from(tmp_path: Path) -> None:
    """failed-prospects.csv, fixed and run beside the workbook, replaces the prospect
    rows it came from (no row twice), as failed.csv does for campaign rows."""
    path = workbook(
        tmp_path,
        [
            ["acme-q1-cto", "https://www.linkedin.com/in/jane", ""],
            ["acme-q1-cto", "https://www.linkedin.com/company/acme", ""],
        ],
    )
    check(tmp_path, path)
    fixed = tmp_path / "fixed.csv"
    text = (tmp_path / "out" / "failed-prospects.csv").read_text(encoding="utf-8-sig")
    fixed.write_text(text.replace("company/acme", "in/acme-boss"), encoding="utf-8")

    result = validate_files(
        Options(paths=(path, fixed), out=tmp_path / "again"), timing=FakeTiming().timing
    )

    assert [(p.source, p.row, p.status.value) for p in result.prospects] == [
        ("plan.xlsx", 2, "valid"),
        ("fixed.csv", 2, "valid"),
    ]
    assert result.exit_code == 0


def test_check_prospects_without_prospect_tables_is_empty(tmp_path: Path) -> None:
    """Campaign tables alone: no prospects at all."""
    tables = load([rows_csv(tmp_path / "c.csv", list(EXAMPLE_ROWS))])
    assert len(check_prospects(tables, validate(tables))) == 0
