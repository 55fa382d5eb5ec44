"""The report files as cron leaves them: folders kept only when they say something, old
ones pruned by `--keep-reports`, files readable as the umask allows, results.xlsx with
its column widths and formula-like text shown as typed."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from openpyxl import Workbook
from python_calamine import CalamineWorkbook
from starlette.applications import Starlette

from pipeline.archive import INPUTS
from pipeline.cli import closing_line
from pipeline.errors import InputError, LockedError, ReportError
from pipeline.folders import Pruned, ReportFolder, prune_run_folders
from pipeline.report import (
    PROSPECT_FILES,
    REPORT_FILES,
    RESULT_COLUMNS,
    RESULT_WIDTHS,
    atomic_write,
)
from pipeline.run import RunResult, run_files, validate_files
from pipeline.settings import Options
from pipeline.status import backup_ledger, export_ledger
from pipeline.template import EXAMPLE_ROWS, write_template
from pipeline.xlsx import save_with_rows
from tests.fakes import FakeTiming
from tests.helpers import (
    PROSPECTS_ROW,
    SettingsFor,
    invoke,
    ledger_at,
    rows_csv,
    write_csv,
)

NOON = dt.datetime(2026, 11, 26, 10, 15, tzinfo=dt.UTC)
ROWS = EXAMPLE_ROWS[:2]


@pytest.fixture
def umask() -> Iterator[Any]:
    """`umask(mask)` sets the process umask for the test; the old one comes back after."""
    old = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sheet(tmp_path: Path, rows: Any = ROWS, name: str = "plan.csv") -> Path:
    return write_template(tmp_path / name, rows=rows)


def run_once(
    app: Starlette,
    settings_for: SettingsFor,
    paths: list[Path],
    *,
    at: dt.datetime = NOON,
    **options: Any,
) -> RunResult:
    """`campaigns run` in-process against the sandbox, its clock starting at `at`."""
    return run_files(
        Options(paths=tuple(paths), **options),
        settings_for(),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming(start=at).timing,
    )


def run_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir())


# --- a run that changed nothing keeps no folder ------------------------------------


def test_a_run_that_changed_nothing_keeps_no_report_folder(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """Every row already_created and no request: no folder, and the closing line says so."""
    path, root = sheet(tmp_path), tmp_path / "reports"
    first = run_once(app, settings_for, [path], reports_root=root)
    again = run_once(app, settings_for, [path], reports_root=root, at=NOON.replace(hour=11))

    assert first.reports_kept and (first.folder / "results.csv").is_file()
    assert again.counts == {"already_created": 2}
    assert again.exit_code == 0
    assert not again.reports_kept
    assert not again.folder.exists()
    assert run_folders(root) == [first.folder.name]
    assert closing_line(again) == "2 rows: 2 already_created. Nothing changed; no report kept."


def test_a_run_that_changed_nothing_keeps_its_reports_with_out(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """--out asks for the reports: they are written even when nothing changed."""
    path = sheet(tmp_path)
    run_once(app, settings_for, [path], out=tmp_path / "a")
    again = run_once(app, settings_for, [path], out=tmp_path / "b")

    assert again.reports_kept
    assert (tmp_path / "b" / "results.csv").is_file()
    assert closing_line(again).endswith(f"Reports in {tmp_path / 'b'}")


def test_a_dry_run_that_would_change_nothing_keeps_its_reports(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A dry run is a question asked: its answer is kept, even when it is "nothing"."""
    path, root = sheet(tmp_path), tmp_path / "reports"
    run_once(app, settings_for, [path], reports_root=root)
    dry = run_files(
        Options(paths=(path,), reports_root=root),
        settings_for(dry_run=True),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming(start=NOON.replace(hour=11)).timing,
    )

    assert dry.counts == {"already_created": 2}
    assert dry.reports_kept
    assert (dry.folder / "payloads.jsonl").is_file()


def test_a_row_with_a_note_keeps_the_report(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A created row that sends nothing but carries a note (created without a
    campaign_key, given one since) is news: the report that says it is kept."""
    root = tmp_path / "reports"
    unkeyed = [dict(row, campaign_key="") for row in ROWS]
    run_once(app, settings_for, [sheet(tmp_path, unkeyed)], reports_root=root)
    again = run_once(
        app, settings_for, [sheet(tmp_path)], reports_root=root, at=NOON.replace(hour=11)
    )

    assert again.counts == {"already_created": 2}
    assert again.summary["requests"] == 0
    assert again.reports_kept
    assert "without a campaign_key" in (again.folder / "results.csv").read_text("utf-8-sig")


def test_a_locked_ledger_leaves_no_empty_folder(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A run refused by the lock (exit 2) leaves neither its run folder nor an --out
    folder (and the parents) it had to make."""
    path, root = sheet(tmp_path), tmp_path / "reports"
    with ledger_at(tmp_path / "state.sqlite"), pytest.raises(LockedError):
        run_once(app, settings_for, [path], reports_root=root)
    with ledger_at(tmp_path / "state.sqlite"), pytest.raises(LockedError):
        run_once(app, settings_for, [path], out=tmp_path / "new" / "deeper" / "out")

    assert not root.exists()
    assert not (tmp_path / "new").exists()


def test_a_locked_ledger_leaves_an_existing_out_folder_alone(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """An --out folder that was there before the run stays, with what it held."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me", encoding="utf-8")
    with ledger_at(tmp_path / "state.sqlite"), pytest.raises(LockedError):
        run_once(app, settings_for, [sheet(tmp_path)], out=out)

    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_a_sheet_that_cannot_be_read_leaves_no_folder(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """A bad header (exit 2) stops the run before any folder is made."""
    path = write_csv(tmp_path / "bad.csv", ["campaing_nmae"], [["x"]])
    root = tmp_path / "reports"
    with pytest.raises(InputError):
        run_once(app, settings_for, [path], reports_root=root)

    assert not root.exists()


def test_a_run_interrupted_before_the_reports_leaves_no_folder(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped at once (a third Ctrl-C) before any report was written: no empty folder."""
    import pipeline.execute

    async def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.execute, "execute", interrupted)
    root = tmp_path / "reports"
    with pytest.raises(KeyboardInterrupt):
        run_once(app, settings_for, [sheet(tmp_path)], reports_root=root)

    assert not root.exists()


def test_reports_that_failed_halfway_are_kept(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the reports are being written, the folder stays whatever happens next: a
    report file that could be written is never taken away."""
    import pipeline.report

    def no_room(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline.report, "_write_xlsx", no_room)
    root = tmp_path / "reports"
    with pytest.raises(ReportError, match=r"results\.xlsx missing"):
        run_once(app, settings_for, [sheet(tmp_path)], reports_root=root)

    (folder,) = root.glob("2026*")
    assert (folder / "results.csv").is_file()
    assert not (folder / "results.xlsx").exists()


def test_a_new_run_folder_never_reuses_a_taken_name(tmp_path: Path) -> None:
    """A folder of that name (even an empty one) is never written into: `-2`, `-3`..."""
    (tmp_path / "20261126T101500Z-plan").mkdir()
    (tmp_path / "20261126T101500Z-plan-2").write_text("a file", encoding="utf-8")

    claimed = ReportFolder.claim(None, tmp_path, "20261126T101500Z-plan")

    assert claimed.path == tmp_path / "20261126T101500Z-plan-3"
    assert claimed.path.is_dir()
    claimed.discard()
    assert not claimed.path.exists()
    assert (tmp_path / "20261126T101500Z-plan").is_dir()


# --- --keep-reports ----------------------------------------------------------------


def old_run(root: Path, name: str, age: int, command: str = "validate", base_url: str = "") -> Path:
    """A finished run folder of `root` (of `command`, against `base_url` when given), its
    summary.json written `age` hours ago."""
    folder = root / name
    folder.mkdir(parents=True)
    summary = folder / "summary.json"
    written = {"command": command, **({"base_url": base_url} if base_url else {})}
    summary.write_text(json.dumps(written), encoding="utf-8")
    (folder / "results.csv").write_text("", encoding="utf-8")
    when = time.time() - age * 3600
    os.utime(summary, (when, when))
    return folder


def test_keep_reports_keeps_the_newest_run_folders_and_nothing_else_goes(
    tmp_path: Path,
) -> None:
    """validate --keep-reports 2: this run's folder and the newest other one stay; the
    ledger, its lock and WAL, other files and folders, an unfinished run folder and a
    link named like a run folder are not touched; summary.json names what went."""
    root = tmp_path / "reports"
    old_run(root, "20261120T080000Z-plan", 40)
    old_run(root, "20261125T080000Z-plan", 30)
    old_run(root, "20261125T080000Z-plan-2", 20)
    newest = old_run(root, "20261126T090000Z-other", 10)
    untouched = {
        "state.sqlite": "ledger",
        "state.sqlite.lock": "",
        "state.sqlite-wal": "",
        "20261101T000000Z-file": "a file named like a run",
        "notes.txt": "mine",
    }
    for name, text in untouched.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "2026-archive").mkdir()
    (root / "20261101T000000Z-unfinished").mkdir()  # being written: no summary.json yet
    elsewhere = old_run(tmp_path, "20261102T000000Z-elsewhere", 50)
    (root / "20261102T000000Z-link").symlink_to(elsewhere, target_is_directory=True)

    result = validate_files(
        Options(paths=(sheet(tmp_path),), reports_root=root, keep_reports=2),
        timing=FakeTiming(start=NOON).timing,
    )

    pruned = ["20261120T080000Z-plan", "20261125T080000Z-plan", "20261125T080000Z-plan-2"]
    assert result.summary["pruned"] == pruned
    summary = json.loads((result.folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["pruned"] == pruned
    assert run_folders(root) == sorted(
        [
            "2026-archive",
            "20261101T000000Z-unfinished",
            "20261102T000000Z-link",
            newest.name,
            result.folder.name,
        ]
    )
    for name, text in untouched.items():
        assert (root / name).read_text(encoding="utf-8") == text
    assert (elsewhere / "summary.json").is_file()


def test_the_newest_run_folders_are_those_written_last(tmp_path: Path) -> None:
    """Newest is the run that finished last: a long run that started before the others
    but wrote its reports after them is kept; folders of one second (`-2`, another
    input's stem) go oldest first."""
    root = tmp_path
    old_run(root, "20261125T070000Z-long", 1)
    old_run(root, "20261125T080000Z-b", 7)
    old_run(root, "20261125T080000Z-a", 6)
    old_run(root, "20261125T080000Z-a-2", 5)

    pruned = prune_run_folders(root, 2)

    assert pruned == Pruned(removed=("20261125T080000Z-b", "20261125T080000Z-a"))
    assert run_folders(root) == ["20261125T070000Z-long", "20261125T080000Z-a-2"]


def test_keep_reports_never_deletes_an_out_folder(tmp_path: Path) -> None:
    """This run's --out folder is never pruned, even inside the reports root and named
    like a run (it counts as one of the N of its command); a missing root prunes
    nothing."""
    root = tmp_path / "reports"
    old_run(root, "20261101T000000Z-plan", 30)
    out = old_run(root, "20261102T000000Z-given", 20)

    result = validate_files(
        Options(paths=(sheet(tmp_path),), out=out, reports_root=root, keep_reports=1),
        timing=FakeTiming(start=NOON).timing,
    )

    assert result.summary["pruned"] == ["20261101T000000Z-plan"]
    assert run_folders(root) == ["20261102T000000Z-given"]
    spared = old_run(root, "20261001T000000Z-spared", 90)
    assert prune_run_folders(root, 1, spare=[spared]) == Pruned()
    assert prune_run_folders(tmp_path / "missing", 1) == Pruned()


def test_a_run_that_changed_nothing_still_prunes(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor
) -> None:
    """--keep-reports applies after a run that kept no folder too."""
    path, root = sheet(tmp_path), tmp_path / "reports"
    first = run_once(app, settings_for, [path], reports_root=root)
    old_run(root, "20261101T000000Z-plan", 30, command="run")
    again = run_once(
        app, settings_for, [path], reports_root=root, keep_reports=1, at=NOON.replace(hour=11)
    )

    assert not again.reports_kept
    assert again.summary["pruned"] == ["20261101T000000Z-plan"]
    assert run_folders(root) == [first.folder.name]


def test_keep_reports_keeps_the_newest_n_of_each_command(tmp_path: Path) -> None:
    """Runs, dry runs, validations and sandbox rehearsals are each kept N deep: a
    validate never prunes the last real run's reports."""
    root = tmp_path
    kinds = [("run", ""), ("run --dry-run", ""), ("validate", ""), ("run", "sandbox")]
    for number, (command, base_url) in enumerate(kinds):
        for age, stem in ((20, "older"), (10, "newer")):
            name = f"2026112{number}T080000Z-{stem}"
            old_run(root, name, age + number, command=command, base_url=base_url)
    old_run(root, "20261101T000000Z-foreign", 90, command="something else")

    pruned = prune_run_folders(root, 1)

    assert pruned.removed == tuple(f"2026112{n}T080000Z-older" for n in (3, 2, 1, 0))
    assert run_folders(root) == [
        "20261101T000000Z-foreign",
        *(f"2026112{n}T080000Z-newer" for n in range(4)),
    ]


def test_validate_with_keep_reports_spares_the_reports_of_a_run(tmp_path: Path) -> None:
    """`validate --keep-reports 1` after a real run keeps that run's only report."""
    root = tmp_path / "reports"
    real = old_run(root, "20261101T000000Z-plan", 30, command="run")

    result = validate_files(
        Options(paths=(sheet(tmp_path),), reports_root=root, keep_reports=1),
        timing=FakeTiming(start=NOON).timing,
    )

    assert result.summary["pruned"] == []
    assert run_folders(root) == sorted([real.name, result.folder.name])


def test_pruning_deletes_only_the_files_this_tool_writes(tmp_path: Path) -> None:
    """An old run folder that also holds a file of the user's keeps that file (and so
    stays), with a warning naming it; the report files and inputs/ go."""
    root = tmp_path / "reports"
    folder = old_run(root, "20261101T000000Z-one", 30)
    (folder / "inputs").mkdir()
    (folder / "inputs" / "one.csv").write_text("copy", encoding="utf-8")
    for name in ("failed.csv", "succeeded.csv", "results.xlsx", "payloads.jsonl"):
        (folder / name).write_text("", encoding="utf-8")
    (folder / ".results.csv.0123456789ab.tmp").write_text("", encoding="utf-8")
    (folder / "one.csv").write_text("the user's sheet", encoding="utf-8")
    gone = old_run(root, "20261102T000000Z-two", 20)

    result = validate_files(
        Options(paths=(sheet(tmp_path),), reports_root=root, keep_reports=1),
        timing=FakeTiming(start=NOON).timing,
    )

    assert result.summary["pruned"] == [folder.name, gone.name]
    assert [p.name for p in folder.iterdir()] == ["one.csv"]
    assert (folder / "one.csv").read_text(encoding="utf-8") == "the user's sheet"
    assert not gone.exists()
    warning = (
        f"the old report folder {folder} was pruned but not removed: it also holds "
        "one.csv, which this tool did not write"
    )
    assert warning in result.warnings and warning in result.summary["warnings"]


def test_pruning_knows_every_file_a_report_folder_holds(tmp_path: Path) -> None:
    """What validate writes into a report folder (every report file but a plan's and,
    for a sheet without prospects, the prospects files; inputs/) is all named by
    REPORT_FILES and INPUTS, so pruning leaves none of it behind (a plan's folder:
    tests/test_plan_apply.py; prospects: tests/test_prospects_offline.py)."""
    result = validate_files(
        Options(paths=(sheet(tmp_path),), out=tmp_path / "out"),
        timing=FakeTiming(start=NOON).timing,
    )

    written = sorted(p.name for p in result.folder.iterdir())
    assert written == sorted([*(set(REPORT_FILES) - {"plan.json", *PROSPECT_FILES}), INPUTS])


def test_discard_leaves_an_out_folder_another_run_writes_into(tmp_path: Path) -> None:
    """Two runs given the same new --out: the one that made it and then wrote nothing
    takes away only an empty folder, never the other run's reports."""
    out = tmp_path / "new" / "out"
    first = ReportFolder.claim(out, tmp_path / "reports", "20261126T101500Z-a")
    second = ReportFolder.claim(out, tmp_path / "reports", "20261126T101500Z-b")
    (out / "results.csv").write_text("the second run's reports", encoding="utf-8")

    first.discard()

    assert (out / "results.csv").read_text(encoding="utf-8") == "the second run's reports"
    (out / "results.csv").unlink()
    second.discard()
    first.discard()
    assert not (tmp_path / "new").exists()


def test_keep_reports_option_is_checked_and_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--keep-reports 0 is a usage error (exit 2); CAMPAIGNS_RUN_KEEP_REPORTS sets it."""
    path = sheet(tmp_path)
    refused = invoke("validate", path, "--keep-reports", "0", "--reports", tmp_path / "r")
    assert refused.exit_code == 2
    assert "--keep-reports" in refused.stderr

    root = tmp_path / "reports"
    old_run(root, "20261101T000000Z-plan", 30)
    monkeypatch.setenv("CAMPAIGNS_RUN_KEEP_REPORTS", "1")
    done = invoke("validate", path, "--reports", root)
    assert done.exit_code == 0, done.output
    (kept,) = run_folders(root)
    assert kept != "20261101T000000Z-plan"


# --- permissions ------------------------------------------------------------------


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_report_files_get_the_permissions_the_umask_gives(
    tmp_path: Path, umask: Any, mask: int, expected: int
) -> None:
    """Every report file is as readable as the umask allows (not mkstemp's 0600)."""
    umask(mask)
    result = validate_files(
        Options(paths=(sheet(tmp_path),), out=tmp_path / "out"),
        timing=FakeTiming(start=NOON).timing,
    )
    files = [path for path in result.folder.rglob("*") if path.is_file()]
    assert len(files) >= 6
    assert {str(p): mode(p) for p in files} == {str(p): expected for p in files}


def test_a_replaced_file_gets_the_umask_too(tmp_path: Path, umask: Any) -> None:
    """atomic_write replacing a file gives the new file the umask's permissions, and
    leaves no temporary file behind."""
    umask(0o022)
    target = tmp_path / "summary.json"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o600)
    with atomic_write(target, binary=True) as stream:
        stream.write(b"new")
    assert (target.read_bytes(), mode(target)) == (b"new", 0o644)
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_templates_get_the_permissions_the_umask_gives(
    tmp_path: Path, umask: Any, suffix: str, mask: int, expected: int
) -> None:
    """`campaigns template` writes a sheet others may read where the umask lets them."""
    umask(mask)
    assert mode(write_template(tmp_path / f"campaigns{suffix}")) == expected


def test_ledger_export_follows_the_umask_and_a_backup_stays_private(
    tmp_path: Path, app: Starlette, settings_for: SettingsFor, umask: Any
) -> None:
    """`status --export` is a report (the umask's permissions); `status --backup` is a
    whole ledger kept for restoring, private (0600) whatever the umask."""
    umask(0o022)
    run_once(app, settings_for, [sheet(tmp_path)], out=tmp_path / "out")
    state = tmp_path / "state.sqlite"

    export_ledger(state, tmp_path / "ids.csv")
    backup_ledger(state, tmp_path / "copy.sqlite")

    assert mode(tmp_path / "ids.csv") == 0o644
    assert mode(tmp_path / "copy.sqlite") == 0o600


# --- results.xlsx -----------------------------------------------------------------


def test_results_xlsx_keeps_its_column_widths(tmp_path: Path) -> None:
    """The widths are in the saved sheet (a `<cols>` element) and read back per column."""
    result = validate_files(
        Options(paths=(sheet(tmp_path),), out=tmp_path / "out"),
        timing=FakeTiming(start=NOON).timing,
    )
    path = result.folder / "results.xlsx"
    with zipfile.ZipFile(path) as archive:
        assert b"<cols>" in archive.read("xl/worksheets/sheet1.xml")
    workbook = openpyxl.load_workbook(path)
    try:
        dimensions = workbook["results"].column_dimensions
        widths = {letter: dimensions[letter].width for letter in "ABCDEFGHIJK"}
        assert widths["E"] > dimensions["Z"].width  # campaign_name, wider than the default
        assert [widths[letter] for letter in "ABCDEFGHIJK"] == [
            RESULT_WIDTHS[name] for name in RESULT_COLUMNS
        ]
    finally:
        workbook.close()


FORMULA_LIKE = {
    "campaign_key": "+cmd",
    "campaign_name": '=HYPERLINK("http://evil.example","click")',
}


def test_results_xlsx_shows_formula_like_text_as_typed(tmp_path: Path) -> None:
    """Text the CSV guard changes reads back from results.xlsx exactly as typed: text,
    not a formula, with the quote prefix style; other cells have no quote prefix."""
    path = rows_csv(tmp_path / "in.csv", [dict(PROSPECTS_ROW, **FORMULA_LIKE)])
    result = validate_files(
        Options(paths=(path,), out=tmp_path / "out"), timing=FakeTiming(start=NOON).timing
    )
    workbook = openpyxl.load_workbook(result.folder / "results.xlsx")
    try:
        cells = {cell.column_letter: cell for cell in workbook["results"][2]}
        key, name, status = cells["D"], cells["E"], cells["F"]
        assert (key.value, name.value) == (
            FORMULA_LIKE["campaign_key"],
            FORMULA_LIKE["campaign_name"],
        )
        assert key.data_type == name.data_type == "s"
        assert key.quotePrefix and name.quotePrefix
        assert status.value == "valid" and not status.quotePrefix
    finally:
        workbook.close()
    csv_line = (result.folder / "results.csv").read_text(encoding="utf-8-sig").splitlines()[1]
    assert "'+cmd" in csv_line  # the CSV keeps its guard


def test_every_formula_start_survives_results_xlsx_exactly() -> None:
    """=, +, -, @, tab, CR and a user's own `'=` come back as typed, with openpyxl and with
    calamine (as pandas reads it), each marked with the quote prefix."""
    texts = ["=1+1", "+1", "-1", "@SUM(A1)", "\ttab", "\rreturn", "'=own", "plain"]
    workbook = Workbook(write_only=True)
    workbook.create_sheet("results").append(["text"])
    saved = io.BytesIO()
    save_with_rows(workbook, [texts], 2, saved)

    read = openpyxl.load_workbook(io.BytesIO(saved.getvalue()))["results"]
    cells = [row[0] for row in read.iter_rows(min_row=2)]
    assert [c.value for c in cells] == texts
    assert [bool(c.quotePrefix) for c in cells] == [True] * 7 + [False]
    assert all(c.data_type == "s" for c in cells)
    calamine = CalamineWorkbook.from_filelike(io.BytesIO(saved.getvalue()))
    assert [row[0] for row in calamine.get_sheet_by_name("results").to_python()[1:]] == texts
