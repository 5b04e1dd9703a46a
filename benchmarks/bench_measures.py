"""What the measures beside the indicators cost (issue 17), on the national extract of
benchmarks/bench_national.py (generated once and cached in benchmarks/out/).

    python benchmarks/bench_measures.py [--profile dense|sparse] [--runs 2] [--practices 6500]

Each command in a fresh process through benchmarks/measure.py, taking turns:

- `ccrqof calc ... --as-of 2024-03-31 --indicators CAN004,CAN005 --format csv`, and the same
  with `--measures-out` (the month's cohorts and activity per practice);
- `ccrqof trend ... --from 2022-04 --to 2024-03 --indicators CAN004,CAN005 --format csv`
  (24 month ends), and the same with `--measures-out` (cohorts of 24 diagnosis months, 24
  months of activity).

The national extract is taken in April 2024 (its histories end there), so the dates are those
its entries cover: measured on months with no entries, the measures would cost nothing.
It prints the median wall time and highest peak memory of each, and what the measures add.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
from bench_national import DEFAULT_SIZE, extract, gb, summary  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("sparse", "dense"), default="dense")
    parser.add_argument("--practices", type=int, default=6500)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    events, patients, _ = extract(
        args.practices, DEFAULT_SIZE[args.profile], 0, "parquet", args.profile
    )
    results = events.parent / "results"
    results.mkdir(exist_ok=True)
    ccrqof = shutil.which("ccrqof") or sys.exit("ccrqof is not on PATH: pip install -e .")
    base = [str(events), "--patients", str(patients), "--indicators", "CAN004,CAN005", "-q"]
    calc = [ccrqof, "calc", *base, "--as-of", "2024-03-31", "--format", "csv"]
    trend = [ccrqof, "trend", *base, "--from", "2022-04", "--to", "2024-03", "--format", "csv"]
    commands = {
        "calc": [*calc, "--output", str(results / "m-calc.csv")],
        "calc + measures": [*calc, "--output", str(results / "m-calc2.csv")]
        + ["--measures-out", str(results / "m-calc-measures.parquet")],
        "trend 24": [*trend, "--output", str(results / "m-trend.csv")],
        "trend 24 + measures": [*trend, "--output", str(results / "m-trend2.csv")]
        + ["--measures-out", str(results / "m-trend-measures.parquet")],
    }
    print(f"{args.profile} extract, {args.practices:,} practices; load {measure.load()}")
    runs: dict[str, list] = {name: [] for name in commands}
    for round_ in range(args.runs):
        for name, command in commands.items():
            run = measure.measured(command)
            print(f"  round {round_ + 1} {name:>20}: {measure.describe(run)}", flush=True)
            runs[name].append((run.wall, run.peak, run.stdout))
    medians = {name: summary(found) for name, found in runs.items()}
    print()
    for name, (wall, peak, _) in medians.items():
        print(f"{name:>20}: {wall:6.1f} s, {gb(peak)}")
    for plain, more in (("calc", "calc + measures"), ("trend 24", "trend 24 + measures")):
        added = medians[more][0] - medians[plain][0]
        print(f"measures add {added:.1f} s to {plain} ({added / medians[plain][0]:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
