"""What the API already knows: team members by e-mail, campaigns by owner and name.

`team_directory` turns owner e-mails into member ids (once per run). `campaign_index`
reads the campaign list, the authority on whether an uncertain create went through;
it is None when the API does not offer the list (404/405). Both read through `read`,
which retries what a read may always retry, sleeping through the run's `Stop`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Final

from pipeline.client import Api
from pipeline.errors import ApiError, CampaignListError, StoppedError
from pipeline.model import is_uuid, normalise_name
from pipeline.operations import CAMPAIGN_PATH, MEMBERS_PATH, Answer
from pipeline.send import log_request, retry_after
from pipeline.stop import Stop
from pipeline.timing import Timing, backoff

NO_LIST: Final = frozenset({404, 405})
RETRY_READ: Final = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Directory:
    """Owner e-mails resolved: `ids` for the ones that name one member, `problems` else."""

    ids: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


async def read(
    client: Api, path: str, what: str, timing: Timing, stop: Stop, attempts: int = 4
) -> Answer:
    """GET `path`, retrying what a read may always retry (no connection, 429, 5xx)."""
    for attempt in range(1, attempts + 1):
        sent_at = timing.monotonic()
        answer = await stop.unless_aborted(client.get(path))
        log_request("GET", path, answer, timing.monotonic() - sent_at, attempt)
        if answer is None:  # a second Ctrl-C: the read is cancelled
            raise StoppedError(f"stopped while reading {what}: {stop.reason}")
        if answer.failure is not None:
            if attempt == attempts:
                raise ApiError(
                    f"could not reach the API at {client.base_url} to read {what} "
                    f"({answer.error or answer.failure})",
                    transient=True,
                    hint="Check the network and --base-url, then run again.",
                )
        elif answer.status not in RETRY_READ or attempt == attempts:
            return answer
        wait = retry_after(answer.retry_after, timing.now(), cap=120.0)
        if wait is None:
            wait = backoff(attempt, initial=0.5, cap=30.0, rng=timing.random)
        await stop.nap(wait)
        if stop:
            raise StoppedError(f"stopped before {what} could be read: {stop.reason}")
    raise AssertionError("unreachable")  # pragma: no cover


def _refused(what: str, status: int | None) -> ApiError:
    if status in (401, 403):
        return StoppedError(
            f"the API refused the key while reading {what} (HTTP {status})",
            http_status=status,
            hint="Check EXTROVERT_API_KEY (or --api-key-file) and --base-url.",
        )
    hint = "Try again later, or give owners as ids (uuids) instead of e-mails."
    if status == 404:
        hint = "Check --base-url: it is the address before /api/client/v2."
    return ApiError(
        f"could not read {what} (HTTP {status}); nothing was sent",
        http_status=status,
        transient=status in RETRY_READ,
        hint=hint,
    )


async def team_directory(
    client: Api, emails: Collection[str], timing: Timing, stop: Stop
) -> Directory:
    """Resolve `emails` (lower-cased) through the team-members list; case-insensitive."""
    if not emails:
        return Directory()
    answer = await read(client, MEMBERS_PATH, "the team members", timing, stop)
    if answer.status != 200 or not isinstance(answer.data, list):
        raise _refused("the team members", answer.status)
    found: dict[str, set[str]] = defaultdict(set)
    for member in answer.data:
        if not isinstance(member, dict):
            continue
        profile = member.get("linkedInProfile")
        email = profile.get("email") if isinstance(profile, dict) else None
        member_id = member.get("id")
        if isinstance(email, str) and isinstance(member_id, str) and is_uuid(member_id.lower()):
            found[email.strip().lower()].add(member_id.lower())
    directory = Directory()
    for email in emails:
        ids = found.get(email, set())
        if len(ids) == 1:
            directory.ids[email] = next(iter(ids))
        elif ids:
            directory.problems[email] = (
                f'"{email}" matches {len(ids)} team members; give the owner\'s id (uuid) instead'
            )
        else:
            directory.problems[email] = f'"{email}" is not the e-mail of any team member'
    return directory


@dataclass(frozen=True)
class CampaignIndex:
    """Existing campaigns (not deleted) by (owner id, normalised name) -> their ids, and
    every id the list holds, deleted ones included (`all_ids`: a snapshot)."""

    ids: dict[tuple[str, str], list[str]]
    all_ids: frozenset[str] = frozenset()

    def find(self, owner_id: str, name: str, exclude: Collection[str] = ()) -> str:
        """The id of a campaign of this owner with this name ("" if none), skipping `exclude`."""
        for found in self.find_all(owner_id, name):
            if found not in exclude:
                return found
        return ""

    def find_all(self, owner_id: str, name: str) -> list[str]:
        """The ids of every campaign of this owner with this name, in list order."""
        return self.ids.get((owner_id, normalise_name(name)), [])


async def campaign_index(client: Api, timing: Timing, stop: Stop) -> CampaignIndex | None:
    """The campaign list as an index, or None when the API has no such list (404/405).

    Raises `CampaignListError` when the list answers an error or a shape this code does not
    know (paged, or entries without owner and name): absence in a list that cannot be
    trusted to be complete must never lead to sending again.
    """
    answer = await read(client, CAMPAIGN_PATH, "the campaign list", timing, stop)
    if answer.status in NO_LIST:
        return None
    if answer.status in (401, 403):
        raise _refused("the campaign list", answer.status)
    if answer.status != 200 or not isinstance(answer.data, list):
        raise CampaignListError(f"the campaign list answered HTTP {answer.status} or no list")
    ids: dict[tuple[str, str], list[str]] = defaultdict(list)
    every: set[str] = set()
    for campaign in answer.data:
        if not isinstance(campaign, dict):
            raise CampaignListError("the campaign list holds entries of an unknown shape")
        owner = campaign.get("owner")
        owner_id = owner.get("id") if isinstance(owner, dict) else None
        name, found = campaign.get("name"), campaign.get("id")
        if not (isinstance(owner_id, str) and isinstance(name, str) and isinstance(found, str)):
            raise CampaignListError("the campaign list holds entries without owner, name or id")
        every.add(found.lower())
        if campaign.get("isDeleted") is not True:
            ids[(owner_id.lower(), normalise_name(name))].append(found.lower())
    return CampaignIndex(dict(ids), frozenset(every))
