"""The command line: help texts, exit codes and the exact messages people see."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from pipeline.cli import cli
from pipeline.template import EXAMPLE_PROSPECTS
from schemas.columns import COLUMNS
from tests.helpers import PROSPECTS_ROW, TOPIC_ROW, rows_csv, write_csv, write_xlsx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "input_templates" / "example.xlsx"


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name: str) -> None:
    """`campaigns COMMAND --help` works and shows the command's description."""
    result = invoke(name, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: cli {name}")
    assert (cli.commands[name].help or "").strip()


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_text(name: str) -> None:
    """Every option of every command explains itself in --help."""
    command = cli.commands[name]
    missing = [
        param.name
        for param in command.params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert missing == []


def test_group_help_lists_the_commands() -> None:
    """`campaigns --help` lists template and validate."""
    result = invoke("--help")
    assert result.exit_code == 0
    assert "template" in result.stdout
    assert "validate" in result.stdout


# --- validate --------------------------------------------------------------------------


def test_validate_example_exits_0(tmp_path: Path) -> None:
    """The example sheet validates: exit 0, the closing line, no messages on stderr."""
    out = tmp_path / "out"
    result = invoke("validate", EXAMPLE, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"5 rows: 5 valid. {len(EXAMPLE_PROSPECTS)} prospects: {len(EXAMPLE_PROSPECTS)} valid. "
        f"Read sheet 'campaigns' of example.xlsx. Reports in {out}\n"
    )
    assert result.stderr == ""
    assert (out / "payloads.jsonl").exists()


def test_validate_invalid_row_exits_1_and_lists_it(tmp_path: Path) -> None:
    """An invalid row: exit 1, the row on stderr with its errors, counts in the closing line."""
    bad = dict(PROSPECTS_ROW, campaign_key="bad", min_post_likes="twenty")
    path = rows_csv(tmp_path / "plan.csv", [PROSPECTS_ROW, bad, TOPIC_ROW])
    out = tmp_path / "out"
    result = invoke("validate", path, "--out", out)
    assert result.exit_code == 1
    assert result.stderr == (
        'plan.csv row 3: invalid: min_post_likes: "twenty" is not a whole number (e.g. 25)\n'
    )
    assert result.stdout == f"3 rows: 2 valid, 1 invalid. Reports in {out}\n"


def test_validate_names_the_sheet_of_a_workbook(tmp_path: Path) -> None:
    """For an xlsx the stderr line names the sheet too."""
    bad = dict(TOPIC_ROW, connect_enabled="true")
    path = write_xlsx(tmp_path / "plan.xlsx", [list(bad), list(bad.values())])
    result = invoke("validate", path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr == (
        "plan.xlsx [campaigns] row 2: invalid: "
        "connect_enabled: does not apply to topic campaigns: leave it empty\n"
    )


def test_validate_quiet_with_rows_that_need_a_person_prints_as_without_it(
    tmp_path: Path,
) -> None:
    """--quiet is silent only on exit 0: an invalid row is listed and the line closes."""
    path = rows_csv(tmp_path / "plan.csv", [dict(PROSPECTS_ROW, owner="nobody")])
    result = invoke("validate", path, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 1
    assert result.stderr.startswith('plan.csv row 2: invalid: owner: "nobody" is neither')
    assert result.stdout == f"1 row: 1 invalid. Reports in {tmp_path / 'out'}\n"


def test_validate_lists_at_most_20_rows(tmp_path: Path) -> None:
    """Past 20 rows needing attention stderr says how many more are in failed.csv."""
    rows = [dict(PROSPECTS_ROW, campaign_key=f"k{i}", owner=f"nobody{i}") for i in range(23)]
    path = rows_csv(tmp_path / "plan.csv", rows)
    result = invoke("validate", path, "--out", tmp_path / "out")
    lines = result.stderr.splitlines()
    assert len(lines) == 21
    assert lines[-1] == "... and 3 more in failed.csv"


def test_validate_prints_the_encoding_warning(tmp_path: Path) -> None:
    """A cp1252 CSV is validated with a warning on stderr."""
    row = dict(PROSPECTS_ROW, campaign_name="Café")
    path = rows_csv(tmp_path / "win.csv", [row], encoding="cp1252")
    result = invoke("validate", path, "--out", tmp_path / "out")
    assert result.exit_code == 0
    assert result.stderr.startswith("Warning: win.csv: not UTF-8; read as Windows-1252")


def test_validate_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    """A missing file: exit 2, one `Error:` line naming it, no traceback."""
    path = tmp_path / "nope.csv"
    result = invoke("validate", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: no such file or folder\n"
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_validate_unknown_header_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    """An unknown header: exit 2, the error naming file, row and column, then a hint."""
    path = write_csv(tmp_path / "plan.csv", ["campaign_name", "ownr"], [["a", "b"]])
    result = invoke("validate", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path}, row 1: unknown column B 'ownr' (did you mean owner?)\n"
        "`campaigns template` writes a sheet with every known column.\n"
    )
    assert "Traceback" not in result.output


def test_validate_corrupt_workbook_exits_2(tmp_path: Path) -> None:
    """A corrupt xlsx: exit 2 and one Error line naming the file."""
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04garbage")
    result = invoke("validate", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {path}: is corrupt or not an xlsx workbook")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_unknown_sheet_exits_2_and_lists_sheets(tmp_path: Path) -> None:
    """--sheet with a name the workbook lacks: exit 2, the sheets it has in the hint."""
    result = invoke("validate", EXAMPLE, "--sheet", "plans", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {EXAMPLE}: has no sheet named 'plans'\n"
        "Sheets in it: 'campaigns', 'prospects', 'columns'. Try --sheet NAME.\n"
    )


def test_validate_max_rows(tmp_path: Path) -> None:
    """--max-rows refuses a longer file with exit 2."""
    result = invoke("validate", EXAMPLE, "--max-rows", "4", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {EXAMPLE} [campaigns]: has 5 rows, more than 4\n")


def test_validate_unwritable_report_folder_exits_2(tmp_path: Path) -> None:
    """A report folder that cannot be created: exit 2 and one Error line, not a traceback."""
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    out = blocker / "reports"
    result = invoke("validate", EXAMPLE, "--out", out)
    assert not isinstance(result.exception, OSError), result.exception
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert str(blocker) in result.stderr.splitlines()[0]


def test_validate_without_paths_is_a_usage_error() -> None:
    """validate needs at least one PATH (exit 2)."""
    result = invoke("validate")
    assert result.exit_code == 2
    assert "Missing argument 'PATHS...'" in result.stderr


def test_validate_header_only_file(tmp_path: Path) -> None:
    """A sheet without rows closes with `0 rows: no rows.` and exit 0."""
    path = write_csv(tmp_path / "plan.csv", [c.name for c in COLUMNS])
    result = invoke("validate", path, "--out", tmp_path / "out")
    assert result.exit_code == 0
    assert result.stdout == f"0 rows: no rows. Reports in {tmp_path / 'out'}\n"


def test_validate_default_report_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --out the reports go to reports/<run-id>/, printed in the closing line."""
    monkeypatch.chdir(tmp_path)
    result = invoke("validate", EXAMPLE)
    assert result.exit_code == 0
    folder = result.stdout.rsplit("Reports in ", 1)[1].strip()
    assert Path(folder).parent == Path("reports")
    assert Path(folder).name.endswith("Z-example")
    assert (tmp_path / folder / "results.csv").exists()


def _workbook(path: Path, row: dict[str, str], sheet: str = "campaigns") -> Path:
    return write_xlsx(path, [list(row), list(row.values())], sheet=sheet)


def test_closing_line_names_the_sheet_read_of_each_workbook(tmp_path: Path) -> None:
    """Workbooks among the inputs: the closing line says which sheet of each was read
    (CSV files add nothing), before `Reports in`."""
    plan = _workbook(tmp_path / "plan.xlsx", PROSPECTS_ROW)
    q2 = _workbook(tmp_path / "q2.xlsx", TOPIC_ROW, sheet="Q2 plan")
    notes = rows_csv(tmp_path / "notes.csv", [dict(TOPIC_ROW, campaign_key="from-csv")])
    out = tmp_path / "out"
    result = invoke("validate", plan, notes, q2, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "3 rows: 3 valid. Read sheet 'campaigns' of plan.xlsx and sheet 'Q2 plan' of "
        f"q2.xlsx. Reports in {out}\n"
    )


def test_closing_line_names_three_workbooks_and_counts_the_others(tmp_path: Path) -> None:
    """Five workbooks read at the same sheet: the first three named, then `and 2 more`."""
    folder = tmp_path / "plans"
    folder.mkdir()
    for number in range(5):
        _workbook(folder / f"p{number}.xlsx", dict(TOPIC_ROW, campaign_key=f"k{number}"))
    result = invoke("validate", folder, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "5 rows: 5 valid. Read sheet 'campaigns' of p0.xlsx, p1.xlsx, p2.xlsx and 2 more. "
        f"Reports in {tmp_path / 'out'}\n"
    )


@pytest.mark.parametrize("name", ["validate", "run"])
def test_help_names_every_kind_of_file_read(name: str) -> None:
    """`validate --help` and `run --help` list every file suffix the loader reads."""
    from pipeline.load import SUFFIXES

    kinds = f"{', '.join(SUFFIXES[:-1])} or {SUFFIXES[-1]}"
    result = invoke(name, "--help")
    assert f"PATHS are {kinds} files, or folders of them." in " ".join(result.stdout.split())


def test_skip_hidden_rows_leaves_out_a_hidden_row_in_validate_and_run(tmp_path: Path) -> None:
    """A row hidden in Excel is read by default; --skip-hidden-rows leaves it out, in
    `validate` and in `run` alike."""
    from openpyxl import load_workbook

    rows = [dict(TOPIC_ROW, campaign_key=f"k{number}") for number in range(3)]
    plan = write_xlsx(tmp_path / "plan.xlsx", [list(TOPIC_ROW), *[list(r.values()) for r in rows]])
    workbook = load_workbook(plan)
    workbook["campaigns"].row_dimensions[3].hidden = True
    workbook.save(plan)
    state = tmp_path / "state.sqlite"

    read = invoke("validate", plan, "--out", tmp_path / "a")
    skipped = invoke("validate", plan, "--out", tmp_path / "b", "--skip-hidden-rows")
    planned = invoke(
        "run", plan, "--dry-run", "--state", state, "--out", tmp_path / "c", "--skip-hidden-rows"
    )

    assert (read.exit_code, skipped.exit_code, planned.exit_code) == (0, 0, 0)
    assert read.stdout.startswith("3 rows: 3 valid.")
    assert skipped.stdout.startswith("2 rows: 2 valid.")
    assert planned.stdout.startswith("2 rows: 2 would_create.")
    results = (tmp_path / "b" / "results.csv").read_text(encoding="utf-8-sig")
    assert [line.split(",")[2] for line in results.splitlines()[1:]] == ["2", "4"]


# --- template --------------------------------------------------------------------------


def test_template_writes_the_blank_sheet(tmp_path: Path) -> None:
    """`template -o FILE` writes the workbook and says where."""
    path = tmp_path / "plan.xlsx"
    result = invoke("template", "-o", path)
    assert result.exit_code == 0
    assert result.stdout == f"Wrote {path}\n"
    assert path.read_bytes().startswith(b"PK")


def test_template_default_name_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without -o, `template --format csv` writes campaigns.csv here."""
    monkeypatch.chdir(tmp_path)
    result = invoke("template", "--format", "csv")
    assert result.exit_code == 0
    assert result.stdout == "Wrote campaigns.csv\n"
    header = (tmp_path / "campaigns.csv").read_text(encoding="utf-8-sig").strip()
    assert header == ",".join(c.name for c in COLUMNS)


def test_template_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    """An existing file is left alone (exit 2) unless --force is given."""
    path = tmp_path / "plan.csv"
    path.write_text("mine", encoding="utf-8")
    refused = invoke("template", "--format", "csv", "-o", path)
    assert refused.exit_code == 2
    assert f"Error: {path} exists; add --force to overwrite it" in refused.stderr
    assert path.read_text(encoding="utf-8") == "mine"
    forced = invoke("template", "--format", "csv", "-o", path, "--force")
    assert forced.exit_code == 0
    assert path.read_text(encoding="utf-8-sig").startswith("campaign_key,")


def test_template_into_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    """`-o` into a folder that does not exist never ends in a traceback."""
    path = tmp_path / "nowhere" / "plan.xlsx"
    result = invoke("template", "-o", path)
    assert not isinstance(result.exception, OSError), result.exception
    if result.exit_code == 0:
        assert path.exists()
    else:
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: ")
        assert str(path.parent) in result.stderr


def test_template_topic_type(tmp_path: Path) -> None:
    """`--type Topic` leaves out the Prospects-only columns."""
    path = tmp_path / "topic.csv"
    result = invoke("template", "--type", "Topic", "--format", "csv", "-o", path)
    assert result.exit_code == 0
    header = path.read_text(encoding="utf-8-sig").strip().split(",")
    assert header == [c.name for c in COLUMNS if not c.prospects_only]


def test_template_unknown_type_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown --type is refused with exit 2 and the accepted names."""
    result = invoke("template", "--type", "Leads", "-o", tmp_path / "x.xlsx")
    assert result.exit_code == 2
    assert "use Prospects (TARGET_USER) or Topic (KEYWORD)" in result.stderr
    assert not (tmp_path / "x.xlsx").exists()


def test_template_example_validates(tmp_path: Path) -> None:
    """`template --example` writes a sheet that `validate` accepts."""
    path = tmp_path / "demo.xlsx"
    assert invoke("template", "--example", "-o", path).exit_code == 0
    result = invoke("validate", path, "--out", tmp_path / "out")
    assert result.exit_code == 0
    assert result.stdout.startswith("5 rows: 5 valid.")


def _readme_commands() -> list[str]:
    """The offline `campaigns template`/`validate` lines of the README's code blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S)
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(("campaigns template", "campaigns validate"))]


README_COMMANDS = _readme_commands()


def test_readme_shows_template_and_validate_commands() -> None:
    """The README has examples of both offline commands (the test below runs them)."""
    assert any(c.startswith("campaigns template") for c in README_COMMANDS)
    assert any(c.startswith("campaigns validate") for c in README_COMMANDS)


@pytest.mark.parametrize("line", README_COMMANDS)
def test_readme_command_works_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    """Each offline command the README shows runs as written (exit 0)."""
    shutil.copytree(ROOT / "input_templates", tmp_path / "input_templates")
    (tmp_path / "plans").mkdir()
    shutil.copy(ROOT / "input_templates" / "example.csv", tmp_path / "plans" / "q1.csv")
    monkeypatch.chdir(tmp_path)
    result = invoke(*shlex.split(line)[1:])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_python_m_pipeline_help() -> None:
    """`python -m pipeline --help` runs the same command line."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: campaigns ")
    assert "validate" in done.stdout
