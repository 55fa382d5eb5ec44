"""Inputs kept and archived: every run keeps a byte-identical copy of each input in the
report's inputs/ (with its sha256 in summary.json); `--archive DIR` moves the files whose
rows are all done and were all read into DIR/<run-id>/, leaves the others, and never
loses a file: a move across file systems that fails halfway (a full disk) leaves the
source as it was and no half copy behind, a move never replaces an archived file, a
file changed while it is moved stays, and the archive is never among the reports."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import httpx
import openpyxl
import pytest
from starlette.applications import Starlette

from pipeline import archive
from pipeline.archive import archive_files, finished_files, keep_inputs
from pipeline.errors import ConfigError
from pipeline.load import Table, load
from pipeline.model import Status
from pipeline.refeed import Replacement
from pipeline.run import RunResult, run_files, validate_files
from pipeline.settings import Options
from pipeline.template import EXAMPLE_ROWS, write_template
from tests.fakes import FakeTiming
from tests.helpers import SettingsFor, invoke, table

RUN_ID = "20240501T120000Z-done"  # FakeTiming's start + the first input's stem
INVALID = {**EXAMPLE_ROWS[0], "campaign_key": "bad", "min_post_likes": "lots"}


def sheet(path: Path, rows: Sequence[dict[str, str]] | None = None) -> Path:
    """A campaigns CSV at `path` (the example rows, each key made unique to the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    made = rows or [
        {**row, "campaign_key": f"{path.parent.name}-{path.stem}-{n}"}
        for n, row in enumerate(EXAMPLE_ROWS)
    ]
    return write_template(path, rows=made)


def run(
    tmp_path: Path,
    app: Starlette,
    settings_for: SettingsFor,
    *paths: Path,
    out: str = "out",
    **settings: Any,
) -> RunResult:
    """`run_files` on the in-process sandbox, archiving into tmp_path/archive."""
    return run_files(
        Options(paths=paths, out=tmp_path / out),
        settings_for(archive=tmp_path / "archive", **settings),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )


def files_under(folder: Path) -> list[str]:
    """Every file under `folder`, relative, sorted (hidden temporary files included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_finished_files_move_and_files_that_need_a_person_stay(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A file whose rows are all created moves into archive/<run-id>/; a file with an
    invalid row stays; summary.json lists what moved; the exit code is the rows'."""
    done = sheet(tmp_path / "in" / "done.csv")
    todo = sheet(tmp_path / "in" / "todo.csv", [{**EXAMPLE_ROWS[1], "campaign_key": "t"}, INVALID])
    before = done.read_bytes()

    result = run(tmp_path, app, settings_for, done, todo)

    target = tmp_path / "archive" / RUN_ID / "done.csv"
    assert result.exit_code == 1
    assert not done.exists() and target.read_bytes() == before
    assert todo.exists()
    assert result.summary["archived"] == [{"path": str(done), "to": str(target)}]
    written = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert written["archived"] == result.summary["archived"]
    assert files_under(tmp_path / "archive") == [f"{RUN_ID}/done.csv"]


def test_files_of_a_folder_move_one_by_one_and_namesakes_are_both_kept(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A folder input's finished files move each on its own (the folder stays); two
    finished files of one name from two folders are both archived, under two names."""
    folder = tmp_path / "drop"
    a = sheet(folder / "a.csv")
    b = sheet(folder / "b.csv", [{**EXAMPLE_ROWS[0], "campaign_key": "b0"}, INVALID])
    other = sheet(tmp_path / "other" / "a.csv")

    result = run(tmp_path, app, settings_for, folder, other)

    run_folder = tmp_path / "archive" / result.summary["run_id"]
    assert sorted(p.name for p in run_folder.iterdir()) == ["a-2.csv", "a.csv"]
    assert not a.exists() and not other.exists() and b.exists() and folder.is_dir()
    assert [entry["path"] for entry in result.summary["archived"]] == [str(a), str(other)]


def test_a_dry_run_and_a_run_without_archive_move_nothing(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """Nothing moves in a dry run (would_create is done, but nothing was made), nor
    without --archive; `archived` is empty."""
    done = sheet(tmp_path / "in" / "done.csv")

    dry = run(tmp_path, app, settings_for, done, out="dry", dry_run=True)
    plain = run_files(
        Options(paths=(done,), out=tmp_path / "plain"),
        settings_for(),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )

    assert dry.exit_code == plain.exit_code == 0
    assert dry.summary["archived"] == plain.summary["archived"] == []
    assert done.exists() and not (tmp_path / "archive").exists()


def cross_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every link of a file into another folder fail as across file systems."""
    real = os.link

    def link(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        if Path(source).parent != Path(target).parent:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "link", link)


def test_a_move_across_file_systems_copies_syncs_then_removes(
    tmp_path: Path,
    app: Starlette,
    settings_for: SettingsFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When a link cannot cross file systems, the file is copied whole, then the
    source removed: the archive holds the same bytes and no temporary file."""
    cross_device(monkeypatch)
    done = sheet(tmp_path / "in" / "done.csv")
    before = done.read_bytes()
    copied: list[Path] = []
    real_copy = archive.copy_file

    def copy(source: Path, target: IO[bytes]) -> None:
        assert source.exists()  # the source is still there while it is copied
        copied.append(source)
        real_copy(source, target)

    monkeypatch.setattr(archive, "copy_file", copy)

    result = run(tmp_path, app, settings_for, done)

    assert copied == [done]
    assert not done.exists()
    assert files_under(tmp_path / "archive") == [f"{RUN_ID}/done.csv"]
    assert (tmp_path / "archive" / RUN_ID / "done.csv").read_bytes() == before
    assert result.exit_code == 0 and result.warnings == ()


def test_a_file_system_without_links_gets_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where hard links are not allowed (EPERM: FAT, a share, a file of another owner),
    the file is copied and checked, then the original removed."""
    path = sheet(tmp_path / "in" / "done.csv")
    before = path.read_bytes()
    [read] = load([path])

    def no_link(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_link)

    done = archive_files([read], tmp_path / "archive" / "run")

    assert done.warnings == () and not path.exists()
    assert (tmp_path / "archive" / "run" / "done.csv").read_bytes() == before
    assert files_under(tmp_path / "archive") == ["run/done.csv"]


def half_then_full(source: Path, target: IO[bytes]) -> None:
    """A copy that writes half the file, then finds the disk full."""
    data = source.read_bytes()
    target.write(data[: len(data) // 2])
    target.flush()
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_halfway_through_a_move_loses_nothing(
    tmp_path: Path,
    app: Starlette,
    settings_for: SettingsFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy across file systems that fails halfway (ENOSPC): the source stays as it
    was, the half copy is removed, a warning says so, and the exit code is the rows'."""
    cross_device(monkeypatch)
    monkeypatch.setattr(archive, "copy_file", half_then_full)
    done = sheet(tmp_path / "in" / "done.csv")
    before = done.read_bytes()

    result = run(tmp_path, app, settings_for, done)

    assert done.read_bytes() == before
    assert files_under(tmp_path / "archive") == []
    assert result.exit_code == 0
    assert result.summary["archived"] == []
    [warning] = [w for w in result.warnings if "archived" in w]
    assert warning == f"{done} was not archived (it stays): {os.strerror(errno.ENOSPC)}"
    assert warning in result.summary["warnings"]


def test_a_file_changed_after_it_was_read_is_not_archived(tmp_path: Path) -> None:
    """A file edited while the run went (it may hold rows the run never saw) stays."""
    path = sheet(tmp_path / "in" / "done.csv")
    [read] = load([path])
    path.write_bytes(path.read_bytes() + b"new,row\r\n")

    done = archive_files([read], tmp_path / "archive" / "run")

    assert done.moved == ()
    assert done.warnings == (
        f"{path} was not archived: it changed after this run read it, so it may hold rows "
        "this run did not see",
    )
    assert path.exists()


def test_a_move_that_cannot_happen_is_a_warning(tmp_path: Path) -> None:
    """An archive folder that cannot be made: every file stays, one warning each."""
    path = sheet(tmp_path / "in" / "done.csv")
    [read] = load([path])
    blocker = tmp_path / "archive"
    blocker.write_text("a file where the archive folder should be", encoding="utf-8")

    done = archive_files([read], blocker / "run")

    assert done.moved == () and path.exists()
    assert [w.split(":")[0] for w in done.warnings] == [f"{path} was not archived"]


def rows_of(*sizes: tuple[str, int]) -> list[Any]:
    return [
        table([{"campaign_name": str(n)} for n in range(count)], name=name) for name, count in sizes
    ]


@pytest.mark.parametrize(
    ("statuses", "replacements", "finished"),
    [
        ({"a.csv": [Status.CREATED] * 2, "b.csv": [Status.INVALID]}, [], ["a.csv"]),
        ({"a.csv": [Status.CREATED, Status.NOT_SENT], "b.csv": [Status.UPDATED]}, [], ["b.csv"]),
        # b.csv's row stands in for a.csv's row 3: the two are done together, or not at all.
        (
            {"a.csv": [Status.CREATED], "b.csv": [Status.INVALID]},
            [Replacement(Path("b.csv"), Path("a.csv"), ((2, 3),))],
            [],
        ),
        (
            {"a.csv": [Status.CREATED], "b.csv": [Status.CREATED]},
            [Replacement(Path("b.csv"), Path("a.csv"), ((2, 3),))],
            ["a.csv", "b.csv"],
        ),
        # A row the results do not account for (a.csv has 2, 1 reported): not finished.
        ({"a.csv": [Status.CREATED], "b.csv": [Status.CREATED]}, [], ["b.csv"]),
    ],
    ids=["invalid-stays", "not-sent-stays", "replaced-stays-together", "replaced-done", "unseen"],
)
def test_which_files_are_finished(
    statuses: dict[str, list[Status]], replacements: list[Replacement], finished: list[str]
) -> None:
    """A file is finished when every row read from it, and from files whose rows stand
    in for its rows, is done, and the results account for each of its rows."""
    tables = rows_of(("a.csv", 2), ("b.csv", 1))
    sources = [name for name, found in statuses.items() for _ in found]
    found = [status for group in statuses.values() for status in group]

    done = finished_files(tables, replacements, sources, found)

    assert [t.path.name for t in done] == finished


def test_a_downloaded_input_is_never_a_file_to_move() -> None:
    """A URL's table is finished or not, but never moved: it has no file."""
    [url] = rows_of(("export.csv", 1))
    url = replace(url, url="https://example.com/export")
    assert finished_files([url], [], ["export.csv"], [Status.CREATED]) == []


def test_validate_keeps_a_byte_identical_copy_of_every_input(tmp_path: Path) -> None:
    """validate copies each input as read into inputs/; summary.json names each copy
    with the sha256 of its bytes; two inputs of one name are both kept."""
    first = sheet(tmp_path / "a" / "plan.csv")
    second = sheet(tmp_path / "b" / "plan.csv")
    out = tmp_path / "out"

    result = validate_files(Options(paths=(first, second), out=out))

    entries = result.summary["inputs"]
    assert [e["copy"] for e in entries] == ["inputs/plan.csv", "inputs/plan-2.csv"]
    for entry, source in zip(entries, (first, second), strict=True):
        kept = (out / entry["copy"]).read_bytes()
        assert kept == source.read_bytes()
        assert entry["sha256"] == hashlib.sha256(kept).hexdigest()
    assert files_under(out / "inputs") == ["plan-2.csv", "plan.csv"]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_every_run_keeps_its_inputs(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor, dry_run: bool
) -> None:
    """A run, dry or not, keeps each input in inputs/ with its sha256 in summary.json,
    even when the file is archived afterwards."""
    done = sheet(tmp_path / "in" / "done.csv")
    before = done.read_bytes()

    result = run(tmp_path, app, settings_for, done, dry_run=dry_run)

    [entry] = result.summary["inputs"]
    assert (tmp_path / "out" / "inputs" / "done.csv").read_bytes() == before
    assert entry["copy"] == "inputs/done.csv"
    assert entry["sha256"] == hashlib.sha256(before).hexdigest()
    assert done.exists() is dry_run


def test_a_copy_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    """inputs/ that cannot be made: the reports are still written, the summary says the
    copy is missing (null) and why."""
    path = sheet(tmp_path / "in" / "done.csv")
    out = tmp_path / "out"
    out.mkdir()
    (out / "inputs").write_text("in the way", encoding="utf-8")

    result = validate_files(Options(paths=(path,), out=out))

    assert result.exit_code == 0
    assert result.summary["inputs"][0]["copy"] is None
    [warning] = result.warnings
    assert warning.startswith(f"no copy of done.csv in {out / 'inputs'}: ")
    assert (out / "results.csv").exists()


def test_keep_inputs_writes_durably_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A copy replaces an older one of the same name whole; no temporary file stays."""
    path = sheet(tmp_path / "in" / "done.csv")
    [read] = load([path])
    (tmp_path / "out" / "inputs").mkdir(parents=True)
    (tmp_path / "out" / "inputs" / "done.csv").write_text("older", encoding="utf-8")

    kept = keep_inputs(tmp_path / "out", [read])

    assert kept.missing == frozenset() and kept.warnings == ()
    assert files_under(tmp_path / "out") == ["inputs/done.csv"]
    assert (tmp_path / "out" / "inputs" / "done.csv").read_bytes() == path.read_bytes()


@pytest.mark.slow
def test_the_closing_line_says_what_was_archived(tmp_path: Path) -> None:
    """`run --archive DIR` (here from CAMPAIGNS_RUN_ARCHIVE) ends `Archived 1 file to
    DIR/<run-id>.` and moves the file there."""
    done = sheet(tmp_path / "in" / "done.csv")
    out = tmp_path / "out"
    state = tmp_path / "s.sqlite"

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAMPAIGNS_RUN_ARCHIVE", str(tmp_path / "archive"))
        result = invoke("run", done, "--sandbox", "--state", state, "--out", out)

    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    folder = tmp_path / "archive" / summary["run_id"]
    assert f"Archived 1 file to {folder}. Reports in {out}" in result.stdout
    assert (folder / "done.csv").exists() and not done.exists()


# --- the archive kept apart from the reports ----------------------------------------


@pytest.mark.parametrize(
    ("archive_at", "reports_at", "relation"),
    [
        ("reports", "reports", "is"),
        ("reports/done", "reports", "is inside"),
        ("all", "all/r", "holds"),
    ],
    ids=["same", "inside", "holds"],
)
def test_an_archive_folder_among_the_reports_is_refused(
    tmp_path: Path,
    app: Starlette,
    settings_for: SettingsFor,
    archive_at: str,
    reports_at: str,
    relation: str,
) -> None:
    """An archive folder that is the reports folder, inside it or around it is a
    ConfigError before anything is read, sent or moved."""
    done = sheet(tmp_path / "in" / "done.csv")
    archive_folder, root = tmp_path / archive_at, tmp_path / reports_at

    with pytest.raises(ConfigError) as refused:
        run_files(
            Options(paths=(done,), reports_root=root),
            settings_for(archive=archive_folder),
            transport=httpx.ASGITransport(app=app),
            timing=FakeTiming().timing,
        )

    assert str(refused.value) == (
        f"the archive folder {archive_folder} {relation} the reports folder {root}: "
        "archived files must stay apart from report folders, which are pruned"
    )
    assert done.exists() and not root.exists() and not archive_folder.exists()


@pytest.mark.slow
def test_archive_into_the_reports_with_keep_reports_is_refused_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --reports rep --archive rep --keep-reports 1` (which once let pruning delete
    the archived sheet) is exit 2 with one line, and the sheet stays where it is."""
    monkeypatch.chdir(tmp_path)
    one = sheet(tmp_path / "in" / "one.csv")
    before = one.read_bytes()

    result = invoke(
        "run", "--sandbox", one, "--reports", "rep", "--archive", "rep", "--keep-reports", "1"
    )

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == (
        "Error: the archive folder rep is the reports folder rep: archived files must stay "
        "apart from report folders, which are pruned"
    )
    assert one.read_bytes() == before
    assert [p.name for p in (tmp_path / "rep").glob("2*")] == []


# --- files whose rows were not all read stay --------------------------------------


def hidden_row_sheet(path: Path) -> Path:
    """A campaigns workbook of the example rows, row 3 hidden."""
    write_template(
        path, rows=[{**row, "campaign_key": f"h{n}"} for n, row in enumerate(EXAMPLE_ROWS)]
    )
    book = openpyxl.load_workbook(path)
    book.worksheets[0].row_dimensions[3].hidden = True
    book.save(path)
    return path


def test_a_file_with_hidden_rows_left_out_is_not_archived(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """--skip-hidden-rows leaves rows unread: the file stays, though every row read was
    created."""
    path = hidden_row_sheet(tmp_path / "in" / "hidden.xlsx")

    result = run_files(
        Options(paths=(path,), out=tmp_path / "out", skip_hidden_rows=True),
        settings_for(archive=tmp_path / "archive"),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )

    assert result.counts == {"created": len(EXAMPLE_ROWS) - 1} and result.exit_code == 0
    assert any("left out (--skip-hidden-rows)" in w for w in result.warnings)
    assert result.summary["archived"] == []
    assert path.exists() and not (tmp_path / "archive").exists()


def test_a_sheet_without_rows_is_not_archived(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A sheet of nothing but its header is never finished: it stays where it is."""
    empty = write_template(tmp_path / "in" / "empty.csv")

    result = run(tmp_path, app, settings_for, empty)

    assert result.total == 0
    assert result.summary["archived"] == []
    assert empty.exists() and not (tmp_path / "archive").exists()


# --- names never overwritten, changes never lost ---------------------------------


def rival_archives(folder: Path, rival: Table) -> Callable[[], None]:
    """A hook that, the first time it runs, archives `rival` into `folder` (another run
    taking the same name at that moment)."""
    started: list[bool] = []

    def hook() -> None:
        if not started:
            started.append(True)
            archive_files([rival], folder)

    return hook


@pytest.mark.parametrize("across", [False, True], ids=["one-file-system", "across"])
def test_two_archives_of_one_name_never_overwrite_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, across: bool
) -> None:
    """Another run archiving a file of the same name into the same folder while this
    one moves its own: both files are kept, under two names."""
    ours = sheet(tmp_path / "a" / "done.csv")
    theirs = sheet(tmp_path / "b" / "done.csv")
    ours_bytes, theirs_bytes = ours.read_bytes(), theirs.read_bytes()
    [read], [rival] = load([ours]), load([theirs])
    folder = tmp_path / "archive" / "run"
    hook = rival_archives(folder, rival)
    if across:
        cross_device(monkeypatch)
        real_copy = archive.copy_file

        def copy(source: Path, target: IO[bytes]) -> None:
            hook()
            real_copy(source, target)

        monkeypatch.setattr(archive, "copy_file", copy)
    else:
        real_link = os.link

        def link(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
            if Path(source) == ours:
                hook()
            real_link(source, target, *args, **kwargs)

        monkeypatch.setattr(os, "link", link)

    done = archive_files([read], folder)

    assert done.warnings == ()
    assert files_under(folder) == ["done-2.csv", "done.csv"]
    [(source, target)] = done.moved
    assert source == ours and target.read_bytes() == ours_bytes
    [rival_copy] = [path for path in folder.iterdir() if path != target]
    assert rival_copy.read_bytes() == theirs_bytes
    assert not ours.exists() and not theirs.exists()


@pytest.mark.parametrize("across", [False, True], ids=["one-file-system", "across"])
def test_a_file_changed_while_it_is_moved_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, across: bool
) -> None:
    """A file edited during the move itself (after the check before it) stays where it
    is with the edit, and the archive holds no copy of it."""
    path = sheet(tmp_path / "in" / "done.csv")
    [read] = load([path])
    folder = tmp_path / "archive" / "run"

    def edit() -> None:
        with path.open("ab") as stream:
            stream.write(b"new,row\r\n")

    if across:
        cross_device(monkeypatch)
        real_copy = archive.copy_file

        def copy(source: Path, target: IO[bytes]) -> None:
            edit()
            real_copy(source, target)

        monkeypatch.setattr(archive, "copy_file", copy)
    else:
        real_link = os.link

        def link(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
            real_link(source, target, *args, **kwargs)
            edit()

        monkeypatch.setattr(os, "link", link)

    done = archive_files([read], folder)

    assert done.moved == ()
    assert done.warnings == (
        f"{path} was not archived: it changed after this run read it, so it may hold rows "
        "this run did not see",
    )
    assert path.read_bytes().endswith(b"new,row\r\n")
    assert files_under(tmp_path / "archive") == []


def test_two_runs_of_one_second_archive_into_their_own_folders(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """The archive folder is named like the run's report folder: a second run of the
    same second and stem archives into `<run-id>-2`, as its reports go."""
    first = sheet(tmp_path / "a" / "done.csv")
    others = [
        {**row, "campaign_key": f"b-{n}", "campaign_name": f"{row['campaign_name']} (b)"}
        for n, row in enumerate(EXAMPLE_ROWS)
    ]
    second = sheet(tmp_path / "b" / "done.csv", others)
    root = tmp_path / "reports"

    results = [
        run_files(
            Options(paths=(path,), reports_root=root),
            settings_for(archive=tmp_path / "archive"),
            transport=httpx.ASGITransport(app=app),
            timing=FakeTiming().timing,
        )
        for path in (first, second)
    ]

    assert [r.folder.name for r in results] == [RUN_ID, f"{RUN_ID}-2"]
    assert files_under(tmp_path / "archive") == [f"{RUN_ID}-2/done.csv", f"{RUN_ID}/done.csv"]
