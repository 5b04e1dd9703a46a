"""Benchmark `ccrqof calc` on a synthetic single-practice extract (issue 2: < 2 s wall; issue 13:
<= 1 s for 10,000 patients, start-up included).

    python benchmarks/bench_calc.py [--patients 10000] [--runs 5] [--profile sparse|dense]

Times the real command end to end (`ccrqof calc EVENTS --patients PATIENTS --year 2023-24
--format json`, each run a fresh process: start-up, imports, reading, rules, output), with its
peak RSS, user and system CPU and the load average of the machine when it ended; then the
library stages in-process; for CSV and Parquet input. --profile sparse (the default) is the
practice's whole list; dense a cluster-filtered cancer extract (see ccrqof.synthetic), where
--patients counts the patients in the extract.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402

import ccrqof  # noqa: E402
from ccrqof.engine import DEFAULT_ENGINE, ENGINES  # noqa: E402
from ccrqof.synthetic import PROFILES, make_extract, write_extract  # noqa: E402


def stages(events: Path, patients: Path, engine: str) -> dict[str, float]:
    out = {}
    t0 = time.perf_counter()
    ruleset = ccrqof.load_ruleset(year="2023-24")
    t1 = time.perf_counter()
    extract = ccrqof.read_extract(events, patients)
    t2 = time.perf_counter()
    evaluation = ccrqof.evaluate(extract, ruleset, ccrqof.illustrative_codelist(), engine=engine)
    t3 = time.perf_counter()
    ccrqof.score(evaluation)
    t4 = time.perf_counter()
    out.update(load_rules=t1 - t0, read=t2 - t1, evaluate=t3 - t2, score=t4 - t3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", choices=PROFILES, default="sparse")
    parser.add_argument("--engine", choices=tuple(ENGINES), default=DEFAULT_ENGINE)
    args = parser.parse_args()
    events, patients = make_extract(
        1, args.patients, dt.date(2024, 3, 31), seed=7, profile=args.profile
    )
    print(
        f"synthetic practice ({args.profile}): {patients['patient_id'].nunique():,} patients, "
        f"{len(events):,} events; machine: {os.cpu_count()} cores, load average {measure.load()}"
    )
    exe = shutil.which("ccrqof")
    head = [exe] if exe else [sys.executable, "-m", "ccrqof"]
    print(
        f"command: {' '.join(head)} calc EVENTS --patients PATIENTS --year 2023-24 "
        f"--format json --engine {args.engine}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("csv", "parquet"):
            folder = Path(tmp, fmt)
            write_extract(events, patients, folder, fmt=fmt)
            ev, pt = folder / f"events.{fmt}", folder / f"patients.{fmt}"
            command = [*head, "calc", str(ev), "--patients", str(pt), "--year", "2023-24"]
            command += ["--format", "json", "--engine", args.engine]
            runs = []
            for _ in range(args.runs):
                runs.append(measure.measured(command))
                print(f"    run: {measure.describe(runs[-1])}")
            walls = [r.wall for r in runs]
            print(
                f"{fmt:8} ccrqof calc wall: median {statistics.median(walls):.2f} s, "
                f"min {min(walls):.2f} s over {args.runs} runs, peak RSS "
                f"{max(r.peak for r in runs) / 1e6:.0f} MB (goal <= 1 s)"
            )
            parts = stages(ev, pt, args.engine)
            print(
                "         in-process: "
                + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts.items())
            )
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ccrqof.cli"], check=True)
        print(f"python start + import ccrqof.cli: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
