"""A large sheet written fast: openpyxl lays out the workbook, we stream the rows.

openpyxl (and XlsxWriter) spend microseconds per cell, which makes a 100,000-row
results sheet take tens of seconds. Here openpyxl builds everything but the rows (styles,
frozen and filtered header, conditional formats, other sheets); the rows are then
written as inline-string cells straight into that sheet's `<sheetData>`, which is all
the format needs for plain values. Text is escaped for XML and stripped of the control
characters XML cannot hold.

An inline string is never run as a formula, so text is written as typed, even text that
starts with `=`; such text (what `pipeline.guard` would guard in a CSV file) gets a cell
style with the quote prefix, which keeps it text when someone edits the cell in Excel.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any, Final
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from pipeline.guard import RISKY_FIRST, needs_guard

SHEET_PART: Final = "xl/worksheets/sheet1.xml"
EXCEL_CELL_LIMIT: Final = 32_767
_ILLEGAL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Characters that keep a column off the fast path: those XML cannot hold, and CR, which
# an XML reader turns into LF unless it is written as a character reference.
_NOT_PLAIN: Final = re.compile(r"[\x00-\x08\x0b\x0c\r\x0e-\x1f\ufffe\uffff]")
_ENTITIES: Final = {"\r": "&#13;"}
# Rows turned into XML at a time: a sheet of 100,000 rows is never whole as text.
ROWS_PER_CHUNK: Final = 5_000
# zlib's fastest level: a results sheet compresses about as well at 1 as at 6.
_LEVEL: Final = 1


def _text_cell(value: str, quote_style: int | None) -> str:
    if not value:
        return "<c/>"
    if len(value) > EXCEL_CELL_LIMIT:  # Excel refuses (repairs away) longer cells
        value = value[: EXCEL_CELL_LIMIT - 1] + "…"
    text = escape(value, _ENTITIES)
    if _ILLEGAL.search(text):
        text = _ILLEGAL.sub("", text)
    style = f' s="{quote_style}"' if quote_style is not None and needs_guard(value) else ""
    return f'<c t="inlineStr"{style}><is><t xml:space="preserve">{text}</t></is></c>'


def _numeric(values: Sequence[Any]) -> bool:
    """A column of whole numbers (and empty cells), written as numbers."""
    kinds = set(map(type, values))  # the few types of the column, then its cells
    whole = {k for k in kinds if issubclass(k, int) and not issubclass(k, bool)}
    if kinds - whole - {str}:
        return False
    if str not in kinds:
        return True
    if not whole:  # text only: numbers when every cell is empty
        return not any(values)
    return not any(v for v in values if type(v) is str)


def _column_cells(values: Sequence[Any], quote_style: int | None, numeric: bool) -> list[str]:
    """The `<c>` elements of one column: numbers as numbers (`numeric`), else as text."""
    if numeric:
        return ["<c/>" if v == "" else f"<c><v>{v}</v></c>" for v in values]
    texts = [str(v) for v in values]
    if not texts:
        return []
    if _plain(texts):  # the common case, at a fraction of the cost per cell
        # Escaped in one piece: a plain text holds no NUL to split at.
        return [
            f'<c t="inlineStr"><is><t xml:space="preserve">{t}</t></is></c>' if t else "<c/>"
            for t in escape("\x00".join(texts)).split("\x00")
        ]
    cache: dict[str, str] = {}
    cells = []
    for text in texts:
        cell = cache.get(text)
        if cell is None:
            cell = _text_cell(text, quote_style)
            if len(cache) < 10_000:  # repeated values (status, source) are built once
                cache[text] = cell
        cells.append(cell)
    return cells


def _plain(texts: list[str]) -> bool:
    """No cell needs the quote prefix, loses characters XML cannot hold (or CR), or is too
    long."""
    if not RISKY_FIRST.isdisjoint({t[:1] for t in texts}):
        return False
    if max(map(len, texts), default=0) > EXCEL_CELL_LIMIT:
        return False
    return not _NOT_PLAIN.search("".join(texts))


def rows_xml(
    columns: Sequence[Sequence[Any]], first_row: int, quote_style: int | None = None
) -> bytes:
    """`<row>` elements for the rows that `columns` hold, numbered from `first_row`;
    text Excel would run gets the cell style `quote_style` (see `quote_prefix_style`)."""
    return b"".join(_rows_xml_chunks(columns, first_row, quote_style))


def _rows_xml_chunks(
    columns: Sequence[Sequence[Any]], first_row: int, quote_style: int | None
) -> Iterator[bytes]:
    """`rows_xml` in pieces of `ROWS_PER_CHUNK` rows, so that a large sheet is never
    whole in memory as text (each column is numbers or text over all its rows)."""
    numeric = [_numeric(column) for column in columns]
    total = len(columns[0]) if columns else 0
    for start in range(0, total, ROWS_PER_CHUNK):
        end = start + ROWS_PER_CHUNK
        cells = [
            _column_cells(column[start:end], quote_style, number)
            for column, number in zip(columns, numeric, strict=True)
        ]
        yield "".join(
            [
                f'<row r="{number}">{"".join(row)}</row>'
                for number, row in enumerate(zip(*cells, strict=True), start=first_row + start)
            ]
        ).encode("utf-8")


def quote_prefix_style(workbook: Workbook) -> int:
    """The index (a cell's `s`) of a plain cell style with the quote prefix, added to
    `workbook`'s styles if it has none (call it before the workbook is saved)."""
    cell = WriteOnlyCell(workbook.worksheets[0])
    cell.quotePrefix = True
    return int(cell.style_id)


def save_with_rows(
    workbook: Workbook,
    columns: Sequence[Sequence[Any]],
    first_row: int,
    target: Any,
    *,
    more: Sequence[tuple[int, Sequence[Sequence[Any]]]] = (),
) -> None:
    """Save `workbook` (write-only; its first sheet holds rows up to `first_row - 1`)
    into the binary stream `target`, with the rows `columns` hold appended to that sheet;
    `more` appends (sheet number from 1, columns) to other sheets, each after its header.

    Set a sheet's column widths before its first row is appended: a write-only sheet
    writes its `<cols>` with that row."""
    quote_style = quote_prefix_style(workbook)
    laid_out = io.BytesIO()
    workbook.save(laid_out)
    extra = {SHEET_PART: (columns, first_row)}
    for number, added in more:
        extra[f"xl/worksheets/sheet{number}.xml"] = (added, 2)
    with (
        zipfile.ZipFile(laid_out) as source,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=_LEVEL) as archive,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            rows = extra.get(item.filename)
            if rows is None:
                archive.writestr(item.filename, data)
                continue
            head, found, tail = data.partition(b"</sheetData>")
            if not found:
                raise ValueError(f"{item.filename} has no <sheetData> to extend")
            with archive.open(_entry(item), "w") as part:
                part.write(head)
                for chunk in _rows_xml_chunks(*rows, quote_style):
                    part.write(chunk)
                part.write(found + tail)


def _entry(item: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A new archive entry like `item` (its name and time), written as `ZipFile.writestr`
    writes the others."""
    entry = zipfile.ZipInfo(item.filename, date_time=item.date_time)
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry._compresslevel = _LEVEL  # type: ignore[attr-defined]  # writestr sets it so
    entry.external_attr = 0o600 << 16
    return entry
