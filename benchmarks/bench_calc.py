"""Benchmark `ccrqof calc` on a synthetic single-practice extract (issue #2: < 2 s wall).

    python benchmarks/bench_calc.py [--patients 10000] [--runs 5]

Times the real command end to end (process start, imports, reading, rules, output) in a
subprocess, then the library stages in-process, for CSV and Parquet input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import ccrqof  # noqa: E402
from ccrqof.synthetic import make_extract, write_extract  # noqa: E402


def wall(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def stages(events: Path, patients: Path) -> dict[str, float]:
    out = {}
    t0 = time.perf_counter()
    ruleset = ccrqof.load_ruleset(year="2023-24")
    t1 = time.perf_counter()
    extract = ccrqof.read_extract(events, patients)
    t2 = time.perf_counter()
    evaluation = ccrqof.evaluate(extract, ruleset, ccrqof.illustrative_codelist())
    t3 = time.perf_counter()
    ccrqof.score(evaluation)
    t4 = time.perf_counter()
    out.update(load_rules=t1 - t0, read=t2 - t1, evaluate=t3 - t2, score=t4 - t3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    events, patients = make_extract(1, args.patients, dt.date(2024, 3, 31), seed=7)
    print(f"synthetic practice: {len(patients):,} patients, {len(events):,} events")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("csv", "parquet"):
            folder = Path(tmp, fmt)
            write_extract(events, patients, folder, fmt=fmt)
            ev, pt = folder / f"events.{fmt}", folder / f"patients.{fmt}"
            command = [
                sys.executable,
                "-m",
                "ccrqof",
                "calc",
                str(ev),
                "--patients",
                str(pt),
                "--year",
                "2023-24",
                "--format",
                "json",
            ]
            times = wall(command, args.runs)
            parts = stages(ev, pt)
            print(
                f"{fmt:8} ccrqof calc wall: median {statistics.median(times):.2f} s, "
                f"min {min(times):.2f} s over {args.runs} runs (target < 2 s)"
            )
            print(
                "         in-process: "
                + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items())
            )
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ccrqof.cli"], check=True)
        print(f"python start + import ccrqof.cli: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
