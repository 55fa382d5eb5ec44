"""A LinkedIn profile link as pasted into a cell -> the one URL the API is sent.

Decision 12 of the API reference: `canonical_profile_url` returns
`https://www.linkedin.com/in/<slug>` or raises `CellError` saying what kind of link the
cell holds and what to paste instead.

    accepted                                  rejected (each with its own message)
    http://, https:// or no scheme            another scheme, text that is not a link
    linkedin.com and any subdomain of it      another site, lnkd.in short links
    /in/<slug>, anything after the slug       /company/, /showcase/, /school/, /pub/,
    (`/`, `/details/...`, query, fragment)    /sales/, /search/, posts, jobs, groups...
    scheme, host and `in` in any case         an empty slug (`linkedin.com/in/`)

The slug is percent-decoded as UTF-8, put in NFC form, lower-cased with `str.lower()`
(not case folding: `ß` stays `ß`) and percent-encoded again with upper-case hex; only
ASCII letters, digits, `-` and `_` stay as they are. So `%C3%BC` and `ü` give the same
URL, and the canonical URL of a canonical URL is itself.

Strict rather than guessing: whitespace and invisible characters around the text and one
pair of `<...>` around the link are dropped; a space, tab, line break or invisible
character inside (as typed, or percent-encoded in the slug), a `%` that is not
percent-encoding, bytes that are not UTF-8 and a slug ending in sentence punctuation
(`linkedin.com/in/anna.`) are rejected.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from pipeline.parse import CellError

__all__ = ["PROFILE_PREFIX", "canonical_profile_url"]

PROFILE_PREFIX: Final = "https://www.linkedin.com/in/"

_ACCEPTED: Final = "paste the person's profile link (linkedin.com/in/...)"
_COPY_AGAIN: Final = "copy the link again from the browser's address bar"
_SHOWN_LIMIT: Final = 80
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_AUTHORITY_END: Final = re.compile(r"[/?#]")
# A host name as written, international ones included; `.`-separated labels.
_HOST: Final = re.compile(r"[\w-]+(?:\.[\w-]+)*\.?")
# Without a scheme, text is taken for a link only when it ends in a name like `.com`.
_BARE_HOST: Final = re.compile(r"[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\.?")
_QUERY: Final = re.compile(r"[?#]")
_PORT: Final = re.compile(r"\d*")
_LINKEDIN: Final = re.compile(r"(?:[a-z0-9-]+\.)*linkedin\.com\.?")
_SHORT_LINK: Final = re.compile(r"(?:[a-z0-9-]+\.)*lnkd\.in\.?")
_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_KEPT: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
# What the first path segment of a LinkedIn link that is not a profile points at.
_NOT_PROFILES: Final = {
    "company": "a company page",
    "showcase": "a company page",
    "school": "a school page",
    "search": "a LinkedIn search",
    "posts": "a LinkedIn post",
    "feed": "a LinkedIn feed link",
    "pulse": "a LinkedIn article",
    "jobs": "a LinkedIn job link",
    "groups": "a LinkedIn group",
    "events": "a LinkedIn event",
    "newsletters": "a LinkedIn newsletter",
}
# A slug never ends so: the punctuation of the sentence the link was copied from.
_SENTENCE_ENDS: Final = frozenset(".,;:!")
_NAMED: Final = {"\t": "a tab", "\n": "a line break", "\r": "a line break"}
_ESCAPES: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def canonical_profile_url(text: str) -> str:
    """`https://www.linkedin.com/in/<slug>` for a profile link as pasted in a cell.

    Raises `CellError` saying what kind of link `text` is and what to paste instead.
    """
    value = _trimmed(text)
    if value.startswith("<") and value.endswith(">"):
        value = _trimmed(value[1:-1])
    shown = _Shown(value)
    if not value:
        raise CellError(f"the cell holds no link; {_ACCEPTED}")
    plain = value.isascii() and value.isprintable()  # the usual case: nothing hidden
    if plain and " " not in value:
        common = _COMMON.fullmatch(value)
        if common is not None:  # what the long way below gives, in one match
            return PROFILE_PREFIX + common.group(1).lower()
    hidden = None if plain else next((c for c in value if _hidden(c)), None)
    if hidden is not None:
        raise CellError(f"{shown} holds {_name(hidden)}; delete it or {_COPY_AGAIN}")
    if " " in value:
        if "linkedin" in value.lower() or "lnkd.in" in value.lower():
            raise CellError(f"{shown} holds a space; paste the profile link alone")
        raise CellError(f"{shown} is not a link; {_ACCEPTED}")
    host, path = _host_and_path(shown, value)
    if _SHORT_LINK.fullmatch(host):
        raise CellError(
            f"{shown} is a LinkedIn short link; open it and paste the profile link it "
            "leads to (linkedin.com/in/...)"
        )
    if not _LINKEDIN.fullmatch(host):
        raise CellError(f"{shown} is a link to {host}, not to LinkedIn; {_ACCEPTED}")
    return PROFILE_PREFIX + _slug(shown, path)


class _Shown:
    """A link quoted for a message (`_show`), made only when a message is."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __format__(self, spec: str) -> str:
        return format(_show(self._value), spec)

    def __str__(self) -> str:
        return _show(self._value)


def _host_and_path(shown: _Shown, value: str) -> tuple[str, str]:
    """The host (lower-case when ASCII) and the rest (`/path?query#fragment`) of a link."""
    scheme = _SCHEME.match(value)
    rest = value[scheme.end() :] if scheme else value
    split = _AUTHORITY_END.search(rest)
    authority, path = (rest[: split.start()], rest[split.start() :]) if split else (rest, "")
    host, _, port = authority.partition(":")
    if not scheme and "@" in authority and not path:
        raise CellError(f"{shown} is an e-mail address, not a link; {_ACCEPTED}")
    # A user name (`linkedin.com@evil.io`) fails here too: `@` is no host character.
    if not (_HOST if scheme else _BARE_HOST).fullmatch(host) or not _PORT.fullmatch(port):
        raise CellError(f"{shown} is not a link; {_ACCEPTED}")
    if scheme and scheme.group(1).lower() not in ("http", "https"):
        raise CellError(f"{shown} is not a web (http or https) link; {_ACCEPTED}")
    # Only ASCII is lowered: `str.lower()` turns the Kelvin sign into `k`.
    return (host.lower() if host.isascii() else host), path


def _slug(shown: _Shown, path: str) -> str:
    """The canonical slug of a LinkedIn link's path (`/in/<slug>/...?...#...`)."""
    segments = _QUERY.split(path, maxsplit=1)[0].split("/")[1:] if path.startswith("/") else []
    first = segments[0].lower() if segments else ""
    if first != "in":
        raise CellError(_not_a_profile(shown, first))
    raw = segments[1] if len(segments) > 1 else ""
    if not raw:
        raise CellError(f"{shown} has no profile name after /in/; {_ACCEPTED}")
    if raw[-1] in _SENTENCE_ENDS:
        raise CellError(
            f'{shown} ends with "{raw[-1]}" after the profile name; paste the link alone, '
            "without the sentence's punctuation"
        )
    if _PERCENT.search(raw):
        raise CellError(f'{shown} holds a "%" not followed by two hex digits; {_COPY_AGAIN}')
    try:
        decoded = _percent_decoded(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise CellError(
            f"{shown} holds percent-encoded bytes that are not UTF-8 text; {_COPY_AGAIN}"
        ) from None
    if decoded.isascii() and decoded.isprintable():
        hidden = " " if " " in decoded else None
    else:
        hidden = next((c for c in decoded if _hidden(c) or c == " "), None)
    if hidden is not None:
        what = "a space" if hidden == " " else _name(hidden)
        raise CellError(f"{shown} holds {what}, percent-encoded; {_COPY_AGAIN}")
    if decoded.isascii():  # the usual case: nothing to normalise
        lowered = decoded.lower()
        if _PLAIN_SLUG.fullmatch(lowered):
            return lowered
    # NFC so that `u` + combining diaeresis and `ü` are one person; again after lower(),
    # which can leave a letter and its mark apart (`İ` -> `i` + U+0307).
    slug = unicodedata.normalize("NFC", unicodedata.normalize("NFC", decoded).lower()).encode(
        "utf-8"
    )
    return "".join(chr(byte) if byte in _KEPT else f"%{byte:02X}" for byte in slug)


# The links most cells hold, already in lower case where case does not matter: a plain
# slug (nothing percent-encoded, no sentence punctuation), then at most a `/` and a query
# or fragment. Printable ASCII without spaces only (see `canonical_profile_url`).
_COMMON: Final = re.compile(
    r"(?:https?://)?(?:[a-z0-9-]+\.)*linkedin\.com/in/([A-Za-z0-9_-]+)/?(?:[?#].*)?"
)
# A slug that is already canonical as it is: only what the encoding keeps.
_PLAIN_SLUG: Final = re.compile(r"[A-Za-z0-9_-]+")


def _not_a_profile(shown: _Shown, first: str) -> str:
    """Why a LinkedIn link whose path starts with `first` (not `in`) is refused."""
    if first == "pub":
        return (
            f"{shown} is an old-style public profile link (/pub/); open it and paste the "
            "person's current profile link (linkedin.com/in/...)"
        )
    if first == "sales":
        return (
            f"{shown} is a Sales Navigator link; open the person's public profile in "
            "LinkedIn and paste that link (linkedin.com/in/...)"
        )
    kind = _NOT_PROFILES.get(first)
    if kind is None:
        return f"{shown} is a LinkedIn link but not to a person's profile; {_ACCEPTED}"
    return f"{shown} is {kind}, not a person's profile; {_ACCEPTED}"


def _percent_decoded(raw: str) -> bytes:
    """`raw` as UTF-8 bytes with every `%XX` replaced by the byte it stands for."""
    parts = raw.split("%")
    decoded = bytearray(parts[0].encode("utf-8"))
    for part in parts[1:]:
        decoded.append(int(part[:2], 16))
        decoded += part[2:].encode("utf-8")
    return bytes(decoded)


def _hidden(char: str) -> bool:
    """True for a character a person cannot see (or tell from a space) in a cell."""
    category = unicodedata.category(char)
    return category in ("Cc", "Cf", "Cs", "Zl", "Zp") or (category == "Zs" and char != " ")


def _trimmed(text: str) -> str:
    """`text` without the whitespace and invisible characters around it."""
    if text.isascii() and text.isprintable():  # only spaces can be around it
        return text.strip(" ")
    start, end = 0, len(text)
    while start < end and (text[start] == " " or _hidden(text[start])):
        start += 1
    while end > start and (text[end - 1] == " " or _hidden(text[end - 1])):
        end -= 1
    return text[start:end]


def _name(char: str) -> str:
    """What a person should be told a hidden character is."""
    if char in _NAMED:
        return _NAMED[char]
    name = unicodedata.name(char, "")
    return f"a hidden character (U+{ord(char):04X}{' ' + name if name else ''})"


def _show(text: str) -> str:
    """`text` quoted for a message: hidden characters escaped, cut short if long."""
    escaped = "".join(
        _ESCAPES.get(c, f"\\u{ord(c):04x}") if _hidden(c) else c for c in text
    ).replace('"', '\\"')
    if len(escaped) > _SHOWN_LIMIT:
        escaped = escaped[: _SHOWN_LIMIT - 3] + "..."
    return f'"{escaped}"'
