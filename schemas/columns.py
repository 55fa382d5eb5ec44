"""The column catalogue: the single source of truth for every sheet column.

Each `Column` says what a header may be called, where its value goes in the API
payload, how a cell is parsed, what an empty cell means and which campaign types the
column applies to. The Pandera model (`schemas.rows`), the mapper (`pipeline.map`), the
templates and the README's column table are all derived from `COLUMNS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """How a cell is parsed. The value is the name shown to users."""

    TEXT = "text"
    UUID = "uuid"
    OWNER = "owner"
    BOOLEAN = "boolean"
    WHOLE_NUMBER = "whole number"
    UUID_LIST = "list of uuids"
    TOKEN_LIST = "list of tokens"
    CAMPAIGN_TYPE = "campaign type"


TARGET_USER: Final = "TARGET_USER"
KEYWORD: Final = "KEYWORD"
CAMPAIGN_TYPES: Final = (TARGET_USER, KEYWORD)
BOTH: Final = frozenset(CAMPAIGN_TYPES)
PROSPECTS_ONLY: Final = frozenset({TARGET_USER})

# The largest integer the API accepts (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_API_INT: Final = 9_007_199_254_740_991

# The names users may give a campaign type, normalised by `normalise_header`.
CAMPAIGN_TYPE_NAMES: Final = {
    "targetuser": TARGET_USER,
    "prospects": TARGET_USER,
    "prospectscampaign": TARGET_USER,
    "keyword": KEYWORD,
    "topic": KEYWORD,
    "topiccampaign": KEYWORD,
}
CAMPAIGN_TYPE_CHOICES: Final = (
    "TARGET_USER",
    "KEYWORD",
    "Prospects",
    "Prospects campaign",
    "Topic",
    "Topic campaign",
)


@dataclass(frozen=True)
class Column:
    """One sheet column.

    `api_path` is the dotted path of the payload field, or "" for a column that only
    steers the pipeline (`campaign_key`). `default` is the cell text an empty cell stands
    for ("" means no default). `minimum` bounds whole numbers; `multiple_of` too.
    """

    name: str
    kind: Kind
    api_path: str
    help: str
    default: str = ""
    required: bool = False
    types: frozenset[str] = BOTH
    aliases: tuple[str, ...] = ()
    minimum: int | None = None
    multiple_of: int | None = None
    example: str = ""

    @property
    def api_field(self) -> str:
        """The last part of the API path (`minPostLikes`), or ""."""
        return self.api_path.rsplit(".", 1)[-1]

    @property
    def prospects_only(self) -> bool:
        return self.types == PROSPECTS_ONLY

    def all_names(self) -> tuple[str, ...]:
        """Every spelling that names this column: its name, aliases and API names."""
        names = [self.name, *self.aliases]
        if self.api_path:
            names += [self.api_field, self.api_path]
        return tuple(names)


def _count(name: str, path: str, default: int, what: str) -> Column:
    return Column(
        name,
        Kind.WHOLE_NUMBER,
        path,
        f"{what} (whole number, at least 1).",
        default=str(default),
        types=PROSPECTS_ONLY,
        minimum=1,
        example=str(default),
    )


def _switch(name: str, path: str, what: str, types: frozenset[str] = PROSPECTS_ONLY) -> Column:
    return Column(name, Kind.BOOLEAN, path, what, default="false", types=types, example="false")


_CS = "connectingSettings."
_DM = "dmSettings."
_PF = "postActivityFilter."

COLUMNS: Final[tuple[Column, ...]] = (
    Column(
        "campaign_key",
        Kind.TEXT,
        "",
        "Your own unique id for the campaign; when empty, owner + campaign name is the key.",
        aliases=("key", "external_id", "campaign_id_ext"),
        example="acme-q1-cto",
    ),
    Column(
        "campaign_name",
        Kind.TEXT,
        "name",
        "Display name of the campaign.",
        required=True,
        aliases=("campaign", "title"),
        example="ACME Q1 - CTOs",
    ),
    Column(
        "campaign_type",
        Kind.CAMPAIGN_TYPE,
        "type",
        "Prospects (TARGET_USER) or Topic (KEYWORD).",
        required=True,
        aliases=("campaign type",),
        example="Prospects",
    ),
    Column(
        "owner",
        Kind.OWNER,
        "ownerId",
        "Team member who owns the campaign: their id (uuid), their e-mail address or a name "
        "from the config's [names.owner].",
        required=True,
        aliases=("owner_id", "owner_email", "owner e-mail"),
        example="anna@example.com",
    ),
    Column(
        "style_id",
        Kind.UUID,
        "userStyleId",
        "Id (uuid) of the Style the campaign writes in, or its name from the config's "
        "[names.style].",
        required=True,
        aliases=("style", "user_style_id"),
        example="8d256aa6-9b12-49a7-93ee-bf41634b5b60",
    ),
    Column(
        "context_id",
        Kind.UUID,
        "userContextId",
        "Id (uuid) of the Context the campaign uses, or its name from the config's "
        "[names.context].",
        required=True,
        aliases=("context", "user_context_id"),
        example="3c90c3cc-0d44-4b50-8888-8dd25736052a",
    ),
    Column(
        "skip_teammates_leads",
        Kind.BOOLEAN,
        "skipTeammatesLeads",
        "Skip prospects already in a teammate's campaign (Prospects only).",
        default="true",
        types=PROSPECTS_ONLY,
        example="true",
    ),
    _switch(
        "indirect_engagement",
        "isIndirectEngagementEnabled",
        "Also engage with posts the prospect is likely to see (Prospects only).",
    ),
    Column(
        "comment_interval_hours",
        Kind.WHOLE_NUMBER,
        "applyCommentIntervalH",
        "Minimum hours between automated comments: 24, 48, 72... (empty = off).",
        types=PROSPECTS_ONLY,
        aliases=("comment_interval", "apply_comment_interval_h"),
        minimum=24,
        multiple_of=24,
        example="24",
    ),
    Column(
        "emotion_types",
        Kind.TOKEN_LIST,
        _PF + "emotionTypes",
        "Emotion types to engage with, upper-case tokens separated by commas.",
        aliases=("emotions",),
    ),
    Column(
        "monitored_topic_ids",
        Kind.UUID_LIST,
        _PF + "monitoredTopicIds",
        "Ids (uuids) of monitored topics, or their names from the config's [names.topic], "
        "separated by commas.",
        aliases=("monitored_topics", "topic_ids"),
    ),
    _switch(
        "important_prospects_first",
        _PF + "isShowImportantTargetUsersFirstEnabled",
        "Show posts of important prospects first.",
        types=BOTH,
    ),
    _switch(
        "direct_posts_first",
        _PF + "isShowDirectPostFirstEnabled",
        "Show the prospects' own posts first.",
        types=BOTH,
    ),
    Column(
        "min_post_likes",
        Kind.WHOLE_NUMBER,
        _PF + "minPostLikes",
        "Only engage with posts that have at least this many likes (0 or more).",
        default="0",
        minimum=0,
        example="25",
    ),
    _switch(
        "connect_enabled",
        _CS + "isSendConnectionRequestEnabled",
        "Send LinkedIn connection requests (Prospects only).",
    ),
    _count(
        "connect_after_direct_comments",
        _CS + "sendConnectionRequestOnDirectCommentCount",
        3,
        "Connect after this many comments on the prospect's own posts",
    ),
    _switch(
        "connect_on_indirect_comments",
        _CS + "isSendConnectionRequestOnIndirectCommentEnabled",
        "Also count comments on indirect posts towards connecting (Prospects only).",
    ),
    _count(
        "connect_after_indirect_comments",
        _CS + "sendConnectionRequestOnIndirectCommentCount",
        3,
        "Connect after this many comments on indirect posts",
    ),
    _switch(
        "connect_on_timeout",
        _CS + "isSendConnectionRequestOnTimeoutEnabled",
        "Connect after a number of days even without enough comments (Prospects only).",
    ),
    _count(
        "connect_timeout_days",
        _CS + "sendConnectionRequestOnTimeoutDays",
        14,
        "Days before connecting on timeout",
    ),
    _switch(
        "connect_when_no_posts",
        _CS + "isSendConnectionRequestOnNoPostsEnabled",
        "Connect with prospects who do not post at all (Prospects only).",
    ),
    _switch(
        "dm_enabled", _DM + "isGenerateDmEnabled", "Generate direct messages (Prospects only)."
    ),
    _switch(
        "dm_on_connect",
        _DM + "isGenerateDmOnConnectEnabled",
        "Generate a DM once the prospect accepts the connection (Prospects only).",
    ),
    _count(
        "dm_on_connect_after_days",
        _DM + "generateDmOnConnectAfterDaysCount",
        1,
        "Days after connecting before the DM",
    ),
    _switch(
        "dm_on_relevant_post",
        _DM + "isGenerateDmOnRelevantPostEnabled",
        "Generate a DM when the prospect writes a relevant post (Prospects only).",
    ),
    _count(
        "dm_on_relevant_post_after_days",
        _DM + "generateDmOnRelevantPostAfterDaysCount",
        1,
        "Days after a relevant post before the DM",
    ),
    _switch(
        "dm_on_timeout",
        _DM + "isGenerateDmOnTimeoutEnabled",
        "Generate a DM after a number of days (Prospects only).",
    ),
    _count(
        "dm_on_timeout_after_days",
        _DM + "generateDmOnTimeoutAfterDaysCount",
        14,
        "Days before the DM on timeout",
    ),
)

BY_NAME: Final = {c.name: c for c in COLUMNS}


def normalise_header(text: str) -> str:
    """Fold a header (or a campaign type) for matching: case, spaces, punctuation go."""
    return re.sub(r"[\W_]+", "", text.casefold())


# Every normalised spelling -> its column. Built once; a clash is a catalogue bug.
HEADER_INDEX: Final[dict[str, Column]] = {}
for _column in COLUMNS:
    for _spelling in _column.all_names():
        _known = HEADER_INDEX.setdefault(normalise_header(_spelling), _column)
        if _known is not _column:  # pragma: no cover - guarded by a test
            raise ValueError(f"header {_spelling!r} names both {_known.name} and {_column.name}")


# The prospects catalogue: the columns of a `prospects` sheet (or of a CSV/XLSX file whose
# header has `linkedin_url`), decision 11. They steer the pipeline; none is a payload field.
PROSPECT_COLUMNS: Final[tuple[Column, ...]] = (
    Column(
        "campaign",
        Kind.TEXT,
        "",
        "The Prospects campaign these people go to: its campaign_key, or its campaign_name "
        "when no other campaign row of the run has that name.",
        required=True,
        aliases=("campaign_key", "campaign_name"),
        example="acme-q1-cto",
    ),
    Column(
        "linkedin_url",
        Kind.TEXT,
        "",
        "The person's LinkedIn profile link (linkedin.com/in/...), as copied from the browser.",
        required=True,
        aliases=("url", "profile", "profile_url", "linkedin", "prospect"),
        example="https://www.linkedin.com/in/jane-doe",
    ),
    Column(
        "list_name",
        Kind.TEXT,
        "",
        "The campaign's prospect list to put the person in; empty: a list named like the campaign.",
        aliases=("list", "prospect_list"),
    ),
)

# Every normalised spelling of a prospects column -> its column.
PROSPECT_HEADER_INDEX: Final[dict[str, Column]] = {
    normalise_header(spelling): column
    for column in PROSPECT_COLUMNS
    for spelling in column.all_names()
}
