"""What each page shows, as plain data for its template: the library's results laid out.

`grid` puts every row of a sheet back in a table like the sheet, each of the library's
messages at the cell it is about. The library writes a row's problems as `header:
message` items, the header as the sheet spells it (`pipeline.validate`); a message whose
header is a column of the sheet is shown in that cell, any other (a missing column, a
rule about the whole row) beside the row. Nothing is reworded: a cell shows the message
after its header, the row's notes show it whole.

`progress_rows` lists the rows an apply sends, each with its status once settled.

`plan_groups` sorts a plan's rows as `campaigns plan` prints them: to create, to update
(with the changes), prospects to add, unchanged, and the rows that need a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.model import NEEDS_PERSON, Status, place
from pipeline.report import STATUS_COLOURS

if TYPE_CHECKING:
    from pipeline.load import Table
    from pipeline.plan import Plan
    from pipeline.run import RowResult


@dataclass(frozen=True)
class Cell:
    """One cell as read, and the library's messages about it (header left off)."""

    text: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    """One row of the sheet: its number, status, cells and the messages no cell holds."""

    row: int
    status: str
    cells: tuple[Cell, ...]
    notes: tuple[str, ...]

    @property
    def needs_person(self) -> bool:
        return Status(self.status) in NEEDS_PERSON


@dataclass(frozen=True)
class Grid:
    """A sheet's rows as a table: the headers as typed, then a line per row."""

    sheet: str
    headers: tuple[str, ...]
    columns: tuple[str, ...]  # the catalogue's name of each header's column
    lines: tuple[Line, ...]

    @property
    def attention(self) -> int:
        return sum(line.needs_person for line in self.lines)


def place_messages(
    errors: Iterable[str], headers: Sequence[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """Each message under the header it starts with (`header: ...`, the longest header
    that fits), without that prefix; the rest, whole, as the row's notes."""
    ordered = sorted(headers, key=len, reverse=True)
    cells: dict[str, list[str]] = {}
    notes: list[str] = []
    for error in errors:
        header = next((h for h in ordered if h and error.startswith(f"{h}: ")), None)
        if header is None:
            notes.append(error)
        else:
            cells.setdefault(header, []).append(error[len(header) + 2 :])
    return cells, notes


def grid(table: Table | None, rows: Iterable[tuple[int, str, Sequence[str]]]) -> Grid:
    """The table of `rows` ((row number, status, messages) each, in sheet order) laid on
    the cells of `table`, the sheet they were read from (None: no cells to show)."""
    if table is None:
        columns: list[str] = []
        frame = None
    else:
        frame = table.frame
        columns = [str(c) for c in frame.columns]
    headers = [table.headers.get(c, c) for c in columns] if table is not None else []
    lines = []
    for row, status, errors in rows:
        placed, notes = place_messages(list(errors), headers)
        texts: list[object] = []
        if frame is not None and row in frame.index:
            texts = list(frame.loc[row])
        cells = tuple(
            Cell(str(text), tuple(placed.get(header, ())))
            for header, text in zip(headers, texts, strict=False)
        )
        lines.append(Line(row, status, cells, tuple(notes)))
    sheet = table.sheet if table is not None else ""
    return Grid(sheet, tuple(headers), tuple(columns), tuple(lines))


@dataclass(frozen=True)
class PlanRow:
    """A row of a plan, as the plan page lists it."""

    where: str
    name: str
    status: str
    campaign_id: str
    changes: tuple[str, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True)
class PlanList:
    """A prospect list the plan fills: its name, its campaign, how many profiles."""

    name: str
    campaign_key: str
    profiles: int
    create: bool


@dataclass(frozen=True)
class PlanGroups:
    """A plan's rows sorted as `campaigns plan` prints them."""

    create: tuple[PlanRow, ...]
    update: tuple[PlanRow, ...]
    lists: tuple[PlanList, ...]
    unchanged: tuple[PlanRow, ...]
    attention: tuple[PlanRow, ...]
    counts: dict[str, int]
    has_work: bool

    @property
    def prospects(self) -> int:
        return sum(item.profiles for item in self.lists)


def plan_groups(plan: Plan) -> PlanGroups:
    """The plan's rows grouped (see the module docstring)."""
    from pipeline.plan import plan_counts

    rows = [_plan_row(row) for row in plan.data["rows"]]

    def having(*statuses: Status) -> tuple[PlanRow, ...]:
        wanted = {status.value for status in statuses}
        return tuple(row for row in rows if row.status in wanted)

    lists = tuple(
        PlanList(str(item["name"]), str(item["campaign_key"]), len(item["urls"]), item["create"])
        for item in plan.data.get("lists", ())
        if item["urls"]
    )
    return PlanGroups(
        create=having(Status.WOULD_CREATE),
        update=having(Status.WOULD_UPDATE),
        lists=lists,
        unchanged=having(Status.ALREADY_CREATED),
        attention=having(*NEEDS_PERSON),
        counts=plan_counts(Status(row.status) for row in rows),
        has_work=plan.has_work,
    )


def _plan_row(row: Mapping[str, Any]) -> PlanRow:
    return PlanRow(
        where=place(row["source"], row["sheet"], row["row"]),
        name=str(row["campaign_name"]),
        status=str(row["status"]),
        campaign_id=str(row["campaign_id"]),
        changes=tuple(row["changes"]),
        errors=tuple(row["errors"]),
    )


@dataclass(frozen=True)
class ProgressRow:
    """A row an apply sends: where it is, its name, and its status once it is settled
    ("" while it waits or is in flight)."""

    where: str
    name: str
    status: str


def progress_rows(planned: Sequence[RowResult], settled: Mapping[int, Status]) -> list[ProgressRow]:
    """The rows the plan sends, in sheet order, each with its status so far. `planned`
    are the plan's rows; `settled` the statuses by position (`pipeline.session.Progress`:
    the run settles the plan's other rows too, which are not listed)."""
    sent = {Status.WOULD_CREATE, Status.WOULD_UPDATE}
    return [
        ProgressRow(
            place(row.source, row.sheet, row.row),
            row.campaign_name,
            settled[position].value if position in settled else "",
        )
        for position, row in enumerate(planned)
        if row.status in sent
    ]


def status_css() -> str:
    """A CSS class per status (`status-created`...), coloured as results.xlsx colours it."""
    rules = [
        f".status-{status.value} {{ background: #{colour[-6:].lower()}; }}"
        for status, colour in STATUS_COLOURS.items()
    ]
    return "\n".join(rules) + "\n"
