"""Prospect rows -> checked prospects: each profile link made canonical, each row tied to
the Prospects campaign row it names, and to its list (decisions 11 and 12).

`check_prospects(tables, checked)` takes the run's prospect tables (`Table.kind ==
PROSPECTS`: a workbook's `prospects` sheet, or a file whose header has `linkedin_url`)
and the run's checked campaign rows, and returns `CheckedProspects`: one `Prospect` per
row, in input order, with its canonical URL, the campaign row it names (by that row's
`campaign_key`, or by its `campaign_name` when no other campaign row has it), the list
it goes to and, for a row that cannot be sent, its status and messages:

    invalid     the link is not a person's profile, the campaign is unknown, ambiguous,
                or a Topic campaign, a cell is empty
    duplicate   the same profile as an earlier row of the same list (named)
    not_sent    the campaign row it names is invalid (named): fix that row first

Nothing here raises for a bad row, and nothing reads the network or the ledger.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Final

import pandas as pd

from pipeline.errors import InputError
from pipeline.linkedin import canonical_profile_url
from pipeline.load import PROSPECTS, Table
from pipeline.model import Status, normalise_name, place
from pipeline.parse import CellError, parse_name
from pipeline.validate import Checked
from schemas.columns import PROSPECT_COLUMNS, TARGET_USER

__all__ = ["CheckedProspects", "Prospect", "check_prospects", "list_key", "with_campaign_keys"]

# How a prospect row names where it is: its location first, then its cells.
_LOCATION: Final = ("source", "sheet", "row")


@dataclass(frozen=True)
class Prospect:
    """One prospect row, checked: where it is, what it names, and (when it cannot be
    sent) its status and why."""

    source: str
    sheet: str
    row: int
    linkedin_url: str  # the cell as written
    url: str  # the canonical profile URL ("" when the link is not one)
    campaign: int | None  # the position of the campaign row it names, in `Checked`
    campaign_key: str  # that row's key ("" when none)
    list_name: str  # the list's name as sent: trimmed, as its first row writes it
    status: Status | None = None  # None: valid so far; else invalid, duplicate, not_sent
    errors: tuple[str, ...] = ()
    # The campaign's own list: list_name empty, or the campaign's name. Keyed apart from
    # the name, so that renaming the campaign does not make a second list.
    default_list: bool = False
    # The list as keys compare it: (campaign key, list name like a key). Made with the
    # row (and again by `replace`), as every list lookup reads it.
    list_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = list_key(self.campaign_key, self.list_name, default=self.default_list)
        object.__setattr__(self, "list_key", key)


# The list key's name part of a campaign's own list (see `Prospect.default_list`).
_DEFAULT_LIST: Final = "\x00"


def list_key(campaign_key: str, list_name: str, *, default: bool = False) -> str:
    """A list's key: its campaign's key and its name compared like a key (the campaign's
    own list: a mark of its own, whatever the campaign is called)."""
    return f"{campaign_key}\x1f{_DEFAULT_LIST if default else normalise_name(list_name)}"


@dataclass(frozen=True)
class CheckedProspects:
    """Every prospect row in input order (`prospects`), with the cells as read (`rows`:
    `source`, `sheet`, `row` and the original columns, for `failed-prospects.csv`) and
    each original column's header as typed (`headers`)."""

    prospects: list[Prospect] = field(default_factory=list)
    rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(_LOCATION)))
    headers: dict[str, str] = field(default_factory=dict)
    # The loader's warnings about the prospect tables (hidden rows, a title above the
    # header...): the run says them with its own.
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.prospects)


def check_prospects(tables: Sequence[Table], checked: Checked) -> CheckedProspects:
    """Check every row of the prospect tables among `tables` against the campaign rows of
    `checked` (see the module docstring)."""
    mine = [table for table in tables if table.kind == PROSPECTS]
    if not mine:
        return CheckedProspects()
    campaigns = _Campaigns(checked)
    prospects: list[Prospect] = []
    frames: list[pd.DataFrame] = []
    headers: dict[str, str] = {}
    for table in mine:
        _check_headers(table)
        for name, text in table.headers.items():
            headers.setdefault(name, text)
        frame = table.frame.reset_index()
        frame.insert(0, "sheet", table.sheet)
        frame.insert(0, "source", table.source)
        frame["source_path"] = str(table.path)  # which file it is, for --archive
        frames.append(frame)
        where = (table.source, table.sheet)
        label = {c.name: table.headers.get(c.name, c.name) for c in PROSPECT_COLUMNS}
        for row, cells in zip(table.frame.index.tolist(), _records(table), strict=True):
            problems = [
                f"{table.headers.get(header, header)}: {message}" if header else message
                for header, message in table.problems.get(row, ())
            ]
            prospects.append(_check_row(where, label, int(row), cells, campaigns, problems))
    rows = pd.concat(frames, ignore_index=True, sort=False).fillna("").astype(object)
    warnings = tuple(w for table in mine for w in table.warnings)
    return CheckedProspects(_mark_duplicates(_name_lists(prospects)), rows, headers, warnings)


def _check_headers(table: Table) -> None:
    """A prospects sheet with rows but without `campaign` or `linkedin_url`: one error
    for the file (exit 2), as for a campaign sheet without a required column."""
    if table.frame.empty:
        return
    absent = [c.name for c in PROSPECT_COLUMNS if c.required and c.name not in table.frame]
    if absent:
        raise InputError(
            table.path,
            f"the prospects sheet has no {' and no '.join(absent)} column",
            sheet=table.sheet,
            column=absent[0],
            hint="A prospects sheet has the columns campaign, linkedin_url and list_name.",
        )


def _records(table: Table) -> list[dict[str, str]]:
    """Each row's cells by prospects column ("" for a column the sheet lacks)."""
    frame = table.frame
    columns = {
        c.name: frame[c.name].tolist() if c.name in frame else [""] * len(frame)
        for c in PROSPECT_COLUMNS
    }
    return [dict(zip(columns, cells, strict=True)) for cells in zip(*columns.values(), strict=True)]


class _Campaigns:
    """The run's campaign rows, as prospect rows name them: by campaign_key, or by
    campaign_name when only one row has it."""

    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self._found: dict[str, tuple[int | None, str]] = {}
        self._lists: dict[tuple[str, int | None], tuple[str, bool, str]] = {}
        self.by_key: dict[str, list[int]] = {}
        for position, (explicit, key) in enumerate(
            zip(checked.values["campaign_key"], checked.keys, strict=True)
        ):
            if isinstance(explicit, str) and explicit.strip():  # the key is that cell's
                self.by_key.setdefault(key, []).append(position)

    @cached_property
    def by_name(self) -> dict[str, list[int]]:
        """Campaign rows by their names compared like keys (made when a prospect row
        names a campaign that no key names)."""
        found: dict[str, list[int]] = {}
        for position, name in enumerate(self.checked.values["campaign_name"]):
            if isinstance(name, str) and name.strip():
                found.setdefault(normalise_name(name), []).append(position)
        return found

    def place(self, position: int) -> str:
        """Where the campaign row at `position` is, for a message."""
        rows = self.checked.rows
        return place(
            str(rows["source"].iat[position]),
            str(rows["sheet"].iat[position]),
            int(str(rows["row"].iat[position])),
        )

    def find(self, text: str) -> tuple[int | None, str]:
        """The campaign row `text` names, or None and why not (each text looked up once:
        a campaign's prospects name it alike, row after row)."""
        found = self._found.get(text)
        if found is None:
            found = self._found[text] = self._find(text)
        return found

    def _find(self, text: str) -> tuple[int | None, str]:
        wanted = normalise_name(text)
        found = self.by_key.get(wanted) or []
        if not found:
            found = self.by_name.get(wanted) or []
            if len(found) > 1:
                places = ", ".join(self.place(p) for p in found[:4])
                return None, (
                    f"{text.strip()!r} is the campaign_name of {len(found)} campaign rows "
                    f"({places}); name the campaign by its campaign_key"
                )
        if not found:
            known = [*self.by_key, *self.by_name]
            close = difflib.get_close_matches(wanted, known, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return None, (
                f"{text.strip()!r} names no campaign row of this run{hint}; write the "
                "campaign_key (or campaign_name) of a Prospects campaign row of the sheets "
                "run with it"
            )
        return found[0], ""

    def list_named(self, text: str, position: int | None) -> tuple[str, bool, str]:
        """The list a `list_name` cell names for the campaign row at `position`: its name
        as sent, whether it is the campaign's own list, and the cell's problem ("" when
        none). Each (cell, campaign) is worked out once."""
        found = self._lists.get((text, position))
        if found is None:
            found = self._lists[(text, position)] = self._list_named(text, position)
        return found

    def _list_named(self, text: str, position: int | None) -> tuple[str, bool, str]:
        name = text.strip()
        problem = ""
        try:
            # The rules of a campaign name (decision 16): NFC, one line of visible text.
            name = (parse_name(name) or "") if name else ""
        except CellError as error:
            problem = str(error).replace("a campaign name", "a list name")
            name = ""
        default = not name
        if position is not None:
            campaign_name = str(self.checked.values["campaign_name"][position] or "").strip()
            default = default or normalise_name(name) == normalise_name(campaign_name)
            name = name or campaign_name
        return name, default, problem


def _check_row(
    where: tuple[str, str],
    label: Mapping[str, str],
    row: int,
    cells: Mapping[str, str],
    campaigns: _Campaigns,
    problems: list[str],
) -> Prospect:
    """One row of the table at `where` (source, sheet), whose prospect columns' headers
    are `label`: its URL made canonical, its campaign found, its list named."""
    errors = list(problems)
    link = str(cells.get("linkedin_url", ""))
    url = ""
    if not link.strip():
        errors.append(
            f"{label['linkedin_url']}: empty; paste the person's profile link (linkedin.com/in/...)"
        )
    else:
        try:
            url = canonical_profile_url(link)
        except CellError as error:
            errors.append(f"{label['linkedin_url']}: {error}")
    named = str(cells.get("campaign", ""))
    position: int | None = None
    key = ""
    blocked = ""
    if not named.strip():
        errors.append(
            f"{label['campaign']}: empty; write the campaign_key (or campaign_name) of the "
            "Prospects campaign row this person goes to"
        )
    else:
        position, why = campaigns.find(named)
        if position is None:
            errors.append(f"{label['campaign']}: {why}")
        else:
            checked = campaigns.checked
            key = checked.keys[position]
            kind = checked.values["campaign_type"][position]
            if checked.errors[position]:
                blocked = (
                    f"{label['campaign']}: its campaign row ({campaigns.place(position)}) is "
                    "invalid; fix that row first, then this prospect is sent with it"
                )
            elif kind != TARGET_USER:
                errors.append(
                    f"{label['campaign']}: {named.strip()!r} ({campaigns.place(position)}) is "
                    "a Topic campaign; only Prospects campaigns have prospect lists"
                )
    list_text, default, problem = campaigns.list_named(str(cells.get("list_name", "")), position)
    if problem:
        errors.append(f"{label['list_name']}: {problem}")
    status: Status | None = None
    if errors:
        status = Status.INVALID
    elif blocked:
        status, errors = Status.NOT_SENT, [blocked]
    return Prospect(
        *where,
        row,
        link,
        url,
        position,
        key,
        list_text,
        status,
        tuple(dict.fromkeys(errors)),
        default,
    )


def _name_lists(prospects: list[Prospect]) -> list[Prospect]:
    """Each list is sent with the name its first row writes (names compared like keys)."""
    first: dict[str, str] = {}
    named: list[Prospect] = []
    for prospect in prospects:
        if not prospect.campaign_key:
            named.append(prospect)
            continue
        name = first.setdefault(prospect.list_key, prospect.list_name)
        named.append(prospect if name == prospect.list_name else replace(prospect, list_name=name))
    return named


def _mark_duplicates(prospects: list[Prospect]) -> list[Prospect]:
    """The same profile twice in one list: the later rows are `duplicate`, naming the first."""
    seen: dict[tuple[str, str], Prospect] = {}
    marked: list[Prospect] = []
    for prospect in prospects:
        if not prospect.url or not prospect.campaign_key or prospect.status is Status.INVALID:
            marked.append(prospect)
            continue
        first = seen.setdefault((prospect.list_key, prospect.url), prospect)
        if first is prospect:
            marked.append(prospect)
            continue
        where = place(first.source, first.sheet, first.row)
        marked.append(
            replace(
                prospect,
                status=Status.DUPLICATE,
                errors=(
                    f"linkedin_url: the same profile ({prospect.url}) as {where}, in the same "
                    f"list {prospect.list_name!r}; it is sent once",
                ),
            )
        )
    return marked


def with_campaign_keys(found: CheckedProspects, keys: Sequence[str]) -> CheckedProspects:
    """The prospect rows with their campaigns' keys as `keys` (the campaign rows' keys
    once owner e-mails are resolved) say: a list belongs to its campaign's key."""
    rows = [
        replace(p, campaign_key=keys[p.campaign]) if p.campaign is not None else p
        for p in found.prospects
    ]
    return replace(found, prospects=rows)
