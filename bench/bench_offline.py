"""The offline half at scale: 100,000 rows validated, mapped and reported.

Generates a CSV and an xlsx of `ROWS` realistic rows (1% invalid) in a temporary folder,
then measures, each in a fresh process so peak memory (max RSS) is its own:
- pandas alone reading the CSV (`pd.read_csv(dtype=str)`), the baseline;
- `campaigns validate` on the CSV (load, validate, map, write every report);
- `campaigns validate` on the xlsx.
Prints seconds, the ratio to the pandas baseline, and peak memory.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from openpyxl import Workbook

from schemas.columns import COLUMNS

ROWS = 100_000
OWNERS = ["anna@example.com", "ben@example.com", "carla@example.com", str(uuid.UUID(int=7))]


def make_rows(count: int, seed: int = 1) -> list[list[str]]:
    rng = random.Random(seed)
    styles = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20)]
    topics = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(50)]
    rows = []
    for index in range(count):
        prospects = index % 2 == 0
        row = {
            "campaign_key": f"key-{index:06d}",
            "campaign_name": f"Campaign {index} - {rng.choice(['CTOs', 'VPs', 'Founders'])}",
            "campaign_type": rng.choice(["Prospects", "TARGET_USER"] if prospects else ["Topic"]),
            "owner": rng.choice(OWNERS),
            "style_id": rng.choice(styles),
            "context_id": rng.choice(styles),
            "min_post_likes": str(rng.randrange(0, 100)),
            "emotion_types": rng.choice(["", "LIKE", "LIKE, PRAISE"]),
            "monitored_topic_ids": ", ".join(rng.sample(topics, rng.randrange(0, 3))),
            "direct_posts_first": rng.choice(["", "true", "false"]),
        }
        if prospects:
            row |= {
                "comment_interval_hours": rng.choice(["", "24", "48"]),
                "connect_enabled": rng.choice(["yes", "no", ""]),
                "connect_timeout_days": str(rng.randrange(1, 30)),
                "dm_enabled": rng.choice(["TRUE", "FALSE"]),
            }
        if index % 100 == 99:
            row["min_post_likes"] = "lots"  # 1% invalid rows
        rows.append([row.get(c.name, "") for c in COLUMNS])
    return rows


def write_inputs(folder: Path) -> tuple[Path, Path]:
    rows = make_rows(ROWS)
    header = [c.name for c in COLUMNS]
    csv_path = folder / "bench.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    xlsx_path = folder / "bench.xlsx"
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("campaigns")
    sheet.append(header)
    for row in rows:
        sheet.append([int(v) if v.isdigit() else (v or None) for v in row])
    workbook.save(xlsx_path)
    return csv_path, xlsx_path


_CHILD = """
import json, resource, sys, time
kind, path, out = sys.argv[1:4]
began = time.perf_counter()
if kind == "pandas":
    import pandas as pd
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = len(frame)
else:
    from pathlib import Path
    from pipeline.run import validate_files
    from pipeline.settings import Options
    result = validate_files(Options(paths=(Path(path),), out=Path(out)))
    rows = result.total
seconds = time.perf_counter() - began
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": peak}))
"""


def measure(kind: str, path: Path, out: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(path), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        began = time.perf_counter()
        csv_path, xlsx_path = write_inputs(folder)
        print(f"inputs: {ROWS} rows generated in {time.perf_counter() - began:.1f} s")
        baseline = measure("pandas", csv_path, folder / "unused")
        run_csv = measure("validate", csv_path, folder / "out-csv")
        run_xlsx = measure("validate", xlsx_path, folder / "out-xlsx")
    print(
        f"pandas.read_csv alone:     {baseline['seconds']:6.2f} s  "
        f"peak {baseline['peak_mb']:6.0f} MB"
    )
    print(
        f"validate, {ROWS} csv rows:  {run_csv['seconds']:6.2f} s  "
        f"peak {run_csv['peak_mb']:6.0f} MB  "
        f"({run_csv['seconds'] / baseline['seconds']:.1f}x pandas alone; goal: < 10 s and <= 4x)"
    )
    print(
        f"validate, {ROWS} xlsx rows: {run_xlsx['seconds']:6.2f} s  "
        f"peak {run_xlsx['peak_mb']:6.0f} MB  (goal: < 30 s, peak < 1024 MB)"
    )


if __name__ == "__main__":
    main()
