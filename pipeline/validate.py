"""Raw text tables -> typed rows, each with every problem it has, found in one pass.

Cells are parsed by their column's kind in our own code (each distinct text once, so
100,000 rows cost little), defaults fill the empty cells a row's campaign type uses, the
Pandera model (`schemas.rows.RowsModel`) checks ranges and the cross-column rules, and
rows that share a campaign key are all marked, each naming the others. Nothing here
raises for a bad row: problems become `errors` (`"header: message"` items) on the row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.load import Table
from pipeline.parse import PARSERS, CellError, Value
from schemas.columns import COLUMNS, KEYWORD, TARGET_USER, Column, Kind
from schemas.rows import CHECK_MESSAGES, RowsModel

LOCATION: Final = ("source", "sheet", "row")
_ORDER: Final = {c.name: i for i, c in enumerate(COLUMNS)}
_DTYPES: Final = {Kind.WHOLE_NUMBER: "Int64", Kind.BOOLEAN: "boolean"}


@dataclass(frozen=True)
class Checked:
    """Every input row in input order: where it came from, its cells, values and errors.

    `rows` holds `source`, `sheet`, `row` and the original cell text (catalogue names
    plus the user's `_` columns); `typed` the parsed values with defaults filled in
    (same positions). `errors[i]` lists row i's problems; row i is valid when it is
    empty. `keys[i]` is the campaign key ("" when the row has none).
    """

    rows: pd.DataFrame
    typed: pd.DataFrame
    errors: list[list[str]]
    keys: list[str]
    headers: dict[str, str]
    warnings: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> list[bool]:
        return [not e for e in self.errors]

    def __len__(self) -> int:
        return len(self.errors)


class _Problems:
    """Problems by row position, kept in catalogue column order."""

    def __init__(self, size: int, headers: list[Mapping[str, str]], table_of: np.ndarray) -> None:
        self._items: dict[int, list[tuple[int, str]]] = defaultdict(list)
        self._size = size
        self._headers = headers
        self._table_of = table_of

    def add(self, position: int, column: str, message: str) -> None:
        header = self._headers[int(self._table_of[position])].get(column, column)
        label = f"{header}: " if header else ""
        self._items[position].append((_ORDER.get(column, len(_ORDER)), label + message))

    def lists(self) -> list[list[str]]:
        result: list[list[str]] = [[] for _ in range(self._size)]
        for position, items in self._items.items():
            seen: set[str] = set()
            for _, text in sorted(items, key=lambda item: item[0]):
                if text not in seen:
                    seen.add(text)
                    result[position].append(text)
        return result


def validate(
    tables: Sequence[Table],
    *,
    defaults: Mapping[str, str] | None = None,
    emotion_types: frozenset[str] | None = None,
) -> Checked:
    """Parse and check every row of `tables`; see `Checked` for what comes back.

    `defaults` (column name -> cell text, from the config file) fill empty cells before
    the catalogue's own defaults; `emotion_types`, when given, restricts that column.
    """
    rows = _combine(tables)
    size = len(rows)
    table_of = rows.pop("_table").to_numpy()
    problems = _Problems(size, [t.headers for t in tables], table_of)
    for index, table in enumerate(tables):
        offsets = np.flatnonzero(table_of == index)
        positions = dict(zip(table.frame.index, offsets, strict=True))
        for row, items in table.problems.items():
            for header, message in items:
                problems.add(int(positions[row]), header, message)

    typed = pd.DataFrame(index=rows.index)
    for column in COLUMNS:
        typed[column.name] = _parse_column(rows[column.name], column, problems)
    _fill_defaults(typed, dict(defaults or {}))
    for column in COLUMNS:
        if column.required:
            missing = typed[column.name].isna().to_numpy() & (rows[column.name].str.strip() == "")
            for position in np.flatnonzero(missing):
                problems.add(int(position), column.name, f"is required: {column.help}")
    if emotion_types is not None:
        _check_emotions(typed, emotion_types, problems)
    typed = typed.astype({c.name: _DTYPES[c.kind] for c in COLUMNS if c.kind in _DTYPES})
    _run_model(typed, problems)
    keys = campaign_keys(typed)
    _mark_duplicates(keys, rows, problems)
    return Checked(
        rows=rows,
        typed=typed,
        errors=problems.lists(),
        keys=keys,
        headers=_first_headers(tables),
        warnings=tuple(w for t in tables for w in t.warnings),
        sources=tuple(t.source for t in tables),
    )


def _combine(tables: Sequence[Table]) -> pd.DataFrame:
    frames = []
    for index, table in enumerate(tables):
        frame = table.frame.reset_index()
        frame.insert(0, "sheet", table.sheet)
        frame.insert(0, "source", table.source)
        frame["_table"] = index
        frames.append(frame)
    if frames:
        combined = pd.concat(frames, ignore_index=True, sort=False)
    else:
        combined = pd.DataFrame({name: pd.Series(dtype=object) for name in LOCATION})
        combined["_table"] = pd.Series(dtype="int64")
    for column in COLUMNS:
        if column.name not in combined:
            combined[column.name] = ""
    cells = [c for c in combined.columns if c not in ("row", "_table")]
    combined[cells] = combined[cells].fillna("").astype(object)
    return combined


def _first_headers(tables: Sequence[Table]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for table in tables:
        for name, text in table.headers.items():
            headers.setdefault(name, text)
    return headers


def _parse_column(raw: pd.Series, column: Column, problems: _Problems) -> pd.Series:
    """Typed values of one column; each distinct text is parsed once."""
    parser = PARSERS[column.kind]
    values: dict[str, Value] = {}
    failures: dict[str, str] = {}
    texts: list[str] = raw.tolist()
    for text in set(texts):
        try:
            values[text] = parser(text)
        except CellError as exc:
            values[text] = None
            failures[text] = str(exc)
    if failures:
        for position, text in enumerate(texts):
            if text in failures:
                problems.add(position, column.name, failures[text])
    return pd.Series([values[text] for text in texts], index=raw.index, dtype=object)


def _fill_defaults(typed: pd.DataFrame, config: dict[str, str]) -> None:
    """Empty cells take the config's default, else the catalogue's, where the type uses it."""
    kind = typed["campaign_type"]
    for column in COLUMNS:
        text = config.get(column.name, column.default)
        if not text:
            continue
        value = PARSERS[column.kind](text)
        if column.prospects_only:
            typed[column.name] = [  # type: ignore[assignment]
                value if v is None and k == TARGET_USER else v
                for v, k in zip(typed[column.name], kind, strict=True)
            ]
        else:
            filled = [value if v is None else v for v in typed[column.name]]
            typed[column.name] = filled  # type: ignore[assignment]


def _check_emotions(typed: pd.DataFrame, allowed: frozenset[str], problems: _Problems) -> None:
    for position, items in enumerate(typed["emotion_types"]):
        if isinstance(items, list):
            unknown = [item for item in items if item not in allowed]
            if unknown:
                shown = ", ".join(sorted(allowed))
                problems.add(
                    position, "emotion_types", f"{', '.join(unknown)} not allowed (use {shown})"
                )


def _run_model(typed: pd.DataFrame, problems: _Problems) -> None:
    frame = typed.reset_index(drop=True)
    try:
        RowsModel.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna() & cases["check"].isin(list(CHECK_MESSAGES))]
        unique = cases.drop_duplicates(["check", "index"])
        for check, position in zip(unique["check"], unique["index"], strict=True):
            column, message = CHECK_MESSAGES[str(check)]
            if not str(check).endswith(":keyword"):
                message = f"{_display(typed[column].iat[int(position)])} {message}"
            problems.add(int(position), column, message)


def _display(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def normalise_name(name: str) -> str:
    """A campaign name as keys compare it: trimmed, inner spaces collapsed, case-folded."""
    return " ".join(name.split()).casefold()


def campaign_key(explicit: object, owner: object, name: object) -> str:
    """The `campaign_key` cell when given, else owner + normalised name; "" if neither."""
    if isinstance(explicit, str) and explicit:
        return explicit
    if isinstance(owner, str) and owner and isinstance(name, str) and name:
        return f"{owner}/{normalise_name(name)}"
    return ""


def campaign_keys(typed: pd.DataFrame, owners: Mapping[str, str] | None = None) -> list[str]:
    """Every row's key; `owners` maps e-mail owners to the ids they resolve to."""
    owner_ids = typed["owner"]
    if owners:
        owner_ids = owner_ids.map(lambda o: owners.get(o, o) if isinstance(o, str) else o)
    return [
        campaign_key(k, o, n)
        for k, o, n in zip(typed["campaign_key"], owner_ids, typed["campaign_name"], strict=True)
    ]


def _mark_duplicates(keys: list[str], rows: pd.DataFrame, problems: _Problems) -> None:
    groups: dict[str, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        if key:
            groups[key].append(position)
    sources = rows["source"].to_numpy()
    numbers = rows["row"].to_numpy()
    for key, positions in groups.items():
        if len(positions) < 2:
            continue
        explicit = str(rows["campaign_key"].iat[positions[0]]).strip() != ""
        for position in positions:
            others = ", ".join(
                f"row {numbers[p]}"
                if sources[p] == sources[position]
                else f"{sources[p]} row {numbers[p]}"
                for p in positions
                if p != position
            )
            if explicit:
                problems.add(position, "campaign_key", f"{key!r} is also used by {others}")
            else:
                problems.add(
                    position,
                    "campaign_name",
                    f"same owner and campaign name as {others} (give each a campaign_key "
                    "or a different name)",
                )


__all__ = ["KEYWORD", "Checked", "campaign_key", "campaign_keys", "validate"]
