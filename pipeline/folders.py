"""Report folders: claimed before a run sends anything, gone when the run leaves nothing
in them, and the oldest pruned (`--keep-reports N`).

`ReportFolder.claim` makes the run's folder (`--out`, else a new `<reports>/<run-id>`,
suffixed `-2`, `-3`... when taken) and writes a probe file into it, so that a folder
that cannot be written stops the run before a request is made. `discard` takes away
what the claim made, when the run ends without writing a report there: stopped before
anything was done (exit 2, a locked ledger), or a run that changed nothing. A
`<reports>/<run-id>` folder is this run's alone and goes whole; an `--out` folder (which
another run may share) goes only when it is empty.

`prune_run_folders` keeps, of each kind of run, the newest N run folders of the reports
root and prunes the others. The kinds are summary.json's `command` (`run`,
`run --dry-run`, `validate`), sandbox rehearsals (`base_url` "sandbox") counted apart
from real runs: a `validate` never prunes the last real run's reports. A run folder is
a real folder (not a link) directly in the reports root, named like a run id
(`20261126T101500Z-stem`, maybe `-2`), that holds a summary.json naming one of those
commands. Pruning one deletes what this tool writes there (the report files of
`pipeline.report.REPORT_FILES`, their leftover temporary files and `inputs/`),
summary.json last, then the folder only when nothing else is left in it; anything else
stays, and the folder with it. Nothing else is ever touched: not the ledger and its lock
and journal files, not a folder of another name, not a run folder still being written
(no summary.json yet), not this run's folder (also when `--out` names a run folder).
An `--out` folder elsewhere is never looked at; one given inside the reports root and
named like a run id is a run folder like any other to later runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipeline.archive import INPUTS
from pipeline.errors import ConfigError
from pipeline.report import REPORT_FILES, TEMPORARY

__all__ = ["Pruned", "ReportFolder", "prune_run_folders"]

# `20261126T101500Z-` + the input's stem (and a `-2` suffix, which the stem pattern takes).
_RUN_FOLDER: Final = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)-.+")
# The file every finished run folder holds (validate, run, dry run).
SUMMARY: Final = "summary.json"
# summary.json's `command` of each kind of run, and its `base_url` for a sandbox run.
COMMANDS: Final = frozenset({"run", "run --dry-run", "validate"})
_SANDBOX: Final = "sandbox"
_HINT: Final = "Choose another folder with --out."


@dataclass(frozen=True)
class ReportFolder:
    """A run's report folder, made (or found, for `--out`) and known to be writable.

    `made` lists the folders the claim created, deepest first (the folder itself, then
    parents that did not exist); `given` says it came from `--out`. `name` is what the
    run's archive folder is called: its folder's name (the run id, `-2`, `-3`... when
    taken, so no two runs of one reports root share it), or the run id for `--out`.
    """

    path: Path
    made: tuple[Path, ...]
    given: bool
    name: str

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
            folder = cls(out, tuple(missing), given=True, name=identifier)
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
            return cls(path, (path, *missing), given=False, name=path.name)

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
        """Take away what `claim` made, for a run that wrote no report here: its new
        `<reports>/<run-id>` folder with whatever is in it (no other run writes there),
        and the parents it made when they are empty. An `--out` folder, which other runs
        may write into too, goes only when it is empty and this claim made it. Never
        raises."""
        if not self.given:
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
    """What `prune_run_folders` did: the folders whose reports it deleted (names, oldest
    first); of those, each that stays because it holds more (name, what it holds); and,
    for each it could not prune, `name: reason`."""

    removed: tuple[str, ...] = ()
    left: tuple[tuple[str, tuple[str, ...]], ...] = ()
    failed: tuple[str, ...] = ()


def prune_run_folders(root: Path, keep: int, *, spare: Iterable[Path] = ()) -> Pruned:
    """Prune the run folders of `root` (see the module docstring) but the newest `keep`
    of each kind.

    Newest by when its summary.json was written (the run that finished last, which may
    have started before another: a long run's fresh reports are never the oldest), then
    by the time in its name. Folders in `spare` (this run's) are never pruned; one that
    is a run folder of `root` counts as one of the `keep` of its kind. Never raises for
    a folder it cannot read or prune: that one is listed in `failed`.
    """
    if keep < 1:
        raise ValueError(f"keep = {keep!r}: at least this run's folder is kept")
    spared = {_identity(path) for path in spare}
    kinds: defaultdict[str, list[tuple[int, str, str, Path]]] = defaultdict(list)
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
        summary = Path(entry.path, SUMMARY)
        try:
            written = os.stat(summary, follow_symlinks=False)
            kind = _kind(summary) if stat.S_ISREG(written.st_mode) else None
        except (OSError, ValueError):  # being written, or not a folder of ours
            continue
        if kind is not None:
            found = (written.st_mtime_ns, match["stamp"], entry.name, Path(entry.path))
            kinds[kind].append(found)
    old = sorted(
        folder
        for folders in kinds.values()
        for folder in sorted(folders)[: max(len(folders) - keep, 0)]
    )
    removed: list[str] = []
    left: list[tuple[str, tuple[str, ...]]] = []
    failed: list[str] = []
    for _, _, name, path in old:
        if _identity(path) in spared:
            continue
        try:
            others = _prune(path)
        except OSError as exc:
            failed.append(f"{name}: {exc.strerror or exc}")
            continue
        removed.append(name)
        if others:
            left.append((name, others))
    return Pruned(tuple(removed), tuple(left), tuple(failed))


def _kind(summary: Path) -> str | None:
    """The kind of run whose summary.json this is (see the module docstring); None for
    one that names no command of this tool. Raises `ValueError` for one that is not
    JSON, `OSError` for one that cannot be read."""
    with summary.open("rb") as stream:
        written = json.load(stream)
    if not isinstance(written, dict) or written.get("command") not in COMMANDS:
        return None
    sandbox = written.get("base_url") == _SANDBOX
    return f"{written['command']} ({_SANDBOX})" if sandbox else str(written["command"])


def _ours(entry: os.DirEntry[str]) -> bool:
    """Whether a run folder's `entry` is one this tool writes there: a report file (or
    a temporary one left by a crash) or the folder of input copies, never a link."""
    if entry.name == INPUTS:
        return entry.is_dir(follow_symlinks=False)
    temporary = TEMPORARY.fullmatch(entry.name)
    name = temporary["name"] if temporary else entry.name
    return name in REPORT_FILES and entry.is_file(follow_symlinks=False)


def _prune(folder: Path) -> tuple[str, ...]:
    """Delete what this tool wrote in the run folder `folder`, summary.json last (a
    folder left half pruned is found again next time), then the folder itself when
    nothing else is in it. Returns the names of what else is there (a folder's with a
    `/`), sorted; raises `OSError` for what could not be deleted."""
    others: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name == SUMMARY:
                continue
            if not _ours(entry):
                others.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
            elif entry.name == INPUTS:
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    os.unlink(folder / SUMMARY)
    if not others:
        folder.rmdir()
    return tuple(sorted(others))


def _identity(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
