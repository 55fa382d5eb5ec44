"""Raw text tables -> typed rows, each with every problem it has, found in one pass.

Cells are parsed by their column's kind in our own code (each distinct text once, so
100,000 rows cost little; a name from the config's `[names.*]` becomes its uuid here, so
payloads and keys see only uuids), defaults fill the empty cells a row's campaign type
uses, the Pandera model (`schemas.rows.RowsModel`) checks ranges and the cross-column
rules, and rows that share a campaign key are all marked, each naming the others. Nothing
here raises for a bad row: problems become `errors` (`"header: message"` items) on the row.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.errors import ConfigError, InputError
from pipeline.load import CAMPAIGNS, Table
from pipeline.model import campaign_key
from pipeline.parse import CellError, NameTable, Value, name_tables, parser_for
from schemas.columns import BY_NAME, COLUMNS, KEYWORD, TARGET_USER, Column, Kind
from schemas.rows import CHECK_MESSAGES, MODEL_COLUMNS, RowsModel

LOCATION: Final = ("source", "sheet", "row")
_ORDER: Final = {c.name: i for i, c in enumerate(COLUMNS)}
_DTYPES: Final = {Kind.WHOLE_NUMBER: "Int64", Kind.BOOLEAN: "boolean"}


@dataclass(frozen=True)
class Checked:
    """Every input row in input order: where it came from, its cells, values and errors.

    `rows` holds `source`, `sheet`, `row` and the original cell text (catalogue names
    plus the user's `_` columns); `values` the parsed values with defaults filled in,
    one list per catalogue column (same positions, plain Python objects). `errors[i]`
    lists row i's problems; row i is valid when it is empty. `keys[i]` is the campaign
    key ("" when the row has none).
    """

    rows: pd.DataFrame
    values: dict[str, list[Value]]
    errors: list[tuple[str, ...]]
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

    def lists(self) -> list[tuple[str, ...]]:
        result: list[tuple[str, ...]] = [()] * self._size
        for position, items in self._items.items():
            ordered = (text for _, text in sorted(items, key=lambda item: item[0]))
            result[position] = tuple(dict.fromkeys(ordered))
        return result


def validate(
    tables: Sequence[Table],
    *,
    defaults: Mapping[str, str] | None = None,
    names: Mapping[str, Mapping[str, str]] | None = None,
    emotion_types: frozenset[str] | None = None,
) -> Checked:
    """Parse and check every row of `tables`; see `Checked` for what comes back.

    `defaults` (column name -> cell text, from the config file) fill empty cells before
    the catalogue's own defaults; `names` (the config's `[names.*]`: table -> {name:
    uuid}, see `pipeline.parse.NAME_TABLES`) let cells and defaults of the id columns
    give a name instead of a uuid; `emotion_types`, when given, restricts that column.
    A default or a names table that cannot work raises `ConfigError`.
    """
    lookups = name_tables(names)
    tables = [table for table in tables if table.kind == CAMPAIGNS]  # prospects: elsewhere
    _check_required_headers(tables, defaults or {})
    rows = _combine(tables)
    size = len(rows)
    table_of = rows.pop("table_index").to_numpy()
    problems = _Problems(size, [t.headers for t in tables], table_of)
    for index, table in enumerate(tables):
        offsets = np.flatnonzero(table_of == index)
        positions = dict(zip(table.frame.index, offsets, strict=True))
        for row, items in table.problems.items():
            for header, message in items:
                problems.add(int(positions[row]), header, message)

    texts = {column.name: rows[column.name].tolist() for column in COLUMNS}
    values = {
        column.name: _parse_column(texts[column.name], column, problems, lookups)
        for column in COLUMNS
    }
    _fill_defaults(values, dict(defaults or {}), lookups)
    for column in COLUMNS:
        if column.required and None in values[column.name]:
            for position, (value, text) in enumerate(
                zip(values[column.name], texts[column.name], strict=True)
            ):
                if value is None and not text.strip():
                    problems.add(position, column.name, f"is required: {column.help}")
    if emotion_types is not None:
        _check_emotions(values["emotion_types"], emotion_types, problems)
    _run_model(values, problems)
    keys = campaign_keys(values)
    _mark_duplicates(keys, rows, problems)
    return Checked(
        rows=rows,
        values=values,
        errors=problems.lists(),
        keys=keys,
        headers=_first_headers(tables),
        warnings=tuple(w for t in tables for w in (*t.warnings, *_empty_warning(t))),
        sources=tuple(t.source for t in tables),
    )


def _check_required_headers(tables: Sequence[Table], defaults: Mapping[str, str]) -> None:
    """A sheet with rows but without a required column no default covers: one file error."""
    for table in tables:
        if table.frame.empty:
            continue
        absent = [
            column.name
            for column in COLUMNS
            if column.required
            and column.name not in table.frame.columns
            and not (defaults.get(column.name) or column.default)
        ]
        if len(absent) == 1:
            problem = f"the sheet has no {absent[0]} column; add one or set a default"
        elif absent:
            problem = f"the sheet has no {', '.join(absent)} columns; add them or set defaults"
        else:
            continue
        raise InputError(table.path, problem, sheet=table.sheet, column=absent[0])


def _empty_warning(table: Table) -> tuple[str, ...]:
    """A warning for a sheet without data rows, naming it (and a workbook's other sheets)."""
    if len(table.frame):
        return ()
    where = f"{table.source} [{table.sheet}]" if table.sheet else table.source
    message = f"{where}: the sheet has no data rows"
    if table.sheet:
        others = [name for name in _sheet_names(table) if name != table.sheet]
        if others:
            message += f" (the workbook's other sheets: {', '.join(others)})"
    return (message,)


def _sheet_names(table: Table) -> list[str]:
    """The sheets of the workbook `table` was read from, from the bytes read (a download's
    `path` is only the name it was read as: no file by that name is its own)."""
    from openpyxl import load_workbook

    if not table.data:
        return []
    try:
        workbook = load_workbook(io.BytesIO(table.data), read_only=True)
    except Exception:  # the names only help a message; the sheet was already read
        return []
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _combine(tables: Sequence[Table]) -> pd.DataFrame:
    frames = []
    for index, table in enumerate(tables):
        frame = table.frame.reset_index()
        frame.insert(0, "sheet", table.sheet)
        frame.insert(0, "source", table.source)
        frame["table_index"] = index
        frame["source_path"] = str(table.path)
        frames.append(frame)
    if frames:
        combined = pd.concat(frames, ignore_index=True, sort=False)
    else:
        combined = pd.DataFrame({name: pd.Series(dtype=object) for name in LOCATION})
        combined["table_index"] = pd.Series(dtype="int64")
        combined["source_path"] = pd.Series(dtype=object)
    for column in COLUMNS:
        if column.name not in combined:
            combined[column.name] = ""
    cells = [c for c in combined.columns if c not in ("row", "table_index", "source_path")]
    combined[cells] = combined[cells].fillna("").astype(object)
    return combined


def _first_headers(tables: Sequence[Table]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for table in tables:
        for name, text in table.headers.items():
            headers.setdefault(name, text)
    return headers


def _parse_column(
    texts: list[str], column: Column, problems: _Problems, lookups: Mapping[str, NameTable]
) -> list[Value]:
    """Typed values of one column; each distinct text is parsed once (and rows that share
    a text share its value)."""
    parser = parser_for(column, lookups)
    codes, distinct = pd.factorize(np.asarray(texts, dtype=object), use_na_sentinel=False)
    parsed = np.empty(len(distinct), dtype=object)
    failures: dict[int, str] = {}
    for code, text in enumerate(distinct.tolist()):
        try:
            parsed[code] = parser(text)
        except CellError as exc:
            failures[code] = str(exc)
    if failures:
        for position in np.flatnonzero(np.isin(codes, list(failures))).tolist():
            problems.add(position, column.name, failures[int(codes[position])])
    values: list[Value] = parsed[codes].tolist()
    return values


def _fill_defaults(
    values: dict[str, list[Value]], config: dict[str, str], lookups: Mapping[str, NameTable]
) -> None:
    """Empty cells take the config's default, else the catalogue's, where the type uses it."""
    kinds = values["campaign_type"]
    for column in COLUMNS:
        text = config.get(column.name, column.default)
        current = values[column.name]
        if not text or None not in current:
            continue
        try:
            default = parser_for(column, lookups)(text)
        except CellError as exc:
            raise ConfigError(f"the default for {column.name}: {exc}") from None
        if column.prospects_only:
            values[column.name] = [
                default if v is None and k == TARGET_USER else v
                for v, k in zip(current, kinds, strict=True)
            ]
        else:
            values[column.name] = [default if v is None else v for v in current]


def _check_emotions(column: list[Value], allowed: frozenset[str], problems: _Problems) -> None:
    for position, items in enumerate(column):
        if isinstance(items, list):
            unknown = [item for item in items if item not in allowed]
            if unknown:
                shown = ", ".join(sorted(allowed))
                problems.add(
                    position, "emotion_types", f"{', '.join(unknown)} not allowed (use {shown})"
                )


def _run_model(values: dict[str, list[Value]], problems: _Problems) -> None:
    # Only the columns the model checks, the type as a category: Pandera runs `isna` over
    # the whole frame after each frame check, which is slow on object columns.
    frame = pd.DataFrame({name: _model_column(values[name], name) for name in MODEL_COLUMNS})
    try:
        RowsModel.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna() & cases["check"].isin(list(CHECK_MESSAGES))]
        unique = cases.drop_duplicates(["check", "index"])
        for check, position in zip(unique["check"], unique["index"], strict=True):
            column, message = CHECK_MESSAGES[str(check)]
            if not str(check).endswith(":keyword"):
                message = f"{_display(values[column][int(position)])} {message}"
            problems.add(int(position), column, message)


def _model_column(values: list[Value], name: str) -> pd.Series:
    """A column as the model reads it: numbers as Int64, switches as boolean (both with
    a mask where the cell is empty: built from arrays, not cell by cell), the rest as a
    category."""
    kind = BY_NAME[name].kind
    if kind not in _DTYPES:
        return pd.Series(values, dtype="category")
    mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    if kind is Kind.WHOLE_NUMBER:  # the parser refuses numbers an int64 cannot hold
        numbers = np.fromiter((0 if v is None else v for v in values), np.int64, len(values))
        return pd.Series(pd.arrays.IntegerArray(numbers, mask))
    switches = np.fromiter((v is True for v in values), dtype=bool, count=len(values))
    return pd.Series(pd.arrays.BooleanArray(switches, mask))


def _display(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def campaign_keys(
    values: Mapping[str, list[Value]], owners: Mapping[str, str] | None = None
) -> list[str]:
    """Every row's key; `owners` maps e-mail owners to the ids they resolve to."""
    owner_ids = values["owner"]
    if owners:
        owner_ids = [owners.get(o, o) if isinstance(o, str) else o for o in owner_ids]
    return [
        campaign_key(k, o, n)
        for k, o, n in zip(values["campaign_key"], owner_ids, values["campaign_name"], strict=True)
    ]


def _mark_duplicates(keys: list[str], rows: pd.DataFrame, problems: _Problems) -> None:
    repeated = {key for key, n in Counter(keys).items() if n > 1 and key}
    if not repeated:
        return
    groups: dict[str, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        if key in repeated:
            groups[key].append(position)
    sources = rows["source"].to_numpy()
    paths = rows["source_path"].to_numpy() if "source_path" in rows else sources
    numbers = rows["row"].to_numpy()
    for key, positions in groups.items():
        if len(positions) < 2:
            continue
        explicit = str(rows["campaign_key"].iat[positions[0]]).strip() != ""
        for position in positions:
            others = ", ".join(
                f"row {numbers[p]}"
                if paths[p] == paths[position]
                else f"{sources[p] if sources[p] != sources[position] else paths[p]} "
                f"row {numbers[p]}"
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


def apply_owners(
    checked: Checked, owners: Mapping[str, str], unresolved: Mapping[str, str]
) -> Checked:
    """`checked` with e-mail owners replaced by the ids they resolve to.

    `owners` maps a lower-cased e-mail to a team member id; `unresolved` maps an e-mail
    to why it names no single member. Keys are recomputed (an e-mail and the uuid it
    resolves to are one owner), so rows that now share a key are marked too.
    """
    size = len(checked)
    one_table = np.zeros(size, dtype=np.int64)
    problems = _Problems(size, [checked.headers], one_table)
    owner_column = checked.values["owner"]
    for position, owner in enumerate(owner_column):
        if isinstance(owner, str) and owner in unresolved:
            problems.add(position, "owner", unresolved[owner])
    values = dict(checked.values)
    values["owner"] = [owners.get(o, o) if isinstance(o, str) else o for o in owner_column]
    keys = campaign_keys(values)
    _mark_duplicates(keys, checked.rows, problems)
    added = problems.lists()
    errors = [
        tuple(dict.fromkeys(old + new)) if new else old
        for old, new in zip(checked.errors, added, strict=True)
    ]
    return replace(checked, values=values, errors=errors, keys=keys)


__all__ = ["KEYWORD", "Checked", "apply_owners", "campaign_key", "campaign_keys", "validate"]
