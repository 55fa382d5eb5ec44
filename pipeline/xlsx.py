"""A large sheet written fast: openpyxl lays out the workbook, we stream the rows.

openpyxl (and XlsxWriter) spend microseconds per cell, which makes a 100,000-row
results sheet take tens of seconds. Here openpyxl builds everything but the rows (styles,
frozen and filtered header, conditional formats, other sheets); the rows are then
written as inline-string cells straight into that sheet's `<sheetData>`, which is all
the format needs for plain values. Text is escaped for XML and stripped of the control
characters XML cannot hold.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from typing import Any, Final
from xml.sax.saxutils import escape

from openpyxl import Workbook

from pipeline.guard import RISKY_FIRST, guard

SHEET_PART: Final = "xl/worksheets/sheet1.xml"
EXCEL_CELL_LIMIT: Final = 32_767
_ILLEGAL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text_cell(value: str) -> str:
    if not value:
        return "<c/>"
    if len(value) > EXCEL_CELL_LIMIT:  # Excel refuses (repairs away) longer cells
        value = value[: EXCEL_CELL_LIMIT - 1] + "…"
    text = escape(guard(value))
    if _ILLEGAL.search(text):
        text = _ILLEGAL.sub("", text)
    return f'<c t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _column_cells(values: Sequence[Any]) -> list[str]:
    """The `<c>` elements of one column: numbers as numbers, everything else as text."""
    if all((isinstance(v, int) and not isinstance(v, bool)) or v == "" for v in values):
        return ["<c/>" if v == "" else f"<c><v>{v}</v></c>" for v in values]
    texts = [str(v) for v in values]
    if _plain(texts):  # the common case, at a fraction of the cost per cell
        return [
            f'<c t="inlineStr"><is><t xml:space="preserve">{escape(t)}</t></is></c>'
            if t
            else "<c/>"
            for t in texts
        ]
    cache: dict[str, str] = {}
    cells = []
    for text in texts:
        cell = cache.get(text)
        if cell is None:
            cell = _text_cell(text)
            if len(cache) < 10_000:  # repeated values (status, source) are built once
                cache[text] = cell
        cells.append(cell)
    return cells


def _plain(texts: list[str]) -> bool:
    """No cell needs a formula guard, loses characters XML cannot hold, or is too long."""
    if not RISKY_FIRST.isdisjoint({t[:1] for t in texts}):
        return False
    if max(map(len, texts), default=0) > EXCEL_CELL_LIMIT:
        return False
    return not _ILLEGAL.search("".join(texts))


def rows_xml(columns: Sequence[Sequence[Any]], first_row: int) -> bytes:
    """`<row>` elements for the rows that `columns` hold, numbered from `first_row`."""
    cells = [_column_cells(column) for column in columns]
    parts = [
        f'<row r="{number}">{"".join(row)}</row>'
        for number, row in enumerate(zip(*cells, strict=True), start=first_row)
    ]
    return "".join(parts).encode("utf-8")


def save_with_rows(
    workbook: Workbook, columns: Sequence[Sequence[Any]], first_row: int, target: Any
) -> None:
    """Save `workbook` (write-only; its first sheet holds rows up to `first_row - 1`)
    into the binary stream `target`, with the rows `columns` hold appended to that sheet."""
    laid_out = io.BytesIO()
    workbook.save(laid_out)
    extra = rows_xml(columns, first_row)
    with (
        zipfile.ZipFile(laid_out) as source,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == SHEET_PART:
                if b"</sheetData>" not in data:
                    raise ValueError("the first sheet has no <sheetData> to extend")
                data = data.replace(b"</sheetData>", extra + b"</sheetData>", 1)
            archive.writestr(item.filename, data)
