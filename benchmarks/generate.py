"""Write a synthetic extract for benchmarks.

    python benchmarks/generate.py OUT_DIR --practices 650 --patients-per-practice 10000
    python benchmarks/generate.py OUT_DIR --profile dense --practices 6500 \
        --patients-per-practice 370 --format parquet

--patients-per-practice takes one number or a range LO-HI (e.g. 2000-20000, sizes drawn per
practice). --profile sparse (the default) is a whole practice list, where about 3% of the events
are entries the rules read; --profile dense is a cluster-filtered cancer extract, where at least
85% are, and --patients-per-practice counts the patients in the extract (370 a practice is
national scale). Extracts of more than --practices-per-part practices are generated and written
part by part, so memory stays that of one part. OUT_DIR also gets meta.json with the sizes and
timings. No real patient data: see ccrqof.synthetic.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

try:
    import ccrqof  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ccrqof.synthetic import PROFILES, write_extract_in_parts  # noqa: E402


def list_size(text: str) -> int | tuple[int, int]:
    lo, sep, hi = text.partition("-")
    return (int(lo), int(hi)) if sep else int(lo)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder for events.<ext> and patients.<ext>")
    parser.add_argument("--practices", type=int, default=1)
    parser.add_argument("--patients-per-practice", type=list_size, default=10000)
    parser.add_argument("--profile", choices=PROFILES, default="sparse")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reference-date", type=date.fromisoformat, default=date(2024, 3, 31), help="YYYY-MM-DD"
    )
    parser.add_argument(
        "--practices-per-part",
        type=int,
        default=6500,
        help="generate bigger extracts in parts of this many practices (default 6500)",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    info = write_extract_in_parts(
        args.out_dir,
        args.practices,
        args.patients_per_practice,
        args.reference_date,
        args.seed,
        profile=args.profile,
        fmt=args.format,
        practices_per_part=args.practices_per_part,
    )
    total = time.perf_counter() - start
    paths = [args.out_dir / f"{name}.{args.format}" for name in ("events", "patients")]
    size = args.patients_per_practice
    meta = {
        "profile": args.profile,
        "practices": args.practices,
        "patients_per_practice": size if isinstance(size, int) else list(size),
        "seed": args.seed,
        "reference_date": args.reference_date.isoformat(),
        **info,
        "seconds": round(total, 2),
    }
    (args.out_dir / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    parts = f" in {info['parts']} parts" if info["parts"] > 1 else ""
    print(
        f"{args.profile}: {args.practices:,} practices, {info['patients']:,} patients: "
        f"{info['events']:,} event rows, {info['registrations']:,} registration rows{parts}"
    )
    print(
        f"generated in {info['generate_seconds']:.1f}s, written in {info['write_seconds']:.1f}s "
        f"({total:.1f}s in all):"
    )
    for path in paths:
        print(f"  {path} ({path.stat().st_size / 1e6:,.1f} MB)")


if __name__ == "__main__":
    main()
