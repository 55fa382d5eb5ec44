"""The loader: files -> tables of text cells, with the row numbers the user sees."""

from __future__ import annotations

import codecs
from pathlib import Path

import openpyxl
import pytest

from pipeline.errors import InputError
from pipeline.load import Table, expand_paths, load
from pipeline.validate import validate
from tests.helpers import (
    CONTEXT_ID,
    OWNER_ID,
    PROSPECTS_ROW,
    STYLE_ID,
    rows_csv,
    write_csv,
    write_xlsx,
)

HEADER = ["campaign_name", "min_post_likes"]
# Values for the required columns these small sheets lack, so validation reaches the rows.
DEFAULTS = {
    "campaign_type": "Topic",
    "owner": OWNER_ID,
    "style_id": STYLE_ID,
    "context_id": CONTEXT_ID,
}


def load_one(path: Path, **options: object) -> Table:
    tables = load([path], **options)  # type: ignore[arg-type]
    assert len(tables) == 1
    return tables[0]


def cells(table: Table) -> dict[int, dict[str, str]]:
    """The table as {row number: {column: text}}."""
    frame = table.frame
    return {
        int(number): {str(name): str(frame.at[number, name]) for name in frame.columns}
        for number in frame.index
    }


def input_error(path: Path, **options: object) -> InputError:
    with pytest.raises(InputError) as caught:
        load([path], **options)  # type: ignore[arg-type]
    assert str(caught.value).startswith(str(path))
    return caught.value


# --- CSV encodings and delimiters ------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_unicode_csv_is_read_without_warning(tmp_path: Path, encoding: str) -> None:
    """UTF-8 with or without BOM and UTF-16 with BOM give the exact text, no warning."""
    path = write_csv(
        tmp_path / "a.csv", HEADER, [["Café Crème \u2013 Zürich", "3"]], encoding=encoding
    )
    table = load_one(path)
    assert cells(table) == {2: {"campaign_name": "Café Crème \u2013 Zürich", "min_post_likes": "3"}}
    assert table.warnings == ()
    assert list(table.headers) == HEADER


def test_utf16_big_endian_csv(tmp_path: Path) -> None:
    """UTF-16 with a big-endian byte-order mark is read too."""
    path = tmp_path / "be.csv"
    text = "campaign_name;min_post_likes\r\nZ\u00fcrich;3\r\n"
    path.write_bytes(codecs.BOM_UTF16_BE + text.encode("utf-16-be"))
    table = load_one(path)
    assert cells(table) == {2: {"campaign_name": "Z\u00fcrich", "min_post_likes": "3"}}
    assert table.detected == "csv (utf-16, delimiter ';')"


def test_cp1252_csv_is_read_with_a_warning(tmp_path: Path) -> None:
    """A CSV that is not UTF-8 is read as cp1252, accents intact, with a warning naming it."""
    path = write_csv(tmp_path / "win.csv", HEADER, [["Café Crème", "3"]], encoding="cp1252")
    table = load_one(path)
    assert cells(table)[2]["campaign_name"] == "Café Crème"
    assert len(table.warnings) == 1
    assert "win.csv" in table.warnings[0]
    assert "cp1252" in table.warnings[0]


def test_cp1252_warning_reaches_the_validation_result(tmp_path: Path) -> None:
    """The encoding warning is carried on to the checked rows (and so to the report)."""
    path = write_csv(tmp_path / "win.csv", HEADER, [["Café", "3"]], encoding="cp1252")
    assert len(validate(load([path]), defaults=DEFAULTS).warnings) == 1


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    """`,`, `;` (European Excel) and tab are all recognised from the header line."""
    path = write_csv(
        tmp_path / "d.csv",
        [*HEADER, "emotion_types"],
        [["ACME, Inc; EU", "3", "LIKE,PRAISE;WOW"]],
        delimiter=delimiter,
    )
    assert cells(load_one(path)) == {
        2: {
            "campaign_name": "ACME, Inc; EU",
            "min_post_likes": "3",
            "emotion_types": "LIKE,PRAISE;WOW",
        }
    }


def test_quoted_multiline_cell_is_one_cell(tmp_path: Path) -> None:
    """A quoted cell spanning lines stays one cell; the next record is the next Excel row."""
    path = write_csv(
        tmp_path / "m.csv",
        [*HEADER, "emotion_types"],
        [["first", "1", "LIKE\nPRAISE"], ["second", "2", ""]],
    )
    assert cells(load_one(path)) == {
        2: {"campaign_name": "first", "min_post_likes": "1", "emotion_types": "LIKE\nPRAISE"},
        3: {"campaign_name": "second", "min_post_likes": "2", "emotion_types": ""},
    }


# --- XLSX sheets and cell text ---------------------------------------------------------


@pytest.mark.parametrize("name", ["Campaigns", "CAMPAIGNS", "campaigns"])
def test_sheet_named_campaigns_wins_over_the_first(tmp_path: Path, name: str) -> None:
    """The sheet called `campaigns` (any case) is read even when it is not first."""
    path = write_xlsx(
        tmp_path / "book.xlsx",
        [HEADER, ["from campaigns", 1]],
        sheet=name,
        other_sheets={"Notes": [["anything"]]},
        first="Notes",
    )
    table = load_one(path)
    assert table.sheet == name
    assert cells(table)[2]["campaign_name"] == "from campaigns"


def test_xlsm_workbook_is_read(tmp_path: Path) -> None:
    """A macro-enabled .xlsm workbook is read like an .xlsx."""
    path = write_xlsx(tmp_path / "book.xlsm", [HEADER, ["a", 1]])
    assert cells(load_one(path)) == {2: {"campaign_name": "a", "min_post_likes": "1"}}


def test_first_sheet_is_read_when_none_is_named_campaigns(tmp_path: Path) -> None:
    """Without a `campaigns` sheet, the first sheet is read."""
    path = write_xlsx(
        tmp_path / "book.xlsx",
        [HEADER, ["from first", 1]],
        sheet="Plan",
        other_sheets={"Other": [HEADER, ["from other", 2]]},
    )
    table = load_one(path)
    assert table.sheet == "Plan"
    assert cells(table)[2]["campaign_name"] == "from first"


def test_sheet_option_overrides_the_choice(tmp_path: Path) -> None:
    """`sheet=` picks a sheet by name, case-insensitively."""
    path = write_xlsx(
        tmp_path / "book.xlsx",
        [HEADER, ["from campaigns", 1]],
        other_sheets={"Backup": [HEADER, ["from backup", 2]]},
    )
    table = load_one(path, sheet="BACKUP")
    assert table.sheet == "Backup"
    assert cells(table)[2]["campaign_name"] == "from backup"


def test_unknown_sheet_is_an_error_listing_the_sheets(tmp_path: Path) -> None:
    """Asking for a sheet the workbook lacks names the file, the sheet and the ones it has."""
    path = write_xlsx(tmp_path / "book.xlsx", [HEADER], other_sheets={"Backup": [HEADER]})
    error = input_error(path, sheet="Plans")
    assert str(error) == f"{path}: has no sheet named 'Plans'"
    assert "'campaigns', 'Backup'" in error.hint


def test_xlsx_cells_read_as_excel_shows_them(tmp_path: Path) -> None:
    """Numbers, booleans and huge numbers become the text Excel displays."""
    header = ["campaign_name", "min_post_likes", "skip_teammates_leads", "campaign_key"]
    path = write_xlsx(
        tmp_path / "n.xlsx",
        [header, ["a", 25, True, 123456789012345678], ["b", 25.5, False, 25.0]],
    )
    assert cells(load_one(path)) == {
        2: {
            "campaign_name": "a",
            "min_post_likes": "25",
            "skip_teammates_leads": "TRUE",
            "campaign_key": "1.23457E+17",
        },
        3: {
            "campaign_name": "b",
            "min_post_likes": "25.5",
            "skip_teammates_leads": "FALSE",
            "campaign_key": "25",
        },
    }


# --- row numbers -----------------------------------------------------------------------


def test_blank_rows_before_the_header_count_in_xlsx(tmp_path: Path) -> None:
    """With the header on row 3, the first data row is row 4."""
    path = write_xlsx(tmp_path / "b.xlsx", [HEADER, ["a", 1]], start_row=3)
    assert list(cells(load_one(path))) == [4]


def test_blank_lines_before_the_header_count_in_csv(tmp_path: Path) -> None:
    """Two blank lines before the header put the first data row on line 4."""
    path = tmp_path / "b.csv"
    path.write_text("\n,,\ncampaign_name,min_post_likes\na,1\n", encoding="utf-8")
    assert list(cells(load_one(path))) == [4]


def test_empty_rows_are_skipped_but_numbering_is_kept(tmp_path: Path) -> None:
    """Empty rows vanish; the rows after them keep the numbers the user sees."""
    xlsx = write_xlsx(
        tmp_path / "e.xlsx", [HEADER, ["a", 1], [None, None], ["b", 2], [None], ["c", 3]]
    )
    csv = write_csv(tmp_path / "e.csv", HEADER, [["a", "1"], ["", ""], ["b", "2"], [" ", ""]])
    assert list(cells(load_one(xlsx))) == [2, 4, 6]
    assert list(cells(load_one(csv))) == [2, 4]


# --- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "campaign_name",
        "Campaign Name",
        "  CAMPAIGN-NAME ",
        "campaign.name",
        "name",
        "Title",
        "campaignName",
    ],
)
def test_header_matching_ignores_case_space_punctuation(tmp_path: Path, header: str) -> None:
    """Header spellings, aliases and the API name all mean the same column."""
    path = write_csv(tmp_path / "h.csv", [header], [["x"]])
    table = load_one(path)
    assert cells(table) == {2: {"campaign_name": "x"}}
    assert table.headers == {"campaign_name": header.strip()}


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("postActivityFilter.minPostLikes", "min_post_likes"),
        ("minPostLikes", "min_post_likes"),
        ("connectingSettings.sendConnectionRequestOnTimeoutDays", "connect_timeout_days"),
        ("dmSettings.isGenerateDmEnabled", "dm_enabled"),
        ("ownerId", "owner"),
        ("Owner E-Mail", "owner"),
    ],
)
def test_headers_match_api_names_and_dotted_paths(tmp_path: Path, header: str, column: str) -> None:
    """The API field name and the dotted API path are accepted as headers."""
    path = write_csv(tmp_path / "h.csv", [header], [["1"]])
    assert list(load_one(path).frame.columns) == [column]


def test_underscore_columns_are_kept_and_not_matched(tmp_path: Path) -> None:
    """A `_` column is kept under its own name, even when it looks like a known column."""
    path = write_csv(
        tmp_path / "u.csv", ["campaign_name", "_campaign_name", "_notes"], [["a", "b", "c"]]
    )
    table = load_one(path)
    assert cells(table) == {2: {"campaign_name": "a", "_campaign_name": "b", "_notes": "c"}}
    assert table.headers["_notes"] == "_notes"


def test_report_columns_are_dropped(tmp_path: Path) -> None:
    """The reporter's own columns are dropped when a report file is fed back in."""
    header = ["campaign_name", "_status", "_errors", "_campaign_id", "_source", "_row", "_mine"]
    path = write_csv(tmp_path / "failed.csv", header, [["a", "invalid", "x", "id", "s", "2", "m"]])
    table = load_one(path)
    assert list(table.frame.columns) == ["campaign_name", "_mine"]
    assert set(table.headers) == {"campaign_name", "_mine"}


def test_unknown_header_names_the_closest_column(tmp_path: Path) -> None:
    """An unknown header stops the file with its letter, its text and a suggestion."""
    path = write_csv(tmp_path / "h.csv", ["campaign_name", "min_post_likess"], [["a", "1"]])
    error = input_error(path)
    assert str(error) == (
        f"{path}, row 1: unknown column B 'min_post_likess' (did you mean min_post_likes?)"
    )
    assert error.row == 1


def test_unknown_header_row_number_counts_blank_rows(tmp_path: Path) -> None:
    """The header error names the row the header is on."""
    path = write_xlsx(tmp_path / "h.xlsx", [["campaign_name", "whatever"]], start_row=3)
    assert str(input_error(path)) == (f"{path} [campaigns], row 3: unknown column B 'whatever'")


def test_duplicate_header_is_an_error(tmp_path: Path) -> None:
    """Two headers meaning the same column stop the file, naming both."""
    path = write_csv(tmp_path / "h.csv", ["Campaign Name", "owner", "name"], [["a", "b", "c"]])
    assert str(input_error(path)) == (
        f"{path}, row 1: columns A 'Campaign Name' and C 'name' both mean campaign_name"
    )


def test_values_under_a_blank_header_are_an_error(tmp_path: Path) -> None:
    """A value in a column without a header stops the file."""
    path = write_csv(tmp_path / "h.csv", ["campaign_name", "", "owner"], [["a", "lost", "o"]])
    assert str(input_error(path)) == f"{path}, row 1: column B has values but no header"


def test_values_past_the_last_header_are_a_row_error(tmp_path: Path) -> None:
    """A value to the right of the last header makes that row invalid, naming the column."""
    path = tmp_path / "h.csv"
    path.write_text("campaign_name,owner\na,b,stray\nc,d\n", encoding="utf-8")
    table = load_one(path)
    assert table.problems == {2: [("", "values in column C, which has no header")]}
    checked = validate([table], defaults=DEFAULTS)
    assert "values in column C, which has no header" in list(checked.errors[0])


def test_blank_header_columns_without_values_are_ignored(tmp_path: Path) -> None:
    """An empty column without a header is harmless."""
    path = write_csv(tmp_path / "h.csv", ["campaign_name", "", "owner"], [["a", "", "o"]])
    assert list(load_one(path).frame.columns) == ["campaign_name", "owner"]


# --- folders ---------------------------------------------------------------------------


def test_folder_expands_to_sorted_spreadsheets(tmp_path: Path) -> None:
    """A folder gives its .csv/.xlsx/.xlsm files in name order, without lock files."""
    for name in ["b.csv", "a.xlsx", "c.XLSM", "~$a.xlsx", "notes.txt", "d.CSV"]:
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "sub.csv").mkdir()
    assert [p.name for p in expand_paths([tmp_path])] == ["a.xlsx", "b.csv", "c.XLSM", "d.CSV"]


def test_folder_loads_every_file(tmp_path: Path) -> None:
    """Loading a folder reads each spreadsheet in it."""
    write_csv(tmp_path / "2.csv", HEADER, [["b", "2"]])
    write_xlsx(tmp_path / "1.xlsx", [HEADER, ["a", 1]])
    assert [t.source for t in load([tmp_path])] == ["1.xlsx", "2.csv"]


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    """A folder without spreadsheets stops the run, naming the folder."""
    (tmp_path / "~$lock.xlsx").write_text("x", encoding="utf-8")
    error = input_error(tmp_path)
    kinds = ".csv, .tsv, .xlsx, .xlsm, .xls, .xlsb or .ods file"
    assert str(error) == f"{tmp_path}: folder holds no spreadsheet ({kinds})"


# --- files that cannot be read ---------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is an InputError naming it."""
    path = tmp_path / "nope.csv"
    assert str(input_error(path)) == f"{path}: no such file or folder"


@pytest.mark.parametrize("name", ["empty.csv", "empty.xlsx"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    """A zero-byte file is an InputError naming it."""
    path = tmp_path / name
    path.write_bytes(b"")
    assert str(input_error(path)) == f"{path}: file is empty"


def test_wrong_extension(tmp_path: Path) -> None:
    """A file that is not .csv/.xlsx/.xlsm is refused with a hint."""
    path = tmp_path / "plan.numbers"
    path.write_bytes(b"whatever")
    error = input_error(path)
    assert str(error) == f"{path}: not a spreadsheet this tool reads"
    assert error.hint == "Use .csv, .tsv, .xlsx, .xlsm, .xls, .xlsb or .ods files."


def test_xlsx_that_is_really_text(tmp_path: Path) -> None:
    """A text file named .xlsx is refused as not a workbook."""
    path = tmp_path / "plan.xlsx"
    path.write_text("campaign_name\na\n", encoding="utf-8")
    assert str(input_error(path)) == f"{path}: is not an xlsx workbook (not a zip archive)"


def test_corrupt_zip(tmp_path: Path) -> None:
    """A broken zip archive is refused as corrupt, without a traceback from calamine."""
    path = tmp_path / "plan.xlsx"
    path.write_bytes(b"PK\x03\x04garbage")
    assert str(input_error(path)).startswith(f"{path}: is corrupt or not an xlsx workbook")


def test_encrypted_xlsx(tmp_path: Path) -> None:
    """A password-protected workbook (an OLE file) is refused with a hint."""
    path = tmp_path / "secret.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024)
    error = input_error(path)
    assert str(error) == f"{path}: is password-protected (encrypted) or an old .xls workbook"
    assert "password" in error.hint


def test_workbook_saved_as_csv_name(tmp_path: Path) -> None:
    """An xlsx renamed to .csv is refused with a hint to rename it."""
    path = write_xlsx(tmp_path / "book.xlsx", [HEADER]).rename(tmp_path / "book.csv")
    error = input_error(path)
    assert str(error) == f"{path}: is an Excel workbook, not a CSV file"
    assert error.hint == "Rename it to .xlsx."


def test_csv_of_blank_lines_is_empty(tmp_path: Path) -> None:
    """A CSV holding only line ends is refused as empty."""
    path = tmp_path / "blank.csv"
    path.write_text("\n\n\n", encoding="utf-8")
    assert str(input_error(path)) == f"{path}: file is empty"


@pytest.mark.parametrize("content", [",,\n,,\n\n", ";;\n;;\n"])
def test_csv_of_blank_rows_has_no_header(tmp_path: Path, content: str) -> None:
    """A CSV whose rows are all empty cells (any delimiter) is refused for lack of a header."""
    path = tmp_path / "blank.csv"
    path.write_text(content, encoding="utf-8")
    assert str(input_error(path)) == f"{path}: has no header row (the sheet is empty)"


def test_xlsx_without_header(tmp_path: Path) -> None:
    """A workbook whose sheet is empty is refused, naming file and sheet."""
    path = write_xlsx(tmp_path / "blank.xlsx", [])
    assert str(input_error(path)) == f"{path} [campaigns]: has no header row (the sheet is empty)"


def test_more_rows_than_max_rows(tmp_path: Path) -> None:
    """A file with more data rows than max_rows is refused; exactly max_rows is fine."""
    path = write_csv(tmp_path / "big.csv", HEADER, [["a", "1"], ["b", "2"], ["c", "3"]])
    assert len(load_one(path, max_rows=3).frame) == 3
    error = input_error(path, max_rows=2)
    assert str(error) == f"{path}: has 3 rows, more than 2"
    assert "--max-rows" in error.hint


def test_binary_csv_is_refused(tmp_path: Path) -> None:
    """A .csv holding binary data is refused, not decoded into garbage."""
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\x00\x01\x02campaign_name\x00")
    assert str(input_error(path)) == f"{path}: is a binary file, not CSV text"


def test_excel_sep_hint_line_names_the_delimiter(tmp_path: Path) -> None:
    """A first line `sep=;` (written by Excel) sets the delimiter and is not the header;
    row numbers still count it, as a text editor does."""
    path = tmp_path / "hinted.csv"
    path.write_bytes(b"sep=;\r\ncampaign_name;campaign_type\r\nACME, Inc.;Topic\r\n")

    [table] = load([path])

    assert "delimiter ';'" in table.detected
    assert table.frame["campaign_name"].tolist() == ["ACME, Inc."]
    assert table.frame.index.tolist() == [3]


# --- unclosed quotes and mixed encodings -------------------------------------------------

QUOTE_HEADER = [*HEADER, "_notes"]


def test_unclosed_quote_in_a_data_cell_is_refused(tmp_path: Path) -> None:
    """A quote never closed in a data cell is exit 2 naming its row, column and rows swallowed."""
    rows = "".join(f"row {n},{n}\r\n" for n in range(3, 41))
    path = tmp_path / "q.csv"
    path.write_text('campaign_name,min_post_likes\r\n"Spring, EU,2\r\n' + rows, encoding="utf-8")
    error = input_error(path)
    assert error.row == 2
    assert error.column == "campaign_name"
    assert "column A 'campaign_name'" in str(error)
    assert "never closed" in str(error)
    assert "rows 3 to 40 are inside it" in str(error)
    assert error.exit_code == 2


def test_unclosed_quote_in_a_notes_cell_is_refused(tmp_path: Path) -> None:
    """A quote in an ignored `_notes` cell closed by a stray quote far below is refused too."""
    lines = ["campaign_name,min_post_likes,_notes", "a,1,ok", 'b,2,"call Bob, then', "c,3,x"]
    lines += [f"r{n},{n},x" for n in range(5, 12)]
    lines += ['z,12,"late" note']
    path = tmp_path / "n.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    error = input_error(path)
    assert error.row == 3
    assert error.column == "_notes"
    assert "column C '_notes'" in str(error)
    assert "rows 4 to 12 are inside it" in str(error)


def test_unclosed_quote_after_a_multiline_cell_names_the_excel_row(tmp_path: Path) -> None:
    """Rows are counted as Excel shows them: a legitimate multi-line cell above is one row."""
    text = 'campaign_name,min_post_likes\r\n"two\r\nlines",1\r\nb,"2\r\n'
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    error = input_error(path)
    assert error.row == 3
    assert "column B 'min_post_likes'" in str(error)
    assert "inside it" not in str(error)


def test_multiline_note_without_delimiters_still_reads(tmp_path: Path) -> None:
    """A quoted note with two line breaks and no delimiters is one cell, rows below intact."""
    path = write_csv(
        tmp_path / "ok.csv",
        QUOTE_HEADER,
        [["a", "1", "first line\nsecond line\nthird line"], ["b", "2", ""]],
    )
    assert cells(load_one(path)) == {
        2: {
            "campaign_name": "a",
            "min_post_likes": "1",
            "_notes": "first line\nsecond line\nthird line",
        },
        3: {"campaign_name": "b", "min_post_likes": "2", "_notes": ""},
    }


def test_unclosed_quote_in_a_ragged_sheet_is_refused(tmp_path: Path) -> None:
    """The lenient parser (rows longer than the header) never hides rows lost to a quote."""
    lines = ["campaign_name,min_post_likes", "a,1,,extra", 'b,"2'] + [
        f"r{n},{n}" for n in range(4, 9)
    ]
    path = tmp_path / "rag.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    error = input_error(path)
    assert error.row == 3
    assert "rows 4 to 8 are inside it" in str(error)


def test_mixed_utf8_and_cp1252_lines_are_refused(tmp_path: Path) -> None:
    """A UTF-8 file with a few Windows-1252 lines is exit 2 naming the lines of each kind."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "campaign_name,min_post_likes\r\nCafé,1\r\nplain,2\r\n".encode()
        + "Crème,3\r\nNaïve,4\r\n".encode("cp1252")
    )
    error = input_error(path)
    assert "line 2 is UTF-8" in str(error)
    assert "lines 4, 5 are Windows-1252 (cp1252)" in str(error)
    assert "CSV UTF-8 (Comma delimited)" in error.hint
    assert error.exit_code == 2


def test_pure_cp1252_file_still_reads(tmp_path: Path) -> None:
    """A file all in Windows-1252 (no UTF-8 line) is still read as cp1252: `Café` stays `Café`."""
    path = write_csv(tmp_path / "w.csv", HEADER, [["Café", "1"], ["Crème", "2"]], encoding="cp1252")
    table = load_one(path)
    assert [r["campaign_name"] for r in cells(table).values()] == ["Café", "Crème"]


# --- hidden sheets, --sheet on CSV (issue 9, item 4) -----------------------------------


def hide(path: Path, *names: str) -> Path:
    """Mark sheets of a saved workbook hidden."""
    workbook = openpyxl.load_workbook(path)
    for name in names:
        workbook[name].sheet_state = "hidden"
    workbook.save(path)
    return path


def test_first_visible_sheet_is_read(tmp_path: Path) -> None:
    """Without a `campaigns` sheet, a hidden first sheet is passed over for the first visible."""
    path = write_xlsx(
        tmp_path / "book.xlsx",
        [HEADER, ["stale", 1]],
        sheet="Old",
        other_sheets={"Plan": [HEADER, ["fresh", 2]]},
    )
    table = load_one(hide(path, "Old"))
    assert table.sheet == "Plan"
    assert cells(table) == {2: {"campaign_name": "fresh", "min_post_likes": "2"}}
    assert table.warnings == ()


def test_other_campaign_like_sheets_are_named_in_a_warning(tmp_path: Path) -> None:
    """Other visible sheets whose header is campaign columns are named, with --sheet."""
    path = write_xlsx(
        tmp_path / "book.xlsx",
        [HEADER, ["a", 1]],
        sheet="Plan",
        other_sheets={
            "Q2": [[], ["Campaign name", "owner", "_notes"], ["b", "x"]],
            "Notes": [["anything", "campaign_name"]],
            "Hidden": [HEADER],
        },
    )
    table = load_one(hide(path, "Hidden"))
    assert table.sheet == "Plan"
    assert len(table.warnings) == 1
    assert "'Q2'" in table.warnings[0] and "--sheet" in table.warnings[0]
    assert "Notes" not in table.warnings[0] and "Hidden" not in table.warnings[0]


@pytest.mark.parametrize("name", ["plan.csv", "plan.tsv"])
def test_sheet_option_on_a_text_file_is_an_error(tmp_path: Path, name: str) -> None:
    """`sheet=` for a CSV or TSV file is an InputError saying it applies to workbooks."""
    path = write_csv(tmp_path / name, HEADER, [["a", "1"]])
    error = input_error(path, sheet="campaigns")
    kind = name.rsplit(".", 1)[1].upper()
    assert str(error) == f"{path}: --sheet applies to workbooks; {name} is a {kind} file"


# --- folders (issue 9, item 10) --------------------------------------------------------


def test_folder_skips_hidden_and_lock_files_silently(tmp_path: Path) -> None:
    """Dotfiles, `._*` AppleDouble copies and `~$` lock files are skipped without a word."""
    write_csv(tmp_path / "a.csv", HEADER, [["a", "1"]])
    for name in [".hidden.csv", "._a.csv", "~$book.xlsx", ".DS_Store"]:
        (tmp_path / name).write_bytes(b"\x00\x05\x16\x07junk")
    found = expand_paths([tmp_path])
    assert [p.name for p in found] == ["a.csv"]
    assert found.warnings == ()
    assert load([tmp_path])[0].warnings == ()


def test_folder_names_what_it_did_not_read(tmp_path: Path) -> None:
    """Other files, subfolders and broken links are named in a warning on the table."""
    write_csv(tmp_path / "a.csv", HEADER, [["a", "1"]])
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "old").mkdir()
    (tmp_path / "gone.csv").symlink_to(tmp_path / "missing.csv")
    found = expand_paths([tmp_path])
    assert [p.name for p in found] == ["a.csv"]
    (warning,) = found.warnings
    assert "notes.txt" in warning and "old/" in warning and "gone.csv (a broken link)" in warning
    assert load([tmp_path])[0].warnings == (warning,)


def test_folder_never_reads_the_tools_own_reports(tmp_path: Path) -> None:
    """results.csv, succeeded.csv, failed.csv and results.xlsx in a folder are not read."""
    write_csv(tmp_path / "a.csv", HEADER, [["a", "1"]])
    for name in ["results.csv", "succeeded.csv", "failed.csv"]:
        write_csv(tmp_path / name, HEADER, [["report", "1"]])
    write_xlsx(tmp_path / "results.xlsx", [HEADER, ["report", 1]])
    found = expand_paths([tmp_path])
    assert [p.name for p in found] == ["a.csv"]
    (warning,) = found.warnings
    for name in ["results.csv", "succeeded.csv", "failed.csv", "results.xlsx"]:
        assert name in warning
    assert [t.source for t in load([tmp_path])] == ["a.csv"]


def test_unreadable_file_in_a_folder_says_to_move_it_out(tmp_path: Path) -> None:
    """One broken file in a folder stops the load, naming it and saying to move it out."""
    write_csv(tmp_path / "a.csv", HEADER, [["a", "1"]])
    broken = tmp_path / "b.xlsx"
    broken.write_bytes(b"not a workbook")
    with pytest.raises(InputError) as caught:
        load([tmp_path])
    assert str(caught.value).startswith(f"{broken}: ")
    assert "move it out of the folder" in caught.value.hint


# --- more file kinds (issue 9, item 11) ------------------------------------------------


def test_tsv_is_read_as_tab_delimited(tmp_path: Path) -> None:
    """A .tsv file is read tab-delimited, even when its cells hold commas and semicolons."""
    path = write_csv(tmp_path / "plan.tsv", HEADER, [["a, b; c", "1"]], delimiter="\t")
    table = load_one(path)
    assert cells(table) == {2: {"campaign_name": "a, b; c", "min_post_likes": "1"}}


def test_folder_includes_new_kinds(tmp_path: Path) -> None:
    """A folder's .tsv, .xls, .xlsb and .ods files are listed with the others."""
    for name in ["a.tsv", "b.XLS", "c.xlsb", "d.ods", "e.csv"]:
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert [p.name for p in expand_paths([tmp_path])] == [
        "a.tsv",
        "b.XLS",
        "c.xlsb",
        "d.ods",
        "e.csv",
    ]


@pytest.mark.parametrize("name", ["old.xls", "big.xlsb", "calc.ods"])
def test_corrupt_workbook_of_new_kinds_is_a_clean_error(tmp_path: Path, name: str) -> None:
    """A corrupt .xls/.xlsb/.ods goes to the workbook reader and is a clean InputError."""
    path = tmp_path / name
    magic = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" if name.endswith(".xls") else b"PK\x03\x04"
    path.write_bytes(magic + b"garbage" * 50)
    kind = name.rsplit(".", 1)[1]
    assert str(input_error(path)).startswith(f"{path}: is corrupt or not an {kind} workbook")


def test_a_report_folder_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    """`--out` inside a folder given as input is exit 2, before anything is read or written."""
    from pipeline.errors import ConfigError
    from pipeline.run import validate_files
    from pipeline.settings import Options

    folder = tmp_path / "plans"
    folder.mkdir()
    rows_csv(folder / "q1.csv", [PROSPECTS_ROW])

    with pytest.raises(ConfigError, match="is inside the input folder") as refused:
        validate_files(Options(paths=(folder,), out=folder / "reports"))

    assert refused.value.exit_code == 2
    assert not (folder / "reports").exists()


def test_csv_with_old_mac_line_ends_reads_every_row(tmp_path: Path) -> None:
    """Excel for Mac's "CSV (Macintosh)" ends lines with a lone CR."""
    path = tmp_path / "mac.csv"
    path.write_bytes(b"sep=,\rcampaign_name,min_post_likes\rA,1\r\rB,2,x\r")
    table = load_one(path)
    assert cells(table) == {
        3: {"campaign_name": "A", "min_post_likes": "1"},
        5: {"campaign_name": "B", "min_post_likes": "2"},
    }
    assert table.problems == {5: [("", "values in column C, which has no header")]}


def test_unclosed_quote_with_old_mac_line_ends_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b'campaign_name,min_post_likes\rA,"1\rB,2\rC,3\rD,4\rE,5"\rF,6\r')
    error = input_error(path)
    assert "row 2" in str(error) and "rows 3 to 6 are inside it" in str(error)
