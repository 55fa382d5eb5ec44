"""Cell text -> typed value, one parser per column kind.

A parser returns the value (None for an empty cell) or raises `CellError` with words
for the person holding the sheet: what was found and what would be accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from schemas.columns import CAMPAIGN_TYPE_NAMES, Kind, normalise_header

Value = str | int | bool | list[str] | None

_UUID: Final = re.compile(
    r"\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?", re.IGNORECASE
)
_EMAIL: Final = re.compile(r"[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\".]{2,}")
_WHOLE: Final = re.compile(r"[+-]?\d+(?:\.0*)?")
_TOKEN: Final = re.compile(r"[A-Z_]+")
_EXCEL_NUMBER: Final = re.compile(r"[+-]?\d+(?:[.,]\d+)?E[+-]?\d+", re.IGNORECASE)
_LIST_SPLIT: Final = re.compile(r"[,;\r\n]+")
_TRUE: Final = frozenset({"true", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "0"})
# Larger than any int64: far past the API's limit, refused before Pandera sees it.
_HUGE: Final = 2**62
EXAMPLE_UUID: Final = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


class CellError(ValueError):
    """A cell's text is not a value of its column's kind."""


def _show(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def _excel_mangled(text: str) -> None:
    if _EXCEL_NUMBER.fullmatch(text):
        raise CellError(
            f"{_show(text)} looks like a number Excel turned into scientific notation; "
            "the original digits are lost: format the column as Text and type the value again"
        )


def parse_text(text: str) -> str | None:
    value = text.strip()
    if not value:
        return None
    _excel_mangled(value)
    return value


def parse_uuid(text: str) -> str | None:
    value = text.strip()
    if not value:
        return None
    match = _UUID.fullmatch(value)
    if match is None:
        _excel_mangled(value)
        raise CellError(f"{_show(value)} is not a uuid (expected the form {EXAMPLE_UUID})")
    return match.group(1).lower()


def parse_owner(text: str) -> str | None:
    """A uuid (canonical) or an e-mail address (lower-cased; resolved when sending)."""
    value = text.strip()
    if not value:
        return None
    match = _UUID.fullmatch(value)
    if match is not None:
        return match.group(1).lower()
    if _EMAIL.fullmatch(value):
        return value.lower()
    _excel_mangled(value)
    raise CellError(
        f"{_show(value)} is neither a team member's id (uuid) nor an e-mail address "
        f"(e.g. {EXAMPLE_UUID} or anna@example.com)"
    )


def parse_boolean(text: str) -> bool | None:
    value = text.strip().casefold()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CellError(f"{_show(text.strip())} is not true or false (use true/false, yes/no or 1/0)")


def parse_whole_number(text: str) -> int | None:
    value = text.strip()
    if not value:
        return None
    if not _WHOLE.fullmatch(value):
        raise CellError(f"{_show(value)} is not a whole number (e.g. 25)")
    number = int(value.split(".", 1)[0])
    if abs(number) >= _HUGE:
        raise CellError(f"{_show(value)} is far outside the range the API accepts")
    return number


def _items(text: str) -> list[str]:
    return [item.strip() for item in _LIST_SPLIT.split(text) if item.strip()]


def parse_uuid_list(text: str) -> list[str] | None:
    items = _items(text)
    if not items:
        return None
    bad = [item for item in items if _UUID.fullmatch(item) is None]
    if bad:
        shown = ", ".join(_show(b) for b in bad)
        raise CellError(
            f"{shown} {'is not a uuid' if len(bad) == 1 else 'are not uuids'} "
            f"(list uuids like {EXAMPLE_UUID}, separated by commas)"
        )
    return [m.group(1).lower() for m in map(_UUID.fullmatch, items) if m is not None]


def parse_token_list(text: str) -> list[str] | None:
    items = [item.upper() for item in _items(text)]
    if not items:
        return None
    bad = [item for item in items if not _TOKEN.fullmatch(item)]
    if bad:
        shown = ", ".join(_show(b) for b in bad)
        raise CellError(
            f"{shown}: each item must be letters and underscores only (e.g. LIKE, CELEBRATE)"
        )
    return items


def parse_campaign_type(text: str) -> str | None:
    value = text.strip()
    if not value:
        return None
    found = CAMPAIGN_TYPE_NAMES.get(normalise_header(value))
    if found is None:
        raise CellError(
            f"{_show(value)} is not a campaign type (use Prospects, Topic, TARGET_USER or KEYWORD)"
        )
    return found


PARSERS: Final[dict[Kind, Callable[[str], Value]]] = {
    Kind.TEXT: parse_text,
    Kind.UUID: parse_uuid,
    Kind.OWNER: parse_owner,
    Kind.BOOLEAN: parse_boolean,
    Kind.WHOLE_NUMBER: parse_whole_number,
    Kind.UUID_LIST: parse_uuid_list,
    Kind.TOKEN_LIST: parse_token_list,
    Kind.CAMPAIGN_TYPE: parse_campaign_type,
}
