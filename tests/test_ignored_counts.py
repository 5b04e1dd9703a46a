"""The "Not counted" reasons (reference-outputs.md, `ignored`) on one hand-checked extract.

ccrqof counts the rows no rule can use first and then works on entries of interest (entries in a
cluster the rules read) only, so the patient counts are about patients with such an entry. Each
row below says which count it feeds, and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
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


# --- who gets keyed (review findings on the filter-first change) ------------------------------


def _calc_json(*args: str) -> dict:
    code, stdout, stderr = run_main("calc", *args, "--year", "2023-24", "--format", "json")
    assert code == 0, stderr
    return json.loads(stdout)


def test_a_register_of_everyone_registered_keys_every_patient(tmp_path: Path):
    # A --rules pack whose register selects on REG_DAT alone (as a screening register would)
    # can take patients with no entry of interest, so none may be left behind.
    import shutil

    from ccrqof.rules.loader import BUNDLED

    packs = tmp_path / "packs"
    shutil.copytree(Path(str(BUNDLED)) / "2023-24", packs / "2023-24")
    register = packs / "2023-24" / "CAN001.yaml"
    register.write_text(
        register.read_text().replace(
            "when: {date: CAN_DAT, on_or_after: 2003-04-01}",
            "when: {date: REG_DAT, on_or_before: R}",
        )
    )
    for cases in (packs / "2023-24").glob("*.cases.yaml"):
        cases.unlink()
    events, patients = tmp_path / "events.csv", tmp_path / "patients.csv"
    events.write_text(
        f"practice_code,patient_id,code,date\nA81001,p1,{CANCER},2023-06-01\n"
        f"A81001,p2,{ASTHMA},2023-06-01\nA81001,p3,{ASTHMA},2023-06-01\n"
    )
    patients.write_text(
        "practice_code,patient_id,registration_date,deregistration_date\n"
        "A81001,p1,2000-01-01,\nA81001,p2,2000-01-01,\nA81001,p3,2000-01-01,2023-12-31\n"
    )
    bundled = _calc_json(str(events), "--patients", str(patients))
    everyone = _calc_json(str(events), "--patients", str(patients), "--rules", str(packs))
    register = {r["indicator"]: r["register"] for r in bundled["results"]}
    assert register["CAN001"] == 1  # p1: the only cancer diagnosis
    register = {r["indicator"]: r["register"] for r in everyone["results"]}
    assert register["CAN001"] == 2  # p1 and p2 (p3 left before R)


def test_explain_finds_a_patient_known_only_from_the_patients_file(tmp_path: Path):
    # events without practice codes take them from the patients file; p9 has no events at all
    events, patients = tmp_path / "events.csv", tmp_path / "patients.csv"
    events.write_text(f"patient_id,code,date\np1,{CANCER},2023-06-01\np1,{ASTHMA},2023-06-01\n")
    patients.write_text(
        "practice_code,patient_id,registration_date\nA81001,p1,2000-01-01\nA81001,p9,2000-01-01\n"
    )
    code, stdout, stderr = run_main(
        "explain", str(events), "--patients", str(patients), "--year", "2023-24",
        "--patient", "p9", "--format", "json",
    )  # fmt: skip
    assert code == 0, stderr
    [found] = json.loads(stdout)["explanations"]
    assert found["practice_code"] == "A81001"
    assert found["indicators"][0]["outcome"] == "not on the register"


def test_patient_counts_do_not_depend_on_other_rows(tmp_path: Path):
    # Events without practice codes: p2 and p3 are only in the patients file (both left).
    # They have no entry of interest, so they are not counted, whether or not the extract
    # also holds rows in no cluster of interest.
    patients = tmp_path / "patients.csv"
    patients.write_text(
        "practice_code,patient_id,registration_date,deregistration_date\n"
        "A81001,p1,2000-01-01,\nA81001,p2,2000-01-01,2020-01-01\nA81001,p3,2000-01-01,2020-01-01\n"
    )
    counts = []
    for extra in ("", f"p4,{ASTHMA},2023-01-01\n"):
        events = tmp_path / "events.csv"
        events.write_text(f"patient_id,code,date\np1,{CANCER},2023-06-01\n{extra}")
        ignored = _calc_json(str(events), "--patients", str(patients))["input"]["ignored"]
        counts.append(
            ignored["patients with entries of interest not registered at the reference date"]
        )
    assert counts == [0, 0]


def test_events_files_with_and_without_registration_columns(tmp_path: Path):
    # one file repeats registrations on its rows, the other does not: the patient's rows
    # disagree (a date against none), so both are rejected, each with its own file and line
    a, b, rejects = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "rejects.csv"
    a.write_text(
        f"practice_code,patient_id,code,date,registration_date\nA81001,1,{CANCER},2020-01-01,2010-01-01\n"
    )
    b.write_text(f"practice_code,patient_id,code,date\nA81001,1,{CANCER},2021-01-01\n")
    document = _calc_json(str(a), str(b), "--rejects", str(rejects))
    assert document["input"]["rejected"] == {"conflicting patient attributes": 2}
    table = pd.read_csv(rejects, dtype=str)
    assert sorted(zip(table["file"], table["line"], strict=True)) == [(str(a), "2"), (str(b), "2")]


def test_rejects_file_of_a_parquet_file_with_a_list_column(tmp_path: Path):
    events, rejects = tmp_path / "events.parquet", tmp_path / "rejects.csv"
    pq.write_table(
        pa.table(
            {
                "patient_id": ["p1", ""],
                "code": [CANCER, CANCER],
                "date": ["2023-06-01", "2023-06-01"],
                "tags": pa.array([[1, 2], []], pa.list_(pa.int64())),
            }
        ),
        events,
    )
    document = _calc_json(str(events), "--rejects", str(rejects))
    assert document["input"]["rejected"] == {"empty patient id": 1}
    table = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert table[["line", "patient_id", "date"]].values.tolist() == [["2", "", "2023-06-01"]]


def test_bundled_registers_need_an_entry_so_calc_keys_only_entries_of_interest():
    import ccrqof

    for year in ("2021-22", "2022-23", "2023-24", "2024-25"):
        ruleset = ccrqof.load_ruleset(year=year)
        assert not ruleset.only(["CAN004", "CAN005"]).needs_every_patient(), year
        # cervical screening's population is every registered woman, coded entry or not
        assert ruleset.only(["CS005"]).needs_every_patient(), year


def test_a_registration_counts_only_at_its_own_practice(tmp_path: Path):
    """Events without practice codes, a patients file with them: the patient units come from
    the registrations, and each unit has only its own practice's registrations. p1 left B82002
    in 2020 and is registered at A81001: on A81001's register only (before, the open A81001
    registration made p1 registered at B82002 too)."""
    events = tmp_path / "events.csv"
    events.write_text("patient_id,code,date\np1,254837009,2023-06-01\n")
    patients = tmp_path / "patients.csv"
    patients.write_text(
        "practice_code,patient_id,registration_date,deregistration_date\n"
        "A81001,p1,2000-01-01,\n"
        "B82002,p1,2010-01-01,2020-01-01\n"
    )
    code, out, err = run_main(
        "calc", events, "--patients", patients, "--year", "2023-24", "--format", "json"
    )
    assert code == 0, err
    document = json.loads(out)
    registers = {
        r["practice_code"]: r["register"] for r in document["results"] if r["indicator"] == "CAN001"
    }
    assert registers == {"A81001": 1, "B82002": 0}
    assert (
        document["input"]["ignored"][
            "patients with entries of interest not registered at the reference date"
        ]
        == 1
    )


def test_explain_finds_a_registered_patient_with_no_events_when_events_carry_practices(
    tmp_path: Path,
):
    """The other way of keying (practice from the events): p9 is only in the patients file.
    Before issue 12 this said there was no such patient (surprise 2 of explanation-prepare.md)."""
    events, patients = tmp_path / "events.csv", tmp_path / "patients.csv"
    events.write_text(f"practice_code,patient_id,code,date\nA81001,p1,{CANCER},2023-06-01\n")
    patients.write_text(
        "practice_code,patient_id,registration_date\nA81001,p1,2000-01-01\nA81001,p9,2000-01-01\n"
    )
    code, stdout, stderr = run_main(
        "explain", str(events), "--patients", str(patients), "--year", "2023-24",
        "--patient", "p9", "--format", "json",
    )  # fmt: skip
    assert code == 0, stderr
    [found] = json.loads(stdout)["explanations"]
    assert found["practice_code"] == "A81001"
    assert [e["what"] for e in found["timeline"]] == ["registered"]
    assert found["indicators"][0]["outcome"] == "not on the register"


def test_a_register_of_everyone_registered_takes_patients_with_no_events_row(tmp_path: Path):
    """Surprise 1 of explanation-prepare.md, fixed: with practice codes on the events, a
    registered patient with no events row at all is keyed when every patient is needed."""
    import shutil

    from ccrqof.rules.loader import BUNDLED

    packs = tmp_path / "packs"
    shutil.copytree(Path(str(BUNDLED)) / "2023-24", packs / "2023-24")
    register = packs / "2023-24" / "CAN001.yaml"
    register.write_text(
        register.read_text().replace(
            "when: {date: CAN_DAT, on_or_after: 2003-04-01}",
            "when: {date: REG_DAT, on_or_before: R}",
        )
    )
    events, patients = tmp_path / "events.csv", tmp_path / "patients.csv"
    events.write_text(f"practice_code,patient_id,code,date\nA81001,p1,{CANCER},2023-06-01\n")
    patients.write_text(
        "practice_code,patient_id,registration_date\nA81001,p1,2000-01-01\nA81001,p9,2000-01-01\n"
        "B82002,p9,2000-01-01\n"
    )
    everyone = _calc_json(str(events), "--patients", str(patients), "--rules", str(packs))
    register = {(r["practice_code"], r["indicator"]): r["register"] for r in everyone["results"]}
    assert register[("A81001", "CAN001")] == 2  # p1 and p9
    assert register[("B82002", "CAN001")] == 1  # p9 there too: a patient per practice
    # p9's two registrations are not "entries of interest under more than one practice"
    assert (
        everyone["input"]["ignored"][
            "patients with entries of interest under more than one practice"
        ]
        == 0
    )
