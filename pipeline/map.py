"""Typed rows -> exactly the Create Campaign payloads that extrovert-api.md decides.

Pure functions, no I/O. The catalogue's API paths say where each value goes; the
campaign type says which parts are sent (decisions 2 to 5): a Topic (KEYWORD) payload
never carries the Prospects-only settings and sends its two Prospects-only switches as
false; `applyCommentIntervalH` is sent only when set; lists default to empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final, cast

import pandas as pd

from pipeline.validate import Checked
from schemas.columns import COLUMNS, KEYWORD, Kind
from schemas.payload import KEYWORD_FALSE_FIELDS, POST_MAX_AGE_DAYS, Payload

# (column name, parent object or "", API field, sent for KEYWORD, is a list)
_PLAN: Final = tuple(
    (
        column.name,
        column.api_path.rpartition(".")[0],
        column.api_field,
        not column.prospects_only,
        column.kind in (Kind.UUID_LIST, Kind.TOKEN_LIST),
    )
    for column in COLUMNS
    if column.api_path
)
_OWNER_FIELD: Final = "ownerId"


def to_payload(row: Mapping[str, Any], owners: Mapping[str, str] | None = None) -> Payload:
    """The payload for one valid typed row (catalogue name -> value).

    `owners` maps an owner e-mail to the team member id it resolves to; an owner not in
    it is sent as written (validate has no network to resolve e-mails).
    """
    keyword = row["campaign_type"] == KEYWORD
    payload: dict[str, Any] = {}
    for name, parent, field, for_keyword, is_list in _PLAN:
        value = row[name]
        if value is None or value is pd.NA:
            if is_list:
                value = []
            else:
                continue  # optional and unset: applyCommentIntervalH
        if keyword and not for_keyword:
            if field in KEYWORD_FALSE_FIELDS:
                payload[field] = False
            continue
        if parent:
            payload.setdefault(parent, {})[field] = list(value) if is_list else value
        else:
            payload[field] = value
        if field == "userContextId":
            payload["postMaxAgeDays"] = POST_MAX_AGE_DAYS
    if keyword:
        for field in KEYWORD_FALSE_FIELDS:
            payload[field] = False
    if owners:
        payload[_OWNER_FIELD] = owners.get(payload[_OWNER_FIELD], payload[_OWNER_FIELD])
    return cast(Payload, payload)


def typed_records(checked: Checked) -> Iterator[dict[str, Any]]:
    """Each row's typed values as plain Python objects (no numpy scalars)."""
    names = list(checked.typed.columns)
    columns = [checked.typed[name].tolist() for name in names]
    for values in zip(*columns, strict=True):
        yield dict(zip(names, values, strict=True))


def map_rows(checked: Checked, owners: Mapping[str, str] | None = None) -> list[Payload | None]:
    """A payload for every valid row, None for every invalid one (same positions)."""
    return [
        to_payload(record, owners) if not errors else None
        for record, errors in zip(typed_records(checked), checked.errors, strict=True)
    ]
