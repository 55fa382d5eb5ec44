"""Input sheets generated from the column catalogues: blank templates and the examples.

`write_template` writes a blank `campaigns.xlsx` (drop-downs for the campaign type and
the switches, whole-number checks, id columns formatted as text so Excel cannot turn
them into numbers, header frozen), then a `prospects` sheet headed by `PROSPECT_COLUMNS`
(decision 11; not in a Topic-only workbook, as Topic campaigns have no prospect lists),
then a `columns` sheet documenting every column of both; or a `campaigns.csv` holding
the campaign header only (a CSV holds one table: prospects go in a file of their own
whose header has `linkedin_url`). `write_example` writes the same with `EXAMPLE_ROWS`
and, in a workbook, `EXAMPLE_PROSPECTS` filled in. `input_templates/` holds what these
functions produce.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.errors import ConfigError
from pipeline.load import PROSPECTS
from pipeline.parse import parse_campaign_type
from pipeline.report import atomic_write
from schemas.columns import (
    CAMPAIGN_TYPE_CHOICES,
    COLUMNS,
    KEYWORD,
    MAX_API_INT,
    PROSPECT_COLUMNS,
    PROSPECTS_ONLY,
    Column,
    Kind,
)

SHEET: Final = "campaigns"
PROSPECTS_SHEET: Final = PROSPECTS  # the sheet the loader reads prospect rows from
DOCS_SHEET: Final = "columns"
# Data rows of the blank sheet that carry drop-downs and checks (rows 2 to 10001).
VALIDATED_ROWS: Final = 10_000
# The kinds of file a template is written as, by the suffix of its name.
SUFFIXES: Final = (".xlsx", ".csv")
SUFFIX_RULE: Final = "a template is a .xlsx or a .csv file; end the name in .xlsx or .csv"
_TEXT_KINDS: Final = frozenset({Kind.TEXT, Kind.UUID, Kind.OWNER, Kind.UUID_LIST, Kind.TOKEN_LIST})
_HEADER_FILL: Final = PatternFill(start_color="FFDDEBF7", end_color="FFDDEBF7", fill_type="solid")
# Column widths of the prospects sheet, in characters: wide enough for what is in it.
_PROSPECT_WIDTHS: Final = (24, 64)

_STYLE_FORMAL: Final = "8d256aa6-9b12-49a7-93ee-bf41634b5b60"
_STYLE_CASUAL: Final = "5a0f3e4c-2b1d-4c8e-9f6a-7d3b2e1c0a94"
_CONTEXT_SAAS: Final = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
_CONTEXT_AGENCY: Final = "b7e2d5f1-6c3a-4e9b-8d1f-2a4c6e8b0d13"
_TOPIC_AI: Final = "e4c1a7b9-3d5f-4a2e-b6c8-9f1d3e5a7c20"

# Realistic rows that validate cleanly; owners are the sandbox's demo team members.
EXAMPLE_ROWS: Final[tuple[Mapping[str, str], ...]] = (
    {
        "campaign_key": "acme-q1-cto",
        "campaign_name": "ACME Q1 - CTOs in fintech",
        "campaign_type": "Prospects",
        "owner": "anna@example.com",
        "style_id": _STYLE_FORMAL,
        "context_id": _CONTEXT_SAAS,
        "skip_teammates_leads": "true",
        "comment_interval_hours": "24",
        "emotion_types": "LIKE, PRAISE",
        "min_post_likes": "10",
        "connect_enabled": "true",
        "connect_after_direct_comments": "2",
        "connect_on_timeout": "true",
        "connect_timeout_days": "10",
        "dm_enabled": "true",
        "dm_on_connect": "true",
        "dm_on_connect_after_days": "2",
    },
    {
        "campaign_key": "acme-q1-vp-sales",
        "campaign_name": "ACME Q1 - VPs of Sales",
        "campaign_type": "Prospects",
        "owner": "ben@example.com",
        "style_id": _STYLE_CASUAL,
        "context_id": _CONTEXT_SAAS,
        "indirect_engagement": "true",
        "important_prospects_first": "true",
        "min_post_likes": "25",
        "connect_enabled": "true",
        "connect_on_indirect_comments": "true",
        "connect_after_indirect_comments": "4",
    },
    {
        "campaign_key": "",
        "campaign_name": "Agency partners - warm intros",
        "campaign_type": "Prospects campaign",
        "owner": "carla@example.com",
        "style_id": _STYLE_FORMAL,
        "context_id": _CONTEXT_AGENCY,
        "comment_interval_hours": "48",
        "direct_posts_first": "true",
        "dm_enabled": "true",
        "dm_on_relevant_post": "true",
        "dm_on_timeout": "true",
        "dm_on_timeout_after_days": "21",
    },
    {
        "campaign_key": "topic-genai-fintech",
        "campaign_name": "Topic - generative AI in fintech",
        "campaign_type": "Topic",
        "owner": "anna@example.com",
        "style_id": _STYLE_FORMAL,
        "context_id": _CONTEXT_SAAS,
        "monitored_topic_ids": _TOPIC_AI,
        "min_post_likes": "50",
        "direct_posts_first": "true",
    },
    {
        "campaign_key": "topic-revops",
        "campaign_name": "Topic - RevOps best practices",
        "campaign_type": "Topic campaign",
        "owner": "ben@example.com",
        "style_id": _STYLE_CASUAL,
        "context_id": _CONTEXT_AGENCY,
        "emotion_types": "LIKE",
        "min_post_likes": "15",
    },
)


# People for the example's Prospects campaigns, their links pasted the ways people copy
# them (tracking query, trailing slash, a country or mobile subdomain, no scheme, an
# accented name, a details page); each campaign named by its campaign_key, the keyless
# one by its campaign_name; two people in a list of their own. All distinct, all valid.
EXAMPLE_PROSPECTS: Final[tuple[Mapping[str, str], ...]] = (
    {
        "campaign": "acme-q1-cto",
        "linkedin_url": "https://www.linkedin.com/in/marcus-chen-fintech/",
    },
    {
        "campaign": "acme-q1-cto",
        "linkedin_url": "https://www.linkedin.com/in/sarah-okonkwo-cto?trk=public_profile_browsemap",
    },
    {
        "campaign": "acme-q1-cto",
        "linkedin_url": "https://de.linkedin.com/in/jürgen-müller-4b2a1c",
    },
    {
        "campaign": "acme-q1-cto",
        "linkedin_url": "https://www.linkedin.com/in/priya-raghavan",
        "list_name": "ACME Q1 - CTOs met at Money20/20",
    },
    {
        "campaign": "acme-q1-cto",
        "linkedin_url": "http://linkedin.com/in/tomas-horvath-cto/",
        "list_name": "ACME Q1 - CTOs met at Money20/20",
    },
    {
        "campaign": "acme-q1-vp-sales",
        "linkedin_url": "linkedin.com/in/sofia-ramirez-sales",
    },
    {
        "campaign": "acme-q1-vp-sales",
        "linkedin_url": "https://www.linkedin.com/in/daniel-okafor/details/experience/",
    },
    {
        "campaign": "acme-q1-vp-sales",
        "linkedin_url": "https://www.linkedin.com/in/emma-lindqvist-5a7b3c1?utm_source=share"
        "&utm_campaign=share_via&utm_content=profile&utm_medium=ios_app",
    },
    {
        "campaign": "Agency partners - warm intros",
        "linkedin_url": "https://fr.linkedin.com/in/étienne-lefèvre-agence/",
    },
    {
        "campaign": "Agency partners - warm intros",
        "linkedin_url": "https://m.linkedin.com/in/claire-dubois-b2b",
    },
)


def columns_for(campaign_type: str | None) -> tuple[Column, ...]:
    """The columns a sheet for one campaign type needs (all of them when None)."""
    if campaign_type is None:
        return COLUMNS
    return tuple(c for c in COLUMNS if campaign_type in c.types)


def prospect_columns_for(campaign_type: str | None) -> tuple[Column, ...]:
    """The columns of the `prospects` sheet for one campaign type: none for Topic
    (KEYWORD), which has no prospect lists, so a Topic-only workbook has no such sheet."""
    return () if campaign_type == KEYWORD else PROSPECT_COLUMNS


def column_docs(column: Column) -> list[str]:
    """One line of the `columns` sheet (and of the README table)."""
    applies = "Prospects only" if column.prospects_only else "both"
    default = column.default or ("required" if column.required else "")
    return [column.name, column.kind.value, applies, default, column.api_path, column.help]


DOC_HEADER: Final = ("column", "type", "campaign types", "default", "API field", "help")
# The title line of the prospects block of the `columns` sheet.
PROSPECTS_DOC_TITLE: Final = (
    f"{PROSPECTS_SHEET} sheet",
    "One row per person to put in a prospect list of a Prospects campaign: a row of the "
    "campaigns sheet, or of another sheet run with it. A CSV or Excel file of these "
    "columns (its header has linkedin_url) can stand in for this sheet.",
)


def write_template(
    path: Path,
    *,
    campaign_type: str | None = None,
    rows: Sequence[Mapping[str, str]] = (),
    prospects: Sequence[Mapping[str, str]] = (),
) -> Path:
    """Write a sheet (`.xlsx` or `.csv` by the suffix of `path`) with `rows` filled in,
    and in a workbook its `prospects` sheet with `prospects` (a CSV leaves them out; a
    Topic-only workbook has no prospects sheet, so giving it prospects is a ValueError);
    a missing folder is created. Any other suffix is a `ConfigError` and writes nothing."""
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{path}: {SUFFIX_RULE}")
    columns = columns_for(campaign_type)
    prospect_columns = prospect_columns_for(campaign_type)
    if prospects and not prospect_columns:
        raise ValueError(f"a {campaign_type} template has no prospects sheet")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _write(path, columns, rows, prospect_columns, prospects)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write(
    path: Path,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, str]],
    prospect_columns: Sequence[Column],
    prospects: Sequence[Mapping[str, str]],
) -> Path:
    if path.suffix.lower() == ".csv":
        with atomic_write(path) as stream:
            writer = csv.writer(stream, lineterminator="\r\n")
            writer.writerow([c.name for c in columns])
            writer.writerows([row.get(c.name, "") for c in columns] for row in rows)
        return path
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = SHEET
    _fill_campaigns(sheet, columns, rows)
    if prospect_columns:
        _fill_prospects(workbook.create_sheet(PROSPECTS_SHEET), prospect_columns, prospects)
    _fill_docs(workbook.create_sheet(DOCS_SHEET), columns, prospect_columns)
    with atomic_write(path, binary=True) as stream:
        workbook.save(stream)
    return path


def write_example(path: Path, campaign_type: str | None = None) -> Path:
    """The example sheet: `EXAMPLE_ROWS` (those of `campaign_type` when given) filled in,
    and in a workbook with a prospects sheet, `EXAMPLE_PROSPECTS`."""
    rows = [
        row
        for row in EXAMPLE_ROWS
        if campaign_type is None or parse_campaign_type(row["campaign_type"]) == campaign_type
    ]
    prospects = EXAMPLE_PROSPECTS if prospect_columns_for(campaign_type) else ()
    return write_template(path, campaign_type=campaign_type, rows=rows, prospects=prospects)


def _fill_campaigns(
    sheet: Worksheet, columns: Sequence[Column], rows: Sequence[Mapping[str, str]]
) -> None:
    sheet.append([c.name for c in columns])
    for row in rows:
        sheet.append([row.get(c.name, "") or None for c in columns])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    last_row = max(VALIDATED_ROWS, len(rows)) + 1
    switches = DataValidation(type="list", formula1='"true,false"', allow_blank=True)
    switches.error = "Choose true or false (or leave it empty for the default)."
    types = DataValidation(
        type="list", formula1='"' + ",".join(CAMPAIGN_TYPE_CHOICES) + '"', allow_blank=False
    )
    types.error = "Choose Prospects or Topic."
    for validation in (switches, types):
        validation.showErrorMessage = True
        sheet.add_data_validation(validation)
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index)
        cell.font = bold
        cell.fill = _HEADER_FILL
        sheet.column_dimensions[letter].width = max(14, len(column.name) + 2)
        cells = f"{letter}2:{letter}{last_row}"
        if column.kind is Kind.BOOLEAN:
            switches.add(cells)
        elif column.kind is Kind.CAMPAIGN_TYPE:
            types.add(cells)
        elif column.kind is Kind.WHOLE_NUMBER:
            number = DataValidation(
                type="whole",
                operator="between",
                formula1=str(column.minimum or 0),
                formula2=str(MAX_API_INT),
                allow_blank=True,
            )
            number.error = column.help
            number.showErrorMessage = True
            sheet.add_data_validation(number)
            number.add(cells)
        elif column.kind in _TEXT_KINDS:
            # Text format keeps Excel from turning ids into numbers or dates: on the whole
            # column (what Excel gives every new cell in it), and on each filled cell.
            sheet.column_dimensions[get_column_letter(index)].number_format = "@"
            for line in range(2, len(rows) + 2):
                sheet.cell(row=line, column=index).number_format = "@"


def _fill_prospects(
    sheet: Worksheet, columns: Sequence[Column], rows: Sequence[Mapping[str, str]]
) -> None:
    """The `prospects` sheet: the header, bold and frozen, then `rows`; every column is
    text, formatted as such so Excel leaves links and keys as typed."""
    sheet.append([c.name for c in columns])
    for row in rows:
        sheet.append([row.get(c.name, "") or None for c in columns])
    sheet.freeze_panes = "A2"
    narrowest, widest = _PROSPECT_WIDTHS
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        longest = max((len(row.get(column.name, "")) for row in rows), default=0)
        wanted = max(len(column.name), len(column.example), longest) + 2
        sheet.column_dimensions[letter].width = min(widest, max(narrowest, wanted))
        sheet.column_dimensions[letter].number_format = "@"
        for line in range(2, len(rows) + 2):
            sheet.cell(row=line, column=index).number_format = "@"


def _fill_docs(
    sheet: Worksheet, columns: Sequence[Column], prospect_columns: Sequence[Column]
) -> None:
    """The `columns` sheet: a line per campaign column, then, after an empty line and a
    title line, a line per column of the prospects sheet."""
    sheet.append([*DOC_HEADER, "example"])
    for column in columns:
        sheet.append([*column_docs(column), column.example])
    bold = Font(bold=True)
    if prospect_columns:
        sheet.append([])
        title, about = PROSPECTS_DOC_TITLE
        sheet.append([title, None, None, None, None, about])
        sheet.cell(row=sheet.max_row, column=1).font = bold
        for column in prospect_columns:
            # Every prospects column serves Prospects campaigns only: no Topic campaign
            # has a prospect list.
            docs = column_docs(replace(column, types=PROSPECTS_ONLY))
            sheet.append([*docs, column.example])
    sheet.freeze_panes = "A2"
    for cell in sheet[1]:
        cell.font = bold
    for letter, width in zip("ABCDEFG", (32, 16, 16, 10, 52, 80, 40), strict=True):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=2):
        row[5].alignment = Alignment(wrap_text=True)


def column_reference() -> str:
    """The README's column table, in Markdown, generated from the catalogue."""
    header = [*DOC_HEADER, "other header names"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for column in COLUMNS:
        cells = column_docs(column)
        cells[0] = f"`{cells[0]}`"
        if cells[4]:
            cells[4] = f"`{cells[4]}`"
        cells.append(", ".join(f"`{alias}`" for alias in column.aliases))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
