"""The config file, `campaigns.toml`: read, checked whole, and turned into settings.

`read_config(path)` parses the file with `tomllib` and checks every section and key
against `KEYS` (types, ranges, uuids in `[names.*]`, the `[defaults]` by their column's
kind); the first problem raises `ConfigError` naming the file, the line, the key and
what is accepted, with a "did you mean" for a misspelled name. Relative paths are taken
relative to the file's folder (a cron job's working folder is not yours). The API key
itself is never read from a config file: `api_key` is an error pointing at
`api_key_file`.

`Config.option_values()` gives the settings as the command line's parameter names, for
click's `default_map`: the command line and the environment (`CAMPAIGNS_<SECTION>_<KEY>`)
win over the file, and the file over the built-in defaults. This module reads no
environment itself; `cli` does.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pipeline.errors import ConfigError
from pipeline.parse import NAME_TABLES

CONFIG_NAME: Final = "campaigns.toml"
CONFIG_VARIABLE: Final = "CAMPAIGNS_CONFIG"
LOG_FORMATS: Final = ("text", "json")
LOG_LEVELS: Final = ("debug", "info")


@dataclass(frozen=True)
class Key:
    """One setting: its kind, checked by `check` (a problem in words, or ""), and the
    command-line parameter it feeds (its own name unless said)."""

    kind: str  # shown to the user: "a number", "a path", ...
    check: Callable[[Any], str]
    parameter: str = ""
    path: bool = False  # relative to the config file's folder


def _text(value: Any) -> str:
    return "" if isinstance(value, str) and value.strip() else "must be a non-empty text"


def _number(low: float, high: float | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if value < low or (high is not None and value > high):
            return f"must be at least {low:g}" + (f" and at most {high:g}" if high else "")
        return ""

    return check


def _whole(low: int, high: int | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number (no quotes)"
        if value < low or (high is not None and value > high):
            return f"must be at least {low}" + (f" and at most {high}" if high else "")
        return ""

    return check


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return "" if value in choices else "must be " + " or ".join(f'"{c}"' for c in choices)

    return check


def _boolean(value: Any) -> str:
    return "" if isinstance(value, bool) else "must be true or false (no quotes)"


def _url(value: Any) -> str:
    if not isinstance(value, str):
        return "must be a text (a URL in quotes)"
    from pipeline.settings import check_base_url

    try:
        check_base_url(value)
    except ConfigError as exc:
        return str(exc).removeprefix(f"--base-url {value!r} ")
    return ""


KEYS: Final[dict[str, dict[str, Key]]] = {
    "api": {
        "base_url": Key("a URL", _url),
        "api_key_file": Key("a path", _text, path=True),
        "rate": Key("requests per second", _number(0.01)),
        "concurrency": Key("a whole number", _whole(1, 64)),
        "timeout": Key("seconds", _number(0.1)),
        "max_attempts": Key("a whole number", _whole(1)),
        "max_consecutive_errors": Key("a whole number", _whole(1)),
    },
    "run": {
        "state": Key("a path", _text, path=True),
        "reports": Key("a path", _text, path=True),
        "archive": Key("a path", _text, path=True),
        "log_format": Key('"text" or "json"', _choice(*LOG_FORMATS)),
        "log_level": Key('"debug" or "info"', _choice(*LOG_LEVELS), "verbose"),
        "max_rows": Key("a whole number", _whole(1)),
        "max_bytes": Key("a whole number of bytes", _whole(1)),
        "keep_reports": Key("a whole number", _whole(1)),
        "sheet": Key("a sheet name", _text),
    },
    "prospects": {
        "move_own_duplicated": Key("true or false", _boolean),
        "delete_if_inactive": Key("true or false", _boolean),
    },
}
# Sections whose keys are the user's: catalogue columns, and names of things.
OPEN_SECTIONS: Final = ("defaults", *(f"names.{table}" for table in NAME_TABLES))


@dataclass(frozen=True)
class Config:
    """A checked config file (or none: `Config()`): its settings, `[defaults]`, `[names.*]`.

    `values` maps (section, key) to the value as written, paths already made absolute;
    `lines` says on which line of the file each was written."""

    path: Path | None = None
    values: dict[tuple[str, str], Any] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    names: dict[str, dict[str, str]] = field(default_factory=dict)

    def option_values(self) -> dict[str, Any]:
        """The settings by command-line parameter name (click's `default_map`)."""
        result: dict[str, Any] = {}
        for (section, key), value in self.values.items():
            spec = KEYS[section][key]
            if spec.parameter == "verbose":
                result["verbose"] = value == "debug"
            else:
                result[spec.parameter or key] = str(value) if spec.path else value
        return result

    def where(self, section: str, key: str) -> str:
        """`campaigns.toml line 4`, for saying where a value came from."""
        line = self.lines.get((section, key))
        return f"{self.path}" + (f" line {line}" if line else "")


def find_config(given: Path | None, working_folder: Path) -> Path | None:
    """The config file to read: the one given (`--config`, `CAMPAIGNS_CONFIG`), else
    `campaigns.toml` in the working folder when there is one."""
    if given is not None:
        return given
    candidate = working_folder / CONFIG_NAME
    return candidate if candidate.is_file() else None


def read_config(path: Path) -> Config:
    """Read and check `path` whole; the first problem raises `ConfigError`."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ConfigError(f"config file {path}: cannot be read ({reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML: {exc}",
            hint='Each setting is `key = value` under a `[section]`; text goes in "quotes".',
        ) from None
    return _Checker(path, text).check(data)


class _Checker:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _key_lines(text)
        self._spelled: dict[str, str] = {}  # column -> its key as the file spells it

    def fail(self, section: str, key: str, problem: str, hint: str = "") -> ConfigError:
        line = self.lines.get((section, key)) or self.lines.get((section, ""))
        where = f"{self.path}" + (f", line {line}" if line else "")
        name = f"[{section}] {key}" if section and key else (key or f"[{section}]")
        return ConfigError(f"{where}: {name} {problem}", hint=hint)

    def check(self, data: dict[str, Any]) -> Config:
        folder = self.path.parent
        values: dict[tuple[str, str], Any] = {}
        defaults: dict[str, str] = {}
        names: dict[str, dict[str, str]] = {}
        for section, content in data.items():
            if section == "names" and isinstance(content, dict):
                for table, entries in content.items():
                    names[table] = self._names(table, entries)
                continue
            if not isinstance(content, dict):
                raise self._unknown_section(section, is_key=True)
            if section == "defaults":
                defaults = self._defaults(content)  # checked once every name is known
                continue
            keys = KEYS.get(section)
            if keys is None:
                raise self._unknown_section(section)
            for key, value in content.items():
                spec = keys.get(key)
                if spec is None:
                    raise self._unknown_key(section, key, keys)
                problem = spec.check(value)
                if problem:
                    raise self.fail(section, key, f"= {_shown(value)} {problem}")
                if spec.path:
                    value = (folder / Path(value).expanduser()).resolve()
                values[(section, key)] = value
        self._check_defaults(defaults, names)
        return Config(
            self.path, values, {k: v for k, v in self.lines.items() if k[1]}, defaults, names
        )

    def _unknown_section(self, section: str, *, is_key: bool = False) -> ConfigError:
        known = [*KEYS, *OPEN_SECTIONS]
        if is_key and section == "api_key":
            return self._api_key("")
        what = "is not a section" if is_key else "is not a known section"
        return self.fail(
            section,
            "",
            f"{what}{_did_you_mean(section, known)}",
            hint="Sections: " + ", ".join(f"[{s}]" for s in known) + ".",
        )

    def _unknown_key(self, section: str, key: str, keys: Mapping[str, Key]) -> ConfigError:
        if key == "api_key":
            return self._api_key(section)
        return self.fail(
            section,
            key,
            f"is not a known setting{_did_you_mean(key, list(keys))}",
            hint=f"[{section}] takes: " + ", ".join(keys) + ".",
        )

    def _api_key(self, section: str) -> ConfigError:
        return self.fail(
            section,
            "api_key",
            "is not read from a config file: the key would sit in plain text beside the settings",
            hint='Put the key alone in a file (chmod 600) and set api_key_file = "..." '
            "under [api], or set EXTROVERT_API_KEY in the environment.",
        )

    def _defaults(self, content: dict[str, Any]) -> dict[str, str]:
        """`[defaults]` as texts, by catalogue column name (any header spelling works)."""
        from schemas.columns import HEADER_INDEX, normalise_header

        found: dict[str, str] = {}
        for key, value in content.items():
            column = HEADER_INDEX.get(normalise_header(key))
            if column is None:
                names = sorted({c.name for c in HEADER_INDEX.values()})
                raise self.fail(
                    "defaults",
                    key,
                    f"is not a column{_did_you_mean(key, names)}",
                    hint="[defaults] takes a value for any column of the sheet.",
                )
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float | str):
                text = str(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                text = ", ".join(value)
            else:
                raise self.fail("defaults", key, f"= {_shown(value)} must be a text or a number")
            self._spelled[column.name] = key
            found[column.name] = text
        return found

    def _check_defaults(self, defaults: dict[str, str], names: dict[str, dict[str, str]]) -> None:
        """Each default parsed as a cell of its column would be (names looked up)."""
        from pipeline.parse import check_default
        from schemas.columns import BY_NAME

        for column, text in defaults.items():
            problem = check_default(column, text, names)
            if problem:
                key = self._spelled.get(column, column)
                raise self.fail(
                    "defaults", key, f"= {_shown(text)}: {problem}", hint=BY_NAME[column].help
                )

    def _names(self, table: str, entries: Any) -> dict[str, str]:
        from pipeline.parse import check_name

        section = f"names.{table}"
        if table not in NAME_TABLES:
            raise self._unknown_section(section)
        if not isinstance(entries, dict):
            raise self.fail(section, "", 'must be a table of `"name" = "uuid"` lines')
        found: dict[str, str] = {}
        for name, value in entries.items():
            problem = check_name(table, name, value, found)
            if problem:
                raise self.fail(
                    section,
                    name,
                    f"= {_shown(value)}: {problem}",
                    hint=f'Write `"{name}" = "<the {table} id, 8-4-4-4-12 hex digits>"`.'
                    if "not a uuid" in problem
                    else "",
                )
            found[name] = value.strip()
        return found


def _shown(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _did_you_mean(word: str, known: list[str]) -> str:
    match = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


_SECTION_LINE: Final = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(?:#.*)?$")
_KEY_LINE: Final = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """(section, key) -> line number (section, "") for the section's own line), for
    messages. A plain scan: enough for the files people write by hand."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _SECTION_LINE.match(line)
        if header:
            section = ".".join(part.strip().strip("\"'") for part in header.group(1).split("."))
            lines.setdefault((section, ""), number)
            continue
        key = _KEY_LINE.match(line)
        if key:
            lines.setdefault((section, key.group(1).strip("\"'")), number)
    return lines
