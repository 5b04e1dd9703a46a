"""The "Not counted" reasons (reference-outputs.md, `ignored`) on one hand-checked extract.

ccrqof counts the rows no rule can use first and then works on entries of interest (entries in a
cluster the rules read) only, so the patient counts are about patients with such an entry. Each
row below says which count it feeds, and why.
"""

from __future__ import annotations

import json
from pathlib import Path

from entry import run_main

CANCER = "254837009"  # CAN_COD in the bundled illustrative list
ASTHMA = "195967001"  # in no cluster the rules read

# R = 2024-03-31 (--year 2023-24)
EVENTS = f"""practice_code,patient_id,code,date,episode
A81001,p1,{CANCER},2023-06-01,
A81001,p1,{CANCER},2023-06-01,
A81001,p1,{ASTHMA},2023-01-01,
A81001,p1,{ASTHMA},2023-01-01,
A81001,p2,{ASTHMA},2024-05-01,
A81001,p3,{CANCER},2024-04-15,
A81001,p4,{CANCER},2022-01-01,
A81001,p5,{ASTHMA},2023-01-01,
A81001,p6,{CANCER},2023-02-01,
A81001,p7,{ASTHMA},2023-01-01,
B82002,p1,{CANCER},2023-03-01,
B82002,p2,{ASTHMA},2023-01-01,
"""
# line 3: duplicate of an entry of interest           -> duplicate rows
# lines 4-5, 6, 9, 11, 13: asthma (5 is a duplicate)   -> no cluster of interest (6 rows)
# line 6 (asthma) and line 7 (cancer) dated after R    -> after the reference date (2)
# p1 has cancer entries under A81001 and B82002         -> under more than one practice (1)
# p2 is under two practices with asthma only            -> not counted there
# p4 (cancer) has no registration row                   -> missing from the patients file (1)
# p5 (asthma only) has none either                      -> not counted there
# p6 (cancer) left on 2023-12-31                        -> not registered at R (1)
# p7 (asthma only) left too                             -> not counted there
PATIENTS = """practice_code,patient_id,registration_date,deregistration_date
A81001,p1,2000-01-01,
B82002,p1,2000-01-01,
A81001,p2,2000-01-01,
B82002,p2,2000-01-01,
A81001,p3,2000-01-01,
A81001,p6,2000-01-01,2023-12-31
A81001,p7,2000-01-01,2023-12-31
"""
EXPECTED = {
    "entries with codes in no cluster of interest": 6,
    "duplicate rows": 1,
    "entries dated after the reference date": 2,
    "patients with entries of interest under more than one practice": 1,
    "patients with entries of interest missing from the patients file": 1,
    "patients with entries of interest not registered at the reference date": 1,
}


def test_every_ignored_count_on_a_hand_checked_extract(tmp_path: Path):
    events, patients = tmp_path / "events.csv", tmp_path / "patients.csv"
    events.write_text(EVENTS)
    patients.write_text(PATIENTS)
    code, stdout, stderr = run_main(
        "calc", str(events), "--patients", str(patients), "--year", "2023-24", "--format", "json"
    )
    assert code == 0, stderr
    document = json.loads(stdout)
    ignored = {k: v for k, v in document["input"]["ignored"].items() if v}
    assert ignored == EXPECTED
    registers = {r["practice_code"]: r["register"] for r in document["results"]}
    # on the register at R: p1 at both practices; not p3 (diagnosed after R), p4 (no
    # registration), p6 (left before R)
    assert registers == {"A81001": 1, "B82002": 1}
    assert "p1" not in stderr and "p4" not in stderr
