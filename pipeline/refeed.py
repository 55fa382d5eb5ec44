"""A report fed back beside its sheet: its rows replace the rows they came from.

`failed.csv` (and `succeeded.csv`) carry each row's place in the sheet it was read from:
`_source` (the file name) and `_row`; the loader keeps them as `Table.origins`. When a
row fed back names a row of another input of the same run, that row is taken out and
the fed-back row stands in for it, so a fixed `failed.csv` runs beside the original
sheet without every row appearing twice. Chains work (a `failed.csv` of such a run,
fixed and fed back too, replaces the rows that replaced). Every replacement is a
`Replacement` and a warning naming both places; a row whose `_source` and `_row` name
no row of the run stays an ordinary row. Pure: tables in, tables out; nothing is
dropped without being named.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from pipeline.load import Table

# How many row numbers (or ranges of them) a warning lists before "and N more".
SHOWN_ROWS: Final = 10

# A row of the run: (position of its table in the run, row number).
_Place = tuple[int, int]


@dataclass(frozen=True)
class Replacement:
    """Rows of the fed-back file `source` standing in for rows of `original`.

    `pairs` are (row in `source`, row in `original` it replaces), in `source`'s order;
    two rows of `source` may name the same row of `original`.
    """

    source: Path
    original: Path
    pairs: tuple[tuple[int, int], ...]

    @property
    def replaced(self) -> tuple[int, ...]:
        """The rows of `original` taken out, in order, each once."""
        return tuple(sorted({there for _, there in self.pairs}))


@dataclass(frozen=True)
class Refed:
    """The run's tables with replaced rows taken out (a table whose every row was
    replaced is left out), what replaced what, and the warnings saying so."""

    tables: tuple[Table, ...]
    replacements: tuple[Replacement, ...]
    warnings: tuple[str, ...]


def replace_refed_rows(tables: Sequence[Table]) -> Refed:
    """Take out every row that a fed-back row of another input names; see the module."""
    # A fed-back file replaces rows of its own kind: a failed-prospects.csv the rows of
    # a workbook's `prospects` sheet, a failed.csv those of its campaign sheet.
    by_name: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, table in enumerate(tables):
        by_name[(table.source, table.kind)].append(index)
    rows = [frozenset(int(n) for n in table.frame.index.tolist()) for table in tables]
    edges: dict[_Place, _Place] = {}  # a fed-back row -> the row it came from
    absent: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    shared: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, table in enumerate(tables):
        for row, (name, number) in sorted(table.origins.items()):
            others = [other for other in by_name.get((name, table.kind), ()) if other != index]
            if len(others) > 1:
                shared[(index, name)].append(row)
            elif others and number in rows[others[0]]:
                edges[(index, row)] = (others[0], number)
            elif others:
                absent[(index, others[0])].append((row, number))

    used = _follow(edges)
    taken: dict[int, set[int]] = defaultdict(set)
    grouped: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for (index, row), (other, number) in used:
        taken[other].add(number)
        grouped[(index, other)].append((row, number))

    kept: list[Table] = []
    for index, table in enumerate(tables):
        gone = taken.get(index)
        if not gone:
            kept.append(table)
        elif len(gone) < len(table.frame):
            kept.append(_without(table, gone))

    replacements = tuple(
        Replacement(tables[index].path, tables[other].path, tuple(sorted(pairs)))
        for (index, other), pairs in grouped.items()
    )
    warnings = [
        _replaced_warning(tables[index], tables[other], pairs)
        for (index, other), pairs in grouped.items()
    ]
    warnings += [
        _absent_warning(tables[index], tables[other], pairs)
        for (index, other), pairs in absent.items()
    ]
    warnings += [
        _shared_warning(
            tables[index], name, [tables[i] for i in by_name[(name, tables[index].kind)]], numbers
        )
        for (index, name), numbers in shared.items()
    ]
    return Refed(tuple(kept), replacements, tuple(warnings))


def _follow(edges: dict[_Place, _Place]) -> list[tuple[_Place, _Place]]:
    """The replacements that stand: every edge on a chain from a row nobody replaces.

    A row replaced by a row that is itself replaced is gone too (the last fix stands).
    Rows that only name each other in a circle replace nothing: each of them would be
    taken out with none left to stand in, so they all stay.
    """
    named = set(edges.values())
    gone: set[_Place] = set()
    used: list[tuple[_Place, _Place]] = []
    for start in sorted(edges):
        if start in named:
            continue
        here = start
        while here in edges:
            there = edges[here]
            used.append((here, there))
            if there in gone:
                break
            gone.add(there)
            here = there
    return used


def _without(table: Table, gone: set[int]) -> Table:
    """`table` without the rows `gone` (and what the loader noted about them)."""
    return replace(
        table,
        frame=table.frame.drop(index=sorted(gone)),
        problems={row: items for row, items in table.problems.items() if row not in gone},
        origins={row: place for row, place in table.origins.items() if row not in gone},
    )


def _where(table: Table) -> str:
    return f"{table.source} [{table.sheet}]" if table.sheet else table.source


def row_list(numbers: Sequence[int], shown: int = SHOWN_ROWS) -> str:
    """`row 7`, `rows 2, 3`, `rows 2-4, 9, 12`; past `shown` pieces `... and 40 more`:
    distinct numbers in order, three or more in a row as a range."""
    ordered = sorted(set(numbers))
    runs: list[list[int]] = []
    for number in ordered:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    pieces: list[str] = []
    for run in runs:
        if len(run) >= 3:
            pieces.append(f"{run[0]}-{run[-1]}")
        else:
            pieces.extend(str(n) for n in run)
    noun = "row" if len(ordered) == 1 else "rows"
    if len(pieces) <= shown:
        return f"{noun} {', '.join(pieces)}"
    listed = _count(pieces[:shown])
    return f"{noun} {', '.join(pieces[:shown])} and {len(ordered) - listed} more"


def _count(pieces: Sequence[str]) -> int:
    total = 0
    for piece in pieces:
        first, _, last = piece.partition("-")
        total += int(last) - int(first) + 1 if last else 1
    return total


def _replaced_warning(by: Table, of: Table, pairs: Sequence[tuple[int, int]]) -> str:
    here = [row for row, _ in pairs]
    there = {number for _, number in pairs}
    verb, they = ("replaces", "it") if len(here) == 1 else ("replace", "they")
    came = "the row" if len(there) == 1 else "the rows"
    return (
        f"{_where(by)} {row_list(here)} {verb} {_where(of)} {row_list(list(there))} "
        f"({came} {they} came from, by _source and _row)"
    )


def _absent_warning(by: Table, of: Table, pairs: Sequence[tuple[int, int]]) -> str:
    here = [row for row, _ in pairs]
    there = [number for _, number in pairs]
    if len(here) == 1:
        rest = "that row is empty now; it is read as an ordinary row (it replaces nothing)"
    else:
        rest = "those rows are empty now; they are read as ordinary rows (they replace nothing)"
    return f"{_where(by)} {row_list(here)} came from {_where(of)} {row_list(there)}, but {rest}"


def _shared_warning(by: Table, name: str, namesakes: Sequence[Table], rows: list[int]) -> str:
    paths = ", ".join(str(t.path) for t in namesakes if t is not by)
    they = "it is read as an ordinary row" if len(rows) == 1 else "they are read as ordinary rows"
    return (
        f"{_where(by)} {row_list(rows)} came from {name}, but several inputs have that "
        f"name ({paths}); {they}"
    )


__all__ = ["Refed", "Replacement", "replace_refed_rows", "row_list"]
