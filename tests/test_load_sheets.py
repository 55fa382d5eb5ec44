"""Workbooks as people and scripts make them: formulas never calculated, hidden and
filtered rows, a title above the header, merged cells, a stray far cell, dates.

Each sheet is written in the test (openpyxl, the way a script writes one), read back
through the loader or the CLI, and the row or file gets the message the user needs.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from pipeline.errors import InputError
from pipeline.load import Table, load
from pipeline.sheetxml import inspect_sheet
from pipeline.validate import validate
from tests.helpers import CONTEXT_ID, OWNER_ID, STYLE_ID, invoke, write_csv

HEADER = ["campaign_name", "campaign_type", "min_post_likes", "_notes"]
DEFAULTS = {"owner": OWNER_ID, "style_id": STYLE_ID, "context_id": CONTEXT_ID}


def workbook(*rows: list[object]) -> Workbook:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "campaigns"
    for row in rows:
        sheet.append(row)
    return book


def save(book: Workbook, path: Path) -> Path:
    book.save(path)
    return path


def only(path: Path, **options: object) -> Table:
    [table] = load([path], **options)  # type: ignore[arg-type]
    return table


def row_errors(path: Path, **options: object) -> dict[int, tuple[str, ...]]:
    """Row number -> the errors validation gives it (rows without errors left out)."""
    checked = validate(load([path], **options), defaults=DEFAULTS)  # type: ignore[arg-type]
    numbers = checked.rows["row"].tolist()
    return {int(n): e for n, e in zip(numbers, checked.errors, strict=True) if e}


def rewrite_sheet(path: Path, change: dict[str, str]) -> Path:
    """Replace text in the first sheet's XML, as another writer would have saved it."""
    source = zipfile.ZipFile(path)
    parts = {item.filename: source.read(item.filename) for item in source.infolist()}
    source.close()
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    for old, new in change.items():
        assert old in xml, old
        xml = xml.replace(old, new)
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


# --- 3. formulas without a saved value -------------------------------------------------


def test_a_formula_never_calculated_is_an_error_at_its_cell(tmp_path: Path) -> None:
    # openpyxl, like most scripts, saves the formula and no value: calamine reads "".
    path = save(
        workbook(HEADER, ["A", "Topic", "=SUM(1,2)"], ["B", "Topic", 3]), tmp_path / "f.xlsx"
    )
    errors = row_errors(path)
    assert list(errors) == [2]
    [message] = errors[2]
    assert message.startswith("min_post_likes: holds a formula (=SUM(1,2))")
    assert "never calculated" in message and "open and save the file in Excel" in message


def test_a_formula_with_a_saved_value_reads_its_value(tmp_path: Path) -> None:
    path = save(workbook(HEADER, ["A", "Topic", "=SUM(1,2)"]), tmp_path / "f.xlsx")
    rewrite_sheet(path, {"<f>SUM(1,2)</f><v />": "<f>SUM(1,2)</f><v>3</v>"})
    table = only(path)
    assert table.frame.at[2, "min_post_likes"] == "3"
    assert table.problems == {}


def test_a_formula_whose_saved_value_is_empty_text_is_not_flagged(tmp_path: Path) -> None:
    path = save(workbook(HEADER, ["A", "Topic", 5, '=""']), tmp_path / "f.xlsx")
    rewrite_sheet(path, {'<c r="D2"><f>""</f><v />': '<c r="D2" t="str"><f>""</f><v></v>'})
    assert only(path).problems == {}


def test_a_formula_in_a_notes_column_is_ignored(tmp_path: Path) -> None:
    path = save(workbook(HEADER, ["A", "Topic", 5, "=A2"]), tmp_path / "f.xlsx")
    assert only(path).problems == {}


# --- 5. hidden and filtered-out rows ---------------------------------------------------


def hidden_rows_book(tmp_path: Path) -> Path:
    owner, style, context = DEFAULTS["owner"], DEFAULTS["style_id"], DEFAULTS["context_id"]
    book = workbook(
        [*HEADER, "owner", "style_id", "context_id"],
        *([name, "Topic", 1, "", owner, style, context] for name in "ABCDE"),
    )
    sheet = book.active
    assert sheet is not None
    sheet.auto_filter.ref = "A1:C6"  # rows hidden by a filter are hidden rows in the file
    for number in (3, 4):
        sheet.row_dimensions[number].hidden = True
    return save(book, tmp_path / "hidden.xlsx")


def test_hidden_rows_are_read_and_named_in_a_warning(tmp_path: Path) -> None:
    table = only(hidden_rows_book(tmp_path))
    assert table.frame.index.tolist() == [2, 3, 4, 5, 6]
    assert "hidden.xlsx: rows 3, 4 are hidden in Excel and read too" in table.warnings[0]
    assert "--skip-hidden-rows" in table.warnings[0]


def test_skip_hidden_rows_leaves_them_out_and_says_so(tmp_path: Path) -> None:
    table = only(hidden_rows_book(tmp_path), skip_hidden_rows=True)
    assert table.frame.index.tolist() == [2, 5, 6]
    assert table.frame["campaign_name"].tolist() == ["A", "D", "E"]
    assert table.warnings == (
        "hidden.xlsx: rows 3, 4 are hidden in Excel and left out (--skip-hidden-rows)",
    )


def test_hidden_blank_rows_say_nothing(tmp_path: Path) -> None:
    book = workbook(HEADER, ["A", "Topic", 1], [], ["B", "Topic", 1])
    sheet = book.active
    assert sheet is not None
    sheet.row_dimensions[3].hidden = True
    assert only(save(book, tmp_path / "h.xlsx")).warnings == ()


def test_skip_hidden_rows_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("validate", hidden_rows_book(tmp_path), "--skip-hidden-rows", "--out", out)
    assert result.exit_code == 0, result.output
    results = (out / "results.csv").read_text(encoding="utf-8-sig")
    assert [line.split(",")[2] for line in results.splitlines()[1:]] == ["2", "5", "6"]
    assert "left out (--skip-hidden-rows)" in result.output


# --- 6. a title row above the header ---------------------------------------------------


def test_a_title_above_the_header_is_skipped_with_a_note(tmp_path: Path) -> None:
    book = workbook(["Q1 campaign plan"], [], HEADER, ["A", "Topic", 1])
    sheet = book.active
    assert sheet is not None
    sheet.merge_cells("A1:D1")
    table = only(save(book, tmp_path / "plan.xlsx"))
    assert table.frame.index.tolist() == [4]
    assert table.headers["campaign_name"] == "campaign_name"
    assert table.warnings == (
        "plan.xlsx: row 1 is above the header (row 3) and not read "
        "(the first says 'Q1 campaign plan')",
    )


def test_a_title_line_above_a_csv_header_is_skipped(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "plan.csv", ["Q1 plan", "", "", ""], [HEADER, ["A", "Topic", 1, ""]]
    )
    table = only(path)
    assert table.frame.index.tolist() == [3]
    assert "row 1 is above the header (row 2)" in table.warnings[0]


def test_a_header_of_mostly_unknown_names_is_still_named_as_wrong(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["campaign_nme", "kind", "likes"], [["A", "Topic", 1]])
    with pytest.raises(InputError, match="unknown column A 'campaign_nme'"):
        load([path])


# --- 7. merged cells -------------------------------------------------------------------


def test_a_value_merged_down_rows_applies_to_the_first_only(tmp_path: Path) -> None:
    book = workbook(HEADER, ["A", "Topic", 1], ["B", None, 1], ["C", None, 1])
    sheet = book.active
    assert sheet is not None
    sheet.merge_cells("B2:B4")
    errors = row_errors(save(book, tmp_path / "m.xlsx"))
    assert list(errors) == [3, 4]
    for number in (3, 4):
        assert (
            "campaign_type: part of merged cells B2:B4, whose value belongs to B2 only; "
            "unmerge them and fill each row" in errors[number]
        )


def test_cells_merged_across_a_row_name_each_cell(tmp_path: Path) -> None:
    book = workbook(HEADER, ["A", "Topic", 1])
    sheet = book.active
    assert sheet is not None
    sheet.merge_cells("B2:C2")
    [message] = only(save(book, tmp_path / "m.xlsx")).problems[2]
    assert message == (
        "min_post_likes",
        "part of merged cells B2:C2, whose value belongs to B2 only; "
        "unmerge them and fill each cell",
    )


# --- 8. a stray value far away ---------------------------------------------------------


@pytest.mark.parametrize("far", ["XFD1048576", "AAA50000", "A1048576"])
def test_a_stray_far_cell_is_refused_naming_it(tmp_path: Path, far: str) -> None:
    book = workbook(HEADER, ["A", "Topic", 1])
    sheet = book.active
    assert sheet is not None
    sheet[far] = "x"
    path = save(book, tmp_path / "far.xlsx")
    assert path.stat().st_size < 10_000
    with pytest.raises(InputError) as caught:
        load([path])
    assert f"has a value in cell {far}, far beyond the rest of the sheet" in str(caught.value)
    assert caught.value.hint and "Clear that cell" in caught.value.hint


def test_a_stray_far_cell_through_the_cli_is_exit_2(tmp_path: Path) -> None:
    book = workbook(HEADER, ["A", "Topic", 1])
    sheet = book.active
    assert sheet is not None
    sheet["XFD1048576"] = "x"
    result = invoke("validate", save(book, tmp_path / "far.xlsx"))
    assert result.exit_code == 2
    assert "Error: " in result.output and "XFD1048576" in result.output


def test_a_far_cell_on_another_sheet_does_not_stop_the_read(tmp_path: Path) -> None:
    book = workbook(HEADER, ["A", "Topic", 1])
    other = book.create_sheet("scratch")
    other.append(HEADER)
    other["XFD1048576"] = "x"
    table = only(save(book, tmp_path / "two.xlsx"))
    assert table.frame.index.tolist() == [2]


def test_formatting_far_away_is_no_value(tmp_path: Path) -> None:
    # A cell with a style but no value is not a value calamine reads: nothing to refuse.
    book = workbook(HEADER, ["A", "Topic", 1])
    sheet = book.active
    assert sheet is not None
    sheet["XFD1048576"].number_format = "0.00"
    assert only(save(book, tmp_path / "styled.xlsx")).frame.index.tolist() == [2]


def grid_xml(rows: range, columns: str, holes: bool = False) -> str:
    """Rows of cells holding 1; with `holes`, only the first and last cell hold one."""
    cells = [(r, c) for r in rows for c in columns]
    if holes:
        cells = [cells[0], cells[-1]]
    by_row: dict[int, str] = {}
    for r, c in cells:
        by_row[r] = by_row.get(r, "") + f'<c r="{c}{r}"><v>1</v></c>'
    return (
        "<sheetData>"
        + "".join(f'<row r="{r}">{x}</row>' for r, x in by_row.items())
        + "</sheetData>"
    )


def test_only_a_sparse_rectangle_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # The limit is about memory spent on cells that hold nothing: a sheet full of values
    # is read whatever its size (its row count has its own limit, --max-rows).
    monkeypatch.setattr("pipeline.sheetxml.MAX_CELLS", 100)
    dense = inspect_sheet(xlsx_of(grid_xml(range(1, 11), "ABCDEFGHIJKLMNOPQRSTUVWXYZ")), "s")
    assert dense is not None and dense.far is None
    sparse = inspect_sheet(xlsx_of(grid_xml(range(1, 11), "ABCDEFGHIJKLMNOPQRSTUVWXYZ", True)), "s")
    assert sparse is not None and sparse.far is not None
    assert (sparse.far.cells, sparse.far.area, sparse.far.filled) == (("Z10",), 260, 2)
    small = inspect_sheet(xlsx_of(grid_xml(range(1, 4), "ABCDEFGHIJ", True)), "s")
    assert small is not None and small.far is None  # 30 cells: under the limit


# --- 9. dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (dt.date(2024, 1, 5), "a date (2024-01-05)"),
        (dt.datetime(2024, 1, 5, 9, 30), "a date and time (2024-01-05T09:30:00)"),
        (dt.time(9, 30), "a time (09:30:00)"),
    ],
)
def test_a_cell_excel_shows_as_a_date_gets_a_message(
    tmp_path: Path, value: object, shown: str
) -> None:
    path = save(workbook(HEADER, [value, "Topic", value]), tmp_path / "d.xlsx")
    errors = row_errors(path)
    for column in ("campaign_name", "min_post_likes"):
        assert any(
            e.startswith(f"{column}: Excel shows this cell as {shown}") for e in errors[2]
        ), errors


# --- the XML scan itself ---------------------------------------------------------------


def xlsx_of(sheet_xml: str, prefix: str = "") -> bytes:
    """A minimal workbook zip with one sheet `s` (only what `inspect_sheet` reads)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    ns = f'xmlns:{prefix[:-1]}="{main}"' if prefix else f'xmlns="{main}"'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            '<sheet name="s" sheetId="1" r:id="rId7"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId7" Target="worksheets/other.xml"/>'
            "</Relationships>",
        )
        xml = re.sub(r"<(/?)(?=\w)", rf"<\1{prefix}", sheet_xml)
        archive.writestr(
            "xl/worksheets/other.xml", f"<{prefix}worksheet {ns}>{xml}</{prefix}worksheet>"
        )
    return buffer.getvalue()


@pytest.mark.parametrize("prefix", ["", "x:"])
def test_the_scan_reads_prefixed_and_unnumbered_rows(prefix: str) -> None:
    data = xlsx_of(
        "<sheetData>"
        '<row><c r="A1"><v>1</v></c></row>'
        '<row hidden="1"><c r="A2"><f>SUM(1,2)</f></c></row>'
        '<row r="5" hidden="true"><c r="B5"><f t="shared" si="0"/></c></row>'
        "</sheetData>",
        prefix,
    )
    facts = inspect_sheet(data, "s")
    assert facts is not None
    assert facts.hidden_rows == {2, 5}
    assert facts.uncalculated == {(2, 0): "=SUM(1,2)", (5, 1): "a shared formula"}
    assert facts.far is None


def test_the_scan_says_nothing_of_other_files() -> None:
    assert inspect_sheet(b"not a zip", "s") is None
    assert inspect_sheet(xlsx_of("<sheetData/>"), "no such sheet") is None


def test_a_far_column_is_found_whatever_the_order_of_attributes() -> None:
    """A writer that puts `s` before `r` in each cell still has its far column found."""
    rows = "".join(
        f'<row r="{r}"><c s="1" r="A{r}"><v>1</v></c><c s="1" r="XFD{r}"><v>1</v></c></row>'
        for r in range(1, 200)
    )
    facts = inspect_sheet(xlsx_of(f"<sheetData>{rows}</sheetData>"), "s")
    assert facts is not None and facts.far is not None
    assert facts.far.cells == ("XFD1",)
