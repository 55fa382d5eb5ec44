"""Fuzz: random small sheets, made the way people make them, never lose a row silently.

Hypothesis writes small CSV and XLSX files (random quotes, delimiters, line breaks,
encodings, blank, ragged and hidden rows, a `_notes` column, sometimes a quote that is
opened and never closed) and runs `campaigns validate` on each. Every data row written
must come back in results.csv, with the campaign name as written, or the run must stop
with exit 2 and one `Error:` message that names a row; never another exit code, never a
traceback (issue 9, "done when").
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from pipeline.guard import unguard
from pipeline.template import EXAMPLE_ROWS
from schemas.columns import COLUMNS
from tests.helpers import invoke

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Every sheet has the required columns (else the whole file is refused, by design) and
# some of the other columns of the example rows, so an untouched cell holds a valid value.
REQUIRED = [c.name for c in COLUMNS if c.required]
OTHER_COLUMNS = sorted({name for row in EXAMPLE_ROWS for name in row} - set(REQUIRED))
NOTES = "_notes"
DELIMITERS = (",", ";", "\t")
ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "utf-16")
# Line ends of CSV files, a lone CR (Excel for Mac's "CSV (Macintosh)") included.
LINE_ENDS = ("\r\n", "\n", "\r")

# Pieces of cell text: letters, digits, spaces, the characters CSV gives a meaning
# (quotes, every delimiter, line breaks), the formula starts results.csv guards, letters
# outside ASCII (Latin-1, German, CJK, an accent written as two code points, cp1252's
# own), and characters Python counts as space or line break but CSV does not. A piece
# with cp1252 bytes 0x80-0xBF starts with a space: after `é` or `ß` those bytes would make
# valid UTF-8 (`é€…` is E9 80 85, `ß\xa0` is DF A0), which no loader can tell apart.
PIECES = (
    "a",
    "Z",
    "7",
    " ",
    "  ",
    "-",
    "=",
    "'",
    "é",
    "ß",
    "漢",
    "e\u0301",
    "Café",
    " €…",
    '"',
    '""',
    ",",
    ";",
    "\t",
    "\n",
    "\r\n",
    "\r",
    " \xa0",
    "\u2028",
    "\x85",
    "\x0b",
    "\x1c",
)
# For a workbook: no control characters XML cannot hold (openpyxl refuses them).
WORKBOOK_PIECES = tuple(p for p in PIECES if p not in ("\x0b", "\x1c"))
# For a CSV written by hand (no csv.writer): nothing that needs quoting.
PLAIN_PIECES = ("a", "Z", "7", " ", "-", "é", "ß", "漢", "Café", " \xa0")


def _text(pieces: Sequence[str], max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), max_size=max_size).map("".join)


# Cell text, and a blank cell (nothing, or only spaces and tabs), for each kind of file.
CELLS = {
    "csv": (_text(PIECES, 6), st.sampled_from(["", " ", "   ", "\t", "\xa0"])),
    "xlsx": (_text(WORKBOOK_PIECES, 6), st.sampled_from(["", " ", "   ", "\t"])),
    "plain": (_text(PLAIN_PIECES, 5), st.sampled_from(["", " ", "   "])),
}


@dataclass
class Sheet:
    """A sheet as written: `lines[i]` is row i + 1 as a person sees it in Excel (None for
    a line left out entirely), `columns[j]` the catalogue name of header cell j."""

    columns: list[str]
    lines: list[list[str] | None]
    hidden: set[int] = field(default_factory=set)  # row numbers hidden in Excel
    # The one quote put into a CSV written by hand: (row number, column index, whether
    # it opens a quoted cell), or None.
    stray_quote: tuple[int, int, bool] | None = None
    # In a workbook a CR is kept only when escaped; openpyxl writes it as is, so XML's
    # end-of-line rule makes every CR LF and lone CR a LF (openpyxl reads it so too).
    workbook: bool = False
    # A CSV whose lines end in a lone CR (old Mac): every lone CR is read as a line end,
    # inside cells too.
    mac: bool = False

    @property
    def header_row(self) -> int:
        return next(
            i
            for i, line in enumerate(self.lines, start=1)
            if line is not None and any(c.strip() for c in line)
        )

    def data_rows(self) -> dict[int, list[str]]:
        """Row number -> cells, for every row after the header that is not blank: a
        cell other than a `_` column's holds more than spaces (as the loader decides)."""
        found: dict[int, list[str]] = {}
        for number, line in enumerate(self.lines, start=1):
            if number <= self.header_row or line is None:
                continue
            kept = [c for j, c in enumerate(line) if j != self.notes]
            if any(c.strip() for c in kept):
                found[number] = line
        return found

    @property
    def notes(self) -> int:
        return self.columns.index(NOTES) if NOTES in self.columns else -1

    def name_of(self, cells: list[str]) -> str:
        at = self.columns.index("campaign_name")
        name = cells[at] if at < len(cells) else ""
        if self.workbook:  # XML reads every CR back as LF
            return name.replace("\r\n", "\n").replace("\r", "\n")
        return re.sub(r"\r(?!\n)", "\n", name) if self.mac else name


@st.composite
def sheets(draw: st.DrawFn, kind: str) -> Sheet:
    """A header of known columns (random spelling and order, maybe `_notes`), blank lines
    before it, then 0-8 lines: data rows (example values or random text), blank ones
    (maybe with a note), some shorter or longer than the header. `kind` picks the cell
    text (`CELLS`)."""
    others = draw(st.lists(st.sampled_from(OTHER_COLUMNS), max_size=4, unique=True))
    columns = [*REQUIRED, *others]
    if draw(st.booleans()):
        columns.append(NOTES)
    columns = draw(st.permutations(columns))
    cell, blank = CELLS[kind]
    lines: list[list[str] | None] = [[""] * len(columns) for _ in range(draw(st.integers(0, 2)))]
    lines.append([draw(_spelling(name)) for name in columns])
    for _ in range(draw(st.integers(0, 8))):
        made = draw(st.sampled_from(["example", "example", "random", "blank"]))
        example = draw(st.sampled_from(EXAMPLE_ROWS))
        cells: list[str] = []
        for name in columns:
            if made == "blank":
                value = draw(cell if name == NOTES else blank)
            elif name == "campaign_name" or name == NOTES or made == "random":
                value = draw(cell)
            else:
                value = example.get(name, "")
                if kind == "plain":  # written unquoted: a delimiter would split the cell
                    value = re.sub(r"[,;\t]", " ", value)
            cells.append(value)
        shape = draw(st.sampled_from(["whole", "whole", "whole", "short", "long"]))
        if shape == "short":
            cells = cells[: draw(st.integers(0, len(cells) - 1))]
        elif shape == "long":
            cells += draw(st.lists(st.one_of(blank, cell), min_size=1, max_size=2))
        lines.append(cells)
    return Sheet(list(columns), lines)


def _spelling(name: str) -> st.SearchStrategy[str]:
    """A header as people type it: any case, words by spaces or underscores."""
    if name.startswith("_"):
        return st.just(name)
    return st.sampled_from(
        [name, name.upper(), name.replace("_", " ").title(), f" {name.replace('_', ' ')} "]
    )


# --- CSV -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvFile:
    sheet: Sheet
    data: bytes
    delimiter: str
    encoding: str


def _record(cells: Sequence[str], delimiter: str, quote_all: bool) -> str:
    """One line of CSV, without its line end (csv.writer quotes a cell holding a line
    break only when the break is part of its line terminator)."""
    buffer = io.StringIO()
    if quote_all:
        writer = csv.writer(
            buffer, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_ALL
        )
    else:
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(cells)
    return buffer.getvalue().removesuffix("\r\n")


def _encodings(text: str) -> list[str]:
    usable = [e for e in ENCODINGS if e != "cp1252"]
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return usable
    return [*usable, "cp1252"]


@st.composite
def csv_files(draw: st.DrawFn) -> CsvFile:
    """A sheet written by csv.writer (minimal or full quoting), blank lines written as
    nothing, as spaces or as delimiters only; a random delimiter, line end, encoding,
    and sometimes Excel's `sep=` first line."""
    sheet = draw(sheets("csv"))
    delimiter = draw(st.sampled_from(DELIMITERS))
    quote_all = draw(st.booleans())
    end = draw(st.sampled_from(LINE_ENDS))
    sheet.mac = end == "\r"
    texts: list[str] = []
    for line in sheet.lines:
        assert line is not None
        if not any(c.strip() for c in line) and draw(st.booleans()):
            texts.append(draw(st.sampled_from(["", " ", delimiter * (len(line) - 1)])))
        else:
            texts.append(_record(line, delimiter, quote_all))
    if draw(st.integers(0, 5)) == 0:  # Excel's hint line; it keeps its row number
        texts.insert(0, f"sep={delimiter}")
        sheet.lines.insert(0, None)
    text = end.join(texts) + draw(st.sampled_from(["", end]))
    encoding = draw(st.sampled_from(_encodings(text)))
    return CsvFile(sheet, text.encode(encoding), delimiter, encoding)


@st.composite
def broken_csv_files(draw: st.DrawFn) -> CsvFile:
    """A sheet written by hand (cells joined by the delimiter, nothing quoted) with one
    quote put into one cell below the header: at the start of the cell it opens a quoted
    cell that is never closed; elsewhere it is a plain character."""
    sheet = draw(sheets("plain"))
    below = [i for i in range(sheet.header_row, len(sheet.lines)) if sheet.lines[i]]
    if below:
        index = draw(st.sampled_from(below))
        line = sheet.lines[index]
        assert line is not None
        column = draw(st.integers(0, len(line) - 1))
        at = draw(st.integers(0, len(line[column])))
        line[column] = line[column][:at] + '"' + line[column][at:]
        sheet.stray_quote = (index + 1, column, at == 0)
    delimiter = draw(st.sampled_from(DELIMITERS))
    end = draw(st.sampled_from(LINE_ENDS))
    sheet.mac = end == "\r"
    text = end.join(delimiter.join(line or []) for line in sheet.lines)
    text += draw(st.sampled_from(["", end]))
    encoding = draw(st.sampled_from(_encodings(text)))
    return CsvFile(sheet, text.encode(encoding), delimiter, encoding)


# --- XLSX ------------------------------------------------------------------------------


@st.composite
def xlsx_sheets(draw: st.DrawFn) -> Sheet:
    """A sheet for a workbook, some rows (data, blank or the header) hidden."""
    sheet = draw(sheets("xlsx"))
    sheet.workbook = True
    count = len(sheet.lines)
    sheet.hidden = set(draw(st.lists(st.integers(1, count), max_size=3, unique=True)))
    return sheet


def xlsx_bytes(sheet: Sheet, title: str) -> bytes:
    """The workbook of `sheet`, its one sheet called `title`, every value as text."""
    workbook = Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = title
    for number, line in enumerate(sheet.lines, start=1):
        for column, value in enumerate(line or [], start=1):
            if value:
                cell = ws.cell(row=number, column=column, value=value)
                cell.data_type = "s"  # text, even when it starts with `=`
    for number in sheet.hidden:
        ws.row_dimensions[number].hidden = True
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- the property ----------------------------------------------------------------------


def _validate(name: str, data: bytes) -> tuple[Result, list[dict[str, str]] | None]:
    """`campaigns validate` on a file holding `data`: the result and results.csv's rows
    (None when it was not written)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        out = Path(folder) / "out"
        result = invoke("validate", path, "--out", out)
        report = out / "results.csv"
        if not report.exists():
            return result, None
        with report.open(encoding="utf-8-sig", newline="") as stream:
            return result, list(csv.DictReader(stream))


def _same_name(written: str) -> str:
    return unicodedata.normalize("NFC", written).strip()


def check_every_row_is_accounted_for(
    sheet: Sheet,
    name: str,
    data: bytes,
    *,
    may_refuse: bool,
    names_row: bool,
    must_refuse: bool = False,
) -> None:
    """The property: exit 0/1 with every data row (and its name) in results.csv, or exit
    2 with one `Error:` message (naming a row when `names_row`); nothing else."""
    result, rows = _validate(name, data)
    shown = f"{result.output}\nfile bytes: {data!r}"
    assert "Traceback" not in result.output, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        shown,
        result.exception,
    )
    assert result.exit_code in (0, 1, 2), shown
    assert result.exit_code == 2 or not must_refuse, shown
    if result.exit_code == 2:
        assert may_refuse, shown
        assert result.stderr.startswith("Error: "), shown
        if names_row:
            assert "row" in result.stderr.splitlines()[0], shown
        return
    expected = sheet.data_rows()
    assert rows is not None, shown
    assert [int(r["row"]) for r in rows] == sorted(expected), shown
    statuses = {r["status"] for r in rows}
    assert (result.exit_code == 0) == (statuses <= {"valid"}), shown
    for row in rows:
        number = int(row["row"])
        if sheet.stray_quote is not None and sheet.stray_quote[0] == number:
            continue  # its cells are whatever the quote made of them
        reported = _same_name(unguard(row["campaign_name"]))
        assert reported == _same_name(sheet.name_of(expected[number])), (number, shown)


def _long_quoted_cell(sheet: Sheet, delimiter: str) -> bool:
    """Whether a cell spans more than 3 line breaks and holds the delimiter: the loader
    takes such a quoted cell for a quote never closed (exit 2), by design."""
    return any(c.count("\n") > 3 and delimiter in c for line in sheet.lines if line for c in line)


@settings(FUZZ, max_examples=35)
@given(csv_files())
def test_every_csv_row_is_reported_with_its_name(file: CsvFile) -> None:
    """A well-formed CSV: every data row in results.csv with the name written; exit 2
    only for a cell the loader takes for a quote never closed (and naming its row)."""
    check_every_row_is_accounted_for(
        file.sheet,
        "sheet.csv",
        file.data,
        may_refuse=_long_quoted_cell(file.sheet, file.delimiter),
        names_row=True,
    )


@settings(FUZZ, max_examples=25)
@given(broken_csv_files())
def test_a_stray_quote_loses_no_row(file: CsvFile) -> None:
    """A CSV written by hand with one stray quote: every row in results.csv, or exit 2
    naming a row; a quote that opens a cell and is never closed is always exit 2."""
    opens = file.sheet.stray_quote is not None and file.sheet.stray_quote[2]
    check_every_row_is_accounted_for(
        file.sheet, "sheet.csv", file.data, may_refuse=opens, names_row=True, must_refuse=opens
    )


@settings(FUZZ, max_examples=20)
@given(xlsx_sheets(), st.sampled_from(["campaigns", "Sheet1"]))
def test_every_xlsx_row_is_reported_with_its_name(sheet: Sheet, title: str) -> None:
    """A workbook with blank and hidden rows: every data row, hidden or not, in
    results.csv with the name written; never exit 2."""
    check_every_row_is_accounted_for(
        sheet, "sheet.xlsx", xlsx_bytes(sheet, title), may_refuse=False, names_row=False
    )
