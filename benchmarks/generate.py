"""Write a synthetic extract for benchmarks.

    python benchmarks/generate.py OUT_DIR --practices 650 --patients-per-practice 10000

--patients-per-practice takes one number or a range LO-HI (e.g. 2000-20000, sizes drawn per
practice). No real patient data: see ccrqof.synthetic.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

try:
    import ccrqof  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ccrqof.synthetic import make_extract, write_extract  # noqa: E402


def list_size(text: str) -> int | tuple[int, int]:
    lo, sep, hi = text.partition("-")
    return (int(lo), int(hi)) if sep else int(lo)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder for events.<ext> and patients.<ext>")
    parser.add_argument("--practices", type=int, default=1)
    parser.add_argument("--patients-per-practice", type=list_size, default=10000)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reference-date", type=date.fromisoformat, default=date(2024, 3, 31), help="YYYY-MM-DD"
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    events, patients = make_extract(
        n_practices=args.practices,
        patients_per_practice=args.patients_per_practice,
        reference_date=args.reference_date,
        seed=args.seed,
    )
    made = time.perf_counter()
    paths = write_extract(events, patients, args.out_dir, fmt=args.format)
    done = time.perf_counter()
    print(
        f"{args.practices:,} practices, {patients['patient_id'].nunique():,} patients: "
        f"{len(events):,} event rows, {len(patients):,} registration rows"
    )
    print(f"generated in {made - start:.1f}s, written in {done - made:.1f}s:")
    for path in paths:
        print(f"  {path} ({path.stat().st_size / 1e6:,.1f} MB)")


if __name__ == "__main__":
    main()
