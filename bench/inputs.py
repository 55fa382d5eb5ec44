"""The benchmarks' generated inputs: campaign rows at scale, as CSV and xlsx, and prospects.

`make_rows` makes realistic campaign rows (every column of the template, 1% invalid:
every 100th row has `min_post_likes` "lots"); half of them (the even ones) Prospects
(TARGET_USER) rows, the rest Topic (KEYWORD) rows, owned by member ids. `write_csv` and
`write_xlsx` write them with the template's header; `prospect_rows` names the valid
Prospects rows among them in a prospects file (`campaign`, `linkedin_url`, `list_name`)
that `write_prospects` writes.

The workbook is written here as Excel writes one (a `campaigns` sheet, its text in the
shared-strings table, numbers as numbers, empty cells left out), straight as XML:
openpyxl takes over half a minute for 100,000 rows of 28 columns, this a few seconds.
"""

from __future__ import annotations

import csv
import math
import random
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from schemas.columns import COLUMNS

HEADER = [c.name for c in COLUMNS]
# Owners and types as the API names them, which the naive script (`bench/naive.py`) also
# accepts: both do the same job on the same file (the tool reads e-mails and `Prospects`
# too, at no measurable cost).
OWNERS = [str(uuid.UUID(int=n)) for n in (7, 8, 9, 10)]
PROSPECT_HEADER = ["campaign", "linkedin_url", "list_name"]


def make_rows(count: int, seed: int = 1) -> list[list[str]]:
    """`count` rows of `HEADER`'s columns, as text."""
    rng = random.Random(seed)
    styles = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20)]
    topics = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(50)]
    rows = []
    for index in range(count):
        prospects = index % 2 == 0
        row = {
            "campaign_key": f"key-{index:06d}",
            "campaign_name": f"Campaign {index} - {rng.choice(['CTOs', 'VPs', 'Founders'])}",
            "campaign_type": "TARGET_USER" if prospects else "KEYWORD",
            "owner": rng.choice(OWNERS),
            "style_id": rng.choice(styles),
            "context_id": rng.choice(styles),
            "min_post_likes": str(rng.randrange(0, 100)),
            "emotion_types": rng.choice(["", "LIKE", "LIKE, PRAISE"]),
            "monitored_topic_ids": ", ".join(rng.sample(topics, rng.randrange(0, 3))),
            "direct_posts_first": rng.choice(["", "true", "false"]),
        }
        if prospects:
            row |= {
                "comment_interval_hours": rng.choice(["", "24", "48"]),
                "connect_enabled": rng.choice(["yes", "no", ""]),
                "connect_timeout_days": str(rng.randrange(1, 30)),
                "dm_enabled": rng.choice(["TRUE", "FALSE"]),
            }
        if index % 100 == 99:
            row["min_post_likes"] = "lots"  # 1% invalid rows
        rows.append([row.get(name, "") for name in HEADER])
    return rows


def write_csv(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def prospect_rows(
    rows: Sequence[Sequence[str]], count: int, per_campaign: int, seed: int = 2
) -> tuple[list[list[str]], int]:
    """`count` prospect rows naming the valid Prospects rows of `rows` (`make_rows`'),
    `per_campaign` each, in up to 3 lists (a fifth of the links written as people paste
    them, to be made canonical); and the number of campaigns named."""
    key, kind = HEADER.index("campaign_key"), HEADER.index("campaign_type")
    # make_rows makes every 100th row invalid (an odd index): the even ones are Prospects
    # rows and valid.
    targets = [row[key] for row in rows[::2] if row[kind] in ("Prospects", "TARGET_USER")]
    named = math.ceil(count / per_campaign)
    if len(targets) < named:
        raise RuntimeError("not enough Prospects campaign rows")
    rng = random.Random(seed)
    forms = (
        "https://www.linkedin.com/in/{}",
        "https://www.linkedin.com/in/{}/",
        "linkedin.com/in/{}",
        "https://de.linkedin.com/in/{}?trk=public_profile",
        "http://www.linkedin.com/in/{}#about",
    )
    prospects = []
    for number in range(count):
        form = forms[0] if rng.random() < 0.8 else rng.choice(forms[1:])
        slug = f"bench-person-{number:06d}"
        target = targets[number // per_campaign]
        prospects.append([target, form.format(slug), rng.choice(["", "", "Board", "Q1 list"])])
    return prospects, named


def write_prospects(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    return write_csv(path, rows, PROSPECT_HEADER)


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_SHEET_ML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_PARTS = {
    "[Content_Types].xml": (
        f'<Types xmlns="{_PKG}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_SHEET_ML}.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        f'ContentType="{_SHEET_ML}.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        f'ContentType="{_SHEET_ML}.sharedStrings+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_SHEET_ML}.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{_PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        '<sheet name="campaigns" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{_PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{_REL}/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        f'<styleSheet xmlns="{_MAIN}">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
        "</borders>"
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def write_xlsx(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    """`header` and `rows` as the one sheet `campaigns` of a workbook at `path`: text
    that is all digits (below the header) as a number, other text as a shared string."""
    strings: dict[str, int] = {}
    letters = [_letters(index) for index in range(len(header))]
    lines = []
    references = 0
    for number, values in enumerate([header, *rows], start=1):
        cells = []
        for column, value in enumerate(values):
            if not value:
                continue
            ref = f"{letters[column]}{number}"
            if number > 1 and value.isascii() and value.isdigit():
                cells.append(f'<c r="{ref}"><v>{int(value)}</v></c>')
            else:
                index = strings.setdefault(value, len(strings))
                references += 1
                cells.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
        lines.append(f'<row r="{number}">{"".join(cells)}</row>')
    sheet = (
        f'{_DECLARATION}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
        f'<dimension ref="A1:{letters[-1]}{len(rows) + 1}"/>'
        f"<sheetData>{''.join(lines)}</sheetData></worksheet>"
    )
    shared = "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in strings)
    table = (
        f'{_DECLARATION}<sst xmlns="{_MAIN}" count="{references}" '
        f'uniqueCount="{len(strings)}">{shared}</sst>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _PARTS.items():
            archive.writestr(name, _DECLARATION + text)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", table)
    return path
