"""Report folders: claimed before a run sends anything, gone when the run leaves nothing
in them, and the oldest pruned (`--keep-reports N`).

`ReportFolder.claim` makes the run's folder (`--out`, else a new `<reports>/<run-id>`,
suffixed `-2`, `-3`... when taken) and writes a probe file into it, so that a folder
that cannot be written stops the run before a request is made. `discard` takes away
what the claim made, when the run ends without writing a report there: stopped before
anything was done (exit 2, a locked ledger), or a run that changed nothing.

`prune_run_folders` keeps the newest N run folders of the reports root and deletes the
others. A run folder is a real folder (not a link) named like a run id
(`20261126T101500Z-stem`, maybe `-2`) that holds a `summary.json`; nothing else there is
ever touched: not the ledger and its lock and journal files, not a folder of another
name, not a run folder still being written (no summary.json yet), not `--out` folders.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipeline.errors import ConfigError

__all__ = ["Pruned", "ReportFolder", "is_run_folder_name", "prune_run_folders"]

# `20261126T101500Z-` + the input's stem (and a `-2` suffix, which the stem pattern takes).
_RUN_FOLDER: Final = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)-.+")
# The file every finished run folder holds (validate, run, dry run).
SUMMARY: Final = "summary.json"
_HINT: Final = "Choose another folder with --out."


def is_run_folder_name(name: str) -> bool:
    """Whether `name` is one this tool gives a run's report folder."""
    return _RUN_FOLDER.fullmatch(name) is not None


@dataclass(frozen=True)
class ReportFolder:
    """A run's report folder, made (or found, for `--out`) and known to be writable.

    `made` lists the folders the claim created, deepest first (the folder itself, then
    parents that did not exist); `given` says it came from `--out`.
    """

    path: Path
    made: tuple[Path, ...]
    given: bool

    @classmethod
    def claim(cls, out: Path | None, root: Path, identifier: str) -> ReportFolder:
        """`out` as given (made if missing), else a new folder `root/identifier`
        (`-2`, `-3`... when taken, also by a run at the same second); written to once.
        Raises `ConfigError` (nothing left behind) when it cannot be made or written."""
        if out is not None:
            missing = _missing(out)
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                _remove_empty(missing)
                raise _unwritable(out, exc) from None
            folder = cls(out, tuple(missing), given=True)
        else:
            folder = cls._new(root, identifier)
        folder._probe()
        return folder

    @classmethod
    def _new(cls, root: Path, identifier: str) -> ReportFolder:
        missing = _missing(root)
        suffix = 1
        while True:
            path = root / (identifier if suffix == 1 else f"{identifier}-{suffix}")
            try:
                root.mkdir(parents=True, exist_ok=True)
                path.mkdir()
            except FileExistsError:
                if not root.is_dir():
                    _remove_empty(missing)
                    raise _unwritable(path, FileExistsError(f"{root} is a file")) from None
                suffix += 1
                continue
            except OSError as exc:
                _remove_empty(missing)
                raise _unwritable(path, exc) from None
            return cls(path, (path, *missing), given=False)

    def _probe(self) -> None:
        """Write and delete a file, so that a folder made but not writable (a read-only
        file system, another owner) stops the run now rather than after sending."""
        try:
            with tempfile.TemporaryFile(dir=self.path):
                pass
        except OSError as exc:
            self.discard()
            raise _unwritable(self.path, exc) from None

    def discard(self) -> None:
        """Take away what `claim` made, for a run that wrote no report here. A folder
        this run made goes with whatever the run put in it (a copy of its inputs); a
        folder it found (`--out`) stays as it is. Never raises."""
        if self.made and self.made[0] == self.path:
            with suppress(OSError):
                shutil.rmtree(self.path)
        _remove_empty(self.made)


def _missing(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists() or path.is_symlink():
            break
        missing.append(path)
    return missing


def _remove_empty(folders: Iterable[Path]) -> None:
    """Remove each folder if it exists and is empty, deepest first."""
    for path in folders:
        with suppress(OSError):
            path.rmdir()


def _unwritable(folder: Path, error: OSError) -> ConfigError:
    reason = error.strerror or str(error)
    return ConfigError(f"cannot write the reports into {folder}: {reason}", hint=_HINT)


@dataclass(frozen=True)
class Pruned:
    """What `prune_run_folders` did: the folders it deleted (names, oldest first) and,
    for each it could not delete, `name: reason`."""

    removed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


def prune_run_folders(root: Path, keep: int, *, spare: Iterable[Path] = ()) -> Pruned:
    """Delete the run folders of `root` (see the module docstring) but the newest `keep`.

    Newest by when its summary.json was written (the run that finished last, which may
    have started before another: a long run's fresh reports are never the oldest), then
    by the time in its name. Folders in `spare` (this run's, `--out`) are never deleted;
    one that is a run folder of `root` counts as one of the `keep`. Never raises for a
    folder it cannot read or delete: that one is listed in `failed`.
    """
    if keep < 1:
        raise ValueError(f"keep = {keep!r}: at least this run's folder is kept")
    spared = {_identity(path) for path in spare}
    found: list[tuple[int, str, str, Path]] = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return Pruned()
    except OSError as exc:
        return Pruned(failed=(f"{root}: {exc.strerror or exc}",))
    for entry in entries:
        match = _RUN_FOLDER.fullmatch(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            written = os.stat(os.path.join(entry.path, SUMMARY), follow_symlinks=False)
        except OSError:  # being written, or not a folder of ours
            continue
        found.append((written.st_mtime_ns, match["stamp"], entry.name, Path(entry.path)))
    found.sort()
    removed: list[str] = []
    failed: list[str] = []
    for _, _, name, path in found[: max(len(found) - keep, 0)]:
        if _identity(path) in spared:
            continue
        try:
            shutil.rmtree(path)
        except OSError as exc:
            failed.append(f"{name}: {exc.strerror or exc}")
        else:
            removed.append(name)
    return Pruned(tuple(removed), tuple(failed))


def _identity(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
