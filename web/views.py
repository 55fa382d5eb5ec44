"""What each page shows, as plain data for its template: the library's results laid out.

`grid` puts every row of a sheet back in a table like the sheet, each of the library's
messages at the cell it is about. The library writes a row's problems as `header:
message` items, the header as the sheet spells it (`pipeline.validate`); a message whose
header is a column of the sheet is shown in that cell, any other (a missing column, a
rule about the whole row) beside the row. Nothing is reworded: a cell shows the message
after its header, the row's notes show it whole.

`check_grid` is what the Check page shows of a table: the rows that need a person
picked out first when asked, then at most `SHOWN_ROWS` of them laid on the grid, with
the totals the page counts from.

`progress_rows` lists the rows an apply sends, each with its status once settled.

`plan_groups` sorts a plan's rows as `campaigns plan` prints them: to create, to update
(with the changes), prospects to add, unchanged, and the rows that need a person.

A page lists at most `SHOWN_ROWS` rows of any one table or group (`Shown`: those rows,
and how many there are in all): a sheet of 20,000 rows would make a page of tens of
megabytes that no one reads; every row is in the reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from pipeline.model import NEEDS_PERSON, Status, place
from pipeline.report import STATUS_COLOURS

if TYPE_CHECKING:
    from pipeline.load import Table
    from pipeline.plan import Plan
    from pipeline.run import RowResult

# The rows a page lists of one table or group before "and N more".
SHOWN_ROWS: Final = 500

T = TypeVar("T")


@dataclass(frozen=True)
class Shown(Generic[T]):
    """The first `SHOWN_ROWS` items of a list (`items`), and how many it has in all."""

    items: tuple[T, ...]
    total: int

    @property
    def more(self) -> int:
        """Items left out."""
        return self.total - len(self.items)

    def __bool__(self) -> bool:
        return self.total > 0


def shown(items: Iterable[T], limit: int = SHOWN_ROWS) -> Shown[T]:
    """The first `limit` of `items`, and their number in all."""
    every = tuple(items)
    return Shown(every[:limit], len(every))


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
class CheckGrid:
    """What the Check page shows of one table: at most `SHOWN_ROWS` lines (only those
    that need a person when `only`), the rows in the table, those that need a person,
    and the rows listed before the lines were cut off."""

    grid: Grid
    rows: int
    attention: int
    listed: int  # the rows there were to show: `attention` when `only`, else `rows`

    @property
    def more(self) -> int:
        return self.listed - len(self.grid.lines)


def check_grid(
    table: Table | None,
    rows: Sequence[tuple[int, str, Sequence[str]]],
    *,
    only: bool,
    limit: int = SHOWN_ROWS,
) -> CheckGrid:
    """`rows` as the Check page shows them (see `grid`): only those that need a person
    when `only`, at most `limit` of them laid on the cells (the rest are only counted)."""
    needing = [item for item in rows if Status(item[1]) in NEEDS_PERSON]
    listed = needing if only else rows
    return CheckGrid(grid(table, listed[:limit]), len(rows), len(needing), len(listed))


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

    create: Shown[PlanRow]
    update: Shown[PlanRow]
    lists: Shown[PlanList]
    unchanged: Shown[PlanRow]
    attention: Shown[PlanRow]
    counts: dict[str, int]
    has_work: bool
    prospects: int  # profiles to add, to every list


def plan_groups(plan: Plan) -> PlanGroups:
    """The plan's rows grouped (see the module docstring), each group cut at `SHOWN_ROWS`."""
    from pipeline.plan import plan_counts

    rows = plan.data["rows"]

    def having(*wanted: Status) -> Shown[PlanRow]:
        picked = [row for row in rows if Status(row["status"]) in wanted]
        return Shown(tuple(_plan_row(row) for row in picked[:SHOWN_ROWS]), len(picked))

    lists = [
        PlanList(str(item["name"]), str(item["campaign_key"]), len(item["urls"]), item["create"])
        for item in plan.data.get("lists", ())
        if item["urls"]
    ]
    return PlanGroups(
        create=having(Status.WOULD_CREATE),
        update=having(Status.WOULD_UPDATE),
        lists=shown(lists),
        unchanged=having(Status.ALREADY_CREATED),
        attention=having(*NEEDS_PERSON),
        counts=plan_counts(Status(row["status"]) for row in rows),
        has_work=plan.has_work,
        prospects=sum(item.profiles for item in lists),
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
