"""What validation costs: a plain pyarrow read of a clean CSV vs ccrqof's validating reader.

    python benchmarks/bench_read.py [--rows 1000000] [--runs 3]

Issue #3's budget: reading with validation (column recognition, date detection and parsing,
id and code checks, line numbers, rejects accounting) costs at most ~25% over the plain read.
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


def median_of(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
        plain = median_of(args.runs, lambda: pacsv.read_csv(path))
        text = median_of(
            args.runs,
            lambda: pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(events.columns, "string")
                ),
            ),
        )
        pandas_c = median_of(args.runs, lambda: pd.read_csv(path))
        pandas_arrow = median_of(args.runs, lambda: pd.read_csv(path, engine="pyarrow"))
        validated = median_of(args.runs, lambda: read_events(path))
    print(f"pyarrow.csv.read_csv (types inferred):   {plain:.3f} s")
    print(f"pyarrow.csv.read_csv (all text):         {text:.3f} s")
    print(f"pandas.read_csv (C engine):              {pandas_c:.3f} s")
    print(f"pandas.read_csv (pyarrow engine):        {pandas_arrow:.3f} s")
    print(f"ccrqof read_events (validated, pandas):  {validated:.3f} s")
    for name, base in (
        ("pyarrow", plain),
        ("pandas C", pandas_c),
        ("pandas pyarrow", pandas_arrow),
    ):
        print(
            f"  validation overhead vs {name} read: {100 * (validated / base - 1):+.0f}% "
            "(budget +25%)"
        )


if __name__ == "__main__":
    main()
