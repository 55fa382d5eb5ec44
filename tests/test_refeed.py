"""A fixed failed.csv run beside the sheet it came from: its rows replace their originals.

Each test makes its sheets in tmp_path, gets `failed.csv` from a real run, fixes cells
in it as a person would, and runs it together with the original sheet (on the command
line, through `validate_files`, or through `run_files` into the in-process sandbox).
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pipeline.refeed import replace_refed_rows, row_list
from pipeline.run import RunResult, run_files, validate_files
from pipeline.settings import Options
from tests.fakes import FakeTiming
from tests.helpers import (
    PROSPECTS_ROW,
    invoke,
    numbered_rows,
    rows_csv,
    run_settings,
    table,
    write_csv,
    write_xlsx,
)

WARNING_END = "(the rows they came from, by _source and _row)"


def plan_rows(count: int, bad: tuple[int, ...]) -> list[dict[str, str]]:
    """`count` numbered rows (keys row-0...) whose positions in `bad` have an invalid cell."""
    rows = numbered_rows(count)
    for position in bad:
        rows[position]["min_post_likes"] = "twenty"
    return rows


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def located(folder: Path) -> list[tuple[str, int, str, str]]:
    """results.csv as (source, row, campaign_key, status) per line."""
    return [
        (line["source"], int(line["row"]), line["campaign_key"], line["status"])
        for line in read_csv(folder / "results.csv")
    ]


def summary(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return loaded


def fix_failed(folder: Path, target: Path, only: tuple[str, ...] = ()) -> Path:
    """The `failed.csv` of `folder`, every bad like count set to 25 (only in the rows of
    keys `only`, when given), saved as `target` with its columns as they are."""
    with (folder / "failed.csv").open(encoding="utf-8-sig", newline="") as stream:
        header, *lines = list(csv.reader(stream))
    likes = header.index("min_post_likes")
    key = header.index("campaign_key")
    for line in lines:
        if not only or line[key] in only:
            line[likes] = "25"
    return write_csv(target, header, lines)


def validate(tmp_path: Path, out: str, *paths: Path) -> RunResult:
    return validate_files(Options(paths=paths, out=tmp_path / out))


def run(tmp_path: Path, app: Starlette, out: str, *paths: Path) -> RunResult:
    """One run of `paths` into `tmp_path/out` against the sandbox `app` (one account)."""
    return run_files(
        Options(paths=paths, out=tmp_path / out),
        run_settings(tmp_path),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )


# -- validate ----------------------------------------------------------------------------


def test_fixed_failed_csv_beside_its_workbook_replaces_each_row_once(tmp_path: Path) -> None:
    """`validate plan.xlsx fixed.csv`: each fixed row stands once, valid, at its own place;
    a warning names both places; the closing line counts every row once."""
    rows = plan_rows(6, bad=(1, 3, 4))
    header = list(dict.fromkeys(name for row in rows for name in row))
    lines = [[row.get(name, "") for name in header] for row in rows]
    plan = write_xlsx(tmp_path / "plan.xlsx", [header, *lines])
    assert invoke("validate", plan, "--out", tmp_path / "r1").exit_code == 1
    fixed = fix_failed(tmp_path / "r1", tmp_path / "fixed.csv")

    out = tmp_path / "r2"
    result = invoke("validate", plan, fixed, "--out", out)

    assert result.exit_code == 0, result.output
    warning = f"fixed.csv rows 2-4 replace plan.xlsx [campaigns] rows 3, 5, 6 {WARNING_END}"
    assert result.stderr == f"Warning: {warning}\n"
    assert result.stdout == (
        f"6 rows: 6 valid. Read sheet 'campaigns' of plan.xlsx. Reports in {out}\n"
    )
    assert located(out) == [
        ("plan.xlsx", 2, "row-0", "valid"),
        ("plan.xlsx", 4, "row-2", "valid"),
        ("plan.xlsx", 7, "row-5", "valid"),
        ("fixed.csv", 2, "row-1", "valid"),
        ("fixed.csv", 3, "row-3", "valid"),
        ("fixed.csv", 4, "row-4", "valid"),
    ]
    written = summary(out)
    assert written["warnings"] == [warning]
    original, refed = written["inputs"]
    assert (original["rows"], original["replaced"]) == (6, [3, 5, 6])
    assert (refed["rows"], refed["replaces"]) == (
        3,
        [{"path": str(plan), "rows": [[2, 3], [3, 5], [4, 6]]}],
    )
    assert "replaces" not in original and "replaced" not in refed


def test_every_row_of_a_folder_is_reported_or_replaced_by_one_that_is(tmp_path: Path) -> None:
    """A renamed copy of failed.csv inside the input folder, half of it fixed: every input
    row is in results.csv or was replaced by a row that is, never both, never neither."""
    folder = tmp_path / "plans"
    folder.mkdir()
    rows_csv(folder / "plan.csv", plan_rows(12, bad=(1, 2, 3, 7, 8, 11)))
    validate(tmp_path, "r1", folder)
    fix_failed(tmp_path / "r1", folder / "plan-fixed.csv", only=("row-1", "row-3", "row-8"))

    result = validate(tmp_path, "r2", folder)

    reported = {(line[0], line[1]) for line in located(tmp_path / "r2")}
    inputs = {Path(entry["path"]).name: entry for entry in result.summary["inputs"]}
    replaced = {("plan.csv", number) for number in inputs["plan.csv"]["replaced"]}
    read = {("plan.csv", n) for n in range(2, 14)} | {("plan-fixed.csv", n) for n in range(2, 8)}
    assert reported | replaced == read
    assert not reported & replaced
    assert len(replaced) == 6 and result.total == len(reported) == 12
    pairs = inputs["plan-fixed.csv"]["replaces"][0]["rows"]
    assert sorted(("plan.csv", there) for _, there in pairs) == sorted(replaced)
    assert result.warnings == (
        f"plan-fixed.csv rows 2-7 replace plan.csv rows 3-5, 9, 10, 13 {WARNING_END}",
    )
    # The rows left unfixed are reported once, at their place in the fixed file.
    assert [(r.source, r.row, r.campaign_key) for r in result.attention] == [
        ("plan-fixed.csv", 3, "row-2"),
        ("plan-fixed.csv", 5, "row-7"),
        ("plan-fixed.csv", 7, "row-11"),
    ]


def test_a_report_of_a_sheet_not_in_the_run_is_read_as_ordinary_rows(tmp_path: Path) -> None:
    """fixed.csv names plan.csv, but only plan-v2.csv is run with it: nothing is replaced,
    no warning, and each fixed row and its original are duplicates (as always)."""
    rows = plan_rows(3, bad=(1,))
    validate(tmp_path, "r1", rows_csv(tmp_path / "plan.csv", rows))
    fixed = fix_failed(tmp_path / "r1", tmp_path / "fixed.csv")
    renamed = rows_csv(tmp_path / "plan-v2.csv", rows)

    result = validate(tmp_path, "r2", renamed, fixed)

    assert result.warnings == ()
    assert [(r.source, r.row, r.status.value) for r in result.rows] == [
        ("plan-v2.csv", 2, "valid"),
        ("plan-v2.csv", 3, "invalid"),
        ("plan-v2.csv", 4, "valid"),
        ("fixed.csv", 2, "invalid"),
    ]
    assert result.rows[3].errors == ("campaign_key: 'row-1' is also used by plan-v2.csv row 3",)
    assert all("replaces" not in i and "replaced" not in i for i in result.summary["inputs"])


def test_two_fixed_rows_from_one_row_both_stand_as_duplicates(tmp_path: Path) -> None:
    """Two rows of fixed.csv naming one original: the original is replaced, both stay and
    are marked as sharing a key, and the warning names both."""
    plan = rows_csv(tmp_path / "plan.csv", plan_rows(3, bad=(1,)))
    validate(tmp_path, "r1", plan)
    fixed = fix_failed(tmp_path / "r1", tmp_path / "fixed.csv")
    header, line = read_csv(fixed)[0].keys(), list(read_csv(fixed)[0].values())
    write_csv(fixed, list(header), [line, line])

    result = validate(tmp_path, "r2", plan, fixed)

    assert [(r.source, r.row, r.status.value) for r in result.rows] == [
        ("plan.csv", 2, "valid"),
        ("plan.csv", 4, "valid"),
        ("fixed.csv", 2, "invalid"),
        ("fixed.csv", 3, "invalid"),
    ]
    assert result.rows[2].errors == ("campaign_key: 'row-1' is also used by row 3",)
    assert result.warnings == (
        "fixed.csv rows 2, 3 replace plan.csv row 3 (the row they came from, by _source and _row)",
    )


def test_a_failed_csv_of_a_refed_run_fixed_again_replaces_along_the_chain(
    tmp_path: Path,
) -> None:
    """plan.csv + fixed1.csv (one row still bad) gives a failed.csv naming fixed1.csv; fixed
    as fixed2.csv and run with both, the last fix stands for the original row."""
    plan = rows_csv(tmp_path / "plan.csv", plan_rows(4, bad=(1, 3)))
    validate(tmp_path, "r1", plan)
    fixed1 = fix_failed(tmp_path / "r1", tmp_path / "fixed1.csv", only=("row-1",))
    assert validate(tmp_path, "r2", plan, fixed1).counts == {"valid": 3, "invalid": 1}
    fixed2 = fix_failed(tmp_path / "r2", tmp_path / "fixed2.csv")

    result = validate(tmp_path, "r3", plan, fixed1, fixed2)

    assert result.exit_code == 0
    assert [(r.source, r.row, r.campaign_key) for r in result.rows] == [
        ("plan.csv", 2, "row-0"),
        ("plan.csv", 4, "row-2"),
        ("fixed1.csv", 2, "row-1"),
        ("fixed2.csv", 2, "row-3"),
    ]
    assert result.warnings == (
        f"fixed1.csv rows 2, 3 replace plan.csv rows 3, 5 {WARNING_END}",
        "fixed2.csv row 2 replaces fixed1.csv row 3 (the row it came from, by _source and _row)",
    )


def test_a_row_whose_original_is_gone_is_an_ordinary_row_with_a_warning(
    tmp_path: Path,
) -> None:
    """The original sheet lost the row fixed.csv came from: fixed.csv's row is read as it
    is (nothing replaced) and a warning says where it claims to come from."""
    rows = plan_rows(3, bad=(2,))
    validate(tmp_path, "r1", rows_csv(tmp_path / "plan.csv", rows))
    fixed = fix_failed(tmp_path / "r1", tmp_path / "fixed.csv")
    plan = rows_csv(tmp_path / "plan.csv", rows[:2])

    result = validate(tmp_path, "r2", plan, fixed)

    assert [(r.source, r.row, r.status.value) for r in result.rows] == [
        ("plan.csv", 2, "valid"),
        ("plan.csv", 3, "valid"),
        ("fixed.csv", 2, "valid"),
    ]
    assert result.warnings == (
        "fixed.csv row 2 came from plan.csv row 4, but that row is empty now; it is read "
        "as an ordinary row (it replaces nothing)",
    )


def test_a_sheet_whose_every_row_was_replaced_is_not_called_empty(tmp_path: Path) -> None:
    """Every row of plan.csv fixed: the fixed rows stand, and no warning calls plan.csv
    a sheet without rows (summary.json still lists it, with the rows it read)."""
    plan = rows_csv(tmp_path / "plan.csv", plan_rows(2, bad=(0, 1)))
    validate(tmp_path, "r1", plan)
    fixed = fix_failed(tmp_path / "r1", tmp_path / "fixed.csv")

    result = validate(tmp_path, "r2", plan, fixed)

    assert [(r.source, r.row, r.status.value) for r in result.rows] == [
        ("fixed.csv", 2, "valid"),
        ("fixed.csv", 3, "valid"),
    ]
    assert result.warnings == (f"fixed.csv rows 2, 3 replace plan.csv rows 2, 3 {WARNING_END}",)
    assert [(i["rows"], i.get("replaced")) for i in result.summary["inputs"]] == [
        (2, [2, 3]),
        (2, None),
    ]


def test_a_source_name_shared_by_two_inputs_replaces_nothing(tmp_path: Path) -> None:
    """Two inputs called plan.csv: which row fixed.csv means is unclear, so its rows stay
    ordinary rows and a warning names both files."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = rows_csv(tmp_path / "a" / "plan.csv", plan_rows(2, bad=(1,)))
    second = rows_csv(tmp_path / "b" / "plan.csv", [dict(PROSPECTS_ROW, campaign_key="other")])
    validate(tmp_path, "r1", first)
    fixed = fix_failed(tmp_path / "r1", tmp_path / "fixed.csv")

    result = validate(tmp_path, "r2", first, second, fixed)

    assert [(r.source, r.row) for r in result.rows] == [
        ("plan.csv", 2),
        ("plan.csv", 3),
        ("plan.csv", 2),
        ("fixed.csv", 2),
    ]
    assert result.warnings == (
        f"fixed.csv row 2 came from plan.csv, but several inputs have that name ({first}, "
        f"{second}); it is read as an ordinary row",
    )


# -- run ---------------------------------------------------------------------------------


def test_a_fixed_row_is_created_once_then_already_created(tmp_path: Path, app: Starlette) -> None:
    """plan.csv creates its good rows; with fixed.csv the fixed row is created (and the
    others are already_created); run again, nothing is created twice."""
    plan = rows_csv(tmp_path / "plan.csv", plan_rows(3, bad=(1,)))
    assert run(tmp_path, app, "r1", plan).counts == {"created": 2, "invalid": 1}
    fixed = fix_failed(tmp_path / "r1", tmp_path / "fixed.csv")

    second = run(tmp_path, app, "r2", plan, fixed)
    third = run(tmp_path, app, "r3", plan, fixed)

    assert [(r.source, r.row, r.status.value) for r in second.rows] == [
        ("plan.csv", 2, "already_created"),
        ("plan.csv", 4, "already_created"),
        ("fixed.csv", 2, "created"),
    ]
    assert second.warnings == (
        "fixed.csv row 2 replaces plan.csv row 3 (the row it came from, by _source and _row)",
    )
    assert third.counts == {"already_created": 3}
    assert [r.campaign_id for r in third.rows] == [r.campaign_id for r in second.rows]
    assert len(app.state.sandbox.store.all()) == 3
    assert app.state.sandbox.stats.duplicates == 0


def test_a_fixed_row_whose_original_was_created_since_is_already_created(
    tmp_path: Path, app: Starlette
) -> None:
    """The row was fixed in plan.csv too and created from there; fed back beside it,
    fixed.csv's copy is already_created with that campaign's id, and nothing is sent."""
    rows = plan_rows(3, bad=(1,))
    run(tmp_path, app, "r1", rows_csv(tmp_path / "plan.csv", rows))
    fixed = fix_failed(tmp_path / "r1", tmp_path / "fixed.csv")
    rows[1]["min_post_likes"] = "25"
    plan = rows_csv(tmp_path / "plan.csv", rows)
    created = run(tmp_path, app, "r2", plan).rows[1]
    assert (created.row, created.status.value) == (3, "created")

    assert len(app.state.sandbox.store.all()) == 3

    result = run(tmp_path, app, "r3", plan, fixed)

    assert result.counts == {"already_created": 3}
    assert (result.rows[2].source, result.rows[2].campaign_id) == ("fixed.csv", created.campaign_id)
    assert len(app.state.sandbox.store.all()) == 3
    assert app.state.sandbox.stats.duplicates == 0


# -- the pure part -----------------------------------------------------------------------


def test_rows_that_name_each_other_in_a_circle_replace_nothing() -> None:
    """a.csv row 2 names b.csv row 2 and b.csv row 2 names a.csv row 2: taking both out
    would leave neither, so both stay and nothing is replaced."""
    first = replace(table([PROSPECTS_ROW], name="a.csv"), origins={2: ("b.csv", 2)})
    second = replace(table([PROSPECTS_ROW], name="b.csv"), origins={2: ("a.csv", 2)})

    refed = replace_refed_rows([first, second])

    assert len(refed.tables) == 2
    assert refed.tables[0] is first and refed.tables[1] is second
    assert refed.replacements == refed.warnings == ()


@pytest.mark.parametrize(
    ("numbers", "text"),
    [
        ([7], "row 7"),
        ([3, 2], "rows 2, 3"),
        ([2, 3, 4, 9, 12], "rows 2-4, 9, 12"),
        ([4, 2, 3, 3], "rows 2-4"),
        (list(range(2, 62, 2)), "rows 2, 4, 6, 8, 10, 12, 14, 16, 18, 20 and 20 more"),
        (
            [*range(2, 100), *range(200, 220, 2)],
            "rows 2-99, 200, 202, 204, 206, 208, 210, 212, 214, 216 and 1 more",
        ),
    ],
)
def test_row_lists_are_short(numbers: list[int], text: str) -> None:
    """Row numbers in a warning: in order, once each, runs as ranges, at most ten pieces."""
    assert row_list(numbers) == text
