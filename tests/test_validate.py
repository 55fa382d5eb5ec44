"""Validation: cell parsers, defaults, the cross-column rules and duplicate keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.errors import InputError
from pipeline.load import load
from pipeline.parse import (
    CellError,
    parse_boolean,
    parse_campaign_type,
    parse_owner,
    parse_text,
    parse_token_list,
    parse_uuid,
    parse_uuid_list,
    parse_whole_number,
)
from pipeline.validate import Checked, apply_owners, validate
from schemas.columns import COLUMNS
from tests.helpers import (
    OWNER_ID,
    PROSPECTS_ROW,
    STYLE_ID,
    TOPIC_ID,
    TOPIC_ROW,
    check_rows,
    errors,
    table,
    write_csv,
    write_xlsx,
)

UPPER_UUID = "3C90C3CC-0D44-4B50-8888-8DD25736052A"
CANONICAL = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
MANGLED = "1.23457E+17"


def check(*rows: dict[str, str], **options: Any) -> Checked:
    return validate([table(list(rows))], **options)


def errors_of(*rows: dict[str, str], **options: Any) -> list[list[str]]:
    return errors(check(*rows, **options))


def typed(checked: Checked, position: int = 0) -> dict[str, Any]:
    return {name: column[position] for name, column in checked.values.items()}


def missing(value: object) -> bool:
    return value is None or value is pd.NA


# --- parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[(t, True) for t in ["true", "TRUE", "True", "yes", "YES", "y", "Y", "1", " true "]],
        *[(t, False) for t in ["false", "FALSE", "False", "no", "No", "n", "N", "0"]],
        ("", None),
        ("   ", None),
    ],
)
def test_boolean_forms(text: str, value: bool | None) -> None:
    """Booleans accept true/false, yes/no, y/n, 1/0 in any case; empty is no value."""
    assert parse_boolean(text) is value


@pytest.mark.parametrize("text", ["maybe", "2", "ja", "t", "on"])
def test_boolean_rejects_other_text(text: str) -> None:
    """Anything else is refused, quoting the value and listing what is accepted."""
    with pytest.raises(CellError) as caught:
        parse_boolean(text)
    assert str(caught.value) == f'"{text}" is not true or false (use true/false, yes/no or 1/0)'


@pytest.mark.parametrize(
    ("text", "value"),
    [("25", 25), ("25.0", 25), (" 25 ", 25), ("0", 0), ("+7", 7), ("-3", -3), ("", None)],
)
def test_whole_number_forms(text: str, value: int | None) -> None:
    """Whole numbers accept `25` and Excel's `25.0`; empty is no value."""
    result = parse_whole_number(text)
    assert result == value
    assert result is None or type(result) is int


@pytest.mark.parametrize("text", ["25.5", "twenty", "1e3", "2,5", "25 likes"])
def test_whole_number_rejects_fractions_and_words(text: str) -> None:
    """A fraction or a word is not a whole number; the message quotes it."""
    with pytest.raises(CellError) as caught:
        parse_whole_number(text)
    assert str(caught.value) == f'"{text}" is not a whole number (e.g. 25)'


@pytest.mark.parametrize("text", [CANONICAL, UPPER_UUID, "{" + UPPER_UUID + "}", f" {CANONICAL} "])
def test_uuid_any_case_and_braces_become_canonical(text: str) -> None:
    """Uuids in any case, with or without braces, come out lower-case and bare."""
    assert parse_uuid(text) == CANONICAL


@pytest.mark.parametrize("text", ["3c90c3cc", "not-a-uuid", CANONICAL + "0", "3c90c3cc0d444b5088"])
def test_uuid_rejects_other_text(text: str) -> None:
    """A value that is not a uuid is refused with an example of one."""
    with pytest.raises(CellError) as caught:
        parse_uuid(text)
    assert str(caught.value) == f'"{text}" is not a uuid (expected the form {CANONICAL})'


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (UPPER_UUID, CANONICAL),
        ("{" + CANONICAL + "}", CANONICAL),
        ("anna@example.com", "anna@example.com"),
        ("Anna.Smith@Example.CO.UK", "anna.smith@example.co.uk"),
    ],
)
def test_owner_is_a_uuid_or_an_email(text: str, value: str) -> None:
    """An owner is a uuid (made canonical) or an e-mail address."""
    assert parse_owner(text) == value


@pytest.mark.parametrize("text", ["anna", "anna@", "anna at example.com", "@example.com"])
def test_owner_rejects_other_text(text: str) -> None:
    """An owner that is neither is refused, saying both forms."""
    with pytest.raises(CellError) as caught:
        parse_owner(text)
    assert str(caught.value).startswith(f'"{text}" is neither a team member\'s id (uuid) nor')


@pytest.mark.parametrize(
    "text",
    [
        "TARGET_USER",
        "target_user",
        "Prospects",
        "PROSPECTS",
        "Prospects campaign",
        "prospects CAMPAIGN",
        " prospects ",
    ],
)
def test_prospects_campaign_type_names(text: str) -> None:
    """Every name of the Prospects type, in any case, is TARGET_USER."""
    assert parse_campaign_type(text) == "TARGET_USER"


@pytest.mark.parametrize(
    "text", ["KEYWORD", "keyword", "Topic", "tOpIc", "Topic campaign", "TOPIC CAMPAIGN"]
)
def test_topic_campaign_type_names(text: str) -> None:
    """Every name of the Topic type, in any case, is KEYWORD."""
    assert parse_campaign_type(text) == "KEYWORD"


def test_unknown_campaign_type_lists_the_choices() -> None:
    """An unknown type is refused, listing the accepted names."""
    with pytest.raises(CellError) as caught:
        parse_campaign_type("Prospect list")
    assert str(caught.value) == (
        '"Prospect list" is not a campaign type (use Prospects, Topic, TARGET_USER or KEYWORD)'
    )


@pytest.mark.parametrize(
    "text", ["like,praise;wow", "like, praise\nwow", "LIKE;\r\nPRAISE ; WOW,", " like ,,praise,wow"]
)
def test_token_lists_split_and_upper_case(text: str) -> None:
    """Token lists split on `,` `;` and new lines, trim items and upper-case them."""
    assert parse_token_list(text) == ["LIKE", "PRAISE", "WOW"]


def test_token_list_rejects_other_characters() -> None:
    """A token with anything but letters and underscores is refused, quoting it."""
    with pytest.raises(CellError) as caught:
        parse_token_list("LIKE, WOW-2")
    assert str(caught.value) == (
        '"WOW-2": each item must be letters and underscores only (e.g. LIKE, CELEBRATE)'
    )


def test_uuid_lists_split_and_become_canonical() -> None:
    """Uuid lists split on `,` `;` and new lines; each uuid becomes canonical."""
    assert parse_uuid_list(f"{UPPER_UUID};\n{{{TOPIC_ID}}}, ") == [CANONICAL, TOPIC_ID]
    assert parse_uuid_list(" ; ") is None


def test_uuid_list_names_the_bad_items() -> None:
    """Every item that is not a uuid is quoted in the message."""
    with pytest.raises(CellError) as caught:
        parse_uuid_list(f"{CANONICAL}, abc, def")
    assert str(caught.value).startswith('"abc", "def" are not uuids')


def test_text_is_trimmed() -> None:
    """Text cells are trimmed; blank is no value."""
    assert parse_text("  ACME  ") == "ACME"
    assert parse_text(" \t") is None


# --- whole rows ------------------------------------------------------------------------


def test_valid_rows_have_no_errors() -> None:
    """The helpers' Prospects and Topic rows are valid as they stand."""
    checked = check(PROSPECTS_ROW, TOPIC_ROW)
    assert errors(checked) == [[], []]
    assert checked.valid == [True, True]


def test_typed_values_are_parsed() -> None:
    """Cells become typed values: canonical uuids, ints, bools, upper-case lists."""
    row = dict(
        PROSPECTS_ROW,
        owner="{" + OWNER_ID.upper() + "}",
        min_post_likes="25.0",
        dm_enabled="Yes",
        emotion_types="like;praise",
        campaign_type="prospects campaign",
    )
    values = typed(check(row))
    assert values["owner"] == OWNER_ID
    assert values["min_post_likes"] == 25
    assert values["dm_enabled"] is True
    assert values["emotion_types"] == ["LIKE", "PRAISE"]
    assert values["campaign_type"] == "TARGET_USER"


def test_all_failures_of_a_row_are_reported_at_once() -> None:
    """A row with three bad cells gets exactly three messages, in column order."""
    row = dict(PROSPECTS_ROW, style_id="abc", min_post_likes="twenty", dm_enabled="maybe")
    assert errors_of(row) == [
        [
            f'style_id: "abc" is not a uuid (expected the form {CANONICAL})',
            'min_post_likes: "twenty" is not a whole number (e.g. 25)',
            'dm_enabled: "maybe" is not true or false (use true/false, yes/no or 1/0)',
        ]
    ]


def test_parse_range_and_cross_column_failures_come_together() -> None:
    """A parse error, a range error and a topic rule error on one row are all reported."""
    row = dict(TOPIC_ROW, style_id="abc", min_post_likes="-1", connect_enabled="true")
    assert errors_of(row) == [
        [
            f'style_id: "abc" is not a uuid (expected the form {CANONICAL})',
            "min_post_likes: -1 must be at least 0",
            "connect_enabled: does not apply to topic campaigns: leave it empty",
        ]
    ]


def test_messages_use_the_header_as_typed(tmp_path: Path) -> None:
    """Messages name the column by the header the user wrote, and quote the value."""
    header = ["Campaign Name", "Type", "Owner E-Mail", "Style", "Context", "Min Post Likes"]
    path = write_csv(
        tmp_path / "t.csv",
        header,
        [["A", "Topic", "anna@example.com", STYLE_ID, CANONICAL, "lots"]],
    )
    assert errors(validate(load([path]))) == [
        ['Min Post Likes: "lots" is not a whole number (e.g. 25)']
    ]


def test_required_cells_must_not_be_empty() -> None:
    """Each empty required cell is named with what it should hold."""
    row = dict(PROSPECTS_ROW, campaign_name=" ", owner="", style_id="", context_id="")
    row["campaign_type"] = ""
    messages = errors_of(row)[0]
    assert [m.split(":")[0] for m in messages] == [
        "campaign_name",
        "campaign_type",
        "owner",
        "style_id",
        "context_id",
    ]
    assert all(": is required: " in m for m in messages)


def test_required_columns_missing_from_the_sheet(tmp_path: Path) -> None:
    """A sheet without required columns is one file-level error naming them all."""
    path = write_csv(tmp_path / "t.csv", ["campaign_name"], [["A"]])
    with pytest.raises(InputError, match="no campaign_type, owner, style_id, context_id col"):
        validate(load([path]))


@pytest.mark.parametrize("column", ["owner", "style_id", "context_id", "campaign_key"])
def test_excel_mangled_numbers_are_flagged(column: str) -> None:
    """An id Excel turned into `1.23457E+17` is refused with an explanation."""
    messages = errors_of(dict(PROSPECTS_ROW, **{column: MANGLED}))[0]
    assert messages == [
        f'{column}: "{MANGLED}" looks like a number Excel turned into scientific notation; '
        "the original digits are lost: format the column as Text and type the value again"
    ]


def test_excel_mangled_number_from_a_real_workbook(tmp_path: Path) -> None:
    """A huge number typed into an xlsx id cell is read as Excel shows it and flagged."""
    header = list(PROSPECTS_ROW)
    values: list[Any] = list(PROSPECTS_ROW.values())
    values[header.index("campaign_key")] = 123456789012345678
    path = write_xlsx(tmp_path / "ids.xlsx", [header, values])
    (messages,) = errors(validate(load([path])))
    assert len(messages) == 1
    assert messages[0].startswith(f'campaign_key: "{MANGLED}" looks like a number Excel')


# --- numbers and their ranges ----------------------------------------------------------


@pytest.mark.parametrize("hours", ["24", "48", "72", "240", "48.0"])
def test_comment_interval_accepts_multiples_of_24(hours: str) -> None:
    """24, 48, 72... hours are accepted."""
    assert errors_of(dict(PROSPECTS_ROW, comment_interval_hours=hours)) == [[]]


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ("36", "36 must be a multiple of 24 (24, 48, 72...)"),
        ("12", "12 must be at least 24"),
        ("0", "0 must be at least 24"),
        ("-24", "-24 must be at least 24"),
    ],
)
def test_comment_interval_must_be_a_positive_multiple_of_24(hours: str, message: str) -> None:
    """Other intervals are refused, saying what is accepted."""
    messages = errors_of(dict(PROSPECTS_ROW, comment_interval_hours=hours))[0]
    assert f"comment_interval_hours: {message}" in messages


COUNT_COLUMNS = [
    "connect_after_direct_comments",
    "connect_after_indirect_comments",
    "connect_timeout_days",
    "dm_on_connect_after_days",
    "dm_on_relevant_post_after_days",
    "dm_on_timeout_after_days",
]


@pytest.mark.parametrize("column", COUNT_COLUMNS)
def test_counts_and_days_are_at_least_one(column: str) -> None:
    """Counts and days must be 1 or more; 1 itself is fine."""
    assert errors_of(dict(PROSPECTS_ROW, **{column: "1"})) == [[]]
    assert errors_of(dict(PROSPECTS_ROW, **{column: "0"})) == [[f"{column}: 0 must be at least 1"]]


def test_min_post_likes_may_be_zero_but_not_negative() -> None:
    """min_post_likes accepts 0 and refuses -1."""
    assert errors_of(dict(PROSPECTS_ROW, min_post_likes="0")) == [[]]
    assert errors_of(dict(PROSPECTS_ROW, min_post_likes="-1")) == [
        ["min_post_likes: -1 must be at least 0"]
    ]


def test_numbers_past_the_api_limit_are_refused() -> None:
    """A number above the API's largest integer is refused, naming the limit."""
    messages = errors_of(dict(PROSPECTS_ROW, min_post_likes="9007199254740992"))[0]
    assert messages == ["min_post_likes: 9007199254740992 must be at most 9007199254740991"]
    huge = errors_of(dict(PROSPECTS_ROW, min_post_likes="9" * 30))[0]
    assert len(huge) == 1
    assert huge[0].startswith("min_post_likes: ")


# --- topic campaigns -------------------------------------------------------------------

PROSPECTS_CELLS = [
    ("comment_interval_hours", "24"),
    ("connect_enabled", "false"),
    ("connect_after_direct_comments", "3"),
    ("connect_on_indirect_comments", "true"),
    ("connect_after_indirect_comments", "3"),
    ("connect_on_timeout", "false"),
    ("connect_timeout_days", "14"),
    ("connect_when_no_posts", "true"),
    ("dm_enabled", "false"),
    ("dm_on_connect", "true"),
    ("dm_on_connect_after_days", "1"),
    ("dm_on_relevant_post", "false"),
    ("dm_on_relevant_post_after_days", "1"),
    ("dm_on_timeout", "true"),
    ("dm_on_timeout_after_days", "14"),
]


def test_every_prospects_only_cell_is_covered() -> None:
    """The topic-rule tests below cover every Prospects-only column."""
    covered = {c for c, _ in PROSPECTS_CELLS} | {"skip_teammates_leads", "indirect_engagement"}
    assert covered == {c.name for c in COLUMNS if c.prospects_only}


@pytest.mark.parametrize(("column", "value"), PROSPECTS_CELLS)
def test_topic_row_with_a_prospects_only_cell_is_invalid(column: str, value: str) -> None:
    """A Topic row that fills a connect_/dm_/interval cell (even with false) is invalid."""
    assert errors_of(dict(TOPIC_ROW, **{column: value})) == [
        [f"{column}: does not apply to topic campaigns: leave it empty"]
    ]


@pytest.mark.parametrize("column", ["skip_teammates_leads", "indirect_engagement"])
@pytest.mark.parametrize("value", ["true", "YES", "1"])
def test_topic_row_with_a_true_switch_is_invalid(column: str, value: str) -> None:
    """A Topic row that turns on skip_teammates_leads or indirect_engagement is invalid."""
    assert errors_of(dict(TOPIC_ROW, **{column: value})) == [
        [f"{column}: does not apply to topic campaigns: leave it empty or false"]
    ]


@pytest.mark.parametrize("column", ["skip_teammates_leads", "indirect_engagement"])
@pytest.mark.parametrize("value", ["false", "No", "0", ""])
def test_topic_row_with_a_false_switch_is_fine(column: str, value: str) -> None:
    """False (or empty) skip_teammates_leads / indirect_engagement is fine on a Topic row."""
    assert errors_of(dict(TOPIC_ROW, **{column: value})) == [[]]


def test_topic_rule_message_uses_the_typed_header(tmp_path: Path) -> None:
    """The topic rule names the column as the user wrote it."""
    row = dict(TOPIC_ROW, connect_timeout_days="5")
    header = ["Connect Timeout Days" if k == "connect_timeout_days" else k for k in row]
    path = write_csv(tmp_path / "t.csv", header, [list(row.values())])
    assert errors(validate(load([path]))) == [
        ["Connect Timeout Days: does not apply to topic campaigns: leave it empty"]
    ]


# --- defaults --------------------------------------------------------------------------

PROSPECTS_BARE = {
    k: PROSPECTS_ROW[k]
    for k in ("campaign_name", "campaign_type", "owner", "style_id", "context_id")
}


def test_defaults_fill_empty_prospects_cells() -> None:
    """Empty cells of a Prospects row take the catalogue defaults."""
    values = typed(check(PROSPECTS_BARE))
    assert values["skip_teammates_leads"] is True
    assert values["indirect_engagement"] is False
    assert values["min_post_likes"] == 0
    expected = {
        "connect_after_direct_comments": 3,
        "connect_after_indirect_comments": 3,
        "connect_timeout_days": 14,
        "dm_on_connect_after_days": 1,
        "dm_on_relevant_post_after_days": 1,
        "dm_on_timeout_after_days": 14,
    }
    assert {k: values[k] for k in expected} == expected
    assert all(values[c.name] is False for c in COLUMNS if c.default == "false")
    assert missing(values["comment_interval_hours"])


def test_defaults_leave_topic_rows_without_prospects_values() -> None:
    """A Topic row gets the shared defaults but no Prospects-only ones."""
    bare = dict(PROSPECTS_BARE, campaign_type="Topic")
    checked = check(bare)
    assert errors(checked) == [[]]
    values = typed(checked)
    assert values["min_post_likes"] == 0
    assert values["important_prospects_first"] is False
    assert all(missing(values[c.name]) for c in COLUMNS if c.prospects_only)


def test_defaults_argument_overrides_the_catalogue() -> None:
    """`defaults=` (the config file) beats the catalogue default, and fills required cells."""
    bare = dict(PROSPECTS_BARE, owner="")
    checked = check(
        bare,
        defaults={"min_post_likes": "5", "skip_teammates_leads": "false", "owner": OWNER_ID},
    )
    assert errors(checked) == [[]]
    values = typed(checked)
    assert values["min_post_likes"] == 5
    assert values["skip_teammates_leads"] is False
    assert values["owner"] == OWNER_ID


def test_defaults_never_overwrite_a_cell() -> None:
    """A filled cell keeps its value whatever the defaults say."""
    checked = check(PROSPECTS_ROW, defaults={"min_post_likes": "5"})
    assert typed(checked)["min_post_likes"] == 25


# --- duplicate campaign keys -----------------------------------------------------------


def test_duplicate_explicit_keys_invalidate_every_row() -> None:
    """Rows sharing a campaign_key are all invalid, each naming the others."""
    a = dict(PROSPECTS_ROW, campaign_key="k1", campaign_name="A")
    b = dict(PROSPECTS_ROW, campaign_key="k1", campaign_name="B")
    c = dict(PROSPECTS_ROW, campaign_key=" k1 ", campaign_name="C")
    d = dict(PROSPECTS_ROW, campaign_key="k2", campaign_name="D")
    assert errors_of(a, b, c, d) == [
        ["campaign_key: 'k1' is also used by row 3, row 4"],
        ["campaign_key: 'k1' is also used by row 2, row 4"],
        ["campaign_key: 'k1' is also used by row 2, row 3"],
        [],
    ]


def test_duplicate_owner_and_name_invalidate_every_row() -> None:
    """Without keys, the same owner and normalised name ("ACME  ctos" = "acme ctos") clash."""
    a = dict(PROSPECTS_ROW, campaign_key="", campaign_name="ACME  ctos")
    b = dict(PROSPECTS_ROW, campaign_key="", campaign_name=" acme CTOS ", owner=OWNER_ID.upper())
    other_owner = dict(b, owner="anna@example.com")
    message = (
        "campaign_name: same owner and campaign name as row {} "
        "(give each a campaign_key or a different name)"
    )
    checked = check(a, b, other_owner)
    assert errors(checked) == [[message.format(3)], [message.format(2)], []]
    assert checked.keys[:2] == [f"{OWNER_ID}/acme ctos"] * 2


def test_duplicates_across_files_name_the_other_file(tmp_path: Path) -> None:
    """A key used in two files is refused in both, each naming the other file and row."""
    one = write_csv(tmp_path / "one.csv", list(PROSPECTS_ROW), [list(PROSPECTS_ROW.values())])
    rows = [list(TOPIC_ROW.values()), list(dict(TOPIC_ROW, campaign_key="acme-q1-cto").values())]
    two = write_csv(tmp_path / "two.csv", list(TOPIC_ROW), rows)
    assert errors(validate(load([one, two]))) == [
        ["campaign_key: 'acme-q1-cto' is also used by two.csv row 3"],
        [],
        ["campaign_key: 'acme-q1-cto' is also used by one.csv row 2"],
    ]


def test_duplicates_across_same_named_files_say_which_file(tmp_path: Path) -> None:
    """Two files with the same name in different folders are told apart in the message."""
    (tmp_path / "jan").mkdir()
    (tmp_path / "feb").mkdir()
    paths = [
        write_csv(tmp_path / month / "plan.csv", list(TOPIC_ROW), [list(TOPIC_ROW.values())])
        for month in ("jan", "feb")
    ]
    jan, feb = errors(validate(load(paths)))
    # A bare "is also used by row 2" would point the user at the very row they are on.
    assert len(jan) == len(feb) == 1
    assert str(Path("feb") / "plan.csv") in jan[0]
    assert str(Path("jan") / "plan.csv") in feb[0]


def test_apply_owners_counts_an_email_by_the_id_it_resolves_to() -> None:
    """An e-mail owner and the uuid it resolves to are one owner: same name clashes then."""
    by_email = dict(TOPIC_ROW, campaign_key="", owner="Anna@Example.com", campaign_name="Same")
    by_id = dict(TOPIC_ROW, campaign_key="", owner=OWNER_ID, campaign_name="same")
    stranger = dict(TOPIC_ROW, campaign_key="", owner="bob@example.com", campaign_name="Other")
    checked = check(by_email, by_id, stranger)
    assert errors(checked) == [[], [], []]
    resolved = apply_owners(
        checked, {"anna@example.com": OWNER_ID}, {"bob@example.com": "no team member has it"}
    )
    message = (
        "campaign_name: same owner and campaign name as row {} "
        "(give each a campaign_key or a different name)"
    )
    assert errors(resolved) == [
        [message.format(3)],
        [message.format(2)],
        ["owner: no team member has it"],
    ]
    assert resolved.keys[:2] == [f"{OWNER_ID}/same"] * 2
    assert resolved.values["owner"][0] == OWNER_ID


# --- emotion types allow-list ----------------------------------------------------------


def test_emotion_types_allow_list() -> None:
    """With `emotion_types=`, tokens outside the list are refused, naming them and the list."""
    allowed = frozenset({"LIKE", "PRAISE"})
    ok = dict(PROSPECTS_ROW, emotion_types="like, praise")
    bad = dict(PROSPECTS_ROW, campaign_key="k2", emotion_types="LIKE, WOW, MEH")
    assert errors_of(ok, bad, emotion_types=allowed) == [
        [],
        ["emotion_types: WOW, MEH not allowed (use LIKE, PRAISE)"],
    ]


def test_emotion_types_are_free_without_an_allow_list() -> None:
    """Without an allow-list any upper-case token passes."""
    assert errors_of(dict(PROSPECTS_ROW, emotion_types="WHATEVER_IT_IS")) == [[]]


def test_rows_keep_location_and_original_text(tmp_path: Path) -> None:
    """Checked rows carry source, sheet, row number and the cells as typed."""
    path = write_csv(tmp_path / "plan.csv", list(PROSPECTS_ROW), [list(PROSPECTS_ROW.values())])
    checked = validate(load([path]))
    first = checked.rows.iloc[0]
    assert (first["source"], first["sheet"], int(first["row"])) == ("plan.csv", "", 2)
    assert first["campaign_type"] == "Prospects"
    assert checked.sources == ("plan.csv",)


def test_check_rows_helper_round_trips(tmp_path: Path) -> None:
    """Rows written to CSV and read back validate like rows built in memory."""
    assert errors(check_rows(tmp_path, [PROSPECTS_ROW, TOPIC_ROW])) == [[], []]


# --- names, owners and booleans as real sheets write them (issue 9: 13, 14, 16) ---------


def test_names_are_nfc_before_keys_and_sending() -> None:
    """A combining accent and a composed letter are one name key, sent in NFC form."""
    from pipeline.map import map_rows

    composed = dict(PROSPECTS_ROW, campaign_key="", campaign_name="Caf\u00e9 CTOs")
    combining = dict(PROSPECTS_ROW, campaign_key="", campaign_name="Cafe\u0301 CTOs")
    checked = check(combining, composed)
    assert checked.keys[0] == checked.keys[1] == f"{OWNER_ID}/caf\u00e9 ctos"
    assert errors(checked)[0] == [
        "campaign_name: same owner and campaign name as row 3 "
        "(give each a campaign_key or a different name)"
    ]
    alone = check(combining)
    assert alone.values["campaign_name"] == ["Caf\u00e9 CTOs"]
    (payload,) = map_rows(alone)
    assert payload is not None and payload["name"] == "Caf\u00e9 CTOs"


def test_explicit_keys_are_compared_in_nfc() -> None:
    """Explicit campaign keys written with and without a combining accent clash."""
    a = dict(PROSPECTS_ROW, campaign_key="caf\u00e9-1", campaign_name="A")
    b = dict(PROSPECTS_ROW, campaign_key="cafe\u0301-1", campaign_name="B")
    assert check(a, b).keys == ["caf\u00e9-1", "caf\u00e9-1"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ACME\nQ1", '"ACME\\nQ1" holds a line break'),
        ("ACME\r\nQ1", '"ACME\\r\\nQ1" holds a line break'),
        ("ACME\tQ1", '"ACME\\tQ1" holds a tab'),
        ("ACME\x00Q1", '"ACME\\0Q1" holds a NUL character'),
        ("ACME\x07Q1", '"ACME\\u0007Q1" holds a control character (U+0007)'),
        ("ACME\x9bQ1", '"ACME\\u009bQ1" holds a control character (U+009B)'),
        ("ACME\u200bQ1", '"ACME\\u200bQ1" holds a zero-width space (U+200B)'),
        ("ACME\u200cQ1", '"ACME\\u200cQ1" holds a zero-width non-joiner (U+200C)'),
        ("ACME\u200dQ1", '"ACME\\u200dQ1" holds a zero-width joiner (U+200D)'),
        ("ACME\ufeffQ1", '"ACME\\ufeffQ1" holds a zero-width no-break space (U+FEFF)'),
        ("ACME\u2060Q1", '"ACME\\u2060Q1" holds a word joiner (U+2060)'),
        ("A\nB\tC", '"A\\nB\\tC" holds a line break and a tab'),
    ],
)
def test_campaign_name_with_invisible_characters_is_refused(name: str, message: str) -> None:
    """Control and zero-width characters in a campaign name are a message naming them."""
    row = dict(PROSPECTS_ROW, campaign_name=name)
    assert errors_of(row) == [
        [
            f"campaign_name: {message}; a campaign name must be one line of visible text: "
            "delete the character and type the name again"
        ]
    ]


def test_campaign_name_up_to_255_characters() -> None:
    """A name of 255 characters (counted in NFC) passes; 256 is a message at the cell."""
    assert errors_of(dict(PROSPECTS_ROW, campaign_name="e\u0301" * 255)) == [[]]
    long = "x" * 256
    assert errors_of(dict(PROSPECTS_ROW, campaign_name=long)) == [
        [f'campaign_name: "{"x" * 40}..." is 256 characters long; a campaign name has at most 255']
    ]


def test_name_rules_apply_to_a_sheet_on_disk(tmp_path: Path) -> None:
    """A multi-line Excel cell in a campaign name is refused at its row."""
    row = dict(PROSPECTS_ROW, campaign_name="ACME\nQ1")
    path = write_xlsx(tmp_path / "plan.xlsx", [list(row), list(row.values())])
    (found,) = errors(validate(load([path])))
    assert found[0].startswith('campaign_name: "ACME\\nQ1" holds a line break;')


@pytest.mark.parametrize(
    "text",
    [
        "Anna Adams <anna@example.com>",
        '"Adams, Anna" <Anna@Example.com>',
        "<anna@example.com>",
        "mailto:anna@example.com",
        "MAILTO:Anna@Example.com",
        "Anna Adams <mailto:anna@example.com>",
    ],
)
def test_owner_named_address_or_mailto_is_the_email(text: str) -> None:
    """`Name <address>` and `mailto:address` (any case) count as the e-mail address."""
    assert parse_owner(text) == "anna@example.com"


@pytest.mark.parametrize(
    "text",
    [
        CANONICAL.replace("-", ""),
        UPPER_UUID.replace("-", ""),
        f"urn:uuid:{CANONICAL}",
        f"URN:UUID:{UPPER_UUID}",
        f"urn:uuid:{CANONICAL.replace('-', '')}",
    ],
)
def test_owner_bare_or_urn_uuid_is_the_uuid(text: str) -> None:
    """32 hex digits or `urn:uuid:...` count as the uuid, made canonical."""
    assert parse_owner(text) == CANONICAL


@pytest.mark.parametrize(
    "text",
    ["Anna Adams <anna>", "mailto:anna", "urn:uuid:3c90c3cc", CANONICAL.replace("-", "")[:31]],
)
def test_owner_wrapped_forms_still_need_an_address_or_uuid(text: str) -> None:
    """A wrapper around something that is neither is refused like any other text."""
    with pytest.raises(CellError) as caught:
        parse_owner(text)
    assert str(caught.value).startswith(f'"{text}" is neither a team member\'s id (uuid) nor')


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[(t, True) for t in ["WAHR", "wahr", "VRAI", "Vrai", "WAAR", "VERO", "VERDADERO"]],
        *[(t, False) for t in ["FALSCH", "falsch", "FAUX", "ONWAAR", "FALSO", "Falso"]],
    ],
)
def test_boolean_accepts_european_excel_words(text: str, value: bool) -> None:
    """German, French, Dutch, Italian and Spanish Excel exports' TRUE/FALSE are booleans."""
    assert parse_boolean(text) is value


def test_european_boolean_in_a_sheet_validates() -> None:
    """A row written by a German Excel (WAHR/FALSCH) validates to true/false."""
    row = dict(PROSPECTS_ROW, skip_teammates_leads="WAHR", indirect_engagement="FALSCH")
    checked = check(row)
    assert errors(checked) == [[]]
    assert typed(checked)["skip_teammates_leads"] is True
    assert typed(checked)["indirect_engagement"] is False


# --- item 15: a missing required column, a sheet without rows ---------------------------


def _without_owner(count: int) -> list[dict[str, str]]:
    rows = [{k: v for k, v in PROSPECTS_ROW.items() if k != "owner"} for _ in range(count)]
    for number, row in enumerate(rows):
        row["campaign_key"] = f"no-owner-{number}"
    return rows


def test_missing_required_column_is_one_file_level_error(tmp_path: Path) -> None:
    """A sheet without an owner column is one exit-2 message naming it, not one per row."""
    with pytest.raises(InputError) as caught:
        check_rows(tmp_path, _without_owner(3))
    assert caught.value.exit_code == 2
    assert "rows.csv" in str(caught.value)
    assert "the sheet has no owner column; add one or set a default" in str(caught.value)


def test_missing_required_column_covered_by_a_default(tmp_path: Path) -> None:
    """A config default for the missing column fills every row: no error at all."""
    checked = check_rows(tmp_path, _without_owner(2), defaults={"owner": OWNER_ID})
    assert errors(checked) == [[], []]


def test_sheet_without_data_rows_warns_naming_it(tmp_path: Path) -> None:
    """A CSV with a header and no rows gives a warning naming the file."""
    path = write_csv(tmp_path / "empty.csv", list(PROSPECTS_ROW))
    checked = validate(load([path]))
    assert len(checked) == 0
    assert any("empty.csv" in w and "no data rows" in w for w in checked.warnings)


def test_workbook_sheet_without_data_rows_names_the_other_sheets(tmp_path: Path) -> None:
    """An empty campaigns sheet in a workbook: the warning names it and the other sheets."""
    path = write_xlsx(
        tmp_path / "book.xlsx", [list(PROSPECTS_ROW)], other_sheets={"Notes": [["x"]]}
    )
    checked = validate(load([path]))
    assert len(checked) == 0
    [warning] = [w for w in checked.warnings if "no data rows" in w]
    assert "campaigns" in warning and "Notes" in warning
