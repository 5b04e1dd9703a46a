"""What validation costs: a plain pyarrow read of a clean CSV vs ccrqof's validating reader.

    python benchmarks/bench_read.py [--rows 1000000] [--runs 3]

Issue #3's budget: reading with validation (column recognition, date detection and parsing,
id and code checks, line numbers, rejects accounting) costs at most ~25% over the plain read.
ccrqof's reader gives a pandas DataFrame, so the plain reads that give the same are
pandas.read_csv and pyarrow.csv.read_csv followed by to_pandas(); pyarrow's bare read (an Arrow
table) is shown too. All runs are interleaved, so a slow moment of the machine hits each alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pandas as pd  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402

from ccrqof.readers import read_events  # noqa: E402
from ccrqof.synthetic import make_extract, write_extract  # noqa: E402


def interleaved(runs: int, reads: dict) -> dict[str, float]:
    """Median seconds of each read, the reads taking turns in every round."""
    times: dict[str, list[float]] = {name: [] for name in reads}
    for _ in range(runs):
        for name, work in reads.items():
            start = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    practices = max(1, round(args.rows / 32_000))  # ~3.2 events per patient, 10,000 per practice
    events, patients = make_extract(practices, 10_000, dt.date(2024, 3, 31), seed=3)
    events = events.iloc[: args.rows]
    with tempfile.TemporaryDirectory() as tmp:
        write_extract(events, patients, tmp, fmt="csv")
        path = Path(tmp, "events.csv")
        print(f"{len(events):,} event rows, {path.stat().st_size / 1e6:.0f} MB")
        reads = {
            "pyarrow.csv.read_csv (an Arrow table)": lambda: pacsv.read_csv(path),
            "pyarrow.csv.read_csv + to_pandas()": lambda: pacsv.read_csv(path).to_pandas(),
            "pandas.read_csv (C engine)": lambda: pd.read_csv(path),
            "pandas.read_csv (pyarrow engine)": lambda: pd.read_csv(path, engine="pyarrow"),
            "ccrqof read_events (validated, pandas)": lambda: read_events(path),
        }
        times = interleaved(args.runs, reads)
    for name, seconds in times.items():
        print(f"{name + ':':42s} {seconds:.3f} s")
    validated = times.pop("ccrqof read_events (validated, pandas)")
    for name, base in times.items():
        print(
            f"  validation overhead vs {name}: {100 * (validated / base - 1):+.0f}% (budget +25%)"
        )


if __name__ == "__main__":
    main()
