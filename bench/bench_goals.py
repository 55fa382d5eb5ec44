"""Issue 13's goals, side by side: each measured, its ratio, and whether it is met.

Run with `python -m bench bench_goals` (or `make bench`, which runs every benchmark).

Generates its inputs in a temporary folder (bench/inputs.py): a CSV of `ROWS` campaign
rows (1% invalid), the same rows as an xlsx workbook, and a prospects CSV of
`PROSPECT_ROWS` profile URLs naming the Prospects campaigns among them. Then measures
whole processes, as a user runs them, each in a fresh output folder (and working
folder, so nothing lands in the repository):

- naive: the baseline script bench/naive.py (pandas + Pandera, after
  ../shared/peers/naive_pandera.py) on the CSV;
- validate: `campaigns validate FILE.csv --out DIR` (every report file written; exit
  code 1, as 1% of the rows are invalid);
- read_csv: a bare Python process doing `pandas.read_csv(FILE.csv, dtype=str,
  keep_default_na=False)`;
- validate xlsx: `campaigns validate FILE.xlsx --out DIR`;
- validate + prospects: `campaigns validate FILE.csv PROSPECTS.csv --out DIR`;
- help: `campaigns --help`;
- status: `campaigns status --state DIR/ledger.sqlite` where no ledger exists (it says
  so and exits 2, like every configuration error);
- sandbox run: `campaigns run --sandbox example.xlsx` (input_templates/example.xlsx,
  copied into a fresh folder that holds its reports and ledger, so it creates its 5
  campaigns every time), end to end.

Wall time (from start to exit) and peak memory (the child's max RSS, from `os.wait4`
in a small launcher process, see `_LAUNCHER`) of each; `REPEAT` rounds (env
BENCH_REPEAT, default 3), each round running every measure once in the order above, so
that a change in the machine's load falls on all alike; the figure of a measure is its
median over the rounds. Ratios are of those medians; for a goal in seconds the ratio is
to its limit. Raises when a process fails or its reports say it did not do the whole job.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.inputs import make_rows, prospect_rows, write_csv, write_prospects, write_xlsx

ROWS = 100_000
PROSPECT_ROWS = 100_000
PROSPECTS_PER_CAMPAIGN = 200
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
PROJECT = Path(__file__).resolve().parent.parent
EXAMPLE = PROJECT / "input_templates" / "example.xlsx"
NAIVE = Path(__file__).resolve().parent / "naive.py"
EXAMPLE_CREATES = 5
READ_CSV = (
    "import sys\nimport pandas as pd\npd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)\n"
)


def campaigns_command() -> str:
    """The `campaigns` console script beside this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "campaigns"
    if beside.exists():
        return str(beside)
    found = shutil.which("campaigns")
    if found is None:
        raise RuntimeError("no `campaigns` command beside this Python or on PATH")
    return found


@dataclass
class Inputs:
    csv: Path
    xlsx: Path
    prospects: Path


@dataclass
class Measure:
    """One process to measure: its command line in a fresh `folder` (its working
    folder, holding whatever it writes), the exit codes that are normal for it, and a
    check of what it wrote (raises if it did not do the whole job)."""

    name: str
    command: Callable[[Path], list[str]]
    codes: tuple[int, ...] = (0,)
    check: Callable[[Path, str], None] | None = None
    seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak(self) -> float:
        return statistics.median(self.peak_mb)


# Starts the command, waits for it and prints its wall time, exit code and peak RSS.
# Linux charges a child, as its peak, the memory of the process it was forked from (at
# its exec), so the measured command is started from this small, fresh process rather
# than from the bench, which holds its inputs and may have run other benchmarks.
_LAUNCHER = """
import json, os, subprocess, sys, time
cwd, log, *command = sys.argv[1:]
with open(log, "wb") as output:
    began = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=output, stderr=output
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - began
child.returncode = code = os.waitstatus_to_exitcode(status)
print(json.dumps({"seconds": seconds, "code": code, "peak_kb": usage.ru_maxrss}))
"""


def run(measure: Measure, folder: Path) -> None:
    """Runs `measure` once in `folder` and notes its wall time and peak memory."""
    folder.mkdir()
    command = measure.command(folder)
    log = folder / "output.log"
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(folder), str(log)]
    done = subprocess.run([*launcher, *command], check=True, capture_output=True, text=True)
    figures = json.loads(done.stdout)
    text = log.read_text(encoding="utf-8", errors="replace")
    code = figures["code"]
    if code not in measure.codes or "Traceback (most recent call last)" in text:
        tail = "\n".join(text.splitlines()[-15:])
        raise RuntimeError(f"{measure.name}: exit code {code} from {command}:\n{tail}")
    if measure.check is not None:
        measure.check(folder, text)
    measure.seconds.append(figures["seconds"])
    measure.peak_mb.append(figures["peak_kb"] / 1024)  # Linux: kilobytes
    shutil.rmtree(folder)


def summary(folder: Path) -> dict[str, object]:
    found = sorted(folder.glob("**/summary.json"))
    if len(found) != 1:
        raise RuntimeError(f"{len(found)} summary.json files in {folder}")
    result: dict[str, object] = json.loads(found[0].read_text(encoding="utf-8"))
    return result


def expect(what: str, got: object, wanted: object) -> None:
    if got != wanted:
        raise RuntimeError(f"{what}: {got!r}, expected {wanted!r}")


def validated(prospects: int = 0) -> Callable[[Path, str], None]:
    """A check that validate's reports are all there and name every row."""

    def check(folder: Path, _output: str) -> None:
        out = folder / "out"
        for name in ("results.csv", "payloads.jsonl"):
            if not (out / name).is_file():
                raise RuntimeError(f"validate wrote no {name} in {out}")
        report = summary(out)
        expect("validate, rows reported", report["rows"], ROWS)
        if prospects:
            counted = report.get("prospects")
            rows = counted.get("rows") if isinstance(counted, dict) else None
            expect("validate, prospect rows", rows, prospects)

    return check


def naive_wrote(folder: Path, _output: str) -> None:
    for name in ("results.csv", "payloads.jsonl"):
        if not (folder / "out" / name).is_file():
            raise RuntimeError(f"the naive script wrote no {name}")


def helped(_folder: Path, output: str) -> None:
    if "Usage:" not in output:
        raise RuntimeError(f"campaigns --help printed no usage: {output[:200]!r}")


def created(folder: Path, _output: str) -> None:
    expect(
        "sandbox run, counts", summary(folder / "reports")["counts"], {"created": EXAMPLE_CREATES}
    )


def measures(inputs: Inputs) -> dict[str, Measure]:
    tool = campaigns_command()
    python = sys.executable

    def validate(*paths: Path) -> Callable[[Path], list[str]]:
        return lambda folder: [tool, "validate", *map(str, paths), "--out", str(folder / "out")]

    def sandbox_run(folder: Path) -> list[str]:
        shutil.copy(EXAMPLE, folder / EXAMPLE.name)
        return [
            *(tool, "run", "--sandbox", EXAMPLE.name),
            *("--reports", str(folder / "reports"), "--state", str(folder / "state.sqlite")),
        ]

    every = [
        Measure(
            "naive",
            lambda f: [python, str(NAIVE), str(inputs.csv), str(f / "out")],
            (0,),
            naive_wrote,
        ),
        Measure("validate", validate(inputs.csv), (0, 1), validated()),
        Measure("read_csv", lambda f: [python, "-c", READ_CSV, str(inputs.csv)]),
        Measure("validate_xlsx", validate(inputs.xlsx), (0, 1), validated()),
        Measure(
            "validate_prospects",
            validate(inputs.csv, inputs.prospects),
            (0, 1),
            validated(PROSPECT_ROWS),
        ),
        Measure("help", lambda f: [tool, "--help"], (0,), helped),
        # No ledger: `status` says so and exits 2 (a ConfigError, as for any missing file).
        Measure("status", lambda f: [tool, "status", "--state", str(f / "ledger.sqlite")], (0, 2)),
        Measure("sandbox_run", sandbox_run, (0,), created),
    ]
    return {measure.name: measure for measure in every}


def make_inputs(folder: Path) -> Inputs:
    rows = make_rows(ROWS)
    prospects, _named = prospect_rows(rows, PROSPECT_ROWS, PROSPECTS_PER_CAMPAIGN)
    return Inputs(
        csv=write_csv(folder / "campaigns.csv", rows),
        xlsx=write_xlsx(folder / "campaigns.xlsx", rows),
        prospects=write_prospects(folder / "prospects.csv", prospects),
    )


@dataclass
class Goal:
    measure: str
    figures: str
    ratio: float
    goal: str
    met: bool


def relative(what: str, got: float, base: float, unit: str, base_name: str, limit: float) -> Goal:
    ratio = got / base
    digits = 0 if unit == "MB" else 2
    return Goal(
        what,
        f"{got:.{digits}f} {unit} vs {base:.{digits}f} {unit} {base_name}",
        ratio,
        f"<= {limit:g}x",
        ratio <= limit,
    )


def absolute(what: str, seconds: float, limit: float) -> Goal:
    return Goal(what, f"{seconds:.2f} s", seconds / limit, f"< {limit:g} s", seconds < limit)


def goals(m: dict[str, Measure]) -> list[Goal]:
    validate, naive = m["validate"], m["naive"]
    return [
        relative(
            "validate csv vs naive script, wall", validate.wall, naive.wall, "s", "naive", 0.5
        ),
        relative(
            "validate csv vs pandas.read_csv, wall",
            validate.wall,
            m["read_csv"].wall,
            "s",
            "read_csv",
            4,
        ),
        relative(
            "validate csv vs naive script, peak RSS", validate.peak, naive.peak, "MB", "naive", 1.5
        ),
        relative(
            "validate xlsx vs csv, wall", m["validate_xlsx"].wall, validate.wall, "s", "csv", 2
        ),
        relative(
            f"validate csv + {PROSPECT_ROWS:,} prospect URLs vs csv alone, wall",
            m["validate_prospects"].wall,
            validate.wall,
            "s",
            "csv",
            1.5,
        ),
        absolute("campaigns --help, wall", m["help"].wall, 0.3),
        absolute("campaigns status (no ledger), wall", m["status"].wall, 0.5),
        absolute(f"campaigns run --sandbox {EXAMPLE.name}, wall", m["sandbox_run"].wall, 2),
    ]


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def spread(values: list[float], unit: str) -> str:
    return " ".join(f"{value:.2f}" for value in values) + f" {unit}"


def main() -> None:
    if REPEAT < 1:
        raise SystemExit("BENCH_REPEAT must be at least 1")
    # Measured as installed: with the bytecode of every module written (a shell with
    # PYTHONDONTWRITEBYTECODE would otherwise compile each edited module at every start).
    project = Path(__file__).resolve().parents[1]
    for package in ("pipeline", "schemas", "sandbox", "web"):
        compileall.compile_dir(project / package, quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-goals-") as temporary:
        folder = Path(temporary)
        began = time.perf_counter()
        inputs = make_inputs(folder)
        print(
            f"inputs: {ROWS:,} campaign rows (1% invalid) as CSV and xlsx, {PROSPECT_ROWS:,} "
            f"prospect URLs; generated in {time.perf_counter() - began:.1f} s",
            flush=True,
        )
        every = measures(inputs)
        for round_ in range(REPEAT):
            began = time.perf_counter()
            for measure in every.values():
                run(measure, folder / f"{round_}-{measure.name}")
            print(
                f"round {round_ + 1}/{REPEAT}: {time.perf_counter() - began:.1f} s "
                f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
                flush=True,
            )
    print()
    print(
        table(
            [
                ("process", f"wall (median of {REPEAT})", "peak RSS", "each run's wall"),
                *(
                    (m.name, f"{m.wall:.2f} s", f"{m.peak:.0f} MB", spread(m.seconds, "s"))
                    for m in every.values()
                ),
            ]
        )
    )
    print()
    results = goals(every)
    print(
        table(
            [
                ("measure", "figures (medians)", "ratio", "goal", "result"),
                *(
                    (g.measure, g.figures, f"{g.ratio:.2f}x", g.goal, "met" if g.met else "NOT met")
                    for g in results
                ),
            ]
        )
    )
    print(
        f"{sum(g.met for g in results)} of {len(results)} goals met "
        "(the ratio of a goal in seconds is to its limit)"
    )


if __name__ == "__main__":
    main()
