"""Events: what a command says as it goes, as log records, and the JSON line for each.

The library logs only through `logging.getLogger(__name__)` and only through `emit` (or
the helpers below): a record whose `event` attribute names the event and whose `fields`
attribute holds its data. No event carries the API key, a request body or a query
string. `cli` decides where records go: one JSON object per line (`JsonFormatter`) for
`--log-format json`, else nothing but `--verbose`'s request lines (in text the command
line renders the rest from the `RunResult` itself). The events, with their fields:

    run_started   run_id, command, inputs (path, sha256, format, sheet, rows)   info
    request       method, path, status (null without an answer), failure,
                  latency_ms, attempt                                          debug
    row           source, sheet, row, campaign_key, status, campaign_id,
                  http_status, attempts, errors, changes (lists: the items
                  results.csv joins with " | ")                                info
    warning       (the message; from the run, or from cli)                     warning
    stopped       http_status (why the run stopped early: the message)         error
    run_finished  run_id, command, rows, counts, exit_code, folder,
                  duration_s, requests, retries, rate_limited, stopped          info, or
                                                  warning (exit 1) / error (exit 2 and up)
    error         hint, exit_code (what stopped the command: cli)              error
    stopping      (a first or second Ctrl-C or SIGTERM, at once: cli)          warning
    interrupted, terminated   (stopped at once, no reports: cli)               error

Every JSON line holds `ts` (ISO 8601 UTC, milliseconds), `level`, `event` and `message`
(the same words as text), then the event's fields. Records of other libraries (uvicorn,
Python warnings) become `log` events naming their `logger`. `row` events come after the
run, in sheet order, with the values results.csv has.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson

from pipeline.model import place

if TYPE_CHECKING:
    from pipeline.run import RunResult

# The attributes an event's record carries (set through `extra`).
EVENT: Final = "event"
FIELDS: Final = "fields"
# What `summary.json` holds that `run_finished` repeats, in this order.
FINISHED_FIELDS: Final = (
    "run_id",
    "command",
    "rows",
    "counts",
    "exit_code",
    "duration_s",
    "requests",
    "retries",
    "rate_limited",
    "stopped",
)


def emit(logger: logging.Logger, level: int, event: str, message: str, **fields: Any) -> None:
    """Log `event` at `level`: `message` for people, `fields` for machines."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", message, extra={EVENT: event, FIELDS: fields})


def event_of(record: logging.LogRecord) -> str:
    """The event a record stands for ("" for a record that is not one of ours)."""
    found = getattr(record, EVENT, "")
    return found if isinstance(found, str) else ""


def run_started(
    logger: logging.Logger, run_id: str, command: str, inputs: Sequence[Mapping[str, Any]]
) -> None:
    """`run_started`, once the inputs are read and the run has its id."""
    files = len(inputs)
    emit(
        logger,
        logging.INFO,
        "run_started",
        f"{command} {run_id}: {files} input{'' if files == 1 else 's'}",
        run_id=run_id,
        command=command,
        inputs=list(inputs),
    )


def request(
    logger: logging.Logger,
    method: str,
    path: str,
    *,
    status: int | None,
    failure: str,
    seconds: float,
    attempt: int,
) -> None:
    """`request` (debug: shown with `--verbose`): one HTTP request and how it ended.
    `path` loses any query string; `failure` says why there is no `status`."""
    path = path.partition("?")[0]
    latency = round(seconds * 1000)
    ended = str(status) if status is not None else failure or "no answer"
    emit(
        logger,
        logging.DEBUG,
        "request",
        f"{method} {path} -> {ended} in {latency} ms (attempt {attempt})",
        method=method,
        path=path,
        status=status,
        failure=failure,
        latency_ms=latency,
        attempt=attempt,
    )


def run_reported(logger: logging.Logger, result: RunResult) -> None:
    """After the reports are written: a `row` event per row, a `warning` event per
    warning, `stopped` when the run stopped early, then `run_finished`."""
    rows(logger, result)
    for warning in result.warnings:
        emit(logger, logging.WARNING, "warning", warning)
    if result.stopped:
        status = result.stopped_status
        emit(logger, logging.ERROR, "stopped", result.stopped, http_status=status)
    summary = result.summary
    finished: dict[str, Any] = {k: summary[k] for k in FINISHED_FIELDS if k in summary}
    # A run that changed nothing keeps no report folder: "" then.
    folder = str(result.folder) if result.reports_kept else ""
    finished.update(counts=result.counts, exit_code=result.exit_code, folder=folder)
    level = logging.INFO
    if result.exit_code:
        level = logging.WARNING if result.exit_code == 1 else logging.ERROR
    parts = ", ".join(f"{n} {status}" for status, n in result.counts.items()) or "no rows"
    emit(
        logger,
        level,
        "run_finished",
        f"{result.total} row{'' if result.total == 1 else 's'}: {parts}; exit "
        f"{result.exit_code}; " + (f"reports in {folder}" if folder else "no report kept"),
        **finished,
    )


def rows(logger: logging.Logger, result: RunResult) -> None:
    """A `row` event per row of `result`, in sheet order."""
    if not logger.isEnabledFor(logging.INFO):
        return  # 100,000 rows make no records nobody reads
    for row in result.rows:
        where = place(row.source, row.sheet, row.row)
        told = row.errors or row.changes  # the message: what went wrong, else what changed
        said = f": {' | '.join(told)}" if told else ""
        emit(
            logger,
            logging.INFO,
            "row",
            f"{where}: {row.status}{said}",
            source=row.source,
            sheet=row.sheet,
            row=row.row,
            campaign_key=row.campaign_key,
            status=row.status.value,
            campaign_id=row.campaign_id,
            http_status=row.http_status,
            attempts=row.attempts,
            errors=list(row.errors),
            changes=list(row.changes),
        )


def _timestamp(record: logging.LogRecord) -> str:
    moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: `ts`, `level`, `event`, `message`, then
    the event's fields (a record that is no event of ours: `event` "log" and `logger`)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "event": event_of(record) or "log",
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, Mapping):
            data.update((k, v) for k, v in fields.items() if k not in data)
        if not event_of(record):
            data["logger"] = record.name
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode("utf-8")


def render(level: int, event: str, message: str, **fields: Any) -> str:
    """The JSON line of an event made outside logging (a signal handler may not log:
    the handler's lock may be held by the very write it interrupted)."""
    record = logging.LogRecord("pipeline.cli", level, "", 0, "%s", (message,), None)
    record.__dict__.update({EVENT: event, FIELDS: fields})
    return JsonFormatter().format(record)


def only(events: Iterable[str]) -> logging.Filter:
    """A filter that lets through the records of these events only."""
    wanted = frozenset(events)

    class Only(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return event_of(record) in wanted

    return Only()
