"""What a sandbox serves and how it misbehaves.

`SandboxConfig` is the one value that describes a sandbox: its API keys, its team
members, its rate limit, its latency, the probability of each fault kind (for campaign
requests and, apart, for prospect-list requests) and the account's prospect limits. It
checks itself when built, so a bad value fails where it is given (the CLI turns the
`ValueError` into a usage error), never halfway through a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

DEFAULT_API_KEY: Final = "sandbox-key"
# The larger a real gateway would take is unknown; 1 MB is far above any campaign body.
MAX_BODY_BYTES: Final = 1_048_576

# Fault kinds, in the order a draw walks them. The names are CLI values (`--fault KIND=P`).
FAULT_KINDS: Final = ("503", "500_before", "500_after", "drop_after", "timeout_after", "502_html")
# Faults that answer before the change is stored; the others store it, then misbehave.
FAULTS_BEFORE_STORING: Final = frozenset({"503", "500_before", "502_html"})
# Which requests a fault table strikes: campaign creates and updates (`faults`), or list
# creates and adds (`prospect_faults`). Each has its own seeded sequence of draws.
FaultTarget = Literal["campaigns", "prospects"]
# The account's prospect limits when none is given: no plan the docs hint at comes near,
# so a rehearsal never meets them; a test that wants the limit sets a small one.
DEFAULT_PROSPECT_LIMIT: Final = 100_000
DEFAULT_PROSPECT_TOTAL_LIMIT: Final = 1_000_000


@dataclass(frozen=True)
class Member:
    """A team member, as `GET /user/team-members` lists them."""

    id: str
    first_name: str
    last_name: str
    email: str
    linkedin_url: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "linkedInProfile": {"email": self.email, "linkedInUrl": self.linkedin_url},
        }


DEFAULT_MEMBERS: Final = (
    Member(
        id="a39d2de7-f53b-4a0d-a63e-5ded7d9dafd0",
        first_name="Anna",
        last_name="Adams",
        email="anna@example.com",
        linkedin_url="https://www.linkedin.com/in/anna-adams-example",
    ),
    Member(
        id="1a46fb75-67a5-4e8f-9458-8e2dd09356da",
        first_name="Ben",
        last_name="Brown",
        email="ben@example.com",
        linkedin_url="https://www.linkedin.com/in/ben-brown-example",
    ),
    Member(
        id="56fb4ee6-bd4b-4c32-a3ef-4b76a08363d2",
        first_name="Carla",
        last_name="Costa",
        email="carla@example.com",
        linkedin_url="https://www.linkedin.com/in/carla-costa-example",
    ),
)


def check_faults(faults: Mapping[str, float]) -> None:
    """Raise `ValueError` unless every kind is known and the probabilities fit in 0..1."""
    for kind, probability in faults.items():
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}"
            )
        if isinstance(probability, bool) or not 0 <= probability <= 1:
            raise ValueError(f"fault {kind}: probability {probability!r} is outside 0..1")
    total = math.fsum(faults.values())
    if total > 1 + 1e-9:
        # One draw per request picks at most one fault, so the shares must fit in 1.
        raise ValueError(f"fault probabilities add up to {total:g}; at most 1 is possible")


@dataclass(frozen=True)
class SandboxConfig:
    """Everything a sandbox serves and every way it misbehaves.

    `rate` is requests per second per API key (None or 0: unlimited) and `burst` the
    bucket size (None: one second's worth, at least 1). `latency_ms` plus up to
    `jitter_ms` delays every API request. `faults` maps a kind of `FAULT_KINDS` to its
    probability per campaign create or update request; `prospect_faults` does the same for
    prospect-list requests (create a list, add to a list), drawn from a sequence of their
    own; `seed` makes the draws repeatable. `db` keeps the campaigns, lists and prospects
    in SQLite across restarts. `campaign_list=False` makes `GET /campaign` answer 404.
    `hold_seconds` is how long a `timeout_after` fault holds the response.

    `prospect_limit` and `prospect_total_limit` are the account's limits (the answers'
    `perMonthUrlsLimit` and `totalUrlsLimit`): new prospects a month (`POST
    /_sandbox/new-month` starts another) and prospects held in all lists at once.
    `rejected_urls` are canonical profile URLs the API refuses as if LinkedIn knew no
    such profile (answered in `validationRejectedUrls`).
    """

    api_keys: frozenset[str] = frozenset({DEFAULT_API_KEY})
    members: tuple[Member, ...] = DEFAULT_MEMBERS
    rate: float | None = None
    burst: int | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    faults: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    db: Path | None = None
    campaign_list: bool = True
    hold_seconds: float = 120.0
    max_body_bytes: int = MAX_BODY_BYTES
    prospect_faults: Mapping[str, float] = field(default_factory=dict)
    prospect_limit: int = DEFAULT_PROSPECT_LIMIT
    prospect_total_limit: int = DEFAULT_PROSPECT_TOTAL_LIMIT
    rejected_urls: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.api_keys:
            raise ValueError("api_keys: at least one API key is needed")
        if self.rate is not None and not self.rate >= 0:
            raise ValueError(f"rate: {self.rate!r} is not a number of requests per second >= 0")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"burst: {self.burst!r} is below 1")
        for name in ("latency_ms", "jitter_ms", "hold_seconds"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name}: {value!r} is below 0")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes: {self.max_body_bytes!r} is below 1")
        for name in ("prospect_limit", "prospect_total_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: {value!r} is not a whole number of prospects >= 0")
        if self.rejected_urls:
            # The contract's checks pull in jsonschema: only when there is a URL to check,
            # so that `campaigns --help` (which reads FAULT_KINDS from here) starts at once.
            from sandbox.contract import is_profile_url

            for url in sorted(self.rejected_urls):
                if not is_profile_url(url):
                    raise ValueError(
                        f"rejected_urls: {url!r} is not a canonical profile URL "
                        "(https://www.linkedin.com/in/<slug>), so no client would send it"
                    )
        check_faults(self.faults)
        try:
            check_faults(self.prospect_faults)
        except ValueError as exc:
            raise ValueError(f"prospect_faults: {exc}") from None
        # Read-only copies, so the frozen config cannot change under a running sandbox.
        object.__setattr__(self, "faults", MappingProxyType(dict(self.faults)))
        object.__setattr__(self, "prospect_faults", MappingProxyType(dict(self.prospect_faults)))

    @property
    def bucket_size(self) -> int:
        """Tokens a full bucket holds."""
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil(self.rate or 0))
