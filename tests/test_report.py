"""The report files written by `validate`: content, formula guard, atomic writes."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from pipeline.guard import FORMULA_START, guard, unguard
from pipeline.load import load
from pipeline.map import map_rows
from pipeline.report import atomic_write
from pipeline.run import RunResult, validate_files
from pipeline.settings import Options
from pipeline.validate import validate
from tests.fakes import FakeTiming
from tests.helpers import (
    PROSPECTS_ROW,
    REPORTED_STATUSES,
    TOPIC_ROW,
    errors,
    rows_csv,
    write_csv,
    write_xlsx,
)

REPORT_FILES = {
    "results.csv",
    "results.xlsx",
    "succeeded.csv",
    "failed.csv",
    "payloads.jsonl",
    "summary.json",
    "inputs",  # the folder of input copies
}
# DESIGN.md, "Report files": the columns of results.csv, in order.
RESULT_HEADER = [
    "source",
    "sheet",
    "row",
    "campaign_key",
    "campaign_name",
    "status",
    "campaign_id",
    "http_status",
    "attempts",
    "errors",
    "changes",
]
NOON = dt.datetime(2026, 1, 2, 12, 30, 5, tzinfo=dt.UTC)
BAD_ROW = dict(PROSPECTS_ROW, campaign_key="bad-1", min_post_likes="-5", dm_enabled="maybe")
BAD_ERRORS = [
    "min_post_likes: -5 must be at least 0",
    'dm_enabled: "maybe" is not true or false (use true/false, yes/no or 1/0)',
]


def run(paths: list[Path], out: Path, **options: Any) -> RunResult:
    return validate_files(
        Options(paths=tuple(paths), out=out, **options), timing=FakeTiming(start=NOON).timing
    )


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.reader(stream))


def sheet_rows(path: Path, name: str) -> list[tuple[Any, ...]]:
    workbook = openpyxl.load_workbook(path)
    try:
        return list(workbook[name].iter_rows(values_only=True))
    finally:
        workbook.close()


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A CSV with a Prospects row, an invalid row and a Topic row."""
    return rows_csv(tmp_path / "plan.csv", [PROSPECTS_ROW, BAD_ROW, TOPIC_ROW])


def test_validate_writes_exactly_the_six_report_files(tmp_path: Path, mixed: Path) -> None:
    """validate_files writes the six report files and inputs/ with the input's copy, and
    nothing else (no temporary files)."""
    out = tmp_path / "out"
    result = run([mixed], out)
    assert result.folder == out
    assert {p.name for p in out.iterdir()} == REPORT_FILES
    assert [p.name for p in (out / "inputs").iterdir()] == ["plan.csv"]


def test_default_report_folder_is_a_new_run_folder(tmp_path: Path, mixed: Path) -> None:
    """Without --out each run gets reports/<UTC timestamp>-<stem>, suffixed when taken."""
    options = Options(paths=(mixed,), reports_root=tmp_path / "reports")
    first = validate_files(options, timing=FakeTiming(start=NOON).timing)
    second = validate_files(options, timing=FakeTiming(start=NOON).timing)
    assert first.folder == tmp_path / "reports" / "20260102T123005Z-plan"
    assert second.folder == tmp_path / "reports" / "20260102T123005Z-plan-2"
    assert {p.name for p in second.folder.iterdir()} == REPORT_FILES


def test_results_csv_has_the_design_columns_and_one_line_per_row(
    tmp_path: Path, mixed: Path
) -> None:
    """results.csv: the DESIGN.md header, then one line per input row with its status."""
    run([mixed], tmp_path / "out")
    lines = read_csv(tmp_path / "out" / "results.csv")
    assert lines[0] == RESULT_HEADER
    assert lines[1:] == [
        ["plan.csv", "", "2", "acme-q1-cto", "ACME Q1 - CTOs", "valid", "", "", "0", "", ""],
        [
            "plan.csv",
            "",
            "3",
            "bad-1",
            "ACME Q1 - CTOs",
            "invalid",
            "",
            "",
            "0",
            " | ".join(BAD_ERRORS),
            "",
        ],
        ["plan.csv", "", "4", "topic-genai", "Topic - generative AI", "valid", "", "", "0", "", ""],
    ]


def test_results_xlsx_layout(tmp_path: Path, mixed: Path) -> None:
    """results.xlsx: `results` and `summary` sheets, frozen filtered header, colours per status."""
    run([mixed], tmp_path / "out")
    path = tmp_path / "out" / "results.xlsx"
    workbook = openpyxl.load_workbook(path)
    try:
        assert workbook.sheetnames == ["results", "summary"]
        sheet = workbook["results"]
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == "A1:K4"
        rules: dict[str, Any] = {}
        for formatting in sheet.conditional_formatting:
            assert str(formatting.sqref) == "A2:K4"
            for rule in formatting.rules:
                (formula,) = rule.formula
                rules[formula] = rule.dxf.fill.bgColor.rgb
        coloured = (*REPORTED_STATUSES, "updated", "would_update")
        assert set(rules) == {f'$F2="{status}"' for status in coloured}
        assert rules['$F2="valid"'] != rules['$F2="invalid"']
        assert rules['$F2="unknown"'] not in (rules['$F2="valid"'], rules['$F2="invalid"'])
        summary = list(workbook["summary"].iter_rows(values_only=True))
    finally:
        workbook.close()
    assert summary[:3] == [("status", "rows"), ("valid", 2), ("invalid", 1)]
    assert ("run_id", "20260102T123005Z-plan") in summary
    assert ("command", "validate") in summary


def test_results_xlsx_holds_the_same_lines_as_results_csv(tmp_path: Path, mixed: Path) -> None:
    """The results sheet shows the same values as results.csv (numbers as numbers)."""
    run([mixed], tmp_path / "out")
    sheet = sheet_rows(tmp_path / "out" / "results.xlsx", "results")
    lines = read_csv(tmp_path / "out" / "results.csv")
    assert list(sheet[0]) == RESULT_HEADER
    as_text = [["" if v is None else str(v) for v in row] for row in sheet[1:]]
    assert as_text == lines[1:]
    assert sheet[1][2] == 2


def test_results_xlsx_reads_the_same_with_calamine(tmp_path: Path, mixed: Path) -> None:
    """A second reader (calamine, as pandas uses it) sees the same cells in results.xlsx."""
    run([mixed], tmp_path / "out")
    workbook = CalamineWorkbook.from_path(str(tmp_path / "out" / "results.xlsx"))
    sheet = workbook.get_sheet_by_name("results").to_python()
    as_text = [[str(int(v)) if isinstance(v, float) else str(v) for v in row] for row in sheet]
    assert as_text == read_csv(tmp_path / "out" / "results.csv")


def test_results_xlsx_survives_control_characters(tmp_path: Path) -> None:
    """A name holding characters XML cannot carry still gives a readable results.xlsx."""
    row = dict(PROSPECTS_ROW, campaign_name="Bell\x07 and\x0bvertical tab")
    run([rows_csv(tmp_path / "in.csv", [row])], tmp_path / "out")
    lines = sheet_rows(tmp_path / "out" / "results.xlsx", "results")
    assert lines[1][4] == "Bell and" + "vertical tab"


def test_failed_csv_holds_the_invalid_rows_with_status_and_errors(
    tmp_path: Path, mixed: Path
) -> None:
    """failed.csv: the original columns of each invalid row, plus where, status and errors."""
    run([mixed], tmp_path / "out")
    lines = read_csv(tmp_path / "out" / "failed.csv")
    assert lines[0] == [*PROSPECTS_ROW, "_source", "_row", "_status", "_errors"]
    cells = [guard(v) for v in BAD_ROW.values()]  # min_post_likes "-5" is written "'-5"
    assert lines[1:] == [[*cells, "plan.csv", "3", "invalid", " | ".join(BAD_ERRORS)]]


def test_succeeded_csv_is_only_a_header_after_validate(tmp_path: Path, mixed: Path) -> None:
    """validate creates nothing, so succeeded.csv holds the header only."""
    run([mixed], tmp_path / "out")
    assert read_csv(tmp_path / "out" / "succeeded.csv") == [
        [*PROSPECTS_ROW, "_source", "_row", "_campaign_id"]
    ]


def test_payloads_jsonl_has_one_record_per_valid_row(tmp_path: Path, mixed: Path) -> None:
    """payloads.jsonl: {source, row, campaign_key, payload} for each valid row, in order."""
    run([mixed], tmp_path / "out")
    text = (tmp_path / "out" / "payloads.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    expected = [p for p in map_rows(validate(load([mixed]))) if p is not None]
    assert [(r["source"], r["row"], r["campaign_key"]) for r in records] == [
        ("plan.csv", 2, "acme-q1-cto"),
        ("plan.csv", 4, "topic-genai"),
    ]
    assert [set(r) for r in records] == [{"source", "row", "campaign_key", "payload"}] * 2
    assert [r["payload"] for r in records] == expected


def test_summary_json(tmp_path: Path, mixed: Path) -> None:
    """summary.json: run id, command, inputs with sha256 and rows, counts, times, exit code."""
    result = run([mixed], tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["run_id"] == "20260102T123005Z-plan"
    assert summary["command"] == "validate"
    assert summary["inputs"] == [
        {
            "path": str(mixed),
            "copy": "inputs/plan.csv",
            "sha256": hashlib.sha256(mixed.read_bytes()).hexdigest(),
            "format": "csv (utf-8, delimiter ',')",
            "sheet": "",
            "rows": 3,
        }
    ]
    assert summary["counts"] == {"valid": 2, "invalid": 1}
    assert summary["exit_code"] == 1 == result.exit_code
    assert summary["started"] == NOON.isoformat()
    assert summary["finished"] == NOON.isoformat()
    assert isinstance(summary["duration_s"], float | int)
    assert summary["requests"] == 0


def test_summary_lists_every_input(tmp_path: Path) -> None:
    """With two inputs the summary lists both, each with its own row count."""
    one = rows_csv(tmp_path / "one.csv", [PROSPECTS_ROW])
    two = write_xlsx(tmp_path / "two.xlsx", [list(TOPIC_ROW), list(TOPIC_ROW.values())])
    result = run([one, two], tmp_path / "out")
    assert [(i["path"], i["rows"], i["sheet"]) for i in result.summary["inputs"]] == [
        (str(one), 1, ""),
        (str(two), 1, "campaigns"),
    ]
    assert result.exit_code == 0


def test_header_only_sheet_gives_empty_reports(tmp_path: Path) -> None:
    """A sheet with a header and no rows still gets every report file, with no lines."""
    path = write_csv(tmp_path / "empty.csv", list(PROSPECTS_ROW))
    result = run([path], tmp_path / "out")
    assert result.counts == {}
    assert result.exit_code == 0
    assert read_csv(tmp_path / "out" / "results.csv") == [RESULT_HEADER]
    assert sheet_rows(tmp_path / "out" / "results.xlsx", "results") == [tuple(RESULT_HEADER)]


# --- the formula guard -----------------------------------------------------------------

DANGEROUS = {
    "campaign_name": "=SUM(A1)",
    "campaign_key": "@x",
    "_plus": "+1",
    "_minus": "-5",
    "_tab": "\tindented",
}


def test_results_csv_and_xlsx_guard_formulas(tmp_path: Path) -> None:
    """Text that Excel would run is written with a leading `'` in results.csv; results.xlsx
    holds it as typed, as text, never a formula (tests/test_report_files.py: the style)."""
    row = dict(PROSPECTS_ROW, campaign_name='=HYPERLINK("http://x")', campaign_key="+cmd")
    path = rows_csv(tmp_path / "in.csv", [row])
    run([path], tmp_path / "out")
    line = read_csv(tmp_path / "out" / "results.csv")[1]
    assert line[3:5] == ["'+cmd", '\'=HYPERLINK("http://x")']
    workbook = openpyxl.load_workbook(tmp_path / "out" / "results.xlsx")
    try:
        cells = workbook["results"][2]
        assert [cells[3].value, cells[4].value] == ["+cmd", '=HYPERLINK("http://x")']
        assert cells[3].data_type == cells[4].data_type == "s"
        assert not any(c.data_type == "f" for c in cells)
    finally:
        workbook.close()


def _round_trip(tmp_path: Path, cells: dict[str, str], suffix: str = ".xlsx") -> None:
    """Validate a sheet holding `cells` (plus an invalid cell), reload failed.csv, compare."""
    row = dict(PROSPECTS_ROW, min_post_likes="-5", **cells)
    header = list(row)
    if suffix == ".xlsx":
        source = write_xlsx(tmp_path / "in.xlsx", [header, list(row.values())])
    else:
        source = write_csv(tmp_path / "in.csv", header, [list(row.values())])
    first = validate(load([source]))
    assert first.valid == [False]
    run([source], tmp_path / "out")
    again = load([tmp_path / "out" / "failed.csv"])[0]
    assert list(again.frame.columns) == header
    assert again.frame.iloc[0].to_dict() == row
    assert errors(validate([again])) == errors(first)


def test_failed_csv_round_trip_gives_back_formula_like_cells(tmp_path: Path) -> None:
    """=, +, -, @ and tab cells of an xlsx survive validate -> failed.csv -> loader exactly."""
    _round_trip(tmp_path, DANGEROUS)


def test_failed_csv_round_trip_from_csv(tmp_path: Path) -> None:
    """The same round trip from a CSV source, with a CR-led cell (xlsx cannot hold one)."""
    _round_trip(tmp_path, {**DANGEROUS, "_cr": "\rreturn", "_lines": "a\nb"}, suffix=".csv")


def test_failed_csv_round_trip_keeps_a_users_own_quote(tmp_path: Path) -> None:
    """A cell the user wrote as `'=quoted` (their own apostrophe) comes back unchanged."""
    _round_trip(tmp_path, {**DANGEROUS, "campaign_key": "'=quoted", "_quoted": "'-1"})


def test_loader_keeps_a_users_own_leading_quote(tmp_path: Path) -> None:
    """An input cell that starts with `'` before `=` is the user's text and is kept as is."""
    path = write_csv(tmp_path / "in.csv", ["campaign_key", "_note"], [["'=quoted", "'+1"]])
    assert load([path])[0].frame.iloc[0].to_dict() == {"campaign_key": "'=quoted", "_note": "'+1"}


@pytest.mark.parametrize(
    ("text", "guarded"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("'x", "'x"),
        ("plain", "plain"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_guard_examples(text: str, guarded: str) -> None:
    """guard prefixes exactly the texts Excel would run (and guarded-looking ones)."""
    assert guard(text) == guarded
    assert unguard(guarded) == text


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from("=+-@\t\r'ab \n\"")) | st.text())
def test_unguard_undoes_guard(text: str) -> None:
    """For any text, unguard(guard(text)) == text, and guard's output never runs in Excel."""
    guarded = guard(text)
    assert unguard(guarded) == text
    assert not guarded.startswith(FORMULA_START)


# --- atomic writes ---------------------------------------------------------------------


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    """A completed write replaces the file; nothing else is left in the folder."""
    path = tmp_path / "report.csv"
    path.write_text("old", encoding="utf-8")
    with atomic_write(path) as stream:
        stream.write("new")
    assert path.read_text(encoding="utf-8-sig") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


@pytest.mark.parametrize("binary", [False, True])
def test_failed_write_keeps_the_old_file(tmp_path: Path, binary: bool) -> None:
    """An error half-way through a write leaves the old file whole and no temporary file."""
    path = tmp_path / "report.csv"
    path.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_write(path, binary=binary) as s:
        s.write(b"half" if binary else "half")
        raise RuntimeError("disk on fire")
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_failed_write_of_a_new_file_leaves_nothing(tmp_path: Path) -> None:
    """An interrupted first write leaves no file at all."""
    path = tmp_path / "new.json"
    with pytest.raises(KeyboardInterrupt), atomic_write(path, binary=True) as stream:
        stream.write(b"{")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_results_xlsx_cells_past_excels_limit_are_shortened(tmp_path: Path) -> None:
    """A cell longer than Excel's 32,767 characters is cut (ending in an ellipsis), so
    Excel opens results.xlsx without repairing it."""
    from pipeline.xlsx import EXCEL_CELL_LIMIT, rows_xml

    long_text = "x" * (EXCEL_CELL_LIMIT + 10)
    xml = rows_xml([[long_text], ["short"]], 2).decode("utf-8")

    assert "x" * (EXCEL_CELL_LIMIT - 1) + "…" in xml
    assert "x" * EXCEL_CELL_LIMIT not in xml
    assert "short" in xml


CELL_TEXT = st.text(st.sampled_from("ab=+-@'\t\r\x00<&\"é 1"), max_size=6)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.one_of(CELL_TEXT, st.integers(0, 9)), max_size=8))
def test_a_column_is_guarded_as_each_cell_would_be(values: list[str | int]) -> None:
    """The one-search shortcut over a column guards exactly the cells `guard` guards."""
    from pipeline.report import _guard_column

    assert list(_guard_column(values)) == [guard(v) if isinstance(v, str) else v for v in values]


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.text(st.sampled_from("ab<&>\"' é=1"), max_size=5), max_size=8))
def test_a_plain_column_is_written_as_each_cell_would_be(texts: list[str]) -> None:
    """The plain path (escaped in one piece) writes what the cell-by-cell path writes."""
    from pipeline.xlsx import _column_cells, _text_cell

    assert _column_cells(texts, None, False) == [_text_cell(t, None) for t in texts]
