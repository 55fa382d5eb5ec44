"""File names made from text nobody checked: a server's header, a URL, a sheet's name.

`safe_name` turns any text into a bare, harmless file name (never a path); `unique_name`
numbers a name already taken in a folder. Pure and offline: archiving and keeping
inputs name their copies with these, and so do downloads (`pipeline.inputs`), without
importing what downloads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Final

__all__ = ["safe_name", "unique_name"]

# Characters no file name here may hold: control characters and what Windows refuses.
_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED: Final = re.compile(r"(con|prn|aux|nul|com\d|lpt\d)(\..*)?", re.IGNORECASE)
_LONGEST_NAME: Final = 100


def safe_name(name: str, *, fallback: str = "input") -> str:
    """A bare file name made from any text: the last part after any `/` or `\\`, without
    control characters or characters Windows refuses, not hidden, not a device name,
    at most 100 characters (the suffix kept); `fallback` when nothing is left."""
    base = _UNSAFE.sub("_", re.split(r"[\\/]", name)[-1]).strip(" .")
    if not base:
        return fallback
    if _RESERVED.fullmatch(base):
        base = f"_{base}"
    if len(base) > _LONGEST_NAME:
        suffix = PurePosixPath(base).suffix
        suffix = suffix if len(suffix) <= 10 else ""
        base = base[: _LONGEST_NAME - len(suffix)].rstrip(" .") + suffix
    return base


def unique_name(name: str, taken: Iterable[str]) -> str:
    """`name`, or `name-2`, `name-3`... (before the suffix) when `taken` holds it;
    compared ignoring case, as Windows and macOS folders do."""
    used = {t.casefold() for t in taken}
    if name.casefold() not in used:
        return name
    path = PurePosixPath(name)
    number = 2
    while f"{path.stem}-{number}{path.suffix}".casefold() in used:
        number += 1
    return f"{path.stem}-{number}{path.suffix}"
