"""The mapper: typed rows -> exactly the payloads extrovert-api.md decides."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.load import load
from pipeline.map import map_rows, to_payload
from pipeline.parse import parse_campaign_type
from pipeline.validate import Checked, validate
from schemas.columns import COLUMNS, KEYWORD, Column, Kind
from schemas.payload import load_schema
from tests.helpers import (
    CONTEXT_ID,
    OWNER_ID,
    PROSPECTS_ROW,
    STYLE_ID,
    TOPIC_ID,
    TOPIC_ROW,
    errors,
    table,
)

VALIDATOR = jsonschema.Draft202012Validator(load_schema())
HYPOTHESIS = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def payloads(*rows: Mapping[str, str], owners: Mapping[str, str] | None = None) -> list[Any]:
    return map_rows(validate([table(list(rows))]), owners)


def assert_exact_types(value: Any) -> None:
    """No float and no numpy/pandas scalar anywhere: only JSON's own Python types."""
    if isinstance(value, dict):
        for item in value.values():
            assert_exact_types(item)
    elif isinstance(value, list):
        for item in value:
            assert_exact_types(item)
    else:
        assert type(value) in (str, int, bool), (value, type(value))


EXPECTED_PROSPECTS = {
    "ownerId": OWNER_ID,
    "name": "ACME Q1 - CTOs",
    "type": "TARGET_USER",
    "userStyleId": STYLE_ID,
    "userContextId": CONTEXT_ID,
    "postMaxAgeDays": 30,
    "skipTeammatesLeads": True,
    "isIndirectEngagementEnabled": False,
    "applyCommentIntervalH": 48,
    "postActivityFilter": {
        "emotionTypes": ["LIKE", "PRAISE"],
        "monitoredTopicIds": [TOPIC_ID],
        "isShowImportantTargetUsersFirstEnabled": True,
        "isShowDirectPostFirstEnabled": False,
        "minPostLikes": 25,
    },
    "connectingSettings": {
        "isSendConnectionRequestEnabled": True,
        "sendConnectionRequestOnDirectCommentCount": 2,
        "isSendConnectionRequestOnIndirectCommentEnabled": False,
        "sendConnectionRequestOnIndirectCommentCount": 4,
        "isSendConnectionRequestOnTimeoutEnabled": True,
        "sendConnectionRequestOnTimeoutDays": 10,
        "isSendConnectionRequestOnNoPostsEnabled": False,
    },
    "dmSettings": {
        "isGenerateDmEnabled": True,
        "isGenerateDmOnConnectEnabled": True,
        "generateDmOnConnectAfterDaysCount": 2,
        "isGenerateDmOnRelevantPostEnabled": False,
        "generateDmOnRelevantPostAfterDaysCount": 3,
        "isGenerateDmOnTimeoutEnabled": True,
        "generateDmOnTimeoutAfterDaysCount": 21,
    },
}

EXPECTED_TOPIC = {
    "ownerId": OWNER_ID,
    "name": "Topic - generative AI",
    "type": "KEYWORD",
    "userStyleId": STYLE_ID,
    "userContextId": CONTEXT_ID,
    "postMaxAgeDays": 30,
    "skipTeammatesLeads": False,
    "isIndirectEngagementEnabled": False,
    "postActivityFilter": {
        "emotionTypes": ["LIKE"],
        "monitoredTopicIds": [TOPIC_ID],
        "isShowImportantTargetUsersFirstEnabled": False,
        "isShowDirectPostFirstEnabled": True,
        "minPostLikes": 50,
    },
}

BARE = {
    "campaign_name": "  Bare   campaign ",
    "owner": OWNER_ID.upper(),
    "style_id": "{" + STYLE_ID + "}",
    "context_id": CONTEXT_ID,
}


def test_prospects_payload_is_exact() -> None:
    """A full Prospects row maps to exactly the decided TARGET_USER payload."""
    (payload,) = payloads(PROSPECTS_ROW)
    assert payload == EXPECTED_PROSPECTS
    assert_exact_types(payload)


def test_topic_payload_is_exact() -> None:
    """A Topic row maps to the KEYWORD payload: no settings objects, both switches false."""
    (payload,) = payloads(TOPIC_ROW)
    assert payload == EXPECTED_TOPIC
    assert_exact_types(payload)


def test_topic_false_switches_are_sent_false() -> None:
    """A Topic row that writes its two switches as false still sends them as false."""
    row = dict(TOPIC_ROW, skip_teammates_leads="FALSE", indirect_engagement="no")
    assert payloads(row) == [EXPECTED_TOPIC]


def test_bare_prospects_row_gets_every_default() -> None:
    """Empty Prospects cells become the decided defaults, complete settings objects included."""
    (payload,) = payloads(dict(BARE, campaign_type="prospects"))
    assert payload == {
        "ownerId": OWNER_ID,
        "name": "Bare   campaign",
        "type": "TARGET_USER",
        "userStyleId": STYLE_ID,
        "userContextId": CONTEXT_ID,
        "postMaxAgeDays": 30,
        "skipTeammatesLeads": True,
        "isIndirectEngagementEnabled": False,
        "postActivityFilter": {
            "emotionTypes": [],
            "monitoredTopicIds": [],
            "isShowImportantTargetUsersFirstEnabled": False,
            "isShowDirectPostFirstEnabled": False,
            "minPostLikes": 0,
        },
        "connectingSettings": {
            "isSendConnectionRequestEnabled": False,
            "sendConnectionRequestOnDirectCommentCount": 3,
            "isSendConnectionRequestOnIndirectCommentEnabled": False,
            "sendConnectionRequestOnIndirectCommentCount": 3,
            "isSendConnectionRequestOnTimeoutEnabled": False,
            "sendConnectionRequestOnTimeoutDays": 14,
            "isSendConnectionRequestOnNoPostsEnabled": False,
        },
        "dmSettings": {
            "isGenerateDmEnabled": False,
            "isGenerateDmOnConnectEnabled": False,
            "generateDmOnConnectAfterDaysCount": 1,
            "isGenerateDmOnRelevantPostEnabled": False,
            "generateDmOnRelevantPostAfterDaysCount": 1,
            "isGenerateDmOnTimeoutEnabled": False,
            "generateDmOnTimeoutAfterDaysCount": 14,
        },
    }
    assert_exact_types(payload)


def test_bare_topic_row_gets_the_filter_defaults() -> None:
    """An empty Topic row sends the filter defaults and nothing Prospects-only."""
    (payload,) = payloads(dict(BARE, campaign_type="Topic campaign"))
    assert payload == {
        "ownerId": OWNER_ID,
        "name": "Bare   campaign",
        "type": "KEYWORD",
        "userStyleId": STYLE_ID,
        "userContextId": CONTEXT_ID,
        "postMaxAgeDays": 30,
        "skipTeammatesLeads": False,
        "isIndirectEngagementEnabled": False,
        "postActivityFilter": {
            "emotionTypes": [],
            "monitoredTopicIds": [],
            "isShowImportantTargetUsersFirstEnabled": False,
            "isShowDirectPostFirstEnabled": False,
            "minPostLikes": 0,
        },
    }


def test_comment_interval_is_sent_only_when_set() -> None:
    """applyCommentIntervalH is absent when the cell is empty, an int when it is set."""
    unset, set_ = payloads(
        dict(PROSPECTS_ROW, comment_interval_hours=""),
        dict(PROSPECTS_ROW, campaign_key="k2", comment_interval_hours="72.0"),
    )
    assert "applyCommentIntervalH" not in unset
    assert set_["applyCommentIntervalH"] == 72
    assert type(set_["applyCommentIntervalH"]) is int


def test_owner_emails_are_replaced_by_their_ids() -> None:
    """With an owners mapping an e-mail owner is sent as the member's id; ids pass through."""
    member = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    by_email = dict(PROSPECTS_ROW, owner="Anna@Example.com")
    by_id = dict(TOPIC_ROW)
    first, second = payloads(by_email, by_id, owners={"anna@example.com": member})
    assert first["ownerId"] == member
    assert second["ownerId"] == OWNER_ID


def test_owner_email_without_mapping_is_kept() -> None:
    """Without a mapping (validate has no network) the e-mail stays, lower-cased."""
    (payload,) = payloads(dict(PROSPECTS_ROW, owner="Anna@Example.com"))
    assert payload["ownerId"] == "anna@example.com"


def test_invalid_rows_give_no_payload() -> None:
    """An invalid row maps to None; the valid rows around it still map."""
    bad = dict(PROSPECTS_ROW, campaign_key="other", min_post_likes="-1")
    result = payloads(TOPIC_ROW, bad, PROSPECTS_ROW)
    assert result == [EXPECTED_TOPIC, None, EXPECTED_PROSPECTS]


def test_to_payload_sends_no_other_field() -> None:
    """Every payload key is an API field the catalogue or the decisions name."""
    allowed = {c.api_path.split(".")[0] for c in COLUMNS if c.api_path} | {"postMaxAgeDays"}
    for payload in payloads(PROSPECTS_ROW, TOPIC_ROW):
        assert set(payload) <= allowed


def test_fixed_payloads_match_the_committed_schema() -> None:
    """Both exact payloads satisfy schemas/payload.schema.json."""
    VALIDATOR.validate(EXPECTED_PROSPECTS)
    VALIDATOR.validate(EXPECTED_TOPIC)


def test_schema_refuses_what_the_decisions_forbid() -> None:
    """The schema holds KEYWORD payloads to the rules: no settings, switches false."""
    with_settings = dict(
        EXPECTED_TOPIC, connectingSettings=EXPECTED_PROSPECTS["connectingSettings"]
    )
    assert not VALIDATOR.is_valid(with_settings)
    assert not VALIDATOR.is_valid(dict(EXPECTED_TOPIC, skipTeammatesLeads=True))
    assert not VALIDATOR.is_valid(dict(EXPECTED_TOPIC, applyCommentIntervalH=24))
    prospects_without_dm = {k: v for k, v in EXPECTED_PROSPECTS.items() if k != "dmSettings"}
    assert not VALIDATOR.is_valid(prospects_without_dm)
    assert not VALIDATOR.is_valid(dict(EXPECTED_PROSPECTS, postMaxAgeDays=0))
    assert not VALIDATOR.is_valid(dict(EXPECTED_PROSPECTS, extra=1))


def test_to_payload_takes_a_plain_record() -> None:
    """to_payload works on a plain mapping of typed values (no pandas needed)."""
    record: dict[str, Any] = {c.name: None for c in COLUMNS}
    record.update(
        campaign_name="X",
        campaign_type="KEYWORD",
        owner=OWNER_ID,
        style_id=STYLE_ID,
        context_id=CONTEXT_ID,
        min_post_likes=0,
        important_prospects_first=False,
        direct_posts_first=False,
    )
    payload = to_payload(record)
    VALIDATOR.validate(payload)
    assert payload["postActivityFilter"]["emotionTypes"] == []


# --- property tests --------------------------------------------------------------------

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,;:!?&()/éüßÅ'\"#"


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.lower(), word.capitalize(), word.swapcase()])


def _padded(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["", " ", "  "]), strategy, st.sampled_from(["", " "])).map(
        "".join
    )


@st.composite
def uuid_texts(draw: st.DrawFn) -> str:
    value = str(draw(st.uuids()))
    value = draw(st.sampled_from([value, value.upper()]))
    return draw(st.sampled_from([value, "{" + value + "}"]))


EMAILS = st.builds(
    "{}@{}.{}".format,
    st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=8).filter(
        lambda s: s[0] not in ".+-"
    ),
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    st.sampled_from(["com", "io", "de", "co.uk"]),
).flatmap(_cased)

TRUE_WORDS = ["true", "yes", "y", "1"]
FALSE_WORDS = ["false", "no", "n", "0"]


def booleans(value: bool | None = None) -> st.SearchStrategy[str]:
    words = TRUE_WORDS if value is True else FALSE_WORDS if value is False else []
    if value is None:
        words = TRUE_WORDS + FALSE_WORDS
    return _padded(st.sampled_from(words).flatmap(_cased))


def whole(minimum: int, step: int = 1, maximum: int = 10_000) -> st.SearchStrategy[str]:
    numbers = st.integers(minimum // step if minimum > 0 else 0, maximum // step).map(
        lambda n: n * step
    )
    numbers = numbers.filter(lambda n: n >= minimum)
    return numbers.flatmap(lambda n: st.sampled_from([str(n), f"{n}.0", f"+{n}"]))


def token_lists() -> st.SearchStrategy[str]:
    token = st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10
    )
    separator = st.sampled_from([",", ", ", ";", "\n", " ; "])
    return st.lists(st.tuples(token, separator), min_size=1, max_size=4).map(
        lambda items: "".join(t + s for t, s in items)[:-1]
    )


def uuid_lists() -> st.SearchStrategy[str]:
    separator = st.sampled_from([",", ", ", ";", "\n"])
    return st.lists(st.tuples(uuid_texts(), separator), min_size=1, max_size=3).map(
        lambda items: "".join(u + s for u, s in items).rstrip(",;\n ")
    )


NAMES = st.text(ALPHABET, min_size=1, max_size=30).filter(
    lambda s: s.strip() != "" and not s.strip().startswith(("'", "=", "+", "-", "@"))
)


def maybe(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), strategy)


def cell_strategy(column: Column, topic: bool) -> st.SearchStrategy[str]:
    """Accepted text for one column of a row of the given type (empty included)."""
    if topic and column.prospects_only:
        if column.name in ("skip_teammates_leads", "indirect_engagement"):
            return maybe(booleans(False))
        return st.just("")
    if column.kind is Kind.BOOLEAN:
        return maybe(booleans())
    if column.kind is Kind.WHOLE_NUMBER:
        return maybe(_padded(whole(column.minimum or 0, column.multiple_of or 1)))
    if column.kind is Kind.TOKEN_LIST:
        return maybe(token_lists())
    if column.kind is Kind.UUID_LIST:
        return maybe(uuid_lists())
    raise AssertionError(column.name)  # pragma: no cover - every other kind is drawn below


TYPE_NAMES = {
    False: ["TARGET_USER", "Prospects", "Prospects campaign", "prospects-campaign"],
    True: ["KEYWORD", "Topic", "Topic campaign", "topic  campaign"],
}
FIXED = ("campaign_key", "campaign_name", "campaign_type", "owner", "style_id", "context_id")


@st.composite
def valid_rows(draw: st.DrawFn, index: int) -> dict[str, str]:
    topic = draw(st.booleans())
    row = {
        # Keys or names made unique per row, so no two rows share a campaign key.
        "campaign_key": draw(st.sampled_from(["", f"key-{index}", f" K{index} "])),
        "campaign_name": draw(NAMES) + f" #{index}",
        "campaign_type": draw(_padded(st.sampled_from(TYPE_NAMES[topic]).flatmap(_cased))),
        "owner": draw(st.one_of(uuid_texts(), EMAILS)),
        "style_id": draw(uuid_texts()),
        "context_id": draw(uuid_texts()),
    }
    for column in COLUMNS:
        if column.name not in FIXED:
            row[column.name] = draw(cell_strategy(column, topic))
    return row


@st.composite
def valid_sheets(draw: st.DrawFn) -> tuple[list[str], list[dict[str, str]]]:
    """Header spellings (name, alias or API name, any case) and 1-4 valid rows."""
    count = draw(st.integers(1, 4))
    rows = [draw(valid_rows(i)) for i in range(count)]
    header = [
        draw(st.sampled_from(c.all_names()).flatmap(_cased)).replace("\n", " ") for c in COLUMNS
    ]
    return header, rows


def write_sheet(folder: Path, header: list[str], rows: list[dict[str, str]], style: int) -> Path:
    delimiter = [",", ";", "\t"][style % 3]
    encoding = ["utf-8", "utf-8-sig", "utf-16"][style // 3]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([row[c.name] for c in COLUMNS] for row in rows)
    path = folder / "plan.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def resolve_owners(checked: Checked) -> dict[str, str]:
    """A made-up team: each e-mail owner resolves to a uuid."""
    emails = {o for o in checked.values["owner"] if isinstance(o, str) and "@" in o}
    return {email: f"00000000-0000-4000-8000-{n:012d}" for n, email in enumerate(sorted(emails))}


@HYPOTHESIS
@given(sheet=valid_sheets(), style=st.integers(0, 8))
def test_every_valid_row_maps_to_a_schema_valid_payload(
    sheet: tuple[list[str], list[dict[str, str]]], style: int
) -> None:
    """Random valid rows, written to CSV and loaded, are valid and map to schema-valid payloads."""
    header, rows = sheet
    with tempfile.TemporaryDirectory() as folder:
        checked = validate(load([write_sheet(Path(folder), header, rows, style)]))
    assert errors(checked) == [[] for _ in rows]
    owners = resolve_owners(checked)
    mapped = map_rows(checked, owners)
    for row, payload in zip(rows, mapped, strict=True):
        assert payload is not None
        VALIDATOR.validate(payload)
        assert_exact_types(payload)
        assert payload["name"] == row["campaign_name"].strip()
        assert "@" not in payload["ownerId"]


INVALID_CELLS: dict[str, list[str]] = {
    "campaign_key": ["1.23457E+17", "9,87654E+15"],
    "campaign_name": ["", "   ", "1.5E+10"],
    "campaign_type": ["", "Prospect list", "KW", "targetusers"],
    "owner": ["", "anna", "anna@", "1.23457E+17", "anna@example"],
    "style_id": ["", "abc", "1.23457E+17", "3c90c3cc-0d44-4b50-8888"],
    "context_id": ["", "not a uuid"],
    "skip_teammates_leads": ["maybe", "2"],
    "indirect_engagement": ["tru", "-1"],
    "comment_interval_hours": ["36", "0", "12", "-24", "24.5", "daily"],
    "emotion_types": ["LIKE-IT", "1", "LIKE, WOW2"],
    "monitored_topic_ids": ["abc", f"{TOPIC_ID}, x"],
    "important_prospects_first": ["si"],
    "direct_posts_first": ["nope"],
    "min_post_likes": ["-1", "many", "2.5", "9007199254740992"],
    **{
        c.name: ["0", "-3", "one", "1.5"]
        for c in COLUMNS
        if c.kind is Kind.WHOLE_NUMBER and c.prospects_only and c.minimum == 1
    },
    **{
        c.name: ["on", "x"]
        for c in COLUMNS
        if c.kind is Kind.BOOLEAN and c.prospects_only and c.name.startswith(("connect", "dm"))
    },
}


def test_invalid_cells_cover_every_column() -> None:
    """The invalid-cell table below has bad values for every catalogue column."""
    assert set(INVALID_CELLS) == {c.name for c in COLUMNS}


@st.composite
def invalid_rows(draw: st.DrawFn, index: int) -> dict[str, str]:
    """A valid row with 1-3 cells made invalid (or a Prospects-only cell on a topic row)."""
    row = draw(valid_rows(index))
    topic = parse_campaign_type(row["campaign_type"]) == KEYWORD
    prospects_only = [c.name for c in COLUMNS if c.prospects_only]
    if topic and draw(st.booleans()):
        column = draw(st.sampled_from(prospects_only))
        if column in ("skip_teammates_leads", "indirect_engagement"):
            row[column] = draw(booleans(True))
        else:
            row[column] = draw(cell_strategy(next(c for c in COLUMNS if c.name == column), False))
            if not row[column].strip():
                row[column] = "1"
    else:
        for column in draw(st.lists(st.sampled_from(list(INVALID_CELLS)), min_size=1, max_size=3)):
            row[column] = draw(st.sampled_from(INVALID_CELLS[column]))
    return row


@HYPOTHESIS
@given(data=st.data())
def test_no_invalid_row_ever_produces_a_payload(data: st.DataObject) -> None:
    """Rows with at least one invalid cell map to None; the valid rows beside them still map."""
    bad = [data.draw(invalid_rows(i)) for i in range(data.draw(st.integers(1, 3)))]
    good = [data.draw(valid_rows(i + 10)) for i in range(data.draw(st.integers(0, 2)))]
    rows = data.draw(st.permutations(bad + good))
    checked = validate([table(rows)])
    mapped = map_rows(checked)
    for row, payload, problems in zip(rows, mapped, checked.errors, strict=True):
        if row in bad:
            assert problems, row
            assert payload is None
        else:
            assert not problems, (row, problems)
            assert payload is not None
