"""Cell text -> typed value, one parser per column kind.

A parser returns the value (None for an empty cell) or raises `CellError` with words
for the person holding the sheet: what was found and what would be accepted.
"""

from __future__ import annotations

import re
import unicodedata
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
_BARE_UUID: Final = re.compile(
    r"\{?([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})\}?", re.IGNORECASE
)
_URN_UUID: Final = "urn:uuid:"
_MAILTO: Final = "mailto:"
# `Anna Adams <anna@example.com>` or `"Adams, Anna" <mailto:anna@example.com>`.
_NAMED_ADDRESS: Final = re.compile(r"[^<>]*<\s*([^<>]*?)\s*>")
# European Excel exports write TRUE/FALSE in the sheet's language (de, fr, nl, it, es).
_TRUE: Final = frozenset({"true", "yes", "y", "1", "wahr", "vrai", "waar", "vero", "verdadero"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "falsch", "faux", "onwaar", "falso"})
# Decision 16 of the API reference: a campaign name is one line of visible text.
NAME_LIMIT: Final = 255
_LINE_BREAK: Final = "a line break"
_INVISIBLE: Final[dict[str, str]] = {
    "\x00": "a NUL character",
    "\n": _LINE_BREAK,
    "\r": _LINE_BREAK,
    "\x85": _LINE_BREAK,
    "\t": "a tab",
    "\u200b": "a zero-width space (U+200B)",
    "\u200c": "a zero-width non-joiner (U+200C)",
    "\u200d": "a zero-width joiner (U+200D)",
    "\ufeff": "a zero-width no-break space (U+FEFF)",
    "\u2060": "a word joiner (U+2060)",
}
_ESCAPES: Final = {"\x00": "\\0", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
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
    """Trimmed, NFC-normalised text: `e` + combining accent and `é` are one text."""
    value = unicodedata.normalize("NFC", text).strip()
    if not value:
        return None
    _excel_mangled(value)
    return value


def _invisible(char: str) -> str | None:
    """What a person should be told `char` is, or None for an ordinary character."""
    if char in _INVISIBLE:
        return _INVISIBLE[char]
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"a control character (U+{code:04X})"
    return None


def _escaped(text: str) -> str:
    """`text` with its control and zero-width characters written as escapes."""
    return "".join(_ESCAPES.get(c, f"\\u{ord(c):04x}") if _invisible(c) else c for c in text)


def parse_name(text: str) -> str | None:
    """A campaign name: text without control or zero-width characters, at most 255 long."""
    value = parse_text(text)
    if value is None:
        return None
    found = list(dict.fromkeys(w for w in map(_invisible, value) if w is not None))
    if found:
        what = found[0] if len(found) == 1 else ", ".join(found[:-1]) + " and " + found[-1]
        raise CellError(
            f"{_show(_escaped(value))} holds {what}; a campaign name must be one line of "
            "visible text: delete the character and type the name again"
        )
    if len(value) > NAME_LIMIT:
        raise CellError(
            f"{_show(value[:40] + '...')} is {len(value)} characters long; "
            f"a campaign name has at most {NAME_LIMIT}"
        )
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
    uuid = _owner_uuid(value)
    if uuid is not None:
        return uuid
    email = _owner_email(value)
    if email is not None:
        return email
    _excel_mangled(value)
    raise CellError(
        f"{_show(value)} is neither a team member's id (uuid) nor an e-mail address "
        f"(e.g. {EXAMPLE_UUID} or anna@example.com)"
    )


def _owner_uuid(value: str) -> str | None:
    """A uuid as written: canonical, braced, 32 bare hex digits, or `urn:uuid:...`."""
    if value[: len(_URN_UUID)].casefold() == _URN_UUID:
        value = value[len(_URN_UUID) :].strip()
    match = _UUID.fullmatch(value)
    if match is not None:
        return match.group(1).lower()
    bare = _BARE_UUID.fullmatch(value)
    if bare is not None:
        return "-".join(bare.groups()).lower()
    return None


def _owner_email(value: str) -> str | None:
    """An e-mail address as written: bare, `Name <address>` or `mailto:address`."""
    named = _NAMED_ADDRESS.fullmatch(value)
    if named is not None:
        value = named.group(1)
    if value[: len(_MAILTO)].casefold() == _MAILTO:
        value = value[len(_MAILTO) :].split("?", 1)[0].strip()
    return value.lower() if _EMAIL.fullmatch(value) else None


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
