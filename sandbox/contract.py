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

A prospect-list body (decisions 12, 13 and 16) is checked the same way against a schema
written here (the prospect calls have no generated schema): every field required, no
other field, in decision 13's order; `listName` one trimmed line of visible NFC text of
1 to 255 characters; `campaignId` (and `listId`) canonical lower-case uuids; `userUrls` 1
to 100 strings, each a profile URL in decision 12's one canonical form
`https://www.linkedin.com/in/<slug>`. Anything else is refused whole; the API's
per-URL `validationRejectedUrls` is for canonical URLs it still refuses (see
`sandbox.prospects`).
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
import urllib.parse
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
PROFILE_URL_PREFIX: Final = "https://www.linkedin.com/in/"
# Decision 13: URLs go in chunks of at most 100 a request.
MAX_URLS_PER_REQUEST: Final = 100
# Decision 16: a list name is one line of visible text of at most 255 characters.
MAX_NAME_CHARS: Final = 255
CREATE_LIST_FIELDS: Final = (
    "listName",
    "campaignId",
    "userUrls",
    "moveOwnDuplicated",
    "shouldBeDeletedIfInactive",
)
ADD_TO_LIST_FIELDS: Final = ("listId", *CREATE_LIST_FIELDS[1:])
# Decision 12: only these stay as they are in a slug; every other UTF-8 byte is %XX.
_SLUG_SAFE: Final = frozenset(string.ascii_letters + string.digits + "-_")
_SLUG: Final = re.compile(r"(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+")
_ZERO_WIDTH: Final = frozenset("\u200b\u200c\u200d\u2060\ufeff")


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
    """The payload validator, compiled once per process. (That the schema is a valid
    JSON schema is a test's to check, once, not every start's.)"""
    schema = _forbid_by_not(load_schema())
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


def path_id_problem(path_id: str, field: str = "id") -> str | None:
    """None when the id in a path is a canonical (lower-case) uuid; else one line naming
    `field`, the body field that repeats it."""
    if re.fullmatch(UUID_PATTERN, path_id):
        return None
    return f"{field}: {_short(path_id)} in the path is not a canonical lower-case uuid"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _encode_slug(slug: str) -> str:
    return "".join(
        char if char in _SLUG_SAFE else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in slug
    )


def is_profile_url(url: object) -> bool:
    """Whether `url` is a profile URL in decision 12's one canonical form:
    `https://www.linkedin.com/in/<slug>`, the slug in NFC form (decision 16), lower-cased
    and percent-encoded as UTF-8 with upper-case hex (ASCII letters, digits, `-` and `_`
    as they are), nothing after it; no white space, control or zero-width character in
    it, encoded or not."""
    if not isinstance(url, str) or not url.startswith(PROFILE_URL_PREFIX):
        return False
    slug = url[len(PROFILE_URL_PREFIX) :]
    if not _SLUG.fullmatch(slug):
        return False
    try:
        decoded = urllib.parse.unquote_to_bytes(slug).decode("utf-8")
    except UnicodeDecodeError:
        return False
    if any(char.isspace() or _invisible(char) for char in decoded):
        return False  # no profile's slug holds one: a link pasted with its surroundings
    return _encode_slug(unicodedata.normalize("NFC", decoded).lower()) == slug


def _list_schema(fields: tuple[str, ...]) -> dict[str, Any]:
    uuid = {"type": "string", "pattern": UUID_PATTERN}
    properties: dict[str, Any] = {
        "listName": {"type": "string", "minLength": 1},
        "listId": uuid,
        "campaignId": uuid,
        "userUrls": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_URLS_PER_REQUEST,
            "items": {"type": "string"},
        },
        "moveOwnDuplicated": {"type": "boolean"},
        "shouldBeDeletedIfInactive": {"type": "boolean"},
    }
    return {
        "type": "object",
        "properties": {name: properties[name] for name in fields},
        "required": list(fields),
        "additionalProperties": False,
    }


@cache
def _list_validator(fields: tuple[str, ...]) -> Validator:
    return Draft202012Validator(_list_schema(fields))


def _invisible(char: str) -> bool:
    """Whether `char` is a control (C0, DEL, C1) or zero-width character."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in _ZERO_WIDTH


def _list_name_problem(name: str) -> str | None:
    if name != name.strip():
        return f"listName: {_short(name)} has white space at either end; text is sent trimmed"
    for char in name:
        if _invisible(char):
            return (
                f"listName: {_short(name)} holds U+{ord(char):04X}, a control or zero-width "
                "character; a list name is one line of visible text"
            )
    if unicodedata.normalize("NFC", name) != name:
        # Quoted as is, the name would look right: show its code points.
        shown = ascii(name)
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        return f"listName: {shown} is not NFC-normalised"
    if len(name) > MAX_NAME_CHARS:
        return f"listName: {len(name)} characters long; at most {MAX_NAME_CHARS}"
    return None


def _list_problem(body: Any, fields: tuple[str, ...]) -> str | None:
    """None when `body` has exactly `fields`, in order, each of its type and form."""
    errors = list(_list_validator(fields).iter_errors(body))
    if errors:
        best = best_match(errors)
        assert best is not None  # there were errors to choose from
        if best.validator == "maxItems":
            return (
                f"userUrls: {len(body['userUrls'])} URLs; "
                f"at most {MAX_URLS_PER_REQUEST} are sent in one request"
            )
        return _describe(best, body)
    if "listName" in body:
        problem = _list_name_problem(body["listName"])
        if problem is not None:
            return problem
    for number, url in enumerate(body["userUrls"]):
        if not is_profile_url(url):
            return (
                f"userUrls[{number}]: {_short(url)} is not a LinkedIn profile URL in its one "
                f"canonical form {PROFILE_URL_PREFIX}<slug> (the slug lower-case, "
                "percent-encoded UTF-8 with upper-case hex, nothing after it)"
            )
    if tuple(body) != fields:
        return f"payload: the fields must come in the order {', '.join(fields)}"
    return None


def create_list_problem(body: Any) -> str | None:
    """None when `body` is a whole Create Prospect List body, else one line naming the
    field. Whether its campaign exists is for the caller to say."""
    return _list_problem(body, CREATE_LIST_FIELDS)


def add_to_list_problem(body: Any, list_id: str, campaign_id: str) -> str | None:
    """None when `body` is a whole Add To List body for the list `list_id` (the id in the
    path) of the campaign `campaign_id`, else one line naming the field."""
    problem = _list_problem(body, ADD_TO_LIST_FIELDS)
    if problem is not None:
        return problem
    if body["listId"] != list_id:
        return f"listId: {_short(body['listId'])} is not the list id of the path ({list_id})"
    if body["campaignId"] != campaign_id:
        return (
            f"campaignId: {_short(body['campaignId'])} is not the parent campaign of list "
            f"{list_id} ({campaign_id})"
        )
    return None
