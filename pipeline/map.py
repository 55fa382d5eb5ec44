"""Typed rows -> exactly the Create Campaign payloads that extrovert-api.md decides.

Pure functions, no I/O. The catalogue's API paths say where each value goes; the
campaign type says which parts are sent (decisions 2 to 5): a Topic (KEYWORD) payload
never carries the Prospects-only settings and sends its two Prospects-only switches as
false; `applyCommentIntervalH` is sent only when set; lists default to empty. Payloads
are built column by column, each object by a dict display compiled once per shape
(`_object_maker`), which keeps 100,000 rows fast; `valid_payloads` makes them a chunk of
rows at a time, for a writer that streams them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any, Final, cast

from pipeline.parse import Value
from pipeline.validate import Checked
from schemas.columns import COLUMNS, KEYWORD, Column, Kind
from schemas.payload import KEYWORD_FALSE_FIELDS, POST_MAX_AGE_DAYS, Payload

_OPTIONAL: Final = "applyCommentIntervalH"
# Rows `valid_payloads` builds at a time.
CHUNK: Final = 10_000
_OWNER: Final = "ownerId"


def _members(parent: str) -> tuple[Column, ...]:
    return tuple(c for c in COLUMNS if c.api_path and c.api_path.rpartition(".")[0] == parent)


# Top-level fields every payload carries, then the nested objects in payload order.
_TOP: Final = tuple(c for c in _members("") if c.api_field != _OPTIONAL)
_NESTED: Final = {
    parent: _members(parent)
    for parent in ("postActivityFilter", "connectingSettings", "dmSettings")
}
_FIELDS: Final = {parent: [c.api_field for c in members] for parent, members in _NESTED.items()}
_INTERVAL: Final = next(c.name for c in COLUMNS if c.api_field == _OPTIONAL)


def _column(values: Mapping[str, Sequence[Value]], column: Column) -> Sequence[Value]:
    cells = values[column.name]
    if column.kind in (Kind.UUID_LIST, Kind.TOKEN_LIST):
        return [list(v) if isinstance(v, list) else [] for v in cells]
    return cells


@cache
def _object_maker(fields: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """A function of one argument per field that returns {field: argument, ...} in that
    order: a dict display, compiled once per shape, builds 100,000 objects about twice as
    fast as `dict(zip(fields, values))` does. The fields are the catalogue's API names."""
    if not all(field.isidentifier() for field in fields):
        raise ValueError(f"not API field names: {fields}")
    arguments = [f"_{number}" for number in range(len(fields))]
    items = ", ".join(
        f"{field!r}: {argument}" for field, argument in zip(fields, arguments, strict=True)
    )
    made: Callable[..., dict[str, Any]] = eval(f"lambda {', '.join(arguments)}: {{{items}}}")
    return made


def build_payloads(
    values: Mapping[str, Sequence[Value]], owners: Mapping[str, str] | None = None
) -> list[Payload]:
    """A payload per row of `values` (catalogue name -> column of valid typed values).

    `owners` maps an owner e-mail to the team member id it resolves to; an owner not in
    it is sent as written (`validate` has no network to resolve e-mails).
    """
    types = values["campaign_type"]
    size = len(types)
    top_names = [c.api_field for c in _TOP] + ["postMaxAgeDays"]
    top_columns = [_column(values, c) for c in _TOP] + [[POST_MAX_AGE_DAYS] * size]
    if owners:
        at = top_names.index(_OWNER)
        top_columns[at] = [owners.get(o, o) if isinstance(o, str) else o for o in top_columns[at]]
    tops = list(map(_object_maker(tuple(top_names)), *top_columns))
    nested = {
        parent: list(
            map(_object_maker(tuple(_FIELDS[parent])), *(_column(values, c) for c in members))
        )
        for parent, members in _NESTED.items()
    }
    intervals = values[_INTERVAL]
    for position, payload in enumerate(tops):
        if types[position] == KEYWORD:
            for field in KEYWORD_FALSE_FIELDS:
                payload[field] = False
            payload["postActivityFilter"] = nested["postActivityFilter"][position]
            continue
        if intervals[position] is not None:
            payload[_OPTIONAL] = intervals[position]
        for parent, objects in nested.items():
            payload[parent] = objects[position]
    return cast(list[Payload], tops)


def to_payload(row: Mapping[str, Any], owners: Mapping[str, str] | None = None) -> Payload:
    """The payload for one valid typed row (catalogue name -> value)."""
    return build_payloads({name: [value] for name, value in row.items()}, owners)[0]


def valid_payloads(
    checked: Checked, owners: Mapping[str, str] | None = None
) -> Iterator[tuple[int, Payload]]:
    """(row position, payload) of every valid row, in row order, built `CHUNK` rows at a
    time: a writer that streams them never holds every payload at once."""
    errors = checked.errors
    for start in range(0, len(errors), CHUNK):
        end = start + CHUNK
        part = {name: column[start:end] for name, column in checked.values.items()}
        # An invalid row's payload is made too (a few in a hundred), and left out.
        for position, payload in enumerate(build_payloads(part, owners), start):
            if not errors[position]:
                yield position, payload


def map_rows(checked: Checked, owners: Mapping[str, str] | None = None) -> list[Payload | None]:
    """A payload for every valid row, None for every invalid one (same positions)."""
    result: list[Payload | None] = [None] * len(checked.errors)
    for position, payload in valid_payloads(checked, owners):
        result[position] = payload
    return result
