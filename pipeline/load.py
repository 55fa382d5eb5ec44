"""Files -> tables of raw text cells, keyed by the row numbers the user sees.

`load(paths)` reads CSV/TSV files, workbooks (.xlsx, .xlsm, .xls, .xlsb, .ods) or folders
of them (sorted) and returns one `Table` per file. Every cell is kept as the text the user
sees in Excel or an editor; parsing by column kind happens in `pipeline.validate`. The
header is the first row of mostly known column names (a title above it is skipped with
a warning). What the values alone would hide becomes a message at the cell: a formula
never calculated, a value Excel shows as a date, a cell covered by merged cells
(`pipeline.sheetxml` reads the first from the workbook's XML). Rows hidden in Excel are
read with a warning naming them, or left out on request. Anything that makes a whole
file unusable (missing, empty, not a spreadsheet, corrupt, encrypted, no header, unknown
or duplicated headers, too many rows, a stray value far beyond the others, a quote never
closed) raises `InputError` naming the file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, NoReturn

import numpy as np
import pandas as pd
from python_calamine import CalamineWorkbook, SheetVisibleEnum

from pipeline.errors import InputError
from pipeline.guard import unguard
from pipeline.settings import DEFAULT_MAX_ROWS
from pipeline.sheetxml import FarCell, SheetFacts, inspect_sheet
from schemas.columns import HEADER_INDEX, PROSPECT_HEADER_INDEX, Column, normalise_header

# What a table holds: campaign rows, or prospect rows (decision 11).
CAMPAIGNS: Final = "campaigns"
PROSPECTS: Final = "prospects"
_INDEXES: Final = {CAMPAIGNS: HEADER_INDEX, PROSPECTS: PROSPECT_HEADER_INDEX}
TEXT_SUFFIXES: Final = (".csv", ".tsv")
WORKBOOK_SUFFIXES: Final = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
SUFFIXES: Final = TEXT_SUFFIXES + WORKBOOK_SUFFIXES
_SUFFIX_HINT: Final = "Use .csv, .tsv, .xlsx, .xlsm, .xls, .xlsb or .ods files."
# The tool's own report files: never read as input when found inside a folder.
REPORT_FILES: Final = frozenset({"results.csv", "succeeded.csv", "failed.csv", "results.xlsx"})
DELIMITERS: Final = (",", ";", "\t")
_LONE_CR: Final = re.compile(r"\r(?!\n)")
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")
# The line Excel may put first in a CSV to name its delimiter; kept as an empty line so
# that row numbers stay those of the file.
_SEP_HINT: Final = re.compile(r"sep=([,;\t|])[ \t]*(\r?\n)")
# Columns the reporter adds to `failed.csv`/`succeeded.csv`; dropped when such a file is
# fed back in, so they are written fresh rather than twice.
REPORT_COLUMNS: Final = ("_source", "_row", "_status", "_errors", "_campaign_id")
# Excel shows numbers of 12 digits or more in scientific notation; from 16 on the digits
# themselves are gone. Such a number in an xlsx is rendered as Excel shows it, so that
# validation can flag it in id columns instead of sending a mangled id.
_EXACT_FLOAT_LIMIT: Final = 1e15


@dataclass(frozen=True)
class Table:
    """The rows of one sheet: text cells, indexed by the row number the user sees.

    `frame` has one column per recognised header (named by the catalogue) plus the
    user's own `_` columns (kept for `failed.csv`), all `str`. `headers` maps each frame
    column to the header as the user typed it. `problems` holds cell-level findings of
    the loader, by row number, as (header, message) pairs.
    """

    path: Path
    sheet: str
    frame: pd.DataFrame
    headers: dict[str, str]
    detected: str
    warnings: tuple[str, ...] = ()
    problems: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    sha256: str = ""  # of the file's bytes
    # For one of our own reports fed back (it has `_source` and `_row` columns): each
    # row's place in the sheet it was first read from, by row number here.
    origins: dict[int, tuple[str, int]] = field(default_factory=dict)
    # The bytes read, exactly (what `sha256` hashes, and what the report keeps in inputs/).
    data: bytes = field(default=b"", repr=False, compare=False)
    # A downloaded input's URL without its query (`pipeline.inputs`); `path` is then the
    # name it was read as. Empty for a file.
    url: str = ""
    # The row numbers of data rows not read (hidden, with --skip-hidden-rows): a file
    # with any is never finished with (`pipeline.archive`).
    left_out: tuple[int, ...] = ()
    # CAMPAIGNS, or PROSPECTS: a workbook's `prospects` sheet, or a file whose header
    # names prospects columns (`linkedin_url`); its columns are `PROSPECT_COLUMNS`.
    kind: str = CAMPAIGNS

    @property
    def source(self) -> str:
        """What reports call the input: the file's name, or the URL."""
        return self.url or self.path.name


def load(
    paths: Iterable[Path | str],
    *,
    sheet: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    skip_hidden_rows: bool = False,
) -> list[Table]:
    """Read every file named (folders expand to their spreadsheets, sorted).

    Rows hidden in a workbook (by hand or by a filter) are read, with a warning naming
    them, unless `skip_hidden_rows`. The warnings of a folder (files it did not read) go
    to the first table read from it.
    """
    files = paths if isinstance(paths, ExpandedPaths) else expand_paths(paths)
    tables: list[Table] = []
    pending = dict(files.folder_warnings)
    for path in files:
        folder = files.folders.get(path)
        try:
            read = _load_file(path, sheet, max_rows, skip_hidden_rows)
        except InputError as exc:
            if folder is None:
                raise
            hint = f"{exc.hint} " if exc.hint else ""
            raise InputError(
                exc.path,
                exc.problem,
                sheet=exc.sheet,
                row=exc.row,
                column=exc.column,
                hint=f"{hint}Or move it out of the folder {folder} to read the other files.",
            ) from None
        if folder is not None and folder in pending:
            read[0] = replace(read[0], warnings=(*pending.pop(folder), *read[0].warnings))
        tables.extend(read)
    return tables


class ExpandedPaths(list[Path]):
    """The files to read, in order; `folders` maps each file found in a folder to that
    folder, `folder_warnings` names what each folder held that was not read."""

    def __init__(self) -> None:
        super().__init__()
        self.folders: dict[Path, Path] = {}
        self.folder_warnings: dict[Path, tuple[str, ...]] = {}

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for ws in self.folder_warnings.values() for w in ws)


def expand_paths(paths: Iterable[Path | str]) -> ExpandedPaths:
    """Files to read: each file as given, each folder's spreadsheets in name order; a file
    named twice (or also through its folder) is read once.

    In a folder, dotfiles (and `._*` copies a Mac makes) and `~$` lock files are skipped
    silently; other files, subfolders, broken links and the tool's own reports are
    skipped with a warning (recorded in the result's `warnings`)."""
    files: list[tuple[Path, Path | None]] = []
    result = ExpandedPaths()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found, warnings = _scan_folder(path)
            if not found:
                raise InputError(
                    path,
                    "folder holds no spreadsheet (.csv, .tsv, .xlsx, .xlsm, .xls, .xlsb "
                    "or .ods file)",
                )
            files.extend((file, path) for file in found)
            if warnings:
                result.folder_warnings[path] = tuple(warnings)
        elif not path.exists():
            raise InputError(path, "no such file or folder")
        elif path.suffix.lower() not in SUFFIXES:
            raise InputError(path, "not a spreadsheet this tool reads", hint=_SUFFIX_HINT)
        else:
            files.append((path, None))
    seen: set[Path] = set()
    for file, folder in files:
        key = file.resolve()
        if key in seen:
            continue
        seen.add(key)
        result.append(file)
        if folder is not None:
            result.folders[file] = folder
    return result


def _scan_folder(folder: Path) -> tuple[list[Path], list[str]]:
    found: list[Path] = []
    others: list[str] = []
    reports: list[str] = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name.startswith((".", "~$")):
            continue  # dotfiles, AppleDouble `._x.csv` copies, Office lock files
        if entry.is_symlink() and not entry.exists():
            others.append(f"{name} (a broken link)")
        elif entry.is_dir():
            others.append(f"{name}/ (a folder)")
        elif not entry.is_file() or entry.suffix.lower() not in SUFFIXES:
            others.append(name)
        elif name.lower() in REPORT_FILES:
            reports.append(name)
        else:
            found.append(entry)
    warnings: list[str] = []
    if others:
        warnings.append(f"{folder}: not read (not a spreadsheet): {', '.join(others)}")
    if reports:
        warnings.append(
            f"{folder}: not read (reports this tool writes): {', '.join(reports)}; "
            "name a report file itself to read it"
        )
    return found, warnings


def _load_file(path: Path, sheet: str | None, max_rows: int, skip_hidden_rows: bool) -> list[Table]:
    try:
        data = path.read_bytes()  # read once: parsed, and hashed for summary.json
    except OSError as exc:
        raise InputError(path, f"cannot be read: {exc.strerror or exc}") from None
    return load_tables(
        data, path, sheet=sheet, max_rows=max_rows, skip_hidden_rows=skip_hidden_rows
    )


def load_bytes(
    data: bytes,
    name: Path | str,
    *,
    sheet: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    skip_hidden_rows: bool = False,
) -> Table:
    """Read one file's bytes (an upload, a download) as if from a file called `name`: its
    suffix says the format, and messages name it. The file's first table: its campaign
    rows, or its prospect rows when it holds only those (`load_tables` gives both)."""
    return load_tables(
        data, name, sheet=sheet, max_rows=max_rows, skip_hidden_rows=skip_hidden_rows
    )[0]


def load_tables(
    data: bytes,
    name: Path | str,
    *,
    sheet: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    skip_hidden_rows: bool = False,
) -> list[Table]:
    """Every table of one file's bytes, read as `load_bytes` reads them: the campaign rows
    (a CSV file, or the workbook's campaign sheet), then a workbook's `prospects` sheet.
    A CSV file (or a workbook's only sheet) whose header names prospects columns is a
    table of prospect rows."""
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(path, "not a spreadsheet this tool reads", hint=_SUFFIX_HINT)
    if suffix in TEXT_SUFFIXES:
        if sheet is not None:
            raise InputError(
                path,
                f"--sheet applies to workbooks; {path.name} is a {suffix[1:].upper()} file",
                hint="Leave out --sheet, or name only workbooks.",
            )
        cells, detected, warnings = _read_csv(path, data, "\t" if suffix == ".tsv" else None)
        grids: list[tuple[Grid, str | None]] = [(Grid("", cells, warnings), None)]
    else:
        grids = _read_xlsx(path, data, sheet)
        detected = suffix[1:]
    digest = hashlib.sha256(data).hexdigest()
    return [
        replace(
            _table_from_grid(path, grid, detected, max_rows, skip_hidden_rows, kind),
            sha256=digest,
            data=data,
        )
        for grid, kind in grids
    ]


@dataclass(frozen=True)
class Grid:
    """Every line of one sheet as text ("" when empty), before the header is found.

    `marks` holds what the cell values do not show, by (line, column) from 0: a formula
    never calculated, a date, a cell covered by merged cells. `hidden` holds the lines
    Excel hides (by hand or by a filter)."""

    sheet: str
    cells: pd.DataFrame
    warnings: list[str]
    marks: dict[tuple[int, int], str] = field(default_factory=dict)
    hidden: frozenset[int] = frozenset()


# --- CSV -------------------------------------------------------------------------------


def _read_csv(
    path: Path, data: bytes, delimiter: str | None = None
) -> tuple[pd.DataFrame, str, list[str]]:
    if not data.strip():
        raise InputError(path, "file is empty")
    if data.startswith(b"PK\x03\x04"):
        raise InputError(path, "is an Excel workbook, not a CSV file", hint="Rename it to .xlsx.")
    text, encoding, warnings = _decode(path, data)
    first_break = _LINE_BREAK.search(text)
    if first_break is not None and first_break.group() == "\r":
        # Old Mac line ends (Excel's "CSV (Macintosh)"), told by the header's: every count
        # of rows below is by LF, so each lone CR becomes one. In a file of LF or CRLF
        # line ends a lone CR is text inside a cell, and stays.
        text = _LONE_CR.sub("\n", text)
    hint = _SEP_HINT.match(text)
    if hint:  # Excel's "sep=;" first line names the delimiter; it is no header
        delimiter = hint.group(1)
        text = text[hint.end() - len(hint.group(2)) :]
    elif delimiter is None:
        delimiter = _sniff_delimiter(text)
    _check_quotes(path, text, delimiter)
    cells = _parse_csv(path, text, delimiter)
    shown = {"\t": "tab"}.get(delimiter, delimiter)
    return cells, f"csv ({encoding}, delimiter {shown!r})", warnings


def _parse_csv(path: Path, text: str, delimiter: str) -> pd.DataFrame:
    """Every record as text; pandas' C parser, or the csv module for ragged rows."""
    options: dict[str, Any] = {"sep": delimiter, "quotechar": '"', "doublequote": True}
    try:
        frame: pd.DataFrame = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
            **options,
        )
        return frame
    except (pd.errors.ParserError, ValueError):
        pass  # a row longer than the first: read it record by record
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InputError(path, f"is not a readable CSV file: {exc}") from None
    # Never hide lost rows: every line of the file is a record or a line break inside one.
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    inside = sum(cell.count("\n") for record in records for cell in record)
    if len(records) + inside != lines:
        raise InputError(
            path,
            f"is not a readable CSV file: {lines} lines held {len(records)} rows "
            f"and {inside} line breaks inside cells, so some rows were lost",
            hint='Look for a quote (") that is opened and not closed.',
        )
    width = max(len(r) for r in records)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in records], dtype=object)


def _decode(path: Path, data: bytes) -> tuple[str, str, list[str]]:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8-sig", []
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError:
            raise InputError(path, "is not valid UTF-16 text despite its byte-order mark") from None
    if b"\x00" in data[:4096]:
        raise InputError(path, "is a binary file, not CSV text")
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    _refuse_mixed_encodings(path, data)
    # Windows Excel's "CSV" without UTF-8: read as cp1252, the likeliest, and say so.
    text = data.decode("cp1252", errors="replace")
    warning = (
        f"{path.name}: not UTF-8; read as Windows-1252 (cp1252). Check accented letters, "
        "or save the sheet as 'CSV UTF-8'."
    )
    return text, "cp1252", [warning]


def _refuse_mixed_encodings(path: Path, data: bytes) -> None:
    """A file that is not UTF-8 but has lines that are (UTF-8 with a few Windows-1252 lines
    pasted in) cannot be decoded as a whole: name the first lines of each kind."""
    utf8: list[int] = []
    cp1252: list[int] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            cp1252.append(number)
        else:
            utf8.append(number)
    if utf8 and cp1252:
        raise InputError(
            path,
            "mixes two text encodings: "
            f"{_some_lines(utf8)} UTF-8 but {_some_lines(cp1252)} Windows-1252 (cp1252), "
            "so accented letters on one kind would be garbled",
            hint="Fix the accented letters on those lines and save the file as UTF-8 "
            '(in Excel: Save As, "CSV UTF-8 (Comma delimited)"; in an editor: encoding UTF-8).',
        )


def _some_lines(numbers: Sequence[int], shown: int = 3, noun: str = "line") -> str:
    """`line 4 is`, `lines 4, 7 are`, `lines 3 to 9 are`, `lines 4, 7, 9 and 2 more are`."""
    if len(numbers) == 1:
        return f"{noun} {numbers[0]} is"
    if len(numbers) > 2 and numbers[-1] - numbers[0] == len(numbers) - 1:
        return f"{noun}s {numbers[0]} to {numbers[-1]} are"
    listed = ", ".join(str(n) for n in numbers[:shown])
    more = f" and {len(numbers) - shown} more" if len(numbers) > shown else ""
    return f"{noun}s {listed}{more} are"


# A quoted cell longer than this many line breaks and holding a delimiter is taken for a
# quote that was opened and never closed (a real note spans a few lines, not a table).
_MAX_QUOTED_LINE_BREAKS: Final = 3


def _check_quotes(path: Path, text: str, delimiter: str) -> None:
    """Refuse a quote opened and not closed: it would swallow the rows below it into one
    cell. Such a cell runs to the end of the file, or spans many lines with delimiters."""
    delim = re.escape(delimiter)
    # A quote that opens a cell: at the start of a line or after a delimiter (said as a
    # look-behind after the quote, so that the search can skip to each quote at once).
    quoted = re.compile(rf'"(?<![^{delim}\n]")([^"]*(?:""[^"]*)*)("?)')
    if all(_closed_in_place(m, delimiter) for m in quoted.finditer(text)):
        return
    record = 0  # line breaks outside quoted cells before `position`: rows above it
    field_index = 0  # field of the record at `position`
    position = 0
    for match in quoted.finditer(text):
        start = match.start()
        breaks = text.count("\n", position, start)
        if breaks:
            record += breaks
            field_index = text.count(delimiter, text.rfind("\n", position, start) + 1, start)
        else:
            field_index += text.count(delimiter, position, start)
        content = match.group(1)
        closed = bool(match.group(2))
        if not _closed_in_place(match, delimiter):
            _unclosed_quote(path, text, delimiter, record + 1, field_index, content, closed)
        position = match.end()  # the cell's own line breaks are no rows


def _closed_in_place(match: re.Match[str], delimiter: str) -> bool:
    """Whether a quoted cell is closed, and not so far down that it must be a mistake.
    (Most cells have no line break: a first pass over them all stays cheap.)"""
    if not match.group(2):
        return False
    content = match.group(1)
    return (
        "\n" not in content
        or content.count("\n") <= _MAX_QUOTED_LINE_BREAKS
        or delimiter not in content
    )


def _unclosed_quote(
    path: Path, text: str, delimiter: str, row: int, index: int, content: str, closed: bool
) -> NoReturn:
    swallowed = (content if closed else content.rstrip("\r\n")).count("\n")
    header = ""
    line = _first_line(text)
    if line is not None:
        fields = next(csv.reader([line], delimiter=delimiter), [])
        header = fields[index].strip() if index < len(fields) else ""
    column = _column_letter(index) + (f" {header!r}" if header else "")
    if closed:
        how = f"is closed only {swallowed} lines further down"
    else:
        how = "is never closed (it runs to the end of the file)"
    if swallowed == 1:
        lost = f"; row {row + 1} is inside it"
    elif swallowed:
        lost = f"; rows {row + 1} to {row + swallowed} are inside it"
    else:
        lost = ""
    raise InputError(
        path,
        f'a quote (") opens a cell in column {column} and {how}{lost}',
        row=row,
        column=header,
        hint=f"Close the quote in row {row} or remove it "
        '(a quote meant as text inside a quoted cell is written twice: "").',
    )


def _sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: the most frequent of `,` `;` tab (`,` on a tie)."""
    line = _first_line(text)
    if line is None:
        return ","
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _first_line(text: str) -> str | None:
    """The first line of `text` with more than spaces and line ends (with its line end),
    found without copying the text."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        line = text[start:end]
        if line.strip(" \r\n"):
            return line
        start = end
    return None


# --- XLSX ------------------------------------------------------------------------------


def _read_xlsx(path: Path, data: bytes, wanted: str | None) -> list[tuple[Grid, str | None]]:
    """A workbook (.xlsx, .xlsm, .xlsb, .ods: zip archives; .xls: an OLE file): its
    campaign sheet (its kind told by its header unless it is called `campaigns` or was
    asked for), then its `prospects` sheet if it has one."""
    kind = path.suffix.lower()[1:] or "xlsx"
    magic = data[:8]
    if not magic:
        raise InputError(path, "file is empty")
    if kind != "xls":
        if magic.startswith(b"\xd0\xcf\x11\xe0"):
            raise InputError(
                path,
                "is password-protected (encrypted) or an old .xls workbook",
                hint="Remove the password (or save as .xlsx) and try again.",
            )
        if not magic.startswith(b"PK"):
            raise InputError(path, f"is not an {kind} workbook (not a zip archive)")
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        metadata = list(workbook.sheets_metadata)
    except Exception as exc:  # calamine raises several unrelated types for bad archives
        raise InputError(path, f"is corrupt or not an {kind} workbook ({exc})") from None
    names: list[str] = [m.name for m in metadata] or list(workbook.sheet_names)
    if not names:
        raise InputError(path, "workbook has no sheets")
    visible = [m.name for m in metadata if m.visible == SheetVisibleEnum.Visible]
    prospects = next((n for n in names if n.casefold() == PROSPECTS), None)
    name = _pick_sheet(path, names, wanted, [n for n in visible if n != prospects])
    grids: list[tuple[Grid, str | None]] = []
    if name is not None and name != prospects:
        told = CAMPAIGNS if wanted is not None or name.casefold() == CAMPAIGNS else None
        grids.append((_read_sheet(path, data, kind, workbook, name, wanted, visible), told))
    if prospects is not None:
        grids.append((_read_sheet(path, data, kind, workbook, prospects, "", ()), PROSPECTS))
    if not grids:  # only hidden sheets besides... nothing: the first sheet, as before
        grids.append((_read_sheet(path, data, kind, workbook, names[0], wanted, visible), None))
    return grids


def _read_sheet(
    path: Path,
    data: bytes,
    kind: str,
    workbook: CalamineWorkbook,
    name: str,
    wanted: str | None,
    visible: Sequence[str],
) -> Grid:
    """One sheet's cells and marks; for a campaign sheet picked as the first visible one,
    a warning when other sheets look like campaign rows too."""
    facts = _inspect(data, kind, name)
    if facts is not None and facts.far is not None:
        _refuse_far_cell(path, name, facts.far)
    try:
        sheet = workbook.get_sheet_by_name(name)
        values = sheet.to_python(skip_empty_area=False)
        merged = sheet.merged_cell_ranges or []
    except Exception as exc:
        raise InputError(path, f"sheet cannot be read ({exc})", sheet=name) from None
    warnings: list[str] = []
    if wanted is None and name.casefold() != CAMPAIGNS:
        alike = [
            other
            for other in visible
            if other != name
            and other.casefold() != PROSPECTS
            and _looks_like_campaigns(workbook, data, kind, other)
        ]
        if alike:
            shown = ", ".join(repr(n) for n in alike)
            warnings.append(
                f"{path.name}: read sheet {name!r}, the first visible one; sheet(s) {shown} "
                f"also look like campaign rows. To read one, use --sheet NAME "
                f"(e.g. --sheet {alike[0]!r})."
            )
    cells, marks = _texts(values)
    _mark_merged(marks, merged, len(cells), max((len(r) for r in cells), default=0))
    hidden: frozenset[int] = frozenset()
    if facts is not None:
        for (row, column), formula in facts.uncalculated.items():
            marks[(row - 1, column)] = (
                f"holds a formula ({formula}) whose value was never calculated; open and "
                "save the file in Excel, or type the value"
            )
        hidden = frozenset(row - 1 for row in facts.hidden_rows)
    return Grid(name, pd.DataFrame(cells, dtype=object), warnings, marks, hidden)


def _inspect(data: bytes, kind: str, sheet: str) -> SheetFacts | None:
    """What the sheet's XML says beyond its values (.xlsx and .xlsm only)."""
    return inspect_sheet(data, sheet) if kind in ("xlsx", "xlsm") else None


def _refuse_far_cell(path: Path, sheet: str, far: FarCell) -> NoReturn:
    cells = ("cell " if len(far.cells) == 1 else "cells ") + " and ".join(far.cells)
    raise InputError(
        path,
        f"has a value in {cells}, far beyond the rest of the sheet: reading up to it "
        f"means {far.area:,} cells, and only {far.filled:,} hold values",
        sheet=sheet,
        hint="Clear that cell (or delete the rows and columns after your data), "
        "save the file, and try again.",
    )


# What Excel turned into a date (or time, or duration); no column of the sheet holds one.
_DATE_KINDS: Final = (
    (dt.datetime, "a date and time"),
    (dt.date, "a date"),
    (dt.time, "a time"),
    (dt.timedelta, "a duration"),
)


def _texts(values: list[list[Any]]) -> tuple[list[list[str]], dict[tuple[int, int], str]]:
    """Each cell as the text Excel shows; a cell Excel shows as a date gets a mark."""
    marks: dict[tuple[int, int], str] = {}
    cells: list[list[str]] = []
    for line, row in enumerate(values):
        texts = [v if type(v) is str else _cell_text(v) for v in row]
        if not all(type(v) is str for v in row):
            for column, value in enumerate(row):
                shown = _date_kind(value)
                if shown:
                    marks[(line, column)] = (
                        f"Excel shows this cell as {shown} ({texts[column]}); if that is not "
                        "meant, format the cell as Text and type the value again"
                    )
        cells.append(texts)
    return cells, marks


def _date_kind(value: object) -> str:
    for kind, shown in _DATE_KINDS:
        if isinstance(value, kind):
            return shown
    return ""


def _mark_merged(
    marks: dict[tuple[int, int], str],
    merged: Sequence[tuple[tuple[int, int], tuple[int, int]]],
    height: int,
    width: int,
) -> None:
    """Every cell a merge covers but its first: its value reads as empty."""
    for (top, left), (bottom, right) in merged:
        ref = f"{_column_letter(left)}{top + 1}:{_column_letter(right)}{bottom + 1}"
        fill = "each row" if bottom > top else "each cell"
        message = (
            f"part of merged cells {ref}, whose value belongs to "
            f"{_column_letter(left)}{top + 1} only; unmerge them and fill {fill}"
        )
        for line in range(top, min(bottom, height - 1) + 1):
            for column in range(left, min(right, width - 1) + 1):
                if (line, column) != (top, left):
                    marks[(line, column)] = message


# How many lines of another sheet are searched for a header that looks like campaigns.
_HEADER_SEARCH_ROWS: Final = 20


def _looks_like_campaigns(workbook: CalamineWorkbook, data: bytes, kind: str, name: str) -> bool:
    """Whether one of the first non-empty rows of a sheet is mostly known column names."""
    facts = _inspect(data, kind, name)
    if facts is not None and facts.far is not None:
        return False  # too large to look at; not read anyway
    try:
        rows = workbook.get_sheet_by_name(name).to_python(nrows=_HEADER_SEARCH_ROWS)
    except Exception:
        return False
    return any(_is_header([str(v) for v in row]) for row in rows)


def _is_header(cells: Sequence[str], index: dict[str, Column] = HEADER_INDEX) -> bool:
    """Most of the non-empty cells (other than `_` notes) are known column names."""
    own = [t for t in (c.strip() for c in cells) if t and not t.startswith("_")]
    known = sum(normalise_header(t) in index for t in own)
    return bool(own) and known * 2 > len(own)


def _pick_sheet(
    path: Path, names: Sequence[str], wanted: str | None, visible: Sequence[str] = ()
) -> str | None:
    """The sheet asked for; else the one called `campaigns`; else the first visible one
    (of those given: not the `prospects` sheet); None when there is none."""
    folded = {n.casefold(): n for n in names}
    if wanted is not None:
        if wanted.casefold() in folded:
            return folded[wanted.casefold()]
        shown = ", ".join(repr(n) for n in names)
        raise InputError(
            path, f"has no sheet named {wanted!r}", hint=f"Sheets in it: {shown}. Try --sheet NAME."
        )
    return folded.get(CAMPAIGNS, visible[0] if visible else None)


def _cell_text(value: object) -> str:
    """A cell value as Excel shows it in General format."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_FLOAT_LIMIT:
            return str(int(value))
        if abs(value) >= _EXACT_FLOAT_LIMIT:
            return _excel_scientific(value)
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _excel_scientific(value: float) -> str:
    """`1.23457E+17`: how Excel's General format shows a large number."""
    mantissa, exponent = f"{value:.5E}".split("E")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}E{exponent[0]}{int(exponent[1:]):02d}"


# --- grid -> table ---------------------------------------------------------------------


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _table_from_grid(
    path: Path,
    grid: Grid,
    detected: str,
    max_rows: int,
    skip_hidden_rows: bool,
    kind: str | None = None,
) -> Table:
    """The table in `grid`: the header row found, then every non-empty line below it.
    `kind` None: campaign rows, unless the first header found names prospects columns."""
    sheet, cells, warnings = grid.sheet, grid.cells, list(grid.warnings)
    values = cells.to_numpy(dtype=object)
    filled = _filled_rows(values, values != "")
    if not filled.any():
        if kind == PROSPECTS:
            return _empty_table(path, sheet, detected, warnings)
        raise InputError(path, "has no header row (the sheet is empty)", sheet=sheet)
    if kind is None:
        kind = _kind_of(values, filled)
    index = _INDEXES[kind]
    header_at = _header_line(path, values, filled, warnings, index)
    header = [str(c).strip() for c in values[header_at]]
    while header and not header[-1]:
        header.pop()
    names = _match_headers(path, sheet, header_at + 1, header, index)
    ignored = [i for i, name in enumerate(names) if name is not None and name.startswith("_")]
    if ignored:  # a line with nothing but notes in `_` columns is an empty line
        kept = np.ones(values.shape[1], dtype=bool)
        kept[ignored] = False
        filled = filled & _filled_rows(values[:, kept], (values != "")[:, kept])
    data_rows = np.flatnonzero(filled[header_at + 1 :]) + header_at + 1
    read = _hidden_lines(path, grid.hidden, data_rows, skip_hidden_rows, warnings)
    left_out = tuple(int(n) + 1 for n in np.setdiff1d(data_rows, read))
    data_rows = read
    if len(data_rows) > max_rows:
        raise InputError(
            path,
            f"has {len(data_rows)} rows, more than {max_rows}",
            sheet=sheet,
            hint="Split the file, or raise the limit with --max-rows.",
        )
    problems: dict[int, list[tuple[str, str]]] = {}
    if len(data_rows) and (cells.shape[1] > len(header) or None in names):
        # Only a sheet with headerless columns needs this scan of every cell.
        nonblank = cells.iloc[data_rows].apply(lambda c: c.str.strip().ne("")).to_numpy()
        for position, name in enumerate(names):
            if name is None and nonblank[:, position].any():
                raise InputError(
                    path,
                    f"column {_column_letter(position)} has values but no header",
                    sheet=sheet,
                    row=header_at + 1,
                    hint="Give the column a header, or start it with _ to have it ignored.",
                )
        beyond = nonblank[:, len(header) :]
        for offset in np.flatnonzero(beyond.any(axis=1)):
            where = ", ".join(
                _column_letter(len(header) + int(i)) for i in np.flatnonzero(beyond[offset])
            )
            problems[int(data_rows[offset]) + 1] = [
                ("", f"values in column {where}, which has no header")
            ]
    _add_marks(problems, grid.marks, names, data_rows)
    keep = [
        (position, name)
        for position, name in enumerate(names)
        if name is not None and name not in REPORT_COLUMNS
    ]
    frame = cells.iloc[data_rows, [position for position, _ in keep]].astype(object)
    frame.columns = pd.Index([name for _, name in keep])
    if REPORT_COLUMNS[0] in names or REPORT_COLUMNS[1] in names:
        # One of our own reports fed back: take off the formula guard it wrote. A user's
        # own sheet keeps its leading apostrophes as typed.
        for column in frame.columns:
            texts = frame[column].tolist()
            if any(t.startswith("'") for t in texts):
                frame[column] = [unguard(t) for t in texts]
    frame.index = pd.Index(data_rows + 1, name="row")
    headers = {name: header[position] for position, name in keep}
    origins = _origins(values, names, data_rows)
    return Table(
        path,
        sheet,
        frame,
        headers,
        detected,
        tuple(warnings),
        problems,
        origins=origins,
        left_out=left_out,
        kind=kind,
    )


def _empty_table(path: Path, sheet: str, detected: str, warnings: list[str]) -> Table:
    """An empty `prospects` sheet: no prospect rows (not an error: a template's sheet)."""
    frame = pd.DataFrame({}, index=pd.Index([], name="row"), dtype=object)
    return Table(path, sheet, frame, {}, detected, tuple(warnings), kind=PROSPECTS)


def _kind_of(values: np.ndarray, filled: np.ndarray) -> str:
    """PROSPECTS when, among the first lines, one names `linkedin_url` (or an alias of
    it) before any is mostly campaign column names; else CAMPAIGNS."""
    for line in np.flatnonzero(filled)[:_HEADER_SEARCH_ROWS].tolist():
        cells = [str(c).strip() for c in values[line]]
        if _is_header(cells, HEADER_INDEX):
            return CAMPAIGNS
        named = (PROSPECT_HEADER_INDEX.get(normalise_header(c)) for c in cells if c[:1] != "_")
        if any(column is not None and column.name == "linkedin_url" for column in named):
            return PROSPECTS  # decision 11: a header with `linkedin_url` is a prospects file
    return CAMPAIGNS


def _header_line(
    path: Path,
    values: np.ndarray,
    filled: np.ndarray,
    warnings: list[str],
    index: dict[str, Column] = HEADER_INDEX,
) -> int:
    """The first line whose cells are mostly known column names (a title above the header
    is skipped, with a warning); else the first non-empty line, whose unknown names the
    header check then reports."""
    lines = np.flatnonzero(filled)
    for line in lines[:_HEADER_SEARCH_ROWS].tolist():
        if _is_header([str(c) for c in values[line]], index):
            break
    else:
        return int(lines[0])
    above = [n for n in lines.tolist() if n < line]
    if above:
        first = next(str(c).strip() for c in values[above[0]] if str(c).strip())
        warnings.append(
            f"{path.name}: {_some_lines([n + 1 for n in above], noun='row')} above the header (row "
            f"{line + 1}) and not read (the first says {first!r})"
        )
    return int(line)


def _hidden_lines(
    path: Path,
    hidden: frozenset[int],
    data_rows: np.ndarray,
    skip: bool,
    warnings: list[str],
) -> np.ndarray:
    """The data lines to read: all (hidden ones named in a warning), or the visible ones."""
    if not hidden:
        return data_rows
    mask = np.isin(data_rows, np.fromiter(hidden, dtype=data_rows.dtype, count=len(hidden)))
    if not mask.any():
        return data_rows
    numbers = (data_rows[mask] + 1).tolist()
    rows = _some_lines(numbers, shown=10, noun="row")
    if skip:
        warnings.append(f"{path.name}: {rows} hidden in Excel and left out (--skip-hidden-rows)")
        return data_rows[~mask]
    them = "it" if len(numbers) == 1 else "them"
    warnings.append(
        f"{path.name}: {rows} hidden in Excel and read too; --skip-hidden-rows leaves {them} out"
    )
    return data_rows


def _add_marks(
    problems: dict[int, list[tuple[str, str]]],
    marks: dict[tuple[int, int], str],
    names: list[str | None],
    data_rows: np.ndarray,
) -> None:
    """A message for each marked cell of a data row in a column that is read."""
    if not marks:
        return
    lines = set(data_rows.tolist())
    for (line, column), message in sorted(marks.items()):
        name = names[column] if column < len(names) else None
        if line in lines and name is not None and not name.startswith("_"):
            problems.setdefault(line + 1, []).append((name, message))


def _origins(
    values: np.ndarray, names: list[str | None], data_rows: np.ndarray
) -> dict[int, tuple[str, int]]:
    """Row number -> (`_source`, `_row`) for a report fed back; rows without both: none."""
    if REPORT_COLUMNS[0] not in names or REPORT_COLUMNS[1] not in names:
        return {}
    sources = values[data_rows, names.index(REPORT_COLUMNS[0])]
    numbers = values[data_rows, names.index(REPORT_COLUMNS[1])]
    origins: dict[int, tuple[str, int]] = {}
    for line, source, number in zip(data_rows.tolist(), sources, numbers, strict=True):
        source, number = unguard(str(source)).strip(), str(number).strip()
        if source and number.isdigit():
            origins[line + 1] = (source, int(number))
    return origins


def _filled_rows(values: np.ndarray, nonempty: np.ndarray) -> np.ndarray:
    """Which lines hold anything but whitespace (cheap: most lines are decided at once)."""
    filled: np.ndarray = np.asarray(nonempty.any(axis=1))
    candidates = np.flatnonzero(filled)
    if len(candidates):
        firsts = values[candidates, nonempty[candidates].argmax(axis=1)].tolist()
        lines = candidates.tolist()
        for line in [n for n, first in zip(lines, firsts, strict=True) if not str(first).strip()]:
            filled[line] = any(str(c).strip() for c in values[line])
    return filled


def _match_headers(
    path: Path,
    sheet: str,
    row: int,
    header: list[str],
    index: dict[str, Column] = HEADER_INDEX,
) -> list[str | None]:
    """Each header's catalogue name (`_` columns keep their own; blanks are None)."""
    names: list[str | None] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for position, text in enumerate(header):
        letter = _column_letter(position)
        if not text:
            names.append(None)
            continue
        if text.startswith("_"):
            name = text
        else:
            column = index.get(normalise_header(text))
            if column is None:
                problems.append(f"unknown column {letter} {text!r}{_suggest(text, index)}")
                names.append(None)
                continue
            name = column.name
        if name in seen:
            problems.append(f"columns {seen[name]} and {letter} {text!r} both mean {name}")
        else:
            seen[name] = f"{letter} {text!r}"
        names.append(name)
    if problems:
        raise InputError(
            path,
            "; ".join(problems),
            sheet=sheet,
            row=row,
            hint="`campaigns template` writes a sheet with every known column.",
        )
    return names


def _suggest(text: str, index: dict[str, Column] = HEADER_INDEX) -> str:
    match = difflib.get_close_matches(normalise_header(text), list(index), n=1, cutoff=0.6)
    return f" (did you mean {index[match[0]].name}?)" if match else ""
