"""A rehearsal: the built-in sandbox started for one command (`--sandbox`, the web page).

`rehearsal(state, emails, faults)` starts the stand-in API on a free loopback port for
as long as the `with` lasts, keeping its campaigns beside the rehearsal's ledger
(`<state>-campaigns.sqlite`), and yields what a run sends to: its URL, its key and the
endpoint the ledger binds to ("sandbox"). Its team holds the default members and each
owner e-mail of the sheets (`owner_emails`), with a made-up id that is the same every
time, so a real sheet can be rehearsed and a plan made against the sandbox applied to it
later. The sandbox has no rate limit: a rehearsal paces at `SANDBOX_RATE` unless a rate
is given. Importing this module is cheap: the sandbox loads when one starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pipeline.errors import ConfigError
from pipeline.settings import Secret, SendSettings

if TYPE_CHECKING:
    from pipeline.load import Table

# Requests per second of a rehearsal when no rate is given: the built-in sandbox has no
# rate limit, and the real API's pace (5/s) only makes a rehearsal slow.
SANDBOX_RATE: Final = 50.0
# What a ledger records as the endpoint of a rehearsal.
SANDBOX_ENDPOINT: Final = "sandbox"


def paced(send: SendSettings, *, rate_given: bool) -> SendSettings:
    """`send` for a rehearsal: at `SANDBOX_RATE` unless a rate was given (an option, the
    environment or the config)."""
    return send if rate_given else replace(send, rate=SANDBOX_RATE)


def owner_emails(tables: Sequence[Table]) -> list[str]:
    """The owner e-mails of the tables' rows, lower-cased, each once (for the sandbox's
    stand-in team)."""
    from pipeline.parse import CellError, parse_owner

    emails: dict[str, None] = {}
    for table in tables:
        for text in table.frame.get("owner", ()):
            try:
                owner = parse_owner(str(text))
            except CellError:
                continue
            if isinstance(owner, str) and "@" in owner:
                emails[owner.lower()] = None
    return list(emails)


@contextmanager
def rehearsal(
    state: Path, emails: Sequence[str], faults: Mapping[str, float]
) -> Iterator[tuple[str, Secret, str]]:
    """The sandbox, started for the `with` (see the module docstring), as (base URL, key,
    endpoint); `faults` are given to its create requests. `ConfigError` when it cannot
    keep its campaigns beside `state`."""
    import sqlite3
    import uuid

    from sandbox.config import DEFAULT_MEMBERS, Member
    from sandbox.server import DEFAULT_API_KEY, SandboxConfig, run_in_thread

    known = {m.email.lower() for m in DEFAULT_MEMBERS}
    members = DEFAULT_MEMBERS + tuple(
        Member(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{email}")),
            first_name=email.partition("@")[0],
            last_name="(rehearsal)",
            email=email,
            linkedin_url="",
        )
        for email in emails
        if email not in known
    )
    store = state.with_name(f"{state.stem}-campaigns.sqlite")
    with ExitStack() as stack:
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            config = SandboxConfig(db=store, members=members, faults=dict(faults))
            url = stack.enter_context(run_in_thread(config))
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(
                f"--state {state}: the sandbox cannot keep its campaigns in {store}: {reason}"
            ) from None
        yield url, Secret(DEFAULT_API_KEY), SANDBOX_ENDPOINT
