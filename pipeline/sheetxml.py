"""What a workbook's XML says that its cell values do not.

python-calamine reads the values of a sheet. It does not say which rows Excel hides (by
hand or by a filter), it reads a formula whose value was never saved as an empty cell,
and it builds the whole rectangle from A1 to the farthest value in memory: one stray
value at XFD1048576 asks for 17 billion cells. An .xlsx or .xlsm file is a zip of XML
parts, so `inspect_sheet` scans the sheet's XML with a few regular expressions (in time
proportional to its size, without building a tree) before calamine reads it.
Other workbook kinds (.xls, .xlsb, .ods) are not zips of this XML: for them it says
nothing (`None`), and they are read as calamine reads them.
"""

from __future__ import annotations

import html
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from typing import Final

from defusedxml import ElementTree

# A sheet whose rectangle from A1 to its farthest value holds more cells than this, and
# more than this many times the cells that hold values, is refused rather than read:
# calamine and the table it becomes cost about 70 bytes a cell, empty or not (2 million:
# ~140 MB, a second). A sheet of 100,000 rows with 40 columns, a tenth of them filled, is read.
MAX_CELLS: Final = 2_000_000
MAX_SPARSENESS: Final = 10
_RELATIONSHIP_ID: Final = "}id"


@dataclass(frozen=True)
class FarCell:
    """Why a sheet is refused: the cell(s) whose place makes the rectangle too large."""

    cells: tuple[str, ...]  # like "XFD1048576"
    area: int  # cells from A1 to the farthest row and column
    filled: int  # cells that hold a value


@dataclass(frozen=True)
class SheetFacts:
    """Rows are numbered from 1 and columns from 0, as the loader's grid is."""

    hidden_rows: frozenset[int] = frozenset()
    # (row, column) -> the formula's text, for formulas with no saved value
    uncalculated: dict[tuple[int, int], str] = field(default_factory=dict)
    far: FarCell | None = None


def inspect_sheet(data: bytes, sheet: str) -> SheetFacts | None:
    """The facts of sheet `sheet` of the workbook `data`, or None when the workbook is no
    zip of SpreadsheetML (or names its parts in a way this does not follow)."""
    xml = _sheet_xml(data, sheet)
    if xml is None:
        return None
    prefix = _prefix(xml)
    return SheetFacts(
        hidden_rows=_hidden_rows(xml, prefix),
        uncalculated=_uncalculated(xml, prefix),
        far=_far_cell(xml, prefix),
    )


def column_index(letters: str) -> int:
    """`A` -> 0, `AA` -> 26."""
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _sheet_xml(data: bytes, sheet: str) -> bytes | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
                return None
            part = _sheet_part(
                archive.read("xl/workbook.xml"), archive.read("xl/_rels/workbook.xml.rels"), sheet
            )
            if part is None or part not in names:
                return None
            return archive.read(part)
    except (zipfile.BadZipFile, OSError, ValueError, ElementTree.ParseError):
        return None


def _sheet_part(workbook: bytes, relationships: bytes, sheet: str) -> str | None:
    """The zip part holding sheet `sheet`: workbook.xml names its relationship id, the
    relationships name the part (relative to `xl/`, or absolute)."""
    ident = None
    for element in ElementTree.fromstring(workbook).iter():
        if _local(element.tag) == "sheet" and element.get("name") == sheet:
            ident = next(
                (v for k, v in element.attrib.items() if k.endswith(_RELATIONSHIP_ID)), None
            )
            break
    if ident is None:
        return None
    for element in ElementTree.fromstring(relationships).iter():
        if _local(element.tag) == "Relationship" and element.get("Id") == ident:
            target = element.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            return posixpath.normpath(path)
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _prefix(xml: bytes) -> bytes:
    """The namespace prefix the sheet's elements carry (`x:` from some writers), or none."""
    found = re.search(rb"<(\w+:)?sheetData\b", xml)
    return found.group(1) or b"" if found else b""


_ROW_NUMBER: Final = re.compile(rb'\br="(\d+)"')
_HIDDEN: Final = re.compile(rb'\bhidden="(?:1|true)"')


def _hidden_rows(xml: bytes, prefix: bytes) -> frozenset[int]:
    if b'hidden="1"' not in xml and b'hidden="true"' not in xml:
        return frozenset()  # (a plain search: a regular expression is 20 times slower)
    hidden: set[int] = set()
    number = 0
    for match in re.finditer(rb"<" + re.escape(prefix) + rb"row\b([^>]*)>", xml):
        attributes = match.group(1)
        given = _ROW_NUMBER.search(attributes)
        number = int(given.group(1)) if given else number + 1  # `r` may be left out
        if _HIDDEN.search(attributes):
            hidden.add(number)
    return frozenset(hidden)


_CELL_REF: Final = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
_TYPE: Final = re.compile(rb'\bt="(\w+)"')


def _uncalculated(xml: bytes, prefix: bytes) -> dict[tuple[int, int], str]:
    """Formula cells with no saved value (a cached empty text, `t="str"`, is a value)."""
    p = re.escape(prefix)
    found: dict[tuple[int, int], str] = {}
    cell_open = b"<" + prefix + b"c"
    cell_close = b"</" + prefix + b"c>"
    formula = re.compile(rb"<" + p + rb"f\b([^>]*?)(/>|>(.*?)</" + p + rb"f>)", re.S)
    value = re.compile(rb"<" + p + rb"v>\s*[^<\s]")
    for match in formula.finditer(xml):
        start = xml.rfind(cell_open, 0, match.start())
        end = xml.find(cell_close, match.end())
        if start < 0 or end < 0:
            continue
        tag = xml[start : xml.find(b">", start) + 1]
        ref = _CELL_REF.search(tag)
        if ref is None or value.search(xml, match.end(), end):
            continue
        kind = _TYPE.search(tag)
        if kind and kind.group(1) == b"str" and b"<" + prefix + b"v" in xml[match.end() : end]:
            continue  # a formula whose saved value is the empty text
        text = html.unescape((match.group(3) or b"").decode("utf-8", "replace"))
        found[(int(ref.group(2)), column_index(ref.group(1).decode()))] = (
            f"={text}" if text else "a shared formula"
        )
    return found


def _far_cell(xml: bytes, prefix: bytes) -> FarCell | None:
    """The cell(s) that stretch the sheet's rectangle too far, if any.

    First a cheap upper bound (the last row named, the widest column letters); only a
    sheet whose bound is too large pays for the exact scan of cells that hold values."""
    p = re.escape(prefix)
    cells = xml.count(b"<" + prefix + b"c ") + xml.count(b"<" + prefix + b"c>")
    numbers = re.findall(rb"<" + p + rb'row r="(\d+)"', xml)  # `r` first, as writers put it
    if len(numbers) != xml.count(b"<" + prefix + b"row "):
        numbers = re.findall(rb"<" + p + rb'row\b[^>]*?\br="(\d+)"', xml)
    rows = [int(n) for n in numbers]
    if xml.count(b"<" + prefix + b'c r="') == cells:  # `r` first, as writers put it
        wide = set(re.findall(rb"<" + p + rb'c r="([A-Z]{2,3})\d', xml))
    else:
        wide = set(re.findall(rb"<" + p + rb'c\b[^>]*?\br="([A-Z]{2,3})\d', xml))
    widest = max((column_index(c.decode()) + 1 for c in wide), default=26)
    if _acceptable((max(rows, default=0) or cells) * max(widest, 26), cells):
        return None
    rows_seen: dict[int, str] = {}  # row -> its first cell holding a value
    columns_seen: dict[int, str] = {}  # column -> its first cell holding a value
    filled = 0
    value_cell = re.compile(rb"<" + p + rb'c\b[^>]*?\br="([A-Z]{1,3})(\d+)"[^>]*?(/?)>')
    for match in value_cell.finditer(xml):
        if match.group(3):
            continue  # `<c r="A1" s="2"/>`: formatting, no value
        filled += 1
        letters, number = match.group(1).decode(), int(match.group(2))
        rows_seen.setdefault(number, f"{letters}{number}")
        columns_seen.setdefault(column_index(letters) + 1, f"{letters}{number}")
    if not filled:
        return None
    area = max(rows_seen) * max(columns_seen)
    if _acceptable(area, filled):
        return None
    far = [cell for cell in (_outlier(columns_seen), _outlier(rows_seen)) if cell]
    if not far:  # sparse all over: name the corner that sets the size
        far = [columns_seen[max(columns_seen)], rows_seen[max(rows_seen)]]
    return FarCell(tuple(dict.fromkeys(far)), area, filled)


def _outlier(seen: dict[int, str]) -> str:
    """The cell at the last row (or column) when it lies more than twice as far as the
    one before it (or when it is alone); else ""."""
    last = max(seen)
    before = max((n for n in seen if n != last), default=0)
    return seen[last] if last > 2 * before else ""


def _acceptable(area: int, filled: int) -> bool:
    return area <= MAX_CELLS or area <= MAX_SPARSENESS * filled
