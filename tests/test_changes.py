"""What an update changes, in the sheet's words: `describe` as a table of every kind of
value, and the `changes` column that results.csv, results.xlsx, the JSON `row` events and
`run`'s stderr list carry."""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import logs
from pipeline.changes import describe
from pipeline.cli import _finish, change_lines
from pipeline.map import map_rows
from pipeline.model import Outcome, Status, counts
from pipeline.report import write_reports
from pipeline.run import RowResult, RunResult, row_results
from pipeline.validate import validate
from tests.helpers import OWNER_ID, PROSPECTS_ROW, STYLE_ID, TOPIC_ID, TOPIC_ROW, table

ABSENT = object()  # `edited`'s value for a field left out
TOPICS = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(6)]
OTHER_STYLE = "11111111-2222-4333-8444-555555555555"
CAMPAIGN_ID = "5b0d7c1e-8f3a-4a2b-9c4d-6e7f8a9b0c1d"


def payload(row: Mapping[str, str]) -> dict[str, Any]:
    """The payload `pipeline.map` builds for one sheet row."""
    [built] = map_rows(validate([table([row])]))
    assert built is not None
    return dict(built)


PROSPECTS = payload(PROSPECTS_ROW)
TOPIC = payload(TOPIC_ROW)


def edited(base: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A deep copy of `base` with dotted paths (`postActivityFilter__minPostLikes`, `__`
    for the dot) set to values, or left out for `ABSENT`."""
    result = copy.deepcopy(dict(base))
    for dotted, value in fields.items():
        *parents, name = dotted.split("__")
        target = result
        for parent in parents:
            target = target.setdefault(parent, {})
        if value is ABSENT:
            target.pop(name, None)
        else:
            target[name] = value
    return result


PF = "postActivityFilter__"
DM = "dmSettings__"
CS = "connectingSettings__"

# (old edits, new edits, the items expected), each on the Prospects payload.
CASES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]]] = [
    ("equal payloads", {}, {}, ()),
    ("nested number", {PF + "minPostLikes": 0}, {}, ("min_post_likes: 0 -> 25",)),
    ("nested boolean", {DM + "isGenerateDmEnabled": False}, {}, ("dm_enabled: no -> yes",)),
    ("top-level boolean", {}, {"skipTeammatesLeads": False}, ("skip_teammates_leads: yes -> no",)),
    (
        "count in connecting settings",
        {},
        {CS + "sendConnectionRequestOnTimeoutDays": 21},
        ("connect_timeout_days: 10 -> 21",),
    ),
    ("campaign type", {}, {"type": "KEYWORD"}, ("campaign_type: Prospects -> Topic",)),
    ("text", {}, {"name": "ACME Q2"}, ("campaign_name: ACME Q1 - CTOs -> ACME Q2",)),
    (
        "text with spaces at an end",
        {},
        {"name": "ACME "},
        ('campaign_name: ACME Q1 - CTOs -> "ACME "',),
    ),
    ("empty text", {"name": ""}, {}, ('campaign_name: "" -> ACME Q1 - CTOs',)),
    (
        "text holding the arrow",
        {},
        {"name": "a -> b"},
        ('campaign_name: ACME Q1 - CTOs -> "a -> b"',),
    ),
    (
        "text holding the separator",
        {},
        {"name": "a | b"},
        ('campaign_name: ACME Q1 - CTOs -> "a | b"',),
    ),
    (
        "text reading (empty)",
        {},
        {"name": "(empty)"},
        ('campaign_name: ACME Q1 - CTOs -> "(empty)"',),
    ),
    (
        "optional field left out (interval cleared)",
        {"applyCommentIntervalH": 24},
        {"applyCommentIntervalH": ABSENT},
        ("comment_interval_hours: 24 -> (empty)",),
    ),
    (
        "optional field absent before",
        {"applyCommentIntervalH": ABSENT},
        {"applyCommentIntervalH": 72},
        ("comment_interval_hours: (empty) -> 72",),
    ),
    (
        "null counts as absent",
        {"applyCommentIntervalH": None},
        {"applyCommentIntervalH": ABSENT},
        (),
    ),
    (
        "uuid list: some in, some out",
        {PF + "monitoredTopicIds": TOPICS[:4]},
        {PF + "monitoredTopicIds": [TOPICS[3], TOPICS[4], TOPICS[5]]},
        ("monitored_topic_ids: +2 -3",),
    ),
    (
        "uuid list: one in",
        {},
        {PF + "monitoredTopicIds": [TOPIC_ID, TOPICS[0]]},
        ("monitored_topic_ids: +1",),
    ),
    ("uuid list: one out", {}, {PF + "monitoredTopicIds": []}, ("monitored_topic_ids: -1",)),
    (
        "uuid list: from none",
        {PF + "monitoredTopicIds": ABSENT},
        {},
        ("monitored_topic_ids: +1",),
    ),
    (
        "uuid list: only the order",
        {PF + "monitoredTopicIds": TOPICS[:2]},
        {PF + "monitoredTopicIds": TOPICS[1::-1]},
        ("monitored_topic_ids: order changed",),
    ),
    ("empty list counts as absent", {PF + "emotionTypes": []}, {PF + "emotionTypes": ABSENT}, ()),
    ("token list", {}, {PF + "emotionTypes": ["LIKE"]}, ("emotion_types: LIKE, PRAISE -> LIKE",)),
    (
        "token list emptied",
        {},
        {PF + "emotionTypes": []},
        ("emotion_types: LIKE, PRAISE -> (empty)",),
    ),
    ("uuid", {}, {"userStyleId": OTHER_STYLE}, (f"style_id: {STYLE_ID} -> {OTHER_STYLE}",)),
    ("owner", {}, {"ownerId": OTHER_STYLE}, (f"owner: {OWNER_ID} -> {OTHER_STYLE}",)),
    ("field no column maps", {}, {"postMaxAgeDays": 31}, ("postMaxAgeDays: 30 -> 31",)),
    ("field unknown to the catalogue", {}, {"id": CAMPAIGN_ID}, (f"id: (empty) -> {CAMPAIGN_ID}",)),
    (
        "JSON types: 25 is not 25.0",
        {},
        {PF + "minPostLikes": 25.0},
        ("min_post_likes: 25 -> 25.0",),
    ),
    (
        "JSON types: 1 is not true",
        {},
        {"skipTeammatesLeads": 1},
        ("skip_teammates_leads: yes -> 1",),
    ),
    (
        "catalogue order, then unmapped fields",
        {},
        {
            "postMaxAgeDays": 31,
            DM + "isGenerateDmEnabled": False,
            PF + "minPostLikes": 0,
            "name": "ACME Q2",
        },
        (
            "campaign_name: ACME Q1 - CTOs -> ACME Q2",
            "min_post_likes: 25 -> 0",
            "dm_enabled: yes -> no",
            "postMaxAgeDays: 30 -> 31",
        ),
    ),
]


@pytest.mark.parametrize(
    ("old_edits", "new_edits", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_describe_says_each_change_in_the_sheets_words(
    old_edits: dict[str, Any], new_edits: dict[str, Any], expected: tuple[str, ...]
) -> None:
    """Each kind of value is said the way the sheet writes it, one item per column."""
    assert describe(edited(PROSPECTS, **old_edits), edited(PROSPECTS, **new_edits)) == expected


def test_a_settings_object_absent_on_one_side_lists_each_of_its_fields() -> None:
    """Topic -> Prospects: every connecting and DM field appears, `(empty) -> value`, in
    catalogue order after the columns both payloads carry."""
    old = edited(PROSPECTS, type="KEYWORD", connectingSettings=ABSENT, dmSettings=ABSENT)

    found = describe(old, PROSPECTS)

    assert found[0] == "campaign_type: Topic -> Prospects"
    assert found[1:] == (
        "connect_enabled: (empty) -> yes",
        "connect_after_direct_comments: (empty) -> 2",
        "connect_on_indirect_comments: (empty) -> no",
        "connect_after_indirect_comments: (empty) -> 4",
        "connect_on_timeout: (empty) -> yes",
        "connect_timeout_days: (empty) -> 10",
        "connect_when_no_posts: (empty) -> no",
        "dm_enabled: (empty) -> yes",
        "dm_on_connect: (empty) -> yes",
        "dm_on_connect_after_days: (empty) -> 2",
        "dm_on_relevant_post: (empty) -> no",
        "dm_on_relevant_post_after_days: (empty) -> 3",
        "dm_on_timeout: (empty) -> yes",
        "dm_on_timeout_after_days: (empty) -> 21",
    )
    assert describe(PROSPECTS, old)[-1] == "dm_on_timeout_after_days: 21 -> (empty)"


def test_describe_two_payloads_the_mapper_built_from_an_edited_row() -> None:
    """A row edited in the sheet: the items name the cells edited, with the values typed."""
    row = dict(
        PROSPECTS_ROW,
        min_post_likes="30",
        dm_enabled="no",
        comment_interval_hours="",
        emotion_types="LIKE",
        monitored_topic_ids=", ".join([TOPIC_ID, *TOPICS[:2]]),
    )

    assert describe(PROSPECTS, payload(row)) == (
        "comment_interval_hours: 48 -> (empty)",
        "emotion_types: LIKE, PRAISE -> LIKE",
        "monitored_topic_ids: +2",
        "min_post_likes: 25 -> 30",
        "dm_enabled: yes -> no",
    )
    assert describe(TOPIC, payload(dict(TOPIC_ROW, direct_posts_first="no"))) == (
        "direct_posts_first: yes -> no",
    )


def test_equal_payloads_built_twice_have_no_changes() -> None:
    """The same row mapped twice: nothing to say."""
    assert describe(payload(PROSPECTS_ROW), payload(PROSPECTS_ROW)) == ()
    assert describe(TOPIC, payload(TOPIC_ROW)) == ()


def test_settings_nobody_knows_are_one_item() -> None:
    """No payload applied before (an adopted campaign): one item says all settings are
    set to the sheet's."""
    assert describe(None, PROSPECTS) == ("all settings: unknown -> as in the sheet",)


def test_describe_changes_neither_payload() -> None:
    """Pure: both payloads are as they were after the call."""
    old, new = edited(PROSPECTS, name="A"), edited(PROSPECTS, applyCommentIntervalH=ABSENT)
    before = copy.deepcopy((old, new))

    describe(old, new, names={"style": {"Formal": STYLE_ID}})

    assert (old, new) == before


def test_ids_are_shown_by_the_configs_name_when_one_name_stands_for_them() -> None:
    """With `Options.names`, a style, context or owner uuid shows as its config name;
    a uuid two names stand for, or none, shows as the uuid."""
    names = {
        "style": {"Formal": STYLE_ID.upper(), "Casual": "{" + OTHER_STYLE + "}"},
        "owner": {"Anna": OWNER_ID, "Anna S.": OWNER_ID},
    }
    new = edited(PROSPECTS, userStyleId=OTHER_STYLE, ownerId=TOPICS[0])

    assert describe(PROSPECTS, new, names=names) == (
        f"owner: {OWNER_ID} -> {TOPICS[0]}",
        "style_id: Formal -> Casual",
    )


# --- results.csv and results.xlsx --------------------------------------------------------

UPDATED = Outcome(
    Status.UPDATED,
    campaign_id=CAMPAIGN_ID,
    http_status=200,
    attempts=1,
    changes=("min_post_likes: 0 -> 25", "dm_enabled: no -> yes"),
)
UNCHANGED = Outcome(Status.ALREADY_CREATED, campaign_id=TOPICS[1])


def reports(tmp_path: Path, outcomes: list[Outcome]) -> Path:
    """The report files for the Prospects and the Topic row with these outcomes."""
    checked = validate([table([PROSPECTS_ROW, TOPIC_ROW], name="plan.csv")])
    statuses = counts(o.status for o in outcomes)
    return write_reports(tmp_path / "out", checked, outcomes, {"counts": statuses})


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def test_results_csv_ends_with_the_changes_column(tmp_path: Path) -> None:
    """results.csv's last column joins an update's changes with ` | `; empty without."""
    folder = reports(tmp_path, [UPDATED, UNCHANGED])

    with (folder / "results.csv").open(encoding="utf-8-sig", newline="") as stream:
        header = next(csv.reader(stream))
    lines = read_csv(folder / "results.csv")

    assert header[-2:] == ["errors", "changes"]
    assert [line["changes"] for line in lines] == [
        "min_post_likes: 0 -> 25 | dm_enabled: no -> yes",
        "",
    ]
    assert [line["status"] for line in lines] == ["updated", "already_created"]


def test_results_xlsx_carries_the_changes_column_wide_and_coloured(tmp_path: Path) -> None:
    """results.xlsx: the same `changes` cells, a wide column, `updated` coloured."""
    folder = reports(tmp_path, [UPDATED, UNCHANGED])

    workbook = openpyxl.load_workbook(folder / "results.xlsx")
    try:
        sheet = workbook["results"]
        rows = list(sheet.iter_rows(values_only=True))
        width = sheet.column_dimensions["K"].width
        formulas = {
            formula
            for formatting in sheet.conditional_formatting
            for rule in formatting.rules
            for formula in rule.formula
        }
        filtered = sheet.auto_filter.ref
    finally:
        workbook.close()
    assert rows[0][-1] == "changes"
    assert [row[-1] for row in rows[1:]] == [
        "min_post_likes: 0 -> 25 | dm_enabled: no -> yes",
        None,
    ]
    assert width == 80
    assert filtered == "A1:K3"
    assert {'$F2="updated"', '$F2="would_update"'} <= formulas


def test_an_updated_row_is_succeeded_and_the_input_files_keep_their_columns(
    tmp_path: Path,
) -> None:
    """succeeded.csv lists the updated row; it and failed.csv have no `changes` column."""
    folder = reports(tmp_path, [UPDATED, Outcome(Status.REJECTED, errors=("deleted",))])

    succeeded = read_csv(folder / "succeeded.csv")
    failed = read_csv(folder / "failed.csv")

    assert [line["_campaign_id"] for line in succeeded] == [CAMPAIGN_ID]
    assert "changes" not in succeeded[0] and "changes" not in failed[0]
    assert list(failed[0])[-2:] == ["_status", "_errors"]


def test_row_results_carry_the_outcomes_changes() -> None:
    """`RunResult.rows` (what the library hands back) has each row's changes."""
    checked = validate([table([PROSPECTS_ROW, TOPIC_ROW])])

    rows = row_results(checked, [UPDATED, UNCHANGED])

    assert [row.changes for row in rows] == [UPDATED.changes, ()]


# --- JSON row events and the stderr list -------------------------------------------------


def updated_row(number: int, *changes: str, status: Status = Status.UPDATED) -> RowResult:
    return RowResult(
        "plan.xlsx", "", number, f"k{number}", f"C{number}", status, CAMPAIGN_ID, 200, 1, (),
        changes,
    )  # fmt: skip


def result_of(*rows: RowResult) -> RunResult:
    statuses = counts(row.status for row in rows)
    code = 1 if any(row.needs_person for row in rows) else 0
    return RunResult("run", Path("out"), statuses, code, rows, (), {})


def test_row_events_list_the_changes_like_errors() -> None:
    """A `row` event's `changes` is a list of items (as `errors`); its message says them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("pipeline.test_changes")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logs.rows(
            logger, result_of(updated_row(7, "min_post_likes: 0 -> 25", "dm_enabled: no -> yes"))
        )
    finally:
        logger.removeHandler(handler)
    [event] = [json.loads(line) for line in stream.getvalue().splitlines()]

    assert event["changes"] == ["min_post_likes: 0 -> 25", "dm_enabled: no -> yes"]
    assert event["errors"] == []
    assert event["message"] == (
        "plan.xlsx row 7: updated: min_post_likes: 0 -> 25 | dm_enabled: no -> yes"
    )


def test_the_stderr_list_shows_an_updated_rows_changes() -> None:
    """One line per updated row, its changes joined; rows sharing their changes are one
    line; a row without changes is not listed."""
    rows = [
        updated_row(7, "min_post_likes: 0 -> 25", "dm_enabled: no -> yes"),
        updated_row(8, "min_post_likes: 0 -> 50"),
        updated_row(9, "min_post_likes: 0 -> 50"),
        RowResult(
            "plan.xlsx", "", 10, "k10", "C10", Status.ALREADY_CREATED, CAMPAIGN_ID, None, 0, ()
        ),
        updated_row(11, "dm_enabled: no -> yes", status=Status.WOULD_UPDATE),
    ]

    assert change_lines(rows) == [
        "plan.xlsx row 7: updated: min_post_likes: 0 -> 25 | dm_enabled: no -> yes",
        "2 rows updated: min_post_likes: 0 -> 50 (plan.xlsx rows 8-9)",
        "plan.xlsx row 11: would_update: dm_enabled: no -> yes",
    ]


def test_past_the_shown_lines_the_rest_of_the_updates_are_in_results_csv() -> None:
    """Past 20 lines: `... and N more in results.csv`, N counting rows."""
    rows = [updated_row(n, f"min_post_likes: 0 -> {n}") for n in range(2, 30)]

    lines = change_lines(rows)

    assert len(lines) == 21
    assert lines[-1] == "... and 8 more in results.csv"


def test_a_row_that_needs_a_person_is_listed_with_its_errors_not_its_changes() -> None:
    """A rejected update is the problem list's: its errors, not its changes."""
    rejected = RowResult(
        "plan.xlsx", "", 4, "k4", "C4", Status.REJECTED, CAMPAIGN_ID, 404, 1,
        ("the campaign was deleted in Extrovert",), ("min_post_likes: 0 -> 25",),
    )  # fmt: skip

    assert change_lines([rejected]) == []


def test_run_prints_the_updates_then_the_problems_and_is_silent_when_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """stderr: the updated rows with their changes, then the rows that need a person;
    with --quiet and exit 0, nothing at all."""
    invalid = RowResult(
        "plan.xlsx", "", 3, "k3", "C3", Status.INVALID, "", None, 0, ("owner: bad",)
    )
    updated = updated_row(7, "min_post_likes: 0 -> 25", "dm_enabled: no -> yes")

    with pytest.raises(SystemExit) as ended:
        _finish(result_of(invalid, updated), quiet=False)
    said = capsys.readouterr()

    assert ended.value.code == 1
    assert said.err.splitlines() == [
        "plan.xlsx row 7: updated: min_post_likes: 0 -> 25 | dm_enabled: no -> yes",
        "plan.xlsx row 3: invalid: owner: bad",
    ]
    with pytest.raises(SystemExit) as ended:
        _finish(result_of(updated), quiet=True)
    assert ended.value.code == 0
    assert capsys.readouterr() == ("", "")
