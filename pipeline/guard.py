"""Formula-injection guard for text written to CSV and XLSX, and its exact inverse.

Excel runs a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula. `guard`
puts a `'` before such text (and before text that already starts with `'` followed by
such a start, so that the guard can always be told from the user's own `'`); `unguard`
takes exactly one off again. For every text `s`: `unguard(guard(s)) == s`.

CSV has no other way to say "text"; an xlsx cell does (an inline string is never run),
so results.xlsx writes the text as typed and marks `needs_guard` cells with the quote
prefix style instead (`pipeline.xlsx`).
"""

from __future__ import annotations

from typing import Final

FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
# First characters of the text `guard` may change: a cheap pre-check for whole columns.
RISKY_FIRST: Final = frozenset([*FORMULA_START, "'"])


def needs_guard(text: str) -> bool:
    """Whether `guard` changes `text` (Excel would run it, or it looks guarded already)."""
    return text.startswith(FORMULA_START) or (text.startswith("'") and needs_guard(text[1:]))


def guard(text: str) -> str:
    """Text Excel will show, never run."""
    return "'" + text if needs_guard(text) else text


def unguard(text: str) -> str:
    """The text `guard` was given."""
    return text[1:] if text.startswith("'") and needs_guard(text[1:]) else text
