"""Prospect lists: which campaign may have one, and where each URL of a request goes.

`place` decides, as a pure function of what the lists hold; `ListStore` (in
`sandbox.lists`) does what it decides. Each URL of a create or add, in the order sent:

| the URL                                                | goes to                        |
|--------------------------------------------------------|--------------------------------|
| already in this list, or earlier in the same request   | no array (skipped)             |
| one of the config's `rejected_urls`                    | `validationRejectedUrls`       |
| in a list of a teammate's campaign (another owner)     | `existedUrlsMap`               |
| in another list of the same owner, `moveOwnDuplicated` | `submittedUrls`, moved here    |
| in another list of the same owner, not moving          | `existedUrlsMap`               |
| new, while the account's allowance lasts               | `submittedUrls`                |
| new, past the allowance                                | `outOfLimitUrls`               |

`existedUrlsMap` is keyed by the id of each campaign whose list holds the URL, each value
`{"campaignName", "urls"}`. A teammate's hold wins: such a URL is never moved, even by
`moveOwnDuplicated`. A move is no new prospect: it takes nothing from the allowance (the
month's share of `prospect_limit`, capped by `prospect_total_limit` less the prospects
held). Only lists of campaigns the sandbox still holds are active; a list whose campaign
was deleted holds nothing back.

Campaigns: a list belongs to an existing TARGET_USER (Prospects) campaign. An unknown
`campaignId` is a 400 naming the field (the docs do not say; the API checks its body
before it answers, and the id is a field of the body, not of the path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.lists import ListStore
from sandbox.state import Campaign, CampaignStore
from schemas.columns import TARGET_USER


@dataclass(frozen=True)
class Holder:
    """A list holding a URL, and the campaign it belongs to."""

    list_id: str
    campaign_id: str
    campaign_name: str
    owner_id: str


@dataclass(frozen=True)
class Existed:
    """The URLs of one request that a campaign's list holds already."""

    campaign_name: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Placement:
    """Where the URLs of one request go. `submitted` are stored in the list, in order;
    `moved` maps those among them that leave another list to that list's id; `repeated`
    counts the URLs skipped without a word."""

    submitted: tuple[str, ...] = ()
    moved: Mapping[str, str] = field(default_factory=dict)
    rejected: tuple[str, ...] = ()
    existed: Mapping[str, Existed] = field(default_factory=dict)
    over_limit: tuple[str, ...] = ()
    repeated: int = 0

    def to_json(self, list_id: str, config: SandboxConfig) -> dict[str, Any]:
        """The answer's `data`."""
        return {
            "listId": list_id,
            "submittedUrls": list(self.submitted),
            "validationRejectedUrls": list(self.rejected),
            "existedUrlsMap": {
                campaign_id: {"campaignName": existed.campaign_name, "urls": list(existed.urls)}
                for campaign_id, existed in self.existed.items()
            },
            "outOfLimitUrls": list(self.over_limit),
            "totalUrlsLimit": config.prospect_total_limit,
            "perMonthUrlsLimit": config.prospect_limit,
        }


def place(
    urls: Sequence[str],
    *,
    owner_id: str,
    here: Mapping[str, bool],
    holders: Mapping[str, Sequence[Holder]],
    move_own: bool,
    allowance: int,
    rejected: frozenset[str],
) -> Placement:
    """Where each of `urls` goes (see the module's table), for a list of a campaign owned
    by `owner_id`. `here[url]`: whether the list holds it already; `holders[url]`: the
    other active lists holding it; `allowance`: how many new prospects may be stored."""
    seen: set[str] = set()
    submitted: list[str] = []
    moved: dict[str, str] = {}
    refused: list[str] = []
    existed: dict[str, tuple[str, list[str]]] = {}
    over_limit: list[str] = []
    repeated = 0
    for url in urls:
        if url in seen or here[url]:
            repeated += 1
            continue
        seen.add(url)
        others = holders[url]
        own = [holder for holder in others if holder.owner_id == owner_id]
        if url in rejected:
            refused.append(url)
        elif others and (len(own) < len(others) or not move_own):
            for holder in others:
                existed.setdefault(holder.campaign_id, (holder.campaign_name, []))[1].append(url)
        elif own:
            # Active lists hold a URL once between them: nothing else stores or moves it.
            moved[url] = own[0].list_id
            submitted.append(url)
        elif allowance > 0:
            allowance -= 1
            submitted.append(url)
        else:
            over_limit.append(url)
    return Placement(
        submitted=tuple(submitted),
        moved=moved,
        rejected=tuple(refused),
        existed={key: Existed(name, tuple(found)) for key, (name, found) in existed.items()},
        over_limit=tuple(over_limit),
        repeated=repeated,
    )


def list_campaign(campaign_id: str, campaigns: CampaignStore) -> Campaign | str:
    """The campaign a new list may belong to, or one line naming the field why not."""
    campaign = campaigns.get(campaign_id)
    if campaign is None:
        return f"campaignId: there is no campaign {campaign_id} (see GET /campaign)"
    campaign_type = campaign.payload["type"]
    if campaign_type != TARGET_USER:
        return (
            f"campaignId: campaign {campaign_id} is a {campaign_type} campaign; "
            f"prospect lists belong to {TARGET_USER} (Prospects) campaigns"
        )
    return campaign


def placement(
    body: Mapping[str, Any],
    campaign: Campaign,
    list_id: str,
    *,
    campaigns: CampaignStore,
    lists: ListStore,
    config: SandboxConfig,
) -> Placement:
    """Where the URLs of a checked create or add body go in the list `list_id` of
    `campaign`, as the stores stand."""
    here: dict[str, bool] = {}
    holders: dict[str, list[Holder]] = {}
    for url in body["userUrls"]:
        holding = lists.holding(url)
        here[url] = list_id in holding
        holders[url] = []
        for other_list, campaign_id in holding.items():
            other = campaigns.get(campaign_id)
            if other_list != list_id and other is not None:
                holders[url].append(Holder(other_list, other.id, other.name, other.owner_id))
    return place(
        body["userUrls"],
        owner_id=campaign.owner_id,
        here=here,
        holders=holders,
        move_own=body["moveOwnDuplicated"],
        allowance=lists.allowance(config.prospect_limit, config.prospect_total_limit),
        rejected=config.rejected_urls,
    )
