"""The input files after reading: a copy of each kept with the reports, finished ones archived.

`keep_inputs(folder, tables)` writes every input's bytes exactly as they were read (what
a URL served included: the bytes summary.json's sha256 is of) into the report folder's
`inputs/`, under the names `copy_names` gives: bare, safe and unique, so two inputs with
the same name are both kept. `finished_files` says which local input files a run is done
with: every row of them read (none left out, at least one) and in a done status, counted
together with the files whose rows stand in for theirs (`pipeline.refeed`).
`archive_files` moves those into the archive folder one by one (`--archive DIR`, into
`DIR/<the run's report folder name>/`).

A move never replaces a file: the name is taken by creating it (`name-2`, `-3`... when
another file, perhaps of another run at this very moment, has it). Within a file system
the file is hard-linked to its new name, checked, and only then unlinked from its old
one. Across file systems (or where links are not allowed) the new name is created
exclusively, the file copied through a synced temporary file over it, and the copy read
back and checked before the original is removed; a disk that fills up halfway leaves
the input where it was and no half copy behind (a crash halfway leaves at worst an
empty file of the new name). The check is the sha256 of the bytes the run read, and
that the original is still the file moved: a file changed while it is moved stays where
it is, and the new name is taken away again (never when it has become the file's only
name). Nothing here raises for a file it cannot copy or move: each is a warning, and
the file stays where it is.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from pipeline.filenames import safe_name, unique_name
from pipeline.load import Table
from pipeline.model import DONE, Status
from pipeline.refeed import Replacement
from pipeline.report import atomic_write

__all__ = [
    "INPUTS",
    "Archived",
    "ChangedError",
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


# The errors of a hard link that the file system or its rules do not allow (no links on
# FAT or some network shares, fs.protected_hardlinks for a file of another owner): the
# file is copied instead.
_NO_LINK: Final = frozenset(
    {
        errno.EXDEV,
        errno.EPERM,
        errno.EACCES,
        errno.ENOTSUP,
        errno.EOPNOTSUPP,
        errno.ENOSYS,
        errno.EMLINK,
    }
)
# The most names `name-2`, `name-3`... tried for one file before giving up.
_NAMES: Final = 1000


@dataclass(frozen=True)
class Kept:
    """What `keep_inputs` could not write: the copies missing (their paths relative to
    the report folder, as `copy_names` gives them) and a warning for each."""

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
            with atomic_write(folder / relative, binary=True) as stream:
                stream.write(table.data)
        except OSError as exc:
            missing.add(relative)
            warnings.append(
                f"no copy of {table.source} in {folder / INPUTS}: {exc.strerror or exc}"
            )
    return Kept(frozenset(missing), tuple(warnings))


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
    for (rows of a kind this run does not report), that had rows left out when read
    (`Table.left_out`: hidden rows and --skip-hidden-rows) or no rows at all is never
    finished. URLs are never files to move.
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
    # A workbook may be two tables (its campaign rows, its prospects sheet): its rows are
    # counted together, and it is moved once.
    expected: Counter[Path] = Counter()
    for table in tables:
        expected[table.path] += len(table.frame)
        if table.left_out:
            unfinished.add(root(table.path))
    for path, rows in expected.items():
        if reported[str(path)] != rows - len(taken_out.get(path, ())) or not rows:
            unfinished.add(root(path))
    moved: dict[Path, Table] = {}
    for table in tables:
        if not table.url and root(table.path) not in unfinished:
            moved.setdefault(table.path, table)
    return list(moved.values())


def archive_files(files: Sequence[Table], folder: Path) -> Archived:
    """Move each file into `folder` (made if missing) by its bare name, made unique (see
    the module); a file that changed since it was read, or cannot be moved, stays with a
    warning."""
    moved: list[tuple[Path, Path]] = []
    warnings: list[str] = []
    if not files:
        return Archived()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        return Archived(
            warnings=tuple(f"{t.path} was not archived: {folder}: {reason}" for t in files)
        )
    for table in files:
        source = table.path
        try:
            target = move_file(source, folder, safe_name(source.name), table.sha256)
        except ChangedError:
            warnings.append(
                f"{source} was not archived: it changed after this run read it, so it "
                "may hold rows this run did not see"
            )
        except OSError as exc:
            warnings.append(f"{source} was not archived (it stays): {exc.strerror or exc}")
        else:
            moved.append((source, target))
    return Archived(tuple(moved), tuple(warnings))


class ChangedError(Exception):
    """The file to move is not the one the run read (its bytes, or the file itself)."""


def move_file(source: Path, folder: Path, name: str, sha256: str) -> Path:
    """Move `source` into `folder` as `name` (`name-2`, `name-3`... when taken) and
    return its new path; never replaces a file (see the module).

    Raises `ChangedError` when `source` does not hold the bytes whose sha256 is `sha256`,
    or was replaced while it was moved; `OSError` for what stopped the move. Either way
    `source` stays where it was and `folder` holds no new file.
    """
    for target in _names(folder, name):
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            return _copy_across(source, folder, name, sha256)
        try:
            if _sha256(target) != sha256 or not _same_file(source, target):
                raise ChangedError(source)
            _sync_folder(folder)
            source.unlink()
        except BaseException:
            _take_back(target, source, linked=True)
            raise
        _sync_folder(source.parent)
        return target
    raise FileExistsError(errno.EEXIST, f"{_NAMES} names like {name} are taken in {folder}")


def _copy_across(source: Path, folder: Path, name: str, sha256: str) -> Path:
    """`move_file` by copying: the new name created exclusively, the file copied through
    a synced temporary file over it, read back and checked, then `source` removed."""
    target = _take_name(folder, name)
    try:
        before = os.stat(source)
        with atomic_write(target, binary=True) as stream:
            copy_file(source, stream)
        with suppress(OSError):  # times and permission bits help, but are not the file
            shutil.copystat(source, target)
        _sync_folder(folder)
        if _sha256(target) != sha256 or not _unchanged(before, os.stat(source)):
            raise ChangedError(source)
        source.unlink()
    except BaseException:
        _take_back(target, source, linked=False)
        raise
    _sync_folder(source.parent)
    return target


def _take_back(target: Path, source: Path, *, linked: bool) -> None:
    """Remove the new name `target` of a move that did not finish, unless that could
    lose a file: only while `source` is still there (and, for a link, is still the file
    `target` names: not deleted or replaced meanwhile)."""
    with suppress(OSError):
        there = os.stat(source)
        if not linked or os.path.samestat(there, os.stat(target)):
            target.unlink()


def copy_file(source: Path, target: IO[bytes]) -> None:
    """Copy `source`'s bytes into the open stream `target`."""
    with source.open("rb") as reading:
        shutil.copyfileobj(reading, target, 1024 * 1024)


def _names(folder: Path, name: str) -> Iterable[Path]:
    """`folder / name`, then `name-2`, `name-3`..., up to `_NAMES` of them."""
    taken: list[str] = []
    for _ in range(_NAMES):
        candidate = unique_name(name, taken)
        taken.append(candidate)
        yield folder / candidate


def _take_name(folder: Path, name: str) -> Path:
    """The first of `_names` that did not exist, now created as an empty file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for target in _names(folder, name):
        try:
            os.close(os.open(target, flags, 0o666))
        except FileExistsError:
            continue
        return target
    raise FileExistsError(errno.EEXIST, f"{_NAMES} names like {name} are taken in {folder}")


def _same_file(source: Path, target: Path) -> bool:
    """Whether `source` is still the file linked as `target` (not replaced meanwhile,
    as an editor saving by renaming a new file over it does)."""
    return os.path.samestat(os.stat(source), os.stat(target))


def _unchanged(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether a file's status says it is the same file with the same content."""
    return os.path.samestat(before, after) and (before.st_size, before.st_mtime_ns) == (
        after.st_size,
        after.st_mtime_ns,
    )


def _sync_folder(folder: Path) -> None:
    """Make a new or removed name in `folder` durable (where the system allows syncing a
    folder)."""
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
