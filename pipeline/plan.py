"""Saved plans: what `campaigns plan` writes and `campaigns apply` carries out.

A plan is a dry run kept as a file (`plan.json`, UTF-8 JSON, `format` and `version`
first). It holds everything `apply` needs, so the inputs are never read again:

- `ledger`: the ledger's path, its identity (a random id made with it) and, per key the
  plan looked at, the state it was in (`Ledger.key_states`; a key the ledger did not
  know is not listed);
- `endpoint` (a base URL, or `sandbox`) and the settings that shaped the plan
  (`skip_existing`, `resend_unknown`);
- `inputs` (path, sha256, sheet, rows read, as summary.json lists them) and `owners`,
  each owner e-mail with the member id it resolved to;
- `rows`: every input row with where it is, its planned status, messages, changes, the
  owner and name it stands for, its cells as read (for the reports `apply` writes, and a
  `failed.csv` that can be fed back) and its payload (null for an invalid row);
- `operations`: what the ledger said the rows need (`pipeline.execute.Step`), each with
  its exact request (method, path, body) and the row's planned status. `apply` sends the
  creates of `would_create` rows and the updates of `would_update` rows, nothing else.

The file ends with `checksum`, the sha256 of the rest as canonical JSON: a plan is applied
only as `plan` made it (and a person reviewed it). `Plan.read` refuses (`PlanError`,
exit 2) a file that is not a plan this version reads, a plan changed since it was made,
and one whose requests do not follow from its rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import orjson
import pandas as pd
from jsonschema import Draft202012Validator

from pipeline import __version__
from pipeline.errors import PlanError
from pipeline.execute import Execution, Expected, Step, StepKind
from pipeline.linkedin import canonical_profile_url
from pipeline.lists import CHUNK
from pipeline.model import NEEDS_PERSON, Status, is_uuid, place
from pipeline.operations import Operation
from pipeline.parse import CellError
from pipeline.prospects import CheckedProspects, Prospect
from pipeline.report import atomic_write
from pipeline.validate import Checked
from schemas.payload import Payload, payload_json_schema

PLAN_FORMAT: Final = "campaigns-plan"
PLAN_VERSION: Final = 1
PLAN_FILE: Final = "plan.json"  # in the report folder of `plan` and of `apply`

__all__ = [
    "PLAN_FILE",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "Plan",
    "plan_counts",
    "plan_lines",
    "unresolved_owners",
]


@dataclass(frozen=True)
class Plan:
    """A saved plan (the module docstring says what it holds); `data` is the JSON."""

    data: dict[str, Any]

    @classmethod
    def make(
        cls,
        execution: Execution,
        *,
        state: Path,
        endpoint: str,
        skip_existing: bool,
        resend_unknown: bool,
        inputs: Sequence[Mapping[str, Any]],
        owners: Mapping[str, str],
        made: dt.datetime,
        prospects: CheckedProspects | None = None,
        switches: Mapping[str, bool] | None = None,
    ) -> Plan:
        """The plan of a dry run made with `record_state` (see `execute`), with the run's
        prospect rows (`prospects`) when it has any."""
        checked, outcomes = execution.checked, execution.outcomes
        columns = [c for c in checked.rows.columns if c in checked.headers]
        frame = checked.rows
        cells = [frame[c].tolist() for c in columns] if columns else []
        sources, sheets = frame["source"].tolist(), frame["sheet"].tolist()
        numbers, shown = frame["row"].tolist(), frame["campaign_name"].tolist()
        values = checked.values
        rows = []
        for position, outcome in enumerate(outcomes):
            payload = execution.payloads[position]
            rows.append(
                {
                    "source": str(sources[position]),
                    "sheet": str(sheets[position]),
                    "row": int(numbers[position]),
                    "campaign_key": checked.keys[position],
                    "campaign_name": str(shown[position]).strip(),
                    "status": outcome.status.value,
                    "campaign_id": outcome.campaign_id,
                    "errors": list(outcome.errors),
                    "changes": list(outcome.changes),
                    "owner": _plain(values["owner"][position]),
                    "name": _plain(values["campaign_name"][position]),
                    "key_cell": _plain(values["campaign_key"][position]),
                    "cells": [_plain(column[position]) for column in cells],
                    "payload": payload,
                }
            )
        operations = [_operation(step, outcomes[step.position].status) for step in execution.steps]
        data: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "made": made.isoformat(),
            "made_by": f"campaigns {__version__}",
            "ledger": {
                "path": str(state.resolve()),
                "id": execution.ledger_id,
                "keys": dict(execution.key_states),
            },
            "endpoint": endpoint,
            "settings": {
                "skip_existing": skip_existing,
                "resend_unknown": resend_unknown,
                **{name: bool(value) for name, value in (switches or {}).items()},
            },
            "inputs": list(inputs),
            "owners": dict(owners),
            "counts": plan_counts(o.status for o in outcomes),
            "headers": {c: checked.headers[c] for c in columns},
            "rows": rows,
            "operations": operations,
            **_prospects_part(execution, prospects),
        }
        # A copy of its own (rows and operations share payloads), sealed by its checksum.
        data = json.loads(orjson.dumps(data))
        data["checksum"] = checksum(data)
        return cls(data)

    def write(self, path: Path) -> None:
        """Write the plan to `path` whole or not at all."""
        with atomic_write(path, binary=True) as stream:
            stream.write(orjson.dumps(self.data, option=orjson.OPT_INDENT_2))
            stream.write(b"\n")

    @classmethod
    def read(cls, path: Path) -> Plan:
        """The plan saved at `path`; `PlanError` when it cannot be read as one."""
        try:
            data = json.loads(path.read_bytes())
        except OSError as error:
            raise PlanError(f"{path}: cannot read the plan: {error.strerror or error}") from None
        except ValueError as error:
            raise PlanError(
                f"{path}: is not a plan file (not JSON: {error})",
                hint="Give the plan.json that `campaigns plan -o` saved.",
            ) from None
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise PlanError(
                f'{path}: is not a plan file (no "format": "{PLAN_FORMAT}")',
                hint="Give the plan.json that `campaigns plan -o` saved.",
            )
        found = data.get("version")
        if not isinstance(found, int) or found > PLAN_VERSION or found < 1:
            raise PlanError(
                f"{path}: plan format version {found!r} was written by another version of "
                f"campaigns; this one reads version {PLAN_VERSION}",
                hint="Make the plan again with this version (`campaigns plan ...`).",
            )
        if "checksum" not in data:
            raise PlanError(
                f"{path}: the plan is damaged and cannot be applied (missing 'checksum')",
                hint="Make the plan again (`campaigns plan ...`).",
            )
        if data["checksum"] != checksum(data):
            raise PlanError(
                f"{path}: the plan was changed after `campaigns plan` made it (its checksum "
                "does not match); a plan is applied only as it was made and reviewed",
                hint="Make the plan again (`campaigns plan ...`) rather than editing it.",
            )
        plan = cls(data)
        try:
            plan._check_shape()
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise PlanError(
                f"{path}: the plan is damaged and cannot be applied ({_what(error)})",
                hint="Make the plan again (`campaigns plan ...`).",
            ) from None
        return plan

    def _check_shape(self) -> None:
        """Raise `_Damaged` (or KeyError/TypeError/ValueError) for a plan that lacks what
        `apply` reads, or whose requests do not follow from its rows: every field is
        checked for its type, every payload against the API's schema, and each request
        must be the one its payload makes (an edited body is not applied unseen)."""
        data = self.data
        ledger = data["ledger"]
        _expect(ledger, dict, "ledger")
        _expect(ledger["path"], str, "ledger.path")
        _expect(ledger["id"], str, "ledger.id")
        _expect(ledger["keys"], dict, "ledger.keys")
        for key, state in ledger["keys"].items():
            _expect(state, dict, f"ledger.keys[{key!r}]")
            for name in ("status", "campaign_id", "updated_at", "fingerprint"):
                _expect(state[name], str, f"ledger.keys[{key!r}].{name}")
        _expect(data["endpoint"], str, "endpoint")
        for name in ("skip_existing", "resend_unknown"):
            _expect(data["settings"][name], bool, f"settings.{name}")
        for name in _SWITCHES:
            _expect(data["settings"].get(name, False), bool, f"settings.{name}")
        _expect(data.get("inputs", []), list, "inputs")
        owners = data.get("owners", {})
        _expect(owners, dict, "owners")
        for email, owner in owners.items():
            _expect(owner, str, f"owners[{email!r}]")
        rows, headers = data["rows"], data["headers"]
        _expect(rows, list, "rows")
        _expect(headers, dict, "headers")
        for index, row in enumerate(rows):
            _check_row(index, row, len(headers))
        _check_prospects(data)
        seen: set[tuple[str, str]] = set()
        for index, operation in enumerate(data["operations"]):
            where = f"operations[{index}]"
            _expect(operation, dict, where)
            Status(operation["status"])
            step = _step(operation)
            if not 0 <= step.position < len(rows):
                raise _Damaged(f"{where} names row position {step.position}")
            if (step.kind.value, step.key) in seen:
                raise _Damaged(f"{where}: a second {step.kind.value} for {step.key!r}")
            seen.add((step.kind.value, step.key))
            if step.key != rows[step.position]["campaign_key"]:
                raise _Damaged(f"{where} is not for the key of the row it names")
            if step.kind is StepKind.MOVE:
                continue
            if step.body != rows[step.position]["payload"]:
                raise _Damaged(f"{where}: its payload is not its row's")
            made = _operation(step, Status(operation["status"]))
            for name in ("method", "path", "body"):
                if operation.get(name) != made[name]:
                    raise _Damaged(
                        f"{where}: its {name} is not the request its payload makes (was it edited?)"
                    )

    @property
    def state(self) -> Path:
        """The ledger the plan was made against."""
        return Path(self.data["ledger"]["path"])

    @property
    def endpoint(self) -> str:
        return str(self.data["endpoint"])

    @property
    def skip_existing(self) -> bool:
        return bool(self.data["settings"]["skip_existing"])

    @property
    def resend_unknown(self) -> bool:
        return bool(self.data["settings"]["resend_unknown"])

    @property
    def switches(self) -> dict[str, bool]:
        """The prospect-list switches the plan was made with (`[prospects]`)."""
        return {name: bool(self.data["settings"].get(name, False)) for name in _SWITCHES}

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return list(self.data.get("inputs", ()))

    @property
    def owners(self) -> dict[str, str]:
        return dict(self.data.get("owners", {}))

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(_step(operation) for operation in self.data["operations"])

    def expected(self, name: str) -> Expected:
        """What `execute` checks the ledger against before applying the plan."""
        ledger = self.data["ledger"]
        return Expected(
            ledger_id=str(ledger["id"]),
            key_states=dict(ledger["keys"]),
            steps=self.steps,
            statuses=tuple(Status(row["status"]) for row in self.data["rows"]),
            name=name,
            list_states=dict(self.data.get("list_states", {})),
            adds={
                str(item["key"]): frozenset(str(url) for url in item["urls"])
                for item in self.data.get("lists", ())
            },
        )

    def prospects(self) -> CheckedProspects:
        """The prospect rows as `execute` and the reports take them (as checked then)."""
        rows = self.data.get("prospects", [])
        headers = dict(self.data.get("prospect_headers", {}))
        frame: dict[str, list[Any]] = {
            "source": [row["source"] for row in rows],
            "sheet": [row["sheet"] for row in rows],
            "row": [int(row["row"]) for row in rows],
        }
        for index, column in enumerate(headers):
            frame[column] = [row["cells"][index] for row in rows]
        checked = [
            Prospect(
                row["source"],
                row["sheet"],
                int(row["row"]),
                row["linkedin_url"],
                row["url"],
                row["campaign"],
                row["campaign_key"],
                row["list_name"],
                Status(row["checked"]) if row["checked"] else None,
                tuple(row["checked_errors"]),
                bool(row.get("default_list", False)),
            )
            for row in rows
        ]
        return CheckedProspects(checked, pd.DataFrame(frame, dtype=object), headers)

    def checked(self) -> Checked:
        """The rows as `execute` and the reports take them: owners resolved, the cells as
        read, each invalid row with its problems."""
        rows, headers = self.data["rows"], self.data["headers"]
        columns = list(headers)
        frame: dict[str, list[Any]] = {
            "source": [row["source"] for row in rows],
            "sheet": [row["sheet"] for row in rows],
            "row": [int(row["row"]) for row in rows],
        }
        for index, column in enumerate(columns):
            frame[column] = [row["cells"][index] for row in rows]
        if "campaign_name" not in frame:
            frame["campaign_name"] = [row["campaign_name"] for row in rows]
        values: dict[str, list[Any]] = {
            "owner": [row["owner"] for row in rows],
            "campaign_name": [row["name"] for row in rows],
            "campaign_key": [row["key_cell"] for row in rows],
        }
        errors = [tuple(row["errors"]) if row["payload"] is None else () for row in rows]
        return Checked(
            rows=pd.DataFrame(frame, dtype=object),
            values=values,
            errors=errors,
            keys=[str(row["campaign_key"]) for row in rows],
            headers=dict(headers),
        )

    @property
    def has_work(self) -> bool:
        """Whether applying the plan would send or record anything: a create or an
        update it shows, a look-up of an uncertain row, a key moved."""
        sending = (Status.WOULD_CREATE.value, Status.WOULD_UPDATE.value)
        return any(
            operation["status"] in sending
            or operation["step"] in (StepKind.SETTLE.value, StepKind.MOVE.value)
            for operation in self.data["operations"]
        ) or any(item["urls"] for item in self.data.get("lists", ()))

    @property
    def payloads(self) -> list[Payload | None]:
        return [row["payload"] for row in self.data["rows"]]


def _prospects_part(execution: Execution, found: CheckedProspects | None) -> dict[str, Any]:
    """A plan file's prospects: each row (as checked, with its planned status and cells),
    what each list is sent (`lists`: created first or not, the URLs), and the state of
    each list looked at (`list_states`). Nothing when the run has no prospect rows."""
    if found is None or not len(found):
        return {}
    columns = [c for c in found.rows.columns if c in found.headers]
    cells = [found.rows[c].tolist() for c in columns]
    rows = [
        {
            "source": p.source,
            "sheet": p.sheet,
            "row": p.row,
            "campaign": p.campaign,
            "campaign_key": p.campaign_key,
            "list_name": p.list_name,
            "default_list": p.default_list,
            "linkedin_url": p.linkedin_url,
            "url": p.url,
            "checked": p.status.value if p.status is not None else "",
            "checked_errors": list(p.errors),
            "status": o.status.value,
            "errors": list(o.errors),
            "cells": [_plain(column[position]) for column in cells],
        }
        for position, (p, o) in enumerate(
            zip(found.prospects, execution.prospect_outcomes, strict=True)
        )
    ]
    return {
        "prospect_headers": {c: found.headers[c] for c in columns},
        "prospects": rows,
        "lists": [dict(item) for item in execution.prospect_plan],
        "list_states": dict(execution.list_states),
    }


def plan_counts(statuses: Any) -> dict[str, int]:
    """`{"create": 3, "update": 2, "unchanged": 40, "invalid": 1, ...}`: the rows per
    planned status, in the words of the plan's closing line (zero counts left out)."""
    found: dict[str, int] = {}
    for status in statuses:
        word = _PLAN_WORDS.get(status, status.value.replace("_", " "))
        found[word] = found.get(word, 0) + 1
    order = [*_PLAN_WORDS.values()]
    return dict(sorted(found.items(), key=lambda item: _rank(order, item[0])))


_PLAN_WORDS: Final = {
    Status.WOULD_CREATE: "to create",
    Status.WOULD_UPDATE: "to update",
    Status.ALREADY_CREATED: "unchanged",
    Status.INVALID: Status.INVALID.value,
}


def _rank(order: list[str], word: str) -> int:
    return order.index(word) if word in order else len(order)


def plan_lines(plan: Plan, folder: Path | None = None, saved: Path | None = None) -> list[str]:
    """The plan as a person reviews it, grouped like `terraform plan`: the campaigns to
    create (`+`), to update (`~`, each change under its row), the rows that need a
    person, then `Plan: 3 to create, 2 to update, 40 unchanged, 1 invalid.`"""
    rows = plan.data["rows"]
    lines: list[str] = []
    groups = (
        (Status.WOULD_CREATE, "+", "Campaigns to create"),
        (Status.WOULD_UPDATE, "~", "Campaigns to update"),
    )
    for status, mark, title in groups:
        members = [row for row in rows if row["status"] == status.value]
        if not members:
            continue
        lines.append(f"{title} ({len(members)}):")
        for row in members:
            campaign = f" [{row['campaign_id']}]" if row["campaign_id"] else ""
            lines.append(f"  {mark} {_where(row)}  {row['campaign_name']}{campaign}")
            lines.extend(f"      {change}" for change in row["changes"])
        lines.append("")
    planned = [item for item in plan.data.get("lists", ()) if item["urls"]]
    if planned:
        adding = sum(len(item["urls"]) for item in planned)
        lines.append(f"Prospects to add ({adding}) to {len(planned)} list(s):")
        for item in planned:
            urls = len(item["urls"])
            chunks = -(-urls // CHUNK)
            if item["create"]:
                requests = f"created with {min(urls, CHUNK)}" + (
                    f", then {chunks - 1} add(s)" if chunks > 1 else ""
                )
            else:
                requests = f"{chunks} add(s)"
            lines.append(
                f"  + list {item['name']!r} of {item['campaign_key']}: {urls} profile(s), "
                f"{requests}"
            )
        lines.append("")
    attention = [row for row in rows if Status(row["status"]) in NEEDS_PERSON]
    if attention:
        lines.append(f"Rows that need a person ({len(attention)}):")
        for row in attention:
            said = " | ".join(row["errors"])
            lines.append(f"  ! {_where(row)}: {row['status']}: {said}")
        lines.append("")
    ledger_only = [
        operation
        for operation in plan.data["operations"]
        if operation["step"] in (StepKind.MOVE.value, StepKind.SETTLE.value)
    ]
    if ledger_only:
        lines.append(f"The ledger ({len(ledger_only)}):")
        for operation in ledger_only:
            row = rows[operation["position"]]
            if operation["step"] == StepKind.MOVE.value:
                said = (
                    f"kept under campaign_key {operation['campaign_key']} (was {operation['from']})"
                )
            else:
                said = "an earlier create's outcome not known: looked up in the campaign list"
            lines.append(f"  * {_where(row)}  {row['campaign_name']}: {said}")
        lines.append("")
    counts = plan_counts(Status(row["status"]) for row in rows)
    told = ", ".join(f"{n} {word}" for word, n in counts.items()) or "no rows"
    if planned:
        told += f"; {sum(len(item['urls']) for item in planned)} prospect(s) to add"
    lines.append(f"Plan: {told}.")
    if not plan.has_work:
        lines.append("Nothing to do: applying this plan would send nothing.")
    elif saved is not None:
        lines.append(f"Saved to {saved}; carry it out with: campaigns apply {saved}")
    if folder is not None:
        lines.append(f"Reports in {folder}")
    return lines


def _where(row: Mapping[str, Any]) -> str:
    return place(row["source"], row["sheet"], row["row"])


def _operation(step: Step, status: Status) -> dict[str, Any]:
    """A step as the plan file writes it: with its request, when it makes one."""
    written: dict[str, Any] = {
        "step": step.kind.value,
        "position": step.position,
        "campaign_key": step.key,
        "status": status.value,
    }
    if step.kind is StepKind.MOVE:
        written["from"] = step.moved_from
        return written
    body: Mapping[str, Any] = step.body or {}
    if step.kind is StepKind.UPDATE:
        request = Operation.update_campaign(step.key, step.campaign_id, body, step.position)
        written["campaign_id"] = step.campaign_id
    else:
        request = Operation.create_campaign(step.key, body, step.position)
    written.update(method=request.method, path=request.path, body=dict(request.body))
    written["payload"] = body
    return written


def checksum(data: Mapping[str, Any]) -> str:
    """The sha256 of a plan's content (all but its `checksum`), as canonical JSON."""
    content = {name: value for name, value in data.items() if name != "checksum"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# The `[prospects]` switches a plan keeps and `apply` follows.
_SWITCHES: Final = ("move_own_duplicated", "delete_if_inactive")


class _Damaged(ValueError):
    """What makes a plan file unusable, said for `PlanError`."""


def _expect(value: Any, kind: type, where: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Damaged(f"{where} is not {_KINDS.get(kind, kind.__name__)}")


_KINDS: Final[dict[type, str]] = {
    dict: "an object",
    list: "a list",
    str: "text",
    bool: "true or false",
    int: "a whole number",
}
_PAYLOAD_CHECK: Final = Draft202012Validator(payload_json_schema())


def _check_row(index: int, row: Any, width: int) -> None:
    """One row of a plan file: every field `apply` and its reports read."""
    where = f"rows[{index}]"
    _expect(row, dict, where)
    for name in ("source", "sheet", "campaign_key", "campaign_name", "campaign_id"):
        _expect(row[name], str, f"{where}.{name}")
    _expect(row["row"], int, f"{where}.row")
    Status(row["status"])
    for name in ("errors", "changes", "cells"):
        _expect(row[name], list, f"{where}.{name}")
    for name in ("errors", "changes"):
        for item in row[name]:
            _expect(item, str, f"{where}.{name}")
    if len(row["cells"]) != width:
        raise _Damaged(f"{where}: its cells do not match the headers")
    for name in ("owner", "name", "key_cell"):
        if row[name] is not None:
            _expect(row[name], str, f"{where}.{name}")
    payload = row["payload"]
    if payload is None:
        return
    _expect(payload, dict, f"{where}.payload")
    problem = next(iter(_PAYLOAD_CHECK.iter_errors(payload)), None)
    if problem is not None:
        raise _Damaged(f"{where}.payload is not one the API takes ({problem.message})")
    if not is_uuid(str(payload.get("ownerId", ""))):
        raise _Damaged(f"{where}.payload: its ownerId is not a team member id")


def _check_prospects(data: Mapping[str, Any]) -> None:
    """A plan file's prospects: every field `apply` and its reports read."""
    headers = data.get("prospect_headers", {})
    _expect(headers, dict, "prospect_headers")
    for index, row in enumerate(data.get("prospects", [])):
        where = f"prospects[{index}]"
        _expect(row, dict, where)
        for name in ("source", "sheet", "campaign_key", "list_name", "linkedin_url", "url"):
            _expect(row[name], str, f"{where}.{name}")
        _expect(row["row"], int, f"{where}.row")
        if row["campaign"] is not None:
            _expect(row["campaign"], int, f"{where}.campaign")
            if not 0 <= row["campaign"] < len(data["rows"]):
                raise _Damaged(f"{where}.campaign names no campaign row")
        if row["url"] and row["url"] != _canonical(row["linkedin_url"]):
            raise _Damaged(f"{where}.url is not the canonical form of its linkedin_url")
        Status(row["status"])
        if row["checked"]:
            Status(row["checked"])
        for name in ("checked_errors", "errors", "cells"):
            _expect(row[name], list, f"{where}.{name}")
        if len(row["cells"]) != len(headers):
            raise _Damaged(f"{where}: its cells do not match the prospect headers")
    for index, item in enumerate(data.get("lists", [])):
        where = f"lists[{index}]"
        _expect(item, dict, where)
        for name in ("key", "campaign_key", "name"):
            _expect(item[name], str, f"{where}.{name}")
        _expect(item["create"], bool, f"{where}.create")
        _expect(item["urls"], list, f"{where}.urls")
        for url in item["urls"]:
            _expect(url, str, f"{where}.urls")
    states = data.get("list_states", {})
    _expect(states, dict, "list_states")
    for key, state in states.items():
        _expect(state, dict, f"list_states[{key!r}]")
        _expect(state["fingerprint"], str, f"list_states[{key!r}].fingerprint")


def _canonical(link: str) -> str:
    try:
        return canonical_profile_url(link)
    except CellError:
        return ""


def _step(operation: Mapping[str, Any]) -> Step:
    """An operation of a plan file as the step `execute` compares."""
    for name in ("campaign_key", "campaign_id", "from"):
        if name in operation:
            _expect(operation[name], str, f"operation.{name}")
    _expect(operation["position"], int, "operation.position")
    return Step(
        StepKind(operation["step"]),
        int(operation["position"]),
        str(operation["campaign_key"]),
        _body(operation),
        str(operation.get("campaign_id", "")),
        str(operation.get("from", "")),
    )


def _body(operation: Mapping[str, Any]) -> Payload | None:
    """The row payload a step carries (an update's request body leaves owner and type
    out; the step keeps the whole payload, as `execute` compares it)."""
    payload = operation.get("payload")
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise TypeError("an operation's payload is not an object")
    return cast(Payload, payload)


def _plain(value: Any) -> Any:
    """A cell or value as JSON holds it (a missing value is null)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _what(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing {error.args[0]!r}"
    return str(error) or type(error).__name__


def unresolved_owners(plan: Plan) -> list[Mapping[str, Any]]:
    """The rows of the plan with a payload whose owner is not a member id (an e-mail a
    plan without the key could not resolve): a plan carries resolved owners only."""
    return [
        row
        for row in plan.data["rows"]
        if row["payload"] is not None and not is_uuid(str(row["payload"].get("ownerId", "")))
    ]
