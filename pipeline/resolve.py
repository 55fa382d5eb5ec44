"""What the API already knows: team members by e-mail, campaigns by owner and name.

`team_directory` turns owner e-mails into member ids (once per run). `campaign_index`
reads the campaign list, the authority on whether an uncertain create went through;
it is None when the API does not offer the list (404/405).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

import httpx

from pipeline.client import CAMPAIGN_PATH, MEMBERS_PATH, ApiAnswer, ExtrovertClient
from pipeline.errors import PipelineError, StoppedError
from pipeline.parse import is_uuid
from pipeline.validate import normalise_name

NO_LIST = frozenset({404, 405})
RETRY_READ = frozenset({408, 429, 500, 502, 503, 504})
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Directory:
    """Owner e-mails resolved: `ids` for the ones that name one member, `problems` else."""

    ids: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


async def read(
    client: ExtrovertClient, path: str, what: str, sleep: Sleep, attempts: int = 4
) -> ApiAnswer:
    """GET `path`, retrying what a read may always retry (no connection, 429, 5xx)."""
    for attempt in range(1, attempts + 1):
        try:
            answer = await client.get(path)
        except httpx.HTTPError as exc:
            if attempt == attempts:
                raise PipelineError(
                    f"could not reach the API at {client.base_url} to read {what} "
                    f"({type(exc).__name__})",
                    hint="Check the network and --base-url, then run again.",
                ) from None
        else:
            if answer.status not in RETRY_READ or attempt == attempts:
                return answer
        await sleep(random.uniform(0, 0.5 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _refused(what: str, status: int) -> PipelineError:
    if status in (401, 403):
        return StoppedError(
            f"the API refused the key while reading {what} (HTTP {status})",
            http_status=status,
            hint="Check EXTROVERT_API_KEY (or --api-key-file) and --base-url.",
        )
    return PipelineError(
        f"could not read {what} (HTTP {status}); nothing was sent",
        hint="Try again later, or give owners as ids (uuids) instead of e-mails.",
    )


async def team_directory(
    client: ExtrovertClient, emails: Collection[str], sleep: Sleep
) -> Directory:
    """Resolve `emails` (lower-cased) through the team-members list; case-insensitive."""
    if not emails:
        return Directory()
    answer = await read(client, MEMBERS_PATH, "the team members", sleep)
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
    """Existing campaigns by (owner id, normalised name) -> their ids."""

    ids: dict[tuple[str, str], list[str]]

    def find(self, owner_id: str, name: str, exclude: Collection[str] = ()) -> str:
        """The id of a campaign of this owner with this name ("" if none), skipping `exclude`."""
        for found in self.ids.get((owner_id, normalise_name(name)), []):
            if found not in exclude:
                return found
        return ""


class ListUnreadable(PipelineError):
    """The campaign list exists but could not be read or understood just now."""


async def campaign_index(client: ExtrovertClient, sleep: Sleep) -> CampaignIndex | None:
    """The campaign list as an index, or None when the API has no such list (404/405).

    Raises `ListUnreadable` when the list answers an error or a shape this code does not
    know (paged, or entries without owner and name): absence in a list that cannot be
    trusted to be complete must never lead to sending again.
    """
    answer = await read(client, CAMPAIGN_PATH, "the campaign list", sleep)
    if answer.status in NO_LIST:
        return None
    if answer.status != 200 or not isinstance(answer.data, list):
        raise ListUnreadable(f"the campaign list answered HTTP {answer.status} or no list")
    ids: dict[tuple[str, str], list[str]] = defaultdict(list)
    for campaign in answer.data:
        if not isinstance(campaign, dict):
            raise ListUnreadable("the campaign list holds entries of an unknown shape")
        owner = campaign.get("owner")
        owner_id = owner.get("id") if isinstance(owner, dict) else None
        name, found = campaign.get("name"), campaign.get("id")
        if not (isinstance(owner_id, str) and isinstance(name, str) and isinstance(found, str)):
            raise ListUnreadable("the campaign list holds entries without owner, name or id")
        if campaign.get("isDeleted") is not True:
            ids[(owner_id.lower(), normalise_name(name))].append(found.lower())
    return CampaignIndex(dict(ids))
