"""The input files after reading: a copy of each kept with the reports, finished ones archived.

`keep_inputs(folder, tables)` writes every input's bytes exactly as they were read (what
a URL served included: the bytes summary.json's sha256 is of) into the report folder's
`inputs/`, under the names `copy_names` gives: bare, safe and unique, so two inputs with
the same name are both kept. `finished_files` says which local input files a run is done
with: every row read from them is in a done status, counted together with the files
whose rows stand in for theirs (`pipeline.refeed`). `archive_files` moves those into the
archive folder one by one (`--archive DIR`, into `DIR/<run-id>/`). A move within a file
system is a rename; across file systems the file is copied to a temporary name beside
its target, synced, renamed, and only then removed, so a disk that fills up halfway
leaves the input where it was and no half copy behind. Nothing here raises for a file it
cannot copy or move: each is a warning, and the file stays where it is.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipeline.inputs import safe_name, unique_name
from pipeline.load import Table
from pipeline.model import DONE, Status
from pipeline.refeed import Replacement

__all__ = [
    "INPUTS",
    "Archived",
    "Kept",
    "archive_files",
    "copy_file",
    "copy_names",
    "finished_files",
    "keep_inputs",
    "move_file",
]

# The report folder's folder of input copies.
INPUTS: Final = "inputs"


@dataclass(frozen=True)
class Kept:
    """What `keep_inputs` wrote: per input (by `Table.path`) its copy's path relative to
    the report folder; the copies that could not be written, and a warning for each."""

    copies: dict[Path, str]
    missing: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Archived:
    """What `archive_files` did: (file, where it went) per file moved, and a warning for
    each file that stayed where it was."""

    moved: tuple[tuple[Path, Path], ...] = ()
    warnings: tuple[str, ...] = ()

    def as_json(self) -> list[dict[str, str]]:
        """summary.json's `archived`: `{"path", "to"}` per file moved."""
        return [{"path": str(source), "to": str(target)} for source, target in self.moved]


def copy_names(tables: Iterable[Table]) -> dict[Path, str]:
    """Per input (by `Table.path`) the path of its copy relative to the report folder,
    `inputs/<name>`: its file name made safe, `-2`, `-3`... added for a name taken."""
    names: dict[Path, str] = {}
    taken: list[str] = []
    for table in tables:
        if table.path in names:
            continue
        name = unique_name(safe_name(table.path.name), taken)
        taken.append(name)
        names[table.path] = f"{INPUTS}/{name}"
    return names


def keep_inputs(folder: Path, tables: Sequence[Table]) -> Kept:
    """Write a copy of each input's bytes into `folder/inputs/` (see the module); a copy
    that cannot be written is left out with a warning. An older copy of the same name
    there (a reused --out folder) is replaced."""
    copies = copy_names(tables)
    missing: set[str] = set()
    warnings: list[str] = []
    written: set[Path] = set()
    for table in tables:
        if table.path in written:
            continue
        written.add(table.path)
        relative = copies[table.path]
        try:
            (folder / INPUTS).mkdir(exist_ok=True)
            _write_durably(folder / relative, table.data)
        except OSError as exc:
            missing.add(relative)
            warnings.append(
                f"no copy of {table.source} in {folder / INPUTS}: {exc.strerror or exc}"
            )
    return Kept(copies, frozenset(missing), tuple(warnings))


def finished_files(
    tables: Sequence[Table],
    replacements: Sequence[Replacement],
    sources: Sequence[str],
    statuses: Sequence[Status],
) -> list[Table]:
    """The local input files whose rows are all done, in input order.

    `sources` and `statuses` are each result row's `Table.path` (as text) and status.
    A file and the files whose rows replace some of its rows (`replacements`) count as
    one: all are finished or none is. A file whose rows the results do not all account
    for (rows of a kind this run does not report) is never finished. URLs are never
    files to move.
    """
    parent = {table.path: table.path for table in tables}

    def root(path: Path) -> Path:
        while parent[path] != path:
            path = parent[path]
        return path

    taken_out: dict[Path, set[int]] = {}
    for replacement in replacements:
        if replacement.source in parent and replacement.original in parent:
            parent[root(replacement.source)] = root(replacement.original)
            taken_out.setdefault(replacement.original, set()).update(replacement.replaced)
    reported = Counter(sources)
    unfinished = {
        root(Path(source))
        for source, status in zip(sources, statuses, strict=True)
        if status not in DONE and Path(source) in parent
    }
    for table in tables:
        expected = len(table.frame) - len(taken_out.get(table.path, ()))
        if reported[str(table.path)] != expected:
            unfinished.add(root(table.path))
    return [table for table in tables if not table.url and root(table.path) not in unfinished]


def archive_files(files: Sequence[Table], folder: Path) -> Archived:
    """Move each file into `folder` (made if missing), by a bare, unique name; a file
    that changed since it was read, or cannot be moved, stays with a warning."""
    moved: list[tuple[Path, Path]] = []
    warnings: list[str] = []
    if not files:
        return Archived()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        taken = [entry.name for entry in folder.iterdir()]
    except OSError as exc:
        reason = exc.strerror or exc
        return Archived(
            warnings=tuple(f"{t.path} was not archived: {folder}: {reason}" for t in files)
        )
    for table in files:
        source = table.path
        try:
            if _sha256(source) != table.sha256:
                warnings.append(
                    f"{source} was not archived: it changed after this run read it, so it "
                    "may hold rows this run did not see"
                )
                continue
            name = unique_name(safe_name(source.name), taken)
            target = folder / name
            move_file(source, target)
        except OSError as exc:
            warnings.append(f"{source} was not archived (it stays): {exc.strerror or exc}")
            continue
        taken.append(name)
        moved.append((source, target))
    return Archived(tuple(moved), tuple(warnings))


def move_file(source: Path, target: Path) -> None:
    """Move `source` to `target` (a name not taken) without ever losing it.

    A rename when both are on one file system. Across file systems (EXDEV): copy to a
    temporary name in the target's folder, sync, rename to `target`, sync the folder,
    then remove `source`; on any failure before the rename the partial copy is removed
    and `source` is untouched. Raises `OSError` for what stopped it.
    """
    try:
        os.rename(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    temporary = _temporary(target)
    try:
        copy_file(source, temporary)
        with suppress(OSError):  # times and permission bits help, but are not the file
            shutil.copystat(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    try:
        source.unlink()
    except OSError as exc:
        raise OSError(
            exc.errno, f"copied to {target}, but the original could not be removed"
        ) from exc


def copy_file(source: Path, target: Path) -> None:
    """Copy `source`'s bytes into the existing file `target` and sync them to disk."""
    with source.open("rb") as reading, target.open("wb") as writing:
        shutil.copyfileobj(reading, writing, 1024 * 1024)
        writing.flush()
        os.fsync(writing.fileno())


def _write_durably(path: Path, data: bytes) -> None:
    """`path` holds `data`, whole or not at all (a temporary file, synced, renamed)."""
    temporary = _temporary(path)
    try:
        with temporary.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _temporary(path: Path) -> Path:
    """A new, empty, hidden file beside `path` (permissions as the umask gives)."""
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return candidate


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the system allows syncing a folder)."""
    with suppress(OSError, AttributeError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()
