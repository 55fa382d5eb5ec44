"""What an update changes, in the sheet's words: two payloads -> `column: old -> new` items.

`describe(old, new)` compares the payload last applied with the one the sheet asks for
now (both as `pipeline.map` builds them, `ownerId` and `type` included) and says, per
changed field, what a person would see in the sheet. Pure: no I/O, nothing looked up.

    item                                   when
    min_post_likes: 0 -> 25                numbers as digits
    dm_enabled: no -> yes                  booleans as yes / no
    campaign_type: Prospects -> Topic      the sheet's word for the type
    campaign_name: ACME Q1 -> ACME Q2      text as is; "quoted" (JSON style) when it is
                                           empty, has spaces at either end, holds ` -> `
                                           or ` | `, or reads `(empty)`
    comment_interval_hours: 24 -> (empty)  a field absent (or null) on one side: the cell
                                           was cleared, or never filled
    emotion_types: LIKE, PRAISE -> LIKE    token lists as the cell lists them
    monitored_topic_ids: +2 -3             uuid lists: how many ids came and went (`+1`,
                                           `-1`; `order changed` when only the order did)
    style_id: <uuid> -> <uuid>             ids as uuids, or as the config's name for the
                                           uuid when `names` (`Options.names`) has one
    postMaxAgeDays: 30 -> 31               a field no column maps: named by its API path

One item per changed column, in catalogue order, then the unmapped fields (in payload
order). Values are compared as JSON compares them (`1` is not `true`, `25` is not
`25.0`), except that null and an empty list count as absent; a nested object is
compared field by field, so a whole object present on one side only lists each of its
fields. Equal payloads give `()`. An `old` of None (settings nothing here knows: a
campaign adopted by `--skip-existing`, a ledger row that kept only a hash) gives the one
item `UNKNOWN`.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, Final

from pipeline.parse import NAME_TABLES
from schemas.columns import COLUMNS, KEYWORD, TARGET_USER, Column, Kind

EMPTY: Final = "(empty)"
ARROW: Final = " -> "
# What changes when the settings last applied are not known: all of them, to the sheet's.
UNKNOWN: Final = ("all settings: unknown -> as in the sheet",)
# The sheet's word for each campaign type (what the templates offer).
TYPE_WORDS: Final = {TARGET_USER: "Prospects", KEYWORD: "Topic"}
# Text that would read as something else unquoted: the item and list separators.
_AMBIGUOUS: Final = (ARROW, " | ")

_BY_PATH: Final = {c.api_path: c for c in COLUMNS if c.api_path}
_ORDER: Final = {c.api_path: position for position, c in enumerate(COLUMNS) if c.api_path}
_TABLE_OF: Final = {column: table for table, columns in NAME_TABLES.items() for column in columns}


def describe(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    names: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[str, ...]:
    """The changes from payload `old` to payload `new`, one `column: old -> new` item per
    changed column, in catalogue order (see the module docstring for each kind of value).

    `names` is `Options.names` (table -> {name: uuid}): a uuid that exactly one name of
    its column's table stands for is shown as that name.
    """
    if old is None:
        return UNKNOWN
    before = dict(_leaves(old))
    after = dict(_leaves(new))
    paths = list(dict.fromkeys([*after, *before]))
    changed = [p for p in paths if _canonical(before.get(p)) != _canonical(after.get(p))]
    unmapped = len(_ORDER)
    changed.sort(key=lambda p: _ORDER.get(p, unmapped))  # stable: unmapped keep their order
    shown_as = _reverse(names)
    return tuple(_item(p, before.get(p), after.get(p), shown_as) for p in changed)


def _leaves(payload: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every field that is not an object; null and an empty list
    count as absent (a person sees an empty cell either way)."""
    for name, value in payload.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{path}.")
        elif value is not None and value != []:
            yield path, value


def _canonical(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _item(path: str, old: Any, new: Any, shown_as: Mapping[str, Mapping[str, str]]) -> str:
    column = _BY_PATH.get(path)
    if column is None:
        return f"{path}: {_shown(old)}{ARROW}{_shown(new)}"
    if column.kind is Kind.UUID_LIST and _is_list(old) and _is_list(new):
        return f"{column.name}: {_counted(old or [], new or [])}"
    ids = shown_as.get(column.name, {})
    return f"{column.name}: {_value(column, old, ids)}{ARROW}{_value(column, new, ids)}"


def _is_list(value: Any) -> bool:
    return value is None or isinstance(value, list)


def _counted(old: list[Any], new: list[Any]) -> str:
    """`+2 -3`: how many items `new` has that `old` lacks, and the other way round."""
    came = sum((Counter(new) - Counter(old)).values())
    went = sum((Counter(old) - Counter(new)).values())
    parts = [f"+{came}"] if came else []
    parts += [f"-{went}"] if went else []
    return " ".join(parts) or "order changed"


def _value(column: Column, value: Any, ids: Mapping[str, str]) -> str:
    if column.kind is Kind.CAMPAIGN_TYPE and isinstance(value, str):
        return TYPE_WORDS.get(value, _shown(value))
    if column.kind in (Kind.UUID, Kind.OWNER) and isinstance(value, str) and value in ids:
        return _text(ids[value])
    return _shown(value)


def _shown(value: Any) -> str:
    """A value as a person writes it in a cell."""
    if value is None:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or EMPTY
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _text(text: str) -> str:
    plain = text and text == text.strip() and text != EMPTY
    if plain and not any(mark in text for mark in _AMBIGUOUS):
        return text
    return json.dumps(text, ensure_ascii=False)


def _reverse(names: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]]:
    """column -> {canonical uuid: name} for the uuids exactly one name stands for."""
    if not names:
        return {}
    shown: dict[str, dict[str, str]] = {}
    for column, table in _TABLE_OF.items():
        found: dict[str, list[str]] = {}
        for name, written in names.get(table, {}).items():
            try:
                canonical = str(uuid.UUID(written.strip()))
            except ValueError:
                continue  # the config check says so; here it names nothing
            found.setdefault(canonical, []).append(name.strip())
        shown[column] = {u: n[0] for u, n in found.items() if len(set(n)) == 1}
    return shown
