"""Names instead of uuids: a `[names.*]` name in an id column becomes its uuid, offline.

`owner`, `style_id`, `context_id` and each item of `monitored_topic_ids` may give a name
from the config's `[names.owner]`, `[names.style]`, `[names.context]`, `[names.topic]`;
payloads, `payloads.jsonl` and campaign keys only ever see the uuid it stands for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pipeline.errors import ConfigError
from pipeline.parse import NAME_TABLES, check_default, check_name
from pipeline.run import RunResult, run_files, validate_files
from pipeline.settings import Options
from sandbox.config import DEFAULT_MEMBERS
from schemas.columns import BY_NAME
from tests.fakes import FakeTiming
from tests.helpers import (
    CONTEXT_ID,
    PROSPECTS_ROW,
    STYLE_ID,
    TOPIC_ID,
    check_rows,
    errors,
    rows_csv,
    run_settings,
)

ANNA_ID = DEFAULT_MEMBERS[0].id
OTHER_STYLE = "5a0f3e4c-2b1d-4c8e-9f6a-7d3b2e1c0a94"
OTHER_TOPIC = "b7e2d5f1-6c3a-4e9b-8d1f-2a4c6e8b0d13"
EXAMPLE = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
NAMES = {
    "owner": {"Anna Adams": ANNA_ID},
    "style": {"Founder voice": STYLE_ID, "Formal": OTHER_STYLE},
    "context": {"SaaS buyers": CONTEXT_ID},
    "topic": {"AI in fintech": TOPIC_ID, "RevOps": OTHER_TOPIC},
}
# PROSPECTS_ROW owned by Anna (a sandbox team member), without a campaign_key: its key is
# owner + name, so it shows how the owner is counted.
BY_ID = dict(PROSPECTS_ROW, campaign_key="", owner=ANNA_ID, monitored_topic_ids=TOPIC_ID)
BY_NAME_ROW = dict(
    BY_ID,
    owner="anna adams",
    style_id="Founder voice",
    context_id="SaaS buyers",
    monitored_topic_ids="AI in fintech",
)


def values_of(tmp_path: Path, row: dict[str, str], **options: Any) -> dict[str, Any]:
    """The typed values of one row that must validate cleanly."""
    checked = check_rows(tmp_path, [row], **options)
    assert errors(checked) == [[]]
    return {name: column[0] for name, column in checked.values.items()}


def payloads(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "payloads.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["payload"] for line in lines]


@pytest.mark.parametrize(
    ("column", "written", "expected"),
    [
        ("owner", "  anna   ADAMS ", ANNA_ID),
        ("style_id", "founder  VOICE", STYLE_ID),
        ("context_id", " saas buyers ", CONTEXT_ID),
        ("monitored_topic_ids", "ai in  FINTECH; revops", [TOPIC_ID, OTHER_TOPIC]),
    ],
)
def test_a_name_becomes_its_uuid_ignoring_case_and_spaces(
    tmp_path: Path, column: str, written: str, expected: object
) -> None:
    """Each of the four columns takes a name from its table, whatever its case or spaces."""
    row = dict(PROSPECTS_ROW, **{column: written})
    assert values_of(tmp_path, row, names=NAMES)[column] == expected


def test_a_topic_list_mixes_names_and_uuids(tmp_path: Path) -> None:
    """Items of monitored_topic_ids may be names or uuids, side by side, in order."""
    row = dict(PROSPECTS_ROW, monitored_topic_ids=f"RevOps, {TOPIC_ID.upper()}")
    assert values_of(tmp_path, row, names=NAMES)["monitored_topic_ids"] == [OTHER_TOPIC, TOPIC_ID]


def test_payloads_jsonl_shows_the_uuids(tmp_path: Path) -> None:
    """`validate` with names writes payloads that carry the uuids the names stand for."""
    sheet = rows_csv(tmp_path / "named.csv", [BY_NAME_ROW])
    result = validate_files(Options(paths=(sheet,), out=tmp_path / "out", names=NAMES))
    assert result.counts == {"valid": 1}
    [payload] = payloads(tmp_path / "out")
    assert payload["ownerId"] == ANNA_ID
    assert payload["userStyleId"] == STYLE_ID
    assert payload["userContextId"] == CONTEXT_ID
    assert payload["postActivityFilter"]["monitoredTopicIds"] == [TOPIC_ID]


def test_the_key_counts_a_named_owner_by_its_id(tmp_path: Path) -> None:
    """A row naming its owner has the key of the same row giving the owner's uuid."""
    named = check_rows(tmp_path, [BY_NAME_ROW], names=NAMES)
    typed = check_rows(tmp_path, [BY_ID], names=NAMES)
    assert named.keys == typed.keys == [f"{ANNA_ID}/{PROSPECTS_ROW['campaign_name'].casefold()}"]


def run(tmp_path: Path, app: Starlette, row: dict[str, str], number: int) -> RunResult:
    sheet = rows_csv(tmp_path / f"sheet{number}.csv", [row])
    return run_files(
        Options(paths=(sheet,), out=tmp_path / f"run{number}", names=NAMES),
        run_settings(tmp_path),
        transport=httpx.ASGITransport(app=app),
        timing=FakeTiming().timing,
    )


def test_a_row_is_one_campaign_by_uuid_e_mail_or_name(tmp_path: Path, app: Starlette) -> None:
    """Created with the owner's uuid, the row is already created when it names the owner
    or gives their e-mail instead: one campaign, one id, whichever way it is written."""
    first = run(tmp_path, app, BY_ID, 1)
    assert first.counts == {"created": 1}
    by_email = dict(BY_NAME_ROW, owner=DEFAULT_MEMBERS[0].email.upper())
    for number, row in enumerate((BY_NAME_ROW, by_email), start=2):
        again = run(tmp_path, app, row, number)
        assert again.counts == {"already_created": 1}
        assert again.rows[0].campaign_id == first.rows[0].campaign_id
        assert again.rows[0].campaign_key == first.rows[0].campaign_key


def test_an_e_mail_owner_is_kept_for_the_team_directory(tmp_path: Path) -> None:
    """With an owner table, an e-mail is still an e-mail (resolved online, as before)."""
    row = dict(PROSPECTS_ROW, owner="Anna Adams <Anna@Example.com>")
    assert values_of(tmp_path, row, names=NAMES)["owner"] == "anna@example.com"


def test_uuids_are_read_as_before(tmp_path: Path) -> None:
    """With every table set, uuids in any accepted form still come out canonical."""
    row = dict(
        PROSPECTS_ROW,
        owner="urn:uuid:" + ANNA_ID.upper(),
        style_id="{" + OTHER_STYLE.upper() + "}",
        monitored_topic_ids=f"{TOPIC_ID}; {OTHER_TOPIC.upper()}",
    )
    values = values_of(tmp_path, row, names=NAMES)
    assert (values["owner"], values["style_id"]) == (ANNA_ID, OTHER_STYLE)
    assert values["monitored_topic_ids"] == [TOPIC_ID, OTHER_TOPIC]


@pytest.mark.parametrize(
    ("column", "written", "message"),
    [
        (
            "style_id",
            "Founder vocie",
            'style_id: "Founder vocie" is neither a uuid nor a name in the config\'s '
            '[names.style] (closest: "Founder voice")',
        ),
        (
            "owner",
            "Anna Adam",
            'owner: "Anna Adam" is neither a team member\'s id (uuid), an e-mail address nor '
            'a name in the config\'s [names.owner] (closest: "Anna Adams")',
        ),
        (
            "context_id",
            "Enterprise",
            'context_id: "Enterprise" is neither a uuid nor a name in the config\'s '
            '[names.context] (known names: "SaaS buyers")',
        ),
        (
            "monitored_topic_ids",
            "AI in fintech, Rev Ops",
            'monitored_topic_ids: "Rev Ops" is neither a uuid nor a name in the config\'s '
            '[names.topic] (closest: "RevOps")',
        ),
    ],
)
def test_an_unknown_name_names_the_cell_and_the_closest_names(
    tmp_path: Path, column: str, written: str, message: str
) -> None:
    """A name its table lacks makes the row invalid, naming the cell and the closest names."""
    checked = check_rows(tmp_path, [dict(PROSPECTS_ROW, **{column: written})], names=NAMES)
    assert errors(checked) == [[message]]


def test_an_unknown_name_is_an_invalid_row_in_the_report(tmp_path: Path) -> None:
    """Through `validate`, the row is `invalid` with the message; the other rows are valid."""
    rows = [BY_NAME_ROW, dict(BY_NAME_ROW, campaign_name="Other", style_id="Formall")]
    sheet = rows_csv(tmp_path / "named.csv", rows)
    result = validate_files(Options(paths=(sheet,), out=tmp_path / "out", names=NAMES))
    assert result.counts == {"valid": 1, "invalid": 1}
    assert result.rows[1].row == 3
    assert result.rows[1].errors == (
        'style_id: "Formall" is neither a uuid nor a name in the config\'s [names.style] '
        '(closest: "Formal")',
    )


def test_without_a_table_the_message_says_how_to_add_one(tmp_path: Path) -> None:
    """A name where the config has no such table says so, and gives the line to write."""
    names = {"owner": NAMES["owner"]}
    checked = check_rows(tmp_path, [dict(PROSPECTS_ROW, style_id="Founder voice")], names=names)
    assert errors(checked) == [
        [
            f'style_id: "Founder voice" is not a uuid (expected the form {EXAMPLE}), and the '
            "config has no [names.style] table to look names up in: to use this name, add "
            '[names.style] to campaigns.toml with the line "Founder voice" = "<its uuid>"'
        ]
    ]


def test_a_mistyped_uuid_without_a_table_gets_no_names_advice(tmp_path: Path) -> None:
    """Hex digits and hyphens are a uuid with a typo: the message stays about the uuid."""
    row = dict(PROSPECTS_ROW, context_id=CONTEXT_ID[:-1])
    assert errors(check_rows(tmp_path, [row])) == [
        [f'context_id: "{CONTEXT_ID[:-1]}" is not a uuid (expected the form {EXAMPLE})']
    ]


def test_defaults_may_be_names(tmp_path: Path) -> None:
    """`[defaults]` given as names fill empty cells with the uuids they stand for."""
    row = {k: v for k, v in BY_ID.items() if k not in ("owner", "style_id", "context_id")}
    sheet = rows_csv(tmp_path / "bare.csv", [row])
    defaults = {"owner": "Anna  Adams", "style_id": "formal", "context_id": "SaaS Buyers"}
    options = Options(paths=(sheet,), out=tmp_path / "out", defaults=defaults, names=NAMES)
    assert validate_files(options).counts == {"valid": 1}
    [payload] = payloads(tmp_path / "out")
    assert (payload["ownerId"], payload["userStyleId"]) == (ANNA_ID, OTHER_STYLE)
    assert payload["userContextId"] == CONTEXT_ID


def test_an_unknown_default_name_stops_the_run(tmp_path: Path) -> None:
    """A default naming nothing is a config error (exit 2), naming the default."""
    sheet = rows_csv(tmp_path / "bare.csv", [{**BY_ID, "style_id": ""}])
    options = Options(paths=(sheet,), defaults={"style_id": "Casual"}, names=NAMES)
    with pytest.raises(ConfigError) as caught:
        validate_files(options)
    assert str(caught.value) == (
        'the default for style_id: "Casual" is neither a uuid nor a name in the config\'s '
        '[names.style] (known names: "Formal", "Founder voice")'
    )


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            {"styles": {"Formal": STYLE_ID}},
            "[names.styles] is not a names table (did you mean [names.style]? the tables are "
            "[names.owner], [names.style], [names.context], [names.topic])",
        ),
        (
            {"style": {"Formal": "not-a-uuid"}},
            f'[names.style] "Formal": "not-a-uuid" is not a uuid (expected the form {EXAMPLE})',
        ),
    ],
)
def test_a_names_table_that_cannot_work_stops_the_run(
    tmp_path: Path, names: dict[str, dict[str, str]], message: str
) -> None:
    """A library caller's bad names table is a config error, not rows blamed for it."""
    sheet = rows_csv(tmp_path / "rows.csv", [BY_ID])
    with pytest.raises(ConfigError) as caught:
        validate_files(Options(paths=(sheet,), out=tmp_path / "out", names=names))
    assert str(caught.value) == message


def test_name_tables_cover_the_id_columns() -> None:
    """NAME_TABLES maps each `[names.*]` table to catalogue columns that hold ids."""
    assert list(NAME_TABLES) == ["owner", "style", "context", "topic"]
    assert all(column in BY_NAME for columns in NAME_TABLES.values() for column in columns)


@pytest.mark.parametrize(
    ("column", "text", "problem"),
    [
        ("style_id", " founder VOICE ", None),
        ("Topic IDs", "RevOps, AI in fintech", None),  # any header spelling of the column
        ("owner", "ben@example.com", None),
        ("min_post_likes", "25", None),
        ("style_id", "", None),
        (
            "style_id",
            "Founder",
            '"Founder" is neither a uuid nor a name in the config\'s [names.style] '
            '(closest: "Founder voice")',
        ),
        ("min_post_likes", "many", '"many" is not a whole number (e.g. 25)'),
        ("stlye_id", "Formal", '"stlye_id" is not a column (did you mean style_id?)'),
    ],
)
def test_check_default(column: str, text: str, problem: str | None) -> None:
    """check_default parses a `[defaults]` value by its column's kind, names included."""
    assert check_default(column, text, NAMES) == problem


@pytest.mark.parametrize(
    ("table", "name", "uuid", "problem"),
    [
        ("style", "Founder voice", STYLE_ID.upper(), None),
        ("style", "Formal", "formal", f'"formal" is not a uuid (expected the form {EXAMPLE})'),
        ("style", "  ", STYLE_ID, "a name must hold visible text"),
        (
            "owner",
            "anna@example.com",
            ANNA_ID,
            "the name is an e-mail address itself, so a sheet cell holding it is never looked up",
        ),
        (
            "context",
            CONTEXT_ID,
            CONTEXT_ID,
            "the name is a uuid itself, so a sheet cell holding it is never looked up",
        ),
        (
            "topic",
            "AI, ML",
            TOPIC_ID,
            "a topic name cannot hold a comma or a semicolon: they separate the items of "
            "monitored_topic_ids",
        ),
        (
            "style",
            "FORMAL ",
            STYLE_ID,
            'means the same name as "Formal" (case and repeated spaces are ignored) but '
            "another uuid",
        ),
        ("style", "FORMAL", OTHER_STYLE, None),  # the same name for the same uuid: harmless
    ],
)
def test_check_name(table: str, name: str, uuid: str, problem: str | None) -> None:
    """check_name says what is wrong with one `[names.*]` entry, given the ones above it."""
    assert check_name(table, name, uuid, NAMES["style"] if table == "style" else None) == problem
