"""Templates and examples: generated from the catalogue, committed, and valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.load import CAMPAIGNS, PROSPECTS, load
from pipeline.prospects import check_prospects
from pipeline.template import (
    EXAMPLE_PROSPECTS,
    EXAMPLE_ROWS,
    PROSPECTS_DOC_TITLE,
    write_example,
    write_template,
)
from pipeline.validate import validate
from schemas.columns import COLUMNS, KEYWORD, PROSPECT_COLUMNS, TARGET_USER, Kind
from tests.helpers import errors

TEMPLATES = Path(__file__).resolve().parents[1] / "input_templates"
GENERATORS = {
    "campaigns.xlsx": write_template,
    "campaigns.csv": write_template,
    "example.xlsx": write_example,
    "example.csv": write_example,
}


def workbook_content(path: Path) -> dict[str, Any]:
    """What a workbook shows: per sheet, the values, drop-downs/checks and frozen panes."""
    workbook = openpyxl.load_workbook(path)
    try:
        return {
            sheet.title: {
                "values": [list(row) for row in sheet.iter_rows(values_only=True)],
                "validations": sorted(
                    (str(v.sqref), v.type, v.formula1, v.formula2, bool(v.allow_blank))
                    for v in sheet.data_validations.dataValidation
                ),
                "freeze_panes": sheet.freeze_panes,
            }
            for sheet in workbook.worksheets
        }
    finally:
        workbook.close()


def validations(path: Path, sheet: str = "campaigns") -> dict[str, tuple[str, str | None]]:
    """Column letter of each checked range (`B2:B1000` -> `B`) -> (type, formula1)."""
    workbook = openpyxl.load_workbook(path)
    try:
        found: dict[str, tuple[str, str | None]] = {}
        for validation in workbook[sheet].data_validations.dataValidation:
            for cells in str(validation.sqref).split():
                letter = cells.split(":")[0].rstrip("0123456789")
                found[letter] = (validation.type, validation.formula1)
        return found
    finally:
        workbook.close()


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_committed_templates_are_what_the_generator_writes(tmp_path: Path, name: str) -> None:
    """input_templates/ holds exactly what write_template/write_example produce now."""
    fresh = GENERATORS[name](tmp_path / name)
    committed = TEMPLATES / name
    if name.endswith(".csv"):
        assert committed.read_bytes() == fresh.read_bytes()
    else:
        assert workbook_content(committed) == workbook_content(fresh)


def test_blank_template_layout(tmp_path: Path) -> None:
    """campaigns.xlsx: a `campaigns` sheet with every column as header, frozen, no rows,
    then the `prospects` and `columns` sheets."""
    content = workbook_content(write_template(tmp_path / "t.xlsx"))
    assert list(content) == ["campaigns", "prospects", "columns"]
    sheet = content["campaigns"]
    assert [row for row in sheet["values"] if any(v is not None for v in row)] == [
        [c.name for c in COLUMNS]
    ]
    assert sheet["freeze_panes"] == "A2"


def test_blank_template_has_drop_downs(tmp_path: Path) -> None:
    """campaign_type and every boolean column have a list drop-down; numbers a whole check."""
    found = validations(write_template(tmp_path / "t.xlsx"))
    letters = {c.name: openpyxl.utils.get_column_letter(i) for i, c in enumerate(COLUMNS, 1)}
    kind, choices = found[letters["campaign_type"]]
    assert kind == "list"
    assert choices is not None
    assert {"TARGET_USER", "KEYWORD", "Prospects", "Topic"} <= set(choices.strip('"').split(","))
    for column in COLUMNS:
        if column.kind is Kind.BOOLEAN:
            assert found[letters[column.name]] == ("list", '"true,false"'), column.name
        elif column.kind is Kind.WHOLE_NUMBER:
            assert found[letters[column.name]] == ("whole", str(column.minimum or 0)), column.name


def test_columns_sheet_documents_every_column(tmp_path: Path) -> None:
    """The `columns` sheet has a header and one line per catalogue column with its help."""
    sheet = workbook_content(write_template(tmp_path / "t.xlsx"))["columns"]
    assert sheet["freeze_panes"] == "A2"
    rows = sheet["values"][: len(COLUMNS) + 1]
    assert rows[0][:6] == ["column", "type", "campaign types", "default", "API field", "help"]
    assert [r[0] for r in rows[1:]] == [c.name for c in COLUMNS]
    for row, column in zip(rows[1:], COLUMNS, strict=True):
        assert row[1] == column.kind.value
        assert (row[3] or "") == (column.default or ("required" if column.required else ""))
        assert row[5] == column.help


def test_topic_template_omits_prospects_only_columns(tmp_path: Path) -> None:
    """A Topic template carries only the columns a topic campaign uses."""
    content = workbook_content(write_template(tmp_path / "t.xlsx", campaign_type=KEYWORD))
    header = content["campaigns"]["values"][0]
    assert header == [c.name for c in COLUMNS if not c.prospects_only]
    assert "connect_enabled" not in header
    assert [r[0] for r in content["columns"]["values"][1:]] == header


def test_prospects_template_has_every_column(tmp_path: Path) -> None:
    """A Prospects template carries every column."""
    path = write_template(tmp_path / "t.csv", campaign_type=TARGET_USER)
    assert path.read_text(encoding="utf-8-sig").strip() == ",".join(c.name for c in COLUMNS)


def test_blank_csv_template_is_the_header_only(tmp_path: Path) -> None:
    """campaigns.csv is one header line (UTF-8 with BOM so Excel reads accents right)."""
    data = write_template(tmp_path / "t.csv").read_bytes()
    assert data == b"\xef\xbb\xbf" + ",".join(c.name for c in COLUMNS).encode() + b"\r\n"


@pytest.mark.parametrize("name", ["example.xlsx", "example.csv"])
def test_committed_examples_validate_cleanly(name: str) -> None:
    """The committed example sheets have no invalid row, and both campaign types."""
    checked = validate(load([TEMPLATES / name]))
    assert len(checked) >= 2
    assert errors(checked) == [[] for _ in range(len(checked))]
    assert set(checked.values["campaign_type"]) == {TARGET_USER, KEYWORD}


@pytest.mark.parametrize("name", ["campaigns.xlsx", "campaigns.csv"])
def test_committed_blank_templates_load_with_no_rows(name: str) -> None:
    """The blank templates load (every header known) and hold no rows, campaign or
    prospect; the workbook's prospects sheet is read as one."""
    table, *prospects = load([TEMPLATES / name])
    assert table.kind == CAMPAIGNS
    assert list(table.frame.columns) == [c.name for c in COLUMNS]
    assert len(table.frame) == 0
    assert [(t.kind, len(t.frame)) for t in prospects] == (
        [(PROSPECTS, 0)] if name.endswith(".xlsx") else []
    )


def test_id_columns_are_formatted_as_text(tmp_path: Path) -> None:
    """Id and text columns are formatted as Text, so Excel cannot turn ids into numbers."""
    workbook = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx"))
    try:
        sheet = workbook["campaigns"]
        for index, column in enumerate(COLUMNS, start=1):
            fmt = sheet.column_dimensions[openpyxl.utils.get_column_letter(index)].number_format
            if column.kind in (Kind.UUID, Kind.OWNER, Kind.TEXT, Kind.UUID_LIST):
                assert fmt == "@", column.name
    finally:
        workbook.close()


def test_drop_downs_and_checks_cover_ten_thousand_rows(tmp_path: Path) -> None:
    """Every drop-down and check of the blank workbook reaches row 10001 (10,000 rows)."""
    workbook = openpyxl.load_workbook(write_template(tmp_path / "t.xlsx"))
    try:
        ranges = [
            cells
            for validation in workbook["campaigns"].data_validations.dataValidation
            for cells in str(validation.sqref).split()
        ]
    finally:
        workbook.close()
    assert ranges
    for cells in ranges:
        first, last = cells.split(":")
        assert first.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "2", cells
        assert last.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "10001", cells


def _template_command(*args: str | Path) -> Any:
    from click.testing import CliRunner

    from pipeline.cli import cli

    return CliRunner().invoke(cli, ["template", *(str(a) for a in args)])


@pytest.mark.parametrize("name", ["plan.txt", "plan.xlsm", "plan"])
def test_template_refuses_an_output_that_is_neither_csv_nor_xlsx(tmp_path: Path, name: str) -> None:
    """`template -o plan.txt` is exit 2 with one Error line, and writes no file at all."""
    result = _template_command("-o", tmp_path / name)
    assert result.exit_code == 2, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        f"Error: -o {tmp_path / name}: a template is a .xlsx or a .csv file; "
        "end the name in .xlsx or .csv"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("file_format", "name"), [("csv", "plan.xlsx"), ("xlsx", "plan.csv"), ("csv", "plan.txt")]
)
def test_template_refuses_a_format_that_disagrees_with_the_name(
    tmp_path: Path, file_format: str, name: str
) -> None:
    """`--format csv -o plan.xlsx` is exit 2 with one Error line, and writes no file."""
    result = _template_command("--format", file_format, "-o", tmp_path / name)
    assert result.exit_code == 2, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        f"Error: --format {file_format} does not match -o {tmp_path / name}; "
        f"name the file {Path(name).stem}.{file_format} or leave out --format"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "written"),
    [
        (("-o", "plan.csv"), "plan.csv"),
        (("-o", "PLAN.XLSX"), "PLAN.XLSX"),
        (("--format", "csv", "-o", "plan.csv"), "plan.csv"),
        (("--format", "xlsx"), "campaigns.xlsx"),
        (("--format", "csv"), "campaigns.csv"),
        ((), "campaigns.xlsx"),
    ],
)
def test_template_writes_exactly_the_file_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], written: str
) -> None:
    """`-o` alone, `--format` alone, or both agreeing write that very file, not a rename."""
    monkeypatch.chdir(tmp_path)
    result = _template_command(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote {written}\n"
    assert [p.name for p in tmp_path.iterdir()] == [written]
    is_workbook = (tmp_path / written).read_bytes().startswith(b"PK")
    assert is_workbook == written.lower().endswith(".xlsx")


def test_write_template_refuses_an_unknown_suffix(tmp_path: Path) -> None:
    """write_template on a .txt path is a ConfigError and writes nothing (no silent xlsx)."""
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\.xlsx or a \.csv"):
        write_template(tmp_path / "plan.txt")
    assert list(tmp_path.iterdir()) == []


# --- the prospects sheet ----------------------------------------------------------------


def test_workbook_template_has_a_prospects_sheet_headed_by_the_catalogue(tmp_path: Path) -> None:
    """The blank workbook's second sheet is `prospects`: the catalogue's prospects columns
    in order, header bold and frozen, each column formatted as text, no rows."""
    path = write_template(tmp_path / "t.xlsx")
    workbook = openpyxl.load_workbook(path)
    try:
        assert workbook.sheetnames == ["campaigns", "prospects", "columns"]
        sheet = workbook["prospects"]
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert rows == [[c.name for c in PROSPECT_COLUMNS]]
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.bold for cell in sheet[1])
        for index in range(1, len(PROSPECT_COLUMNS) + 1):
            dimension = sheet.column_dimensions[openpyxl.utils.get_column_letter(index)]
            assert dimension.number_format == "@"
            assert dimension.width is not None and dimension.width >= 20
    finally:
        workbook.close()


def test_columns_sheet_documents_the_prospects_columns(tmp_path: Path) -> None:
    """After the campaign columns, the `columns` sheet has a titled block with a line per
    prospects column: its help and example from the catalogue, for Prospects only."""
    rows = workbook_content(write_template(tmp_path / "t.xlsx"))["columns"]["values"]
    block = rows[len(COLUMNS) + 1 :]
    assert all(cell is None for cell in block[0])
    assert block[1][0] == PROSPECTS_DOC_TITLE[0]
    assert block[1][5] == PROSPECTS_DOC_TITLE[1]
    lines = block[2:]
    assert [line[0] for line in lines] == [c.name for c in PROSPECT_COLUMNS]
    for line, column in zip(lines, PROSPECT_COLUMNS, strict=True):
        assert line[1:4] == ["text", "Prospects only", "required" if column.required else None]
        assert line[5] == column.help
        assert (line[6] or "") == column.example


def test_example_prospects_are_valid_and_name_prospects_campaigns() -> None:
    """Every prospect row of the committed example.xlsx is valid (no duplicate) and goes
    to a Prospects campaign row of the example: by campaign_key, or by campaign_name for
    the one row without a key."""
    tables = load([TEMPLATES / "example.xlsx"])
    checked = validate(tables)
    found = check_prospects(tables, checked)
    assert len(found) == len(EXAMPLE_PROSPECTS)
    assert [(p.status, p.errors) for p in found.prospects] == [(None, ())] * len(found)
    kinds = checked.values["campaign_type"]
    names = checked.values["campaign_name"]
    for prospect, row in zip(found.prospects, EXAMPLE_PROSPECTS, strict=True):
        assert prospect.campaign is not None, row
        assert kinds[prospect.campaign] == TARGET_USER, row
        assert prospect.url.startswith("https://www.linkedin.com/in/"), row
        assert row["campaign"] in (checked.keys[prospect.campaign], names[prospect.campaign])
    keyless = {r["campaign_name"] for r in EXAMPLE_ROWS if not r["campaign_key"]}
    assert keyless & {r["campaign"] for r in EXAMPLE_PROSPECTS}
    assert len({p.list_key for p in found.prospects}) > len({p.campaign for p in found.prospects})


def test_example_prospects_are_what_the_example_workbook_holds(tmp_path: Path) -> None:
    """`template --example` writes EXAMPLE_PROSPECTS, cell for cell, in the prospects sheet;
    a Prospects-only example keeps them all."""
    header = [c.name for c in PROSPECT_COLUMNS]
    expected = [header, *([row.get(h) or None for h in header] for row in EXAMPLE_PROSPECTS)]
    for campaign_type in (None, TARGET_USER):
        path = write_example(tmp_path / f"{campaign_type}.xlsx", campaign_type)
        assert workbook_content(path)["prospects"]["values"] == expected


@pytest.mark.parametrize("example", [False, True])
def test_topic_workbook_has_no_prospects(tmp_path: Path, example: bool) -> None:
    """A Topic-only workbook (blank or example) has no prospects sheet and documents no
    prospects column: Topic campaigns have no prospect lists."""
    path = tmp_path / "topic.xlsx"
    if example:
        write_example(path, KEYWORD)
    else:
        write_template(path, campaign_type=KEYWORD)
    content = workbook_content(path)
    assert list(content) == ["campaigns", "columns"]
    documented = [row[0] for row in content["columns"]["values"]]
    assert not {c.name for c in PROSPECT_COLUMNS} & set(documented)
    assert [t.kind for t in load([path])] == [CAMPAIGNS]


def test_topic_template_refuses_prospects(tmp_path: Path) -> None:
    """Prospects given to a Topic-only template are a ValueError, and nothing is written."""
    with pytest.raises(ValueError, match="no prospects sheet"):
        write_template(tmp_path / "t.xlsx", campaign_type=KEYWORD, prospects=EXAMPLE_PROSPECTS)
    assert list(tmp_path.iterdir()) == []


def test_csv_example_holds_the_campaign_rows_only(tmp_path: Path) -> None:
    """A CSV holds one table: the CSV example is the campaign rows, with no prospect."""
    path = write_example(tmp_path / "example.csv")
    header = path.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert header == [c.name for c in COLUMNS]
    assert [t.kind for t in load([path])] == [CAMPAIGNS]
