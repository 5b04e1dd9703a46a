"""Regenerate the synthetic sample extract in this folder: python sample_data/generate.py

One 5,000-patient practice built around the 2023-24 QOF year (reference date 31 March 2024).
No real patient data: see ccrqof.synthetic.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent

try:
    import ccrqof  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(HERE.parent / "src"))

from ccrqof.synthetic import make_extract  # noqa: E402


def main() -> None:
    events, patients = make_extract(
        n_practices=1, patients_per_practice=5000, reference_date=date(2024, 3, 31), seed=2024
    )
    events.to_csv(HERE / "events.csv", index=False)
    patients.to_csv(HERE / "patients.csv", index=False)
    print(f"wrote {len(events):,} events and {len(patients):,} registrations to {HERE}")


if __name__ == "__main__":
    main()
