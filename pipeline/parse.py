"""Cell text -> typed value, one parser per column kind.

A parser returns the value (None for an empty cell) or raises `CellError` with words
for the person holding the sheet: what was found and what would be accepted.

`parser_for(column, tables)` is the parser validation uses for a column: its kind's,
narrowed for a few columns (a campaign name), and for the columns of `NAME_TABLES` one
that looks a value that is not a uuid (nor, for `owner`, an e-mail) up in the config's
`[names.*]` table (`NameTable`: case, NFC form and repeated spaces ignored), so that a
name becomes the uuid it stands for before anything else sees the row. `check_name` and
`check_default` check one config entry in words, for the config reader.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import partial
from typing import Final

from pipeline.errors import ConfigError
from schemas.columns import (
    BY_NAME,
    CAMPAIGN_TYPE_NAMES,
    HEADER_INDEX,
    Column,
    Kind,
    normalise_header,
)

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
# Any character `_invisible` names: one search finds whether a text needs a closer look.
_ANY_INVISIBLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
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
    if _ANY_INVISIBLE.search(value) is not None:
        found = list(dict.fromkeys(w for w in map(_invisible, value) if w is not None))
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

# Columns whose cells have rules beyond their kind's (decision 16: what a name may hold).
COLUMN_PARSERS: Final[dict[str, Callable[[str], Value]]] = {"campaign_name": parse_name}

# The config's `[names.*]` tables, and the columns whose cells may use each one's names.
NAME_TABLES: Final = {
    "owner": ("owner",),
    "style": ("style_id",),
    "context": ("context_id",),
    "topic": ("monitored_topic_ids",),
}
_TABLE_OF: Final = {column: table for table, columns in NAME_TABLES.items() for column in columns}
# Text made of hex digits, hyphens and braces only is a mistyped uuid, not a name.
_ID_LIKE: Final = re.compile(r"[0-9a-f{}-]+", re.IGNORECASE)
_LIST_SEPARATORS: Final = re.compile(r"[,;\r\n]")
_SHOWN_NAMES: Final = 5


def name_key(text: str) -> str:
    """A name as lookups compare it: NFC form, trimmed, inner spaces collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


class NameTable:
    """One `[names.*]` table, ready for lookups that ignore case and repeated spaces.

    Built from the entries as the config writes them (name -> uuid); a bad entry (see
    `check_name`) raises `ConfigError`, so a table that exists is one that works.
    """

    def __init__(self, table: str, entries: Mapping[str, str]) -> None:
        self.table = table
        self._ids: dict[str, str] = {}
        self._written: dict[str, str] = {}
        for name, uuid in entries.items():
            key = name_key(name)
            # Only the entry it clashes with, so that a long table is checked in one pass.
            earlier = {self._written[key]: self._ids[key]} if key in self._ids else {}
            problem = check_name(table, name, uuid, earlier)
            if problem is not None:
                raise ConfigError(f"[names.{table}] {_show(name)}: {problem}")
            self._ids[key] = _canonical_uuid(uuid)
            self._written.setdefault(key, name.strip())

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, text: str) -> str | None:
        """The uuid `text` names (case and repeated spaces ignored), or None."""
        return self._ids.get(name_key(text))

    def unknown(self, text: str, accepted: str) -> str:
        """Why `text` names nothing: it is not `accepted`, nor a name here (the closest)."""
        where = f"a name in the config's [names.{self.table}]"
        if not self._ids:
            return f"{_show(text)} is neither {accepted} nor {where} (the table is empty)"
        close = difflib.get_close_matches(name_key(text), list(self._ids), n=3, cutoff=0.6)
        if close:
            return f"{_show(text)} is neither {accepted} nor {where} (closest: {self._list(close)})"
        keys = sorted(self._ids, key=lambda key: self._written[key].casefold())
        more = len(keys) - _SHOWN_NAMES
        shown = self._list(keys[:_SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")
        return f"{_show(text)} is neither {accepted} nor {where} (known names: {shown})"

    def _list(self, keys: list[str]) -> str:
        return ", ".join(_show(self._written[key]) for key in keys)


def name_tables(names: Mapping[str, Mapping[str, str]] | None) -> dict[str, NameTable]:
    """`Options.names` (table -> {name: uuid}) ready for lookups; `ConfigError` names the
    first table or entry that cannot work."""
    tables: dict[str, NameTable] = {}
    for table, entries in (names or {}).items():
        if table not in NAME_TABLES:
            raise ConfigError(_unknown_table(table))
        tables[table] = NameTable(table, entries)
    return tables


def parser_for(
    column: Column, tables: Mapping[str, NameTable] | None = None
) -> Callable[[str], Value]:
    """The parser of `column`'s cells; the `[names.*]` columns also look names up in
    `tables` (see `name_tables`), and say how to add a table the config lacks."""
    base = COLUMN_PARSERS.get(column.name, PARSERS[column.kind])
    table = _TABLE_OF.get(column.name)
    if table is None:
        return base
    found = (tables or {}).get(table)
    if column.kind is Kind.UUID_LIST:
        return partial(_parse_named_list, table, found)
    return partial(_parse_named, base, table, found)


def _parse_named(
    base: Callable[[str], Value], table: str, names: NameTable | None, text: str
) -> Value:
    try:
        return base(text)
    except CellError as error:
        value = unicodedata.normalize("NFC", text).strip()
        uuid = names.get(value) if names is not None else None
        if uuid is not None:
            return uuid
        if _EXCEL_NUMBER.fullmatch(value):
            raise
        if names is not None:
            accepted = (
                "a team member's id (uuid), an e-mail address" if table == "owner" else "a uuid"
            )
            raise CellError(names.unknown(value, accepted)) from None
        if _ID_LIKE.fullmatch(value) or (table == "owner" and "@" in value):
            raise
        raise CellError(f"{error}{_no_table(table, value)}") from None


def _parse_named_list(table: str, names: NameTable | None, text: str) -> list[str] | None:
    items = _items(text)
    if not items:
        return None
    values: list[str] = []
    bad: list[str] = []
    for item in items:
        match = _UUID.fullmatch(item)
        uuid = match.group(1).lower() if match else names.get(item) if names else None
        if uuid is None:
            bad.append(unicodedata.normalize("NFC", item))
        else:
            values.append(uuid)
    if not bad:
        return values
    if names is not None:
        raise CellError("; ".join(names.unknown(item, "a uuid") for item in bad))
    named = [item for item in bad if not _ID_LIKE.fullmatch(item)]
    try:
        parse_uuid_list(", ".join(bad))
    except CellError as error:
        raise CellError(f"{error}{_no_table(table, named[0])}" if named else str(error)) from None
    raise AssertionError("unreachable: every item left is not a uuid")  # pragma: no cover


def _no_table(table: str, value: str) -> str:
    return (
        f", and the config has no [names.{table}] table to look names up in: to use this "
        f'name, add [names.{table}] to campaigns.toml with the line {_show(value)} = "<its uuid>"'
    )


def _canonical_uuid(text: str) -> str:
    match = _UUID.fullmatch(text.strip())
    return match.group(1).lower() if match else text


def _unknown_table(table: str) -> str:
    close = difflib.get_close_matches(table, list(NAME_TABLES), n=1)
    hint = f"did you mean [names.{close[0]}]? " if close else ""
    tables = ", ".join(f"[names.{t}]" for t in NAME_TABLES)
    return f"[names.{table}] is not a names table ({hint}the tables are {tables})"


def check_name(
    table: str, name: str, uuid: str, earlier: Mapping[str, str] | None = None
) -> str | None:
    """The problem with the entry `name = uuid` of `[names.<table>]`, in words, or None.

    `earlier` holds the entries above it in the same table: a name that means the same as
    one of them (case and repeated spaces ignored) but another uuid is a problem.
    """
    if table not in NAME_TABLES:
        return _unknown_table(table)
    if not isinstance(uuid, str) or _UUID.fullmatch(uuid.strip()) is None:
        return f"{_show(str(uuid))} is not a uuid (expected the form {EXAMPLE_UUID})"
    key = name_key(name)
    if not key:
        return "a name must hold visible text"
    hidden = [w for w in map(_invisible, unicodedata.normalize("NFC", name)) if w is not None]
    if hidden:
        return f"the name holds {hidden[0]}; write it as one line of visible text"
    stripped = name.strip()
    if _owner_uuid(stripped) is not None or (table == "owner" and _owner_email(stripped)):
        what = "an e-mail address" if "@" in stripped else "a uuid"
        return f"the name is {what} itself, so a sheet cell holding it is never looked up"
    if table == "topic" and _LIST_SEPARATORS.search(name):
        return (
            "a topic name cannot hold a comma or a semicolon: they separate the items "
            "of monitored_topic_ids"
        )
    for other, other_uuid in (earlier or {}).items():
        if name_key(other) == key and _canonical_uuid(other_uuid) != _canonical_uuid(uuid):
            return (
                f"means the same name as {_show(other)} (case and repeated spaces are "
                "ignored) but another uuid"
            )
    return None


def check_default(
    column: str, text: str, names: Mapping[str, Mapping[str, str]] | None = None
) -> str | None:
    """The problem with `text` as the `[defaults]` value of `column`, in words, or None.

    `column` is any header spelling of a catalogue column; `text` is parsed by the
    column's kind, and for the `[names.*]` columns looked up in `names` (table -> {name:
    uuid}, as `Options.names`) the way a cell is.
    """
    found = BY_NAME.get(column) or HEADER_INDEX.get(normalise_header(column))
    if found is None:
        close = difflib.get_close_matches(column, list(BY_NAME), n=1)
        return f"{_show(column)} is not a column" + (
            f" (did you mean {close[0]}?)" if close else ""
        )
    try:
        parser_for(found, name_tables(names))(text)
    except (CellError, ConfigError) as error:
        return str(error)
    return None
