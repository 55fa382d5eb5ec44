"""The Create Campaign payload contract, as `reference/extrovert-api.md` decides it.

`Payload` is the typed shape the mapper builds. `payload_json_schema()` derives the JSON
Schema from the column catalogue plus the fixed fields and the cross-field rules; it is
committed as `schemas/payload.schema.json` (a test fails when the file is stale) and is
what the sandbox holds every request body to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, NotRequired, TypedDict

from schemas.columns import (
    CAMPAIGN_TYPES,
    COLUMNS,
    KEYWORD,
    MAX_API_INT,
    TARGET_USER,
    Column,
    Kind,
)

SCHEMA_PATH: Final = Path(__file__).with_name("payload.schema.json")
UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
TOKEN_PATTERN: Final = r"^[A-Z_]+$"
POST_MAX_AGE_DAYS: Final = 30
# The objects a TARGET_USER payload always carries complete and a KEYWORD one never does.
SETTINGS_OBJECTS: Final = ("connectingSettings", "dmSettings")
PROSPECTS_ONLY_FIELDS: Final = (*SETTINGS_OBJECTS, "applyCommentIntervalH")
# Top-level booleans that a KEYWORD payload must send as false.
KEYWORD_FALSE_FIELDS: Final = ("skipTeammatesLeads", "isIndirectEngagementEnabled")


class PostActivityFilter(TypedDict):
    emotionTypes: list[str]
    monitoredTopicIds: list[str]
    isShowImportantTargetUsersFirstEnabled: bool
    isShowDirectPostFirstEnabled: bool
    minPostLikes: int


class ConnectingSettings(TypedDict):
    isSendConnectionRequestEnabled: bool
    sendConnectionRequestOnDirectCommentCount: int
    isSendConnectionRequestOnIndirectCommentEnabled: bool
    sendConnectionRequestOnIndirectCommentCount: int
    isSendConnectionRequestOnTimeoutEnabled: bool
    sendConnectionRequestOnTimeoutDays: int
    isSendConnectionRequestOnNoPostsEnabled: bool


class DmSettings(TypedDict):
    isGenerateDmEnabled: bool
    isGenerateDmOnConnectEnabled: bool
    generateDmOnConnectAfterDaysCount: int
    isGenerateDmOnRelevantPostEnabled: bool
    generateDmOnRelevantPostAfterDaysCount: int
    isGenerateDmOnTimeoutEnabled: bool
    generateDmOnTimeoutAfterDaysCount: int


class Payload(TypedDict):
    ownerId: str
    name: str
    type: str
    userStyleId: str
    userContextId: str
    postMaxAgeDays: int
    skipTeammatesLeads: bool
    isIndirectEngagementEnabled: bool
    postActivityFilter: PostActivityFilter
    connectingSettings: NotRequired[ConnectingSettings]
    dmSettings: NotRequired[DmSettings]
    applyCommentIntervalH: NotRequired[int]


def _value_schema(column: Column) -> dict[str, Any]:
    uuid = {"type": "string", "pattern": UUID_PATTERN}
    if column.kind in (Kind.UUID, Kind.OWNER):
        return uuid
    if column.kind is Kind.TEXT:
        # Trimmed, non-empty text: no leading or trailing whitespace.
        return {"type": "string", "minLength": 1, "pattern": r"^\S([\s\S]*\S)?$"}
    if column.kind is Kind.CAMPAIGN_TYPE:
        return {"type": "string", "enum": list(CAMPAIGN_TYPES)}
    if column.kind is Kind.BOOLEAN:
        return {"type": "boolean"}
    if column.kind is Kind.WHOLE_NUMBER:
        schema: dict[str, Any] = {"type": "integer", "maximum": MAX_API_INT}
        if column.minimum is not None:
            schema["minimum"] = column.minimum
        if column.multiple_of is not None:
            schema["multipleOf"] = column.multiple_of
        return schema
    if column.kind is Kind.UUID_LIST:
        return {"type": "array", "items": uuid}
    return {"type": "array", "items": {"type": "string", "pattern": TOKEN_PATTERN}}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def payload_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every Create Campaign body must satisfy."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for column in COLUMNS:
        if not column.api_path:
            continue
        parent, _, field = column.api_path.rpartition(".")
        (nested.setdefault(parent, {}) if parent else top)[field] = _value_schema(column)
    top["postMaxAgeDays"] = {"type": "integer", "minimum": 1, "maximum": MAX_API_INT}
    for parent, fields in nested.items():
        # Every nested object is sent complete (decisions 2 and 3).
        top[parent] = _object(fields, list(fields))
    required = [
        name for name in top if name not in PROSPECTS_ONLY_FIELDS
    ]  # applyCommentIntervalH is optional even for TARGET_USER
    schema = _object(top, required)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Extrovert Create Campaign payload",
        **schema,
        "allOf": [
            {
                "if": {"properties": {"type": {"const": TARGET_USER}}, "required": ["type"]},
                "then": {"required": list(SETTINGS_OBJECTS)},
            },
            {
                "if": {"properties": {"type": {"const": KEYWORD}}, "required": ["type"]},
                "then": {
                    "properties": {
                        **{name: False for name in PROSPECTS_ONLY_FIELDS},
                        **{name: {"const": False} for name in KEYWORD_FALSE_FIELDS},
                    }
                },
            },
        ],
    }
    return schema


def render_schema() -> str:
    """The schema as committed: stable key order, two-space indent, final newline."""
    return json.dumps(payload_json_schema(), indent=2) + "\n"


def load_schema() -> dict[str, Any]:
    """The committed schema file (what the sandbox enforces)."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


if __name__ == "__main__":  # pragma: no cover - `python -m schemas.payload` regenerates
    SCHEMA_PATH.write_text(render_schema(), encoding="utf-8")
