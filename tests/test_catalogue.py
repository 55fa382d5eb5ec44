"""The column catalogue and the files generated from it (schema, README table)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.template import column_reference
from schemas.columns import (
    BY_NAME,
    COLUMNS,
    HEADER_INDEX,
    TARGET_USER,
    Column,
    normalise_header,
)
from schemas.payload import SCHEMA_PATH, render_schema

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# DESIGN.md's column list (section "Input sheets"): name -> API path ("" = none).
DESIGN_COLUMNS = {
    "campaign_key": "",
    "campaign_name": "name",
    "campaign_type": "type",
    "owner": "ownerId",
    "style_id": "userStyleId",
    "context_id": "userContextId",
    "skip_teammates_leads": "skipTeammatesLeads",
    "indirect_engagement": "isIndirectEngagementEnabled",
    "comment_interval_hours": "applyCommentIntervalH",
    "emotion_types": "postActivityFilter.emotionTypes",
    "monitored_topic_ids": "postActivityFilter.monitoredTopicIds",
    "important_prospects_first": "postActivityFilter.isShowImportantTargetUsersFirstEnabled",
    "direct_posts_first": "postActivityFilter.isShowDirectPostFirstEnabled",
    "min_post_likes": "postActivityFilter.minPostLikes",
    "connect_enabled": "connectingSettings.isSendConnectionRequestEnabled",
    "connect_after_direct_comments": "connectingSettings.sendConnectionRequestOnDirectCommentCount",
    "connect_on_indirect_comments": (
        "connectingSettings.isSendConnectionRequestOnIndirectCommentEnabled"
    ),
    "connect_after_indirect_comments": (
        "connectingSettings.sendConnectionRequestOnIndirectCommentCount"
    ),
    "connect_on_timeout": "connectingSettings.isSendConnectionRequestOnTimeoutEnabled",
    "connect_timeout_days": "connectingSettings.sendConnectionRequestOnTimeoutDays",
    "connect_when_no_posts": "connectingSettings.isSendConnectionRequestOnNoPostsEnabled",
    "dm_enabled": "dmSettings.isGenerateDmEnabled",
    "dm_on_connect": "dmSettings.isGenerateDmOnConnectEnabled",
    "dm_on_connect_after_days": "dmSettings.generateDmOnConnectAfterDaysCount",
    "dm_on_relevant_post": "dmSettings.isGenerateDmOnRelevantPostEnabled",
    "dm_on_relevant_post_after_days": "dmSettings.generateDmOnRelevantPostAfterDaysCount",
    "dm_on_timeout": "dmSettings.isGenerateDmOnTimeoutEnabled",
    "dm_on_timeout_after_days": "dmSettings.generateDmOnTimeoutAfterDaysCount",
}
# Marked (P) in DESIGN.md, or TARGET_USER-only by extrovert-api.md's decisions 3 and 4.
PROSPECTS_ONLY = {
    "skip_teammates_leads",
    "indirect_engagement",
    "comment_interval_hours",
    *(name for name in DESIGN_COLUMNS if name.startswith(("connect_", "dm_"))),
}


def test_no_two_spellings_collide() -> None:
    """Every normalised spelling (name, alias, API field, API path) names one column only."""
    owners: dict[str, set[str]] = {}
    for column in COLUMNS:
        for spelling in column.all_names():
            owners.setdefault(normalise_header(spelling), set()).add(column.name)
    clashes = {spelling: names for spelling, names in owners.items() if len(names) > 1}
    assert clashes == {}
    assert {k: v.name for k, v in HEADER_INDEX.items()} == {
        k: next(iter(v)) for k, v in owners.items()
    }


def test_column_names_are_unique() -> None:
    """No column name appears twice in the catalogue."""
    names = [c.name for c in COLUMNS]
    assert len(names) == len(set(names))


def test_catalogue_has_exactly_the_design_columns() -> None:
    """The catalogue lists DESIGN.md's columns, in its order, with its API paths."""
    assert [c.name for c in COLUMNS] == list(DESIGN_COLUMNS)
    assert {c.name: c.api_path for c in COLUMNS} == DESIGN_COLUMNS


def test_prospects_only_columns_match_the_design() -> None:
    """Exactly the (P) columns and the two TARGET_USER switches are Prospects-only."""
    assert {c.name for c in COLUMNS if c.prospects_only} == PROSPECTS_ONLY
    assert all(c.types == {TARGET_USER} for c in COLUMNS if c.name in PROSPECTS_ONLY)


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: c.name)
def test_every_column_is_found_by_its_api_names(column: Column) -> None:
    """A column's own name, its API field and its dotted API path all match it."""
    spellings = [column.name]
    if column.api_path:
        spellings += [column.api_field, column.api_path]
    for spelling in spellings:
        assert HEADER_INDEX[normalise_header(spelling)] is BY_NAME[column.name]


def test_every_column_has_help_text() -> None:
    """Each column carries a one-line help text for the template and the README."""
    assert all(c.help.strip() and "\n" not in c.help for c in COLUMNS)


def test_committed_payload_schema_is_current() -> None:
    """schemas/payload.schema.json is exactly what render_schema() generates now."""
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema()


def _readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- columns:start[^\n]*-->\n(.*?)<!-- columns:end -->", text, re.S)
    assert match is not None, "README.md has no columns:start / columns:end markers"
    return match.group(1)


def test_readme_column_table_is_generated_from_the_catalogue() -> None:
    """The README's column table is exactly column_reference()."""
    assert _readme_table().strip() == column_reference().strip()


def test_readme_opens_with_make_demo_and_make_test() -> None:
    """The README's first commands (before any section) are `make demo` and `make test`."""
    text = README.read_text(encoding="utf-8")
    opening = text.split("\n## ", 1)[0]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", opening, re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    assert "make demo" in commands
    assert "make test" in commands
