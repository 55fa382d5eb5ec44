"""The settings objects: what a caller decides before a run, each checked when built.

`Options` (where rows come from and where reports go), `SendSettings` (how hard to push
the API), `RunSettings` (the ledger, the API and what to do about earlier outcomes), and
`Secret` (the API key, never shown). A value that cannot work raises `ConfigError` here,
before anything is read or sent. This module is light: the CLI builds settings without
importing pandas or httpx.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from pipeline.errors import ConfigError, InputError

DEFAULT_BASE_URL: Final = "https://prod-nginx-v2.goextrovert.com/webgateway"
DEFAULT_MAX_ROWS: Final = 100_000
DEFAULT_MAX_BYTES: Final = 50 * 1024 * 1024  # what one input URL may serve (50 MB)
DEFAULT_REPORTS: Final = Path("reports")
DEFAULT_STATE: Final = DEFAULT_REPORTS / "state.sqlite"
# A sandbox rehearsal keeps its own ledger (and the sandbox its campaigns beside it), so
# that campaigns made up by the sandbox never count as created in the real account.
SANDBOX_STATE: Final = DEFAULT_REPORTS / "sandbox-state.sqlite"


class Secret:
    """A value that never appears in a repr, a str, a log line or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; https unless the host is loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--base-url {url!r} is not an http(s) URL")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"--base-url {url!r} must use https (plain http is allowed only for loopback hosts)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"--base-url {url!r} must not carry a query or fragment")
    if parts.path.rstrip("/").lower().endswith("/api/client/v2"):
        raise ConfigError(
            f"--base-url {url!r} ends with /api/client/v2: give the part before it",
            hint=f"Try --base-url {url.rstrip('/')[: -len('/api/client/v2')]}",
        )
    return url.rstrip("/")


# A PATH that names a URL (`https://...`), not a file: any `scheme://` in front.
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: object) -> bool:
    """True for an input given as a URL (`scheme://...`) rather than a file or folder."""
    return isinstance(text, str) and _URL.match(text) is not None


def url_problem(url: str) -> str:
    """Why an input URL (or a redirect's target) may not be fetched; "" when it may:
    https, or plain http to a loopback host, with a port (if any) from 1 to 65535."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a valid address"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "is not an https:// address"
    if parts.scheme.lower() != "https" and not is_loopback(host):
        return "uses plain http, which is allowed only for loopback hosts; use https://"
    written = _port_text(parts.netloc)
    if written and not written.isdigit():  # not echoed: it may be part of a password
        return "has a port that is not a number; a port is a whole number from 1 to 65535"
    if written and not 1 <= int(written) <= 65535:
        return f"has the port {int(written)}; a port is a whole number from 1 to 65535"
    return ""


def redirect_problem(origin: str, target: str) -> str:
    """Why a download may not follow a redirect from `origin` to `target`; "" when it
    may. Beyond `url_problem`: a link from elsewhere may not lead to this machine (a
    loopback address), where it could reach what only this machine may ask."""
    problem = url_problem(target)
    if problem:
        return problem
    if _points_here(_host(target)) and not _points_here(_host(origin)):
        return (
            "is on this machine (a loopback address), and a link from another host may "
            "not lead there"
        )
    return ""


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# What `socket.inet_aton` (and so the resolver) reads as an IPv4 address: `127.1`,
# `2130706433`, `0x7f.0.0.1`.
_LEGACY_IPV4: Final = re.compile(r"[0-9a-fA-FxX.]+")


def _points_here(host: str) -> bool:
    """True for a host that is this machine however it is written: loopback names and
    addresses (`localhost`, `x.localhost`, `127.1`, `::ffff:127.0.0.1`) and the
    unspecified address (`0.0.0.0`, which connects here)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if not _LEGACY_IPV4.fullmatch(name):
            return False
        from socket import inet_aton  # socket is slow to import: only for such a name

        try:
            address = ipaddress.IPv4Address(inet_aton(name))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _port_text(netloc: str) -> str:
    """The port as written in `netloc` ("" when none), after any user:password@."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        return hostport.partition("]")[2].partition(":")[2]
    return hostport.partition(":")[2]


def public_url(url: str) -> str:
    """What reports, messages and summary.json call an input URL: without its query,
    fragment or user:password (signed links carry secrets there), even when the URL is
    not a valid one. The scheme and host are lower-cased; a port that is not a number is
    left out (it may be part of a password)."""
    # Cut the text itself rather than trust a parser: a URL that fails to parse (a port
    # out of range, a stray bracket) must lose its secrets all the same.
    text = re.split(r"[?#]", url, maxsplit=1)[0]
    scheme, found, rest = text.partition("://")
    if not found:
        return text.rpartition("@")[2]
    netloc, slash, path = rest.partition("/")
    port = _port_text(netloc)
    if port and not port.isdigit():
        # Most likely a password holding a "/" (`user:pa/ss@host`): the host is what
        # follows the last "@", and the port is dropped.
        netloc, slash, path = rest.rpartition("@")[2].partition("/")
        port = _port_text(netloc)
        if port and not port.isdigit():
            netloc = netloc[: -len(port) - 1]
    hostport = netloc.rpartition("@")[2].lower()
    return f"{scheme.lower()}://{hostport}{slash}{path}"


def _input(given: Path | str) -> Path | str:
    """An input as `Options` keeps it: a URL as text (checked), anything else a Path."""
    if not is_url(given):
        return Path(given)
    text = str(given)
    problem = url_problem(text)
    if problem:
        raise InputError(public_url(text), problem)
    return text


@dataclass(frozen=True)
class Options:
    """What every command shares: where rows come from and where reports go; checked
    when built."""

    # Files and folders (as `Path`s) and input URLs (as given, query included: it may be
    # what lets the server answer; see `public_url` for what is shown).
    paths: tuple[Path | str, ...]
    out: Path | None = None
    reports_root: Path = DEFAULT_REPORTS
    sheet: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS
    defaults: dict[str, str] = field(default_factory=dict)
    # Names a sheet may write instead of a uuid, per table (`owner`, `style`, `context`,
    # `topic`, as the config's `[names.*]`): name as written in the config -> uuid.
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    # Leave out rows hidden in a workbook (by hand or by a filter); else they are read,
    # with a warning naming them.
    skip_hidden_rows: bool = False
    # The most bytes an input URL may serve; more is refused before it is all read.
    max_bytes: int = DEFAULT_MAX_BYTES
    # After writing a run's reports, keep the newest N run folders of `reports_root`
    # (`pipeline.folders`); None keeps them all.
    keep_reports: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(_input(p) for p in self.paths))
        if not self.paths:
            raise ConfigError("no input: name at least one sheet or folder")
        if str(self.reports_root) == "":
            raise ConfigError("the reports folder is empty")
        if not isinstance(self.max_rows, int) or self.max_rows < 1:
            raise ConfigError(f"max_rows = {self.max_rows!r} must be a whole number of 1 or more")
        if type(self.max_bytes) is not int or self.max_bytes < 1:
            raise ConfigError(f"max_bytes = {self.max_bytes!r} must be a whole number of 1 or more")
        if self.keep_reports is not None and (
            type(self.keep_reports) is not int or self.keep_reports < 1
        ):
            raise ConfigError(
                f"keep_reports = {self.keep_reports!r} must be a whole number of 1 or more"
            )


@dataclass(frozen=True)
class SendSettings:
    """How hard to push. Defaults follow extrovert-api.md: 5 requests/s, 4 in flight.

    Checked when built: a value that cannot work raises `ConfigError`.
    """

    rate: float = 5.0
    concurrency: int = 4
    timeout: float = 30.0
    max_attempts: int = 5
    time_budget: float = 300.0
    max_consecutive_errors: int = 20
    retry_after_cap: float = 120.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    recovery_interval: float = 5.0

    def __post_init__(self) -> None:
        positive = ("rate", "timeout", "time_budget", "backoff_max")
        for name in positive:
            _require(name, getattr(self, name), getattr(self, name) > 0, "a number above 0")
        for name in ("retry_after_cap", "backoff_initial", "recovery_interval"):
            _require(name, getattr(self, name), getattr(self, name) >= 0, "0 or more")
        for name in ("concurrency", "max_attempts", "max_consecutive_errors"):
            value = getattr(self, name)
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            _require(name, value, ok, "a whole number of 1 or more")


def _require(name: str, value: object, ok: bool, accepted: str) -> None:
    if not ok:
        raise ConfigError(f"{name} = {value!r} cannot work: it must be {accepted}")


@dataclass(frozen=True)
class RunSettings:
    """What `campaigns run` needs beyond the input files; checked when built."""

    state: Path
    base_url: str
    api_key: Secret | None
    dry_run: bool = False
    resend_unknown: bool = False
    skip_existing: bool = False
    send: SendSettings = field(default_factory=SendSettings)
    recheck_delay: float = 3.0
    resolve_rounds: int = 2
    # What the ledger is bound to and summary.json names ("sandbox"); the base URL if empty.
    endpoint: str = ""
    # After the run, move each input file whose rows are all done into `archive/<run-id>/`
    # (`pipeline.archive`); None moves nothing.
    archive: Path | None = None
    # What every prospect-list request says (decision 13; config `[prospects]`): move a
    # profile from the owner's other lists, and let the API drop inactive prospects.
    move_own_duplicated: bool = False
    delete_if_inactive: bool = False

    def __post_init__(self) -> None:
        if str(self.state) in ("", "."):
            raise ConfigError("the ledger path (--state) is empty")
        if self.archive is not None and str(self.archive) in ("", "."):
            raise ConfigError(
                f"the archive folder (--archive) {str(self.archive)!r} cannot work: "
                "name a folder of its own"
            )
        object.__setattr__(self, "base_url", check_base_url(self.base_url))
        if self.api_key is None and not self.dry_run:
            raise ConfigError(
                "no API key: set EXTROVERT_API_KEY or give --api-key-file",
                hint="To rehearse without an account, add --sandbox (it needs no key).",
            )
        if self.recheck_delay < 0:
            raise ConfigError(f"recheck_delay = {self.recheck_delay!r} must be 0 or more")
        if self.resolve_rounds < 0:
            raise ConfigError(f"resolve_rounds = {self.resolve_rounds!r} must be 0 or more")

    @property
    def bound_to(self) -> str:
        """The API this run's ledger records campaigns of."""
        return self.endpoint or self.base_url
