"""Time `ccrqof trend` against one `ccrqof calc` of the same extract (issue 16's goals).

    python benchmarks/bench_trend.py [--profile dense|sparse] [--runs 3] [--engine duckdb]
        [--practices 6500] [--memory-limit 2GB] [--only 24,60]

On the national extract of benchmarks/bench_national.py (generated once and cached in
benchmarks/out/), each in a fresh process through benchmarks/measure.py, taking turns so that a
busy spell of the machine falls on all alike:

- `ccrqof calc EVENTS --patients PATIENTS --as-of 2024-03-31 --format csv --output ...`;
- `ccrqof trend ... --from 2022-04 --to 2024-03 --format csv` (24 month ends, two years' packs);
- `ccrqof trend ... --from 2021-04 --to 2026-03 --format csv` (60 month ends: every year's
  packs, and the 2024-25 packs as local monitoring from April 2025).

It prints the median wall time and highest peak memory of each, the ratios to one calc against
the goals (24 month ends in at most 3x one calc and 2 GB; 60 in at most 5x), and checks that
the series' March 2024 point equals the calc, practice by practice (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
from bench_national import DEFAULT_SIZE, extract, gb, summary  # noqa: E402

RANGES = {"24": ("2022-04", "2024-03"), "60": ("2021-04", "2026-03")}
GOALS = {"24": 3.0, "60": 5.0}
MEMORY_GOAL = 2e9
COUNTS = ["register", "denominator", "numerator", "pcas", "exclusions"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("sparse", "dense"), default="dense")
    parser.add_argument("--practices", type=int, default=6500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", default=None, help="ccrqof's --engine (default: its own)")
    parser.add_argument("--memory-limit", default=None, help="ccrqof's --memory-limit")
    parser.add_argument("--only", default="24,60", help="which series: 24, 60 or both")
    args = parser.parse_args()

    events, patients, _ = extract(
        args.practices, DEFAULT_SIZE[args.profile], 0, "parquet", args.profile
    )
    results = events.parent / "results"
    results.mkdir(exist_ok=True)
    ccrqof = shutil.which("ccrqof") or sys.exit("ccrqof is not on PATH: pip install -e .")
    options = ["--quiet"]
    if args.engine:
        options += ["--engine", args.engine]
    if args.memory_limit:
        options += ["--memory-limit", args.memory_limit]
    base = [ccrqof, "calc", str(events), "--patients", str(patients)]
    commands = {
        "calc": [*base, "--as-of", "2024-03-31", "--format", "csv"]
        + ["--output", str(results / "calc.csv"), *options]
    }
    for name in args.only.split(","):
        start, end = RANGES[name]
        commands[name] = [ccrqof, "trend", *base[2:], "--from", start, "--to", end]
        commands[name] += ["--format", "csv", "--output", str(results / f"trend{name}.csv")]
        commands[name] += options

    print(f"{args.profile} extract, {args.practices:,} practices; load {measure.load()}")
    runs: dict[str, list] = {name: [] for name in commands}
    for round_ in range(args.runs):
        for name, command in commands.items():
            run = measure.measured(command)  # exits with the command's error if it fails
            print(f"  round {round_ + 1} {name:>4}: {measure.describe(run)}", flush=True)
            runs[name].append((run.wall, run.peak, run.stdout))

    calc_wall, calc_peak, _ = summary(runs["calc"])
    print(f"\none calc: {calc_wall:.1f} s, {gb(calc_peak)}")
    for name in commands:
        if name == "calc":
            continue
        wall, peak, _ = summary(runs[name])
        ratio = wall / calc_wall
        print(
            f"{name} month ends: {wall:.1f} s ({ratio:.2f}x one calc; goal <= {GOALS[name]:.0f}x: "
            f"{'met' if ratio <= GOALS[name] else 'NOT met'}), {gb(peak)}"
            + (
                f" (goal <= 2 GB: {'met' if peak <= MEMORY_GOAL else 'NOT met'})"
                if name == "24"
                else ""
            )
        )

    calc = pd.read_csv(results / "calc.csv", keep_default_na=False, dtype=str)
    agreed = True
    for name in commands:
        if name == "calc":
            continue
        series = pd.read_csv(results / f"trend{name}.csv", keep_default_na=False, dtype=str)
        point = series[series["period"] == "2024-03"]
        keys = ["practice_code", "indicator"]
        joined = calc.merge(point, on=keys, suffixes=("_calc", "_trend"), how="outer")
        differ = [
            c
            for c in COUNTS
            if not (joined[f"{c}_calc"].astype(str) == joined[f"{c}_trend"].astype(str)).all()
        ]
        same = not differ and len(point) == len(calc)
        agreed &= same
        print(
            f"{name}: March 2024 point {'equals' if same else 'DIFFERS from'} the calc"
            + (f" ({', '.join(differ)})" if differ else "")
        )
    return 0 if agreed else 1


if __name__ == "__main__":
    sys.exit(main())
