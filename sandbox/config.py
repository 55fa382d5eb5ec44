"""What a sandbox serves and how it misbehaves.

`SandboxConfig` is the one value that describes a sandbox: its API keys, its team
members, its rate limit, its latency and the probability of each fault kind. It checks
itself when built, so a bad value fails where it is given (the CLI turns the
`ValueError` into a usage error), never halfway through a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

DEFAULT_API_KEY: Final = "sandbox-key"
# The larger a real gateway would take is unknown; 1 MB is far above any campaign body.
MAX_BODY_BYTES: Final = 1_048_576

# Fault kinds, in the order a draw walks them. The names are CLI values (`--fault KIND=P`).
FAULT_KINDS: Final = ("503", "500_before", "500_after", "drop_after", "timeout_after", "502_html")
# Faults that answer before the campaign is stored; the others store it, then misbehave.
FAULTS_BEFORE_STORING: Final = frozenset({"503", "500_before", "502_html"})


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
    probability per create or update request; `seed` makes the draws repeatable. `db` keeps the
    campaigns in SQLite across restarts. `campaign_list=False` makes `GET /campaign`
    answer 404. `hold_seconds` is how long a `timeout_after` fault holds the response.
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
        check_faults(self.faults)
        # A read-only copy, so the frozen config cannot change under a running sandbox.
        object.__setattr__(self, "faults", MappingProxyType(dict(self.faults)))

    @property
    def bucket_size(self) -> int:
        """Tokens a full bucket holds."""
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil(self.rate or 0))
