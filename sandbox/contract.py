"""The strict reviewer: does a Create or Update Campaign body keep the exact contract?

The contract is `schemas/payload.schema.json` (never re-spelled here), checked with one
compiled Draft 2020-12 validator whose `integer` type is stricter than the standard's:
JSON `25.0` is a float, and this project sends integers as integers. On top of the
schema, `ownerId` must be one of the sandbox's team members. A problem comes back as one
line that names the field, e.g. `postActivityFilter.minPostLikes: 25.5 is not of type
'integer'`.

An update body (decision 8 of the API reference) is the whole desired state: the create
body without `ownerId` and `type`, with the campaign's `id` as its first field, equal to
the id in the path. It is checked as the create body it amounts to (the campaign's own
owner and type put back), so a partial body, an unknown field or a setting its type does
not allow is refused as it would be on create.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Final

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator

from schemas.columns import CAMPAIGN_TYPES
from schemas.payload import UUID_PATTERN, load_schema

# Messages quote the offending value; a megabyte of it helps nobody.
MAX_MESSAGE_CHARS: Final = 300


def _is_strict_integer(_checker: object, instance: object) -> bool:
    # The standard counts 25.0 as an integer; the payload contract does not.
    return isinstance(instance, int) and not isinstance(instance, bool)


def _forbid_by_not(schema: Any) -> Any:
    """`schema` with each `false` property subschema written as `{"not": {}}`.

    Same meaning; but jsonschema drops the field path of an error raised by a `false`
    subschema, and the message has to name the field that must not be sent.
    """
    if isinstance(schema, list):
        return [_forbid_by_not(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _forbid_by_not(value) for key, value in schema.items()}
    properties = result.get("properties")
    if isinstance(properties, dict):
        result["properties"] = {
            name: {"not": {}} if sub is False else sub for name, sub in properties.items()
        }
    return result


@cache
def _validator() -> Validator:
    """The payload validator, compiled once per process."""
    schema = _forbid_by_not(load_schema())
    Draft202012Validator.check_schema(schema)
    # types-jsonschema leaves `extend` untyped; it returns a validator class.
    strict: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator,
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
    )
    return strict(schema)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key {key!r} appears twice in one object")
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """The JSON value of a request body; `ValueError` saying why when it is not JSON.

    Stricter than `json.loads`: the body must be UTF-8, `NaN`/`Infinity` are refused and
    so is a key given twice in one object (which value would the backend keep?).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return json.loads(
        text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
    )


def _field_path(error: ValidationError) -> str:
    parts: list[str] = []
    for part in error.absolute_path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or "payload"


def _describe(error: ValidationError, body: Any) -> str:
    path = _field_path(error)
    # `{"not": {}}` is how `_forbid_by_not` spells a field that must not be there.
    forbidden = error.validator == "not" and error.validator_value == {}
    message = "must not be sent" if forbidden else error.message
    campaign_type = body.get("type") if isinstance(body, dict) else None
    if "allOf" in error.absolute_schema_path and campaign_type in CAMPAIGN_TYPES:
        # The cross-field rules hang off the campaign type; say which one applied.
        message += f" for a {campaign_type} campaign"
    line = f"{path}: {message}"
    if len(line) > MAX_MESSAGE_CHARS:
        line = line[: MAX_MESSAGE_CHARS - 1] + "…"
    return line


class PayloadChecker:
    """Checks bodies against the payload schema and the team's member ids."""

    def __init__(self, member_ids: Iterable[str]) -> None:
        self._validator = _validator()
        self._member_ids = frozenset(member_ids)

    def problem(self, body: Any) -> str | None:
        """None when `body` keeps the contract, else one line naming the field."""
        errors = list(self._validator.iter_errors(body))
        if errors:
            # The cross-field rules presume a valid `type`; report plain errors first,
            # so a body without `type` hears that rather than what TARGET_USER needs.
            plain = [error for error in errors if "allOf" not in error.absolute_schema_path]
            best = best_match(plain or errors)
            assert best is not None  # there were errors to choose from
            return _describe(best, body)
        owner = body["ownerId"]
        if owner not in self._member_ids:
            return f"ownerId: {owner!r} is not a member of this team (see GET /user/team-members)"
        return None

    def update_problem(self, body: Any, campaign_id: str, current: Mapping[str, Any]) -> str | None:
        """None when `body` is a whole update of the campaign `campaign_id`, whose current
        settings are `current` (its create body's shape), else one line naming the field."""
        if not isinstance(body, dict):
            return f"payload: {_short(body)} is not of type 'object'"
        for name, why in _NEVER_UPDATED.items():
            if name in body:
                return f"{name}: must not be sent in an update: {why}"
        if "id" not in body:
            return "id: is required in an update (the campaign id, as in the path)"
        if body["id"] != campaign_id:
            return f"id: {_short(body['id'])} is not the campaign id of the path ({campaign_id})"
        if next(iter(body)) != "id":
            return "id: must be the first field of an update body"
        fields = {name: value for name, value in body.items() if name != "id"}
        whole = {"ownerId": current["ownerId"], "type": current["type"], **fields}
        return self.problem(whole)


# What an update must not send, and why (decision 9: neither can change).
_NEVER_UPDATED: Final = {
    "ownerId": "a campaign's owner cannot change",
    "type": "a campaign's type cannot change",
}


def path_id_problem(campaign_id: str) -> str | None:
    """None when the id in an update's path is a canonical (lower-case) uuid."""
    if re.fullmatch(UUID_PATTERN, campaign_id):
        return None
    return f"id: {_short(campaign_id)} in the path is not a canonical lower-case uuid"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"
