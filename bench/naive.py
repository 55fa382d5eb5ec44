"""The baseline: the script a capable user writes instead of the tool (pandas + Pandera + json).

It follows ../shared/peers/naive_pandera.py (the peer every project's benchmarks compare
against) line for line in what it does; only the layout is this project's (ruff) and
the annotations are added. It is a baseline for bench/bench_goals.py, not product code.

Same job as `campaigns validate`: read the CSV, check every row with a Pandera schema
(coerce, lazy), build the Create Campaign payload per valid row, write payloads.jsonl and
results.csv. Run as `python bench/naive.py FILE.csv OUT_DIR`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
TYPES = {"TARGET_USER", "KEYWORD"}

schema = pa.DataFrameSchema(
    {
        "campaign_key": pa.Column(str),
        "campaign_name": pa.Column(str, pa.Check.str_length(1, 255)),
        "campaign_type": pa.Column(str, pa.Check.isin(TYPES)),
        "owner": pa.Column(str, pa.Check.str_matches(UUID)),
        "style_id": pa.Column(str, pa.Check.str_matches(UUID)),
        "context_id": pa.Column(str, pa.Check.str_matches(UUID)),
        "min_post_likes": pa.Column(int, pa.Check.ge(0), coerce=True),
    },
    unique=["campaign_key"],
)


def payload(r: Mapping[Hashable, Any]) -> dict[str, Any]:
    p: dict[str, Any] = {
        "ownerId": r["owner"].lower(),
        "name": r["campaign_name"],
        "type": r["campaign_type"],
        "userStyleId": r["style_id"].lower(),
        "userContextId": r["context_id"].lower(),
        "postMaxAgeDays": 30,
        "skipTeammatesLeads": r["campaign_type"] == "TARGET_USER",
        "isIndirectEngagementEnabled": False,
        "postActivityFilter": {
            "emotionTypes": [],
            "monitoredTopicIds": [],
            "isShowImportantTargetUsersFirstEnabled": False,
            "isShowDirectPostFirstEnabled": False,
            "minPostLikes": int(r["min_post_likes"]),
        },
    }
    if r["campaign_type"] == "TARGET_USER":
        p["connectingSettings"] = {
            "isSendConnectionRequestEnabled": False,
            "sendConnectionRequestOnDirectCommentCount": 3,
            "isSendConnectionRequestOnIndirectCommentEnabled": False,
            "sendConnectionRequestOnIndirectCommentCount": 3,
            "isSendConnectionRequestOnTimeoutEnabled": False,
            "sendConnectionRequestOnTimeoutDays": 14,
            "isSendConnectionRequestOnNoPostsEnabled": False,
        }
        p["dmSettings"] = {
            "isGenerateDmEnabled": False,
            "isGenerateDmOnConnectEnabled": False,
            "generateDmOnConnectAfterDaysCount": 1,
            "isGenerateDmOnRelevantPostEnabled": False,
            "generateDmOnRelevantPostAfterDaysCount": 1,
            "isGenerateDmOnTimeoutEnabled": False,
            "generateDmOnTimeoutAfterDaysCount": 14,
        }
    return p


def main(src: str, out: str) -> None:
    o = Path(out)
    o.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    bad: dict[int, list[str]] = {}
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        for fc in e.failure_cases.itertuples():
            if fc.index is not None and fc.index == fc.index:
                bad.setdefault(int(fc.index), []).append(f"{fc.column}: {fc.check}")
    results: list[tuple[int, str, str, str]] = []
    with open(o / "payloads.jsonl", "w", encoding="utf-8") as f:
        for i, r in enumerate(df.to_dict("records")):
            if i in bad:
                results.append((i + 2, r["campaign_key"], "invalid", " | ".join(bad[i])))
                continue
            row = {"row": i + 2, "campaign_key": r["campaign_key"], "payload": payload(r)}
            f.write(json.dumps(row) + "\n")
            results.append((i + 2, r["campaign_key"], "valid", ""))
    pd.DataFrame(results, columns=["row", "campaign_key", "status", "errors"]).to_csv(
        o / "results.csv", index=False
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
