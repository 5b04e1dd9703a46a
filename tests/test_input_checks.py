"""Values that look right and are not (issue 11, "no number changes silently"): SNOMED CT id
checks, code lists that would count a cluster as a quiet zero, exports that overlap, ids a
person cannot tell apart, and the headerless files whose first row must not be echoed.

The ugly-input corpus (tests/test_ugly_inputs.py, VALUE_CHECK_CASES) runs each fixture through
`ccrqof calc`; the tests here cover what a single Case cannot say.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from entry import run_main
from hypothesis import given
from hypothesis import strategies as st
from test_cli import write_csv

from ccrqof.readers.extract import NEAR_DUPLICATES
from ccrqof.snomed import (
    BAD_CHECK_DIGIT,
    BAD_PARTITION,
    EXCEL_ROUNDED,
    LEADING_ZERO,
    NOT_DIGITS,
    check_digit,
    concept_id_problems,
    excel_rounded,
    valid_concept_ids,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ugly"
EVENTS = FIXTURES / "semicolon_delimited.csv"
CANCER, REVIEW, SUPPORT = "254837009", "720006006", "1239881000000109"

# Published concept and refset ids (src/ccrqof/data/README.md, NHS England's PCD refset ids and
# the QOF business rules): every one carries a valid partition identifier and Verhoeff check
# digit.
REAL_IDS = [
    CANCER,
    REVIEW,
    SUPPORT,
    "1109911000000100",  # did not respond to three invitations for cervical screening
    "999013651000230103",  # CAN_COD refset id (18 digits, namespace 1000230)
    "999012331000230107",  # CANINVITE_COD refset id
    "118600007",
    "93880001",
]


def test_published_ids_are_valid_concept_ids() -> None:
    assert valid_concept_ids(REAL_IDS).all()


def test_illustrative_placeholders_are_shaped_as_concept_ids() -> None:
    from ccrqof.codelists import illustrative_codelist

    codes = sorted(illustrative_codelist().codes())
    assert valid_concept_ids(codes).all()


BODIES = st.one_of(  # partition 10 carries a 7-digit namespace: 11 digits at least
    st.from_regex(r"[1-9][0-9]{3,14}00", fullmatch=True),
    st.from_regex(r"[1-9][0-9]{7,14}10", fullmatch=True),
)


def _shaped(code: str) -> bool:
    partition = code[-3:-1]
    return code[0] != "0" and (partition == "00" or (partition == "10" and len(code) >= 11))


@given(BODIES, st.data())
def test_any_single_digit_change_fails_the_check_digit(body: str, data) -> None:
    """Verhoeff detects every single-digit error: the invariant the check is there for."""
    code = body + check_digit(body)
    assert valid_concept_ids([code]).all()
    position = data.draw(st.integers(0, len(code) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != code[position]]))
    changed = code[:position] + digit + code[position + 1 :]
    if not _shaped(changed):
        return  # another check rejects it first: also invalid
    assert not valid_concept_ids([changed]).any()


@given(BODIES, st.data())
def test_any_swap_of_neighbouring_digits_fails_the_check_digit(body: str, data) -> None:
    code = body + check_digit(body)
    position = data.draw(st.integers(0, len(code) - 2))
    a, b = code[position], code[position + 1]
    if a == b:
        return
    swapped = code[:position] + b + a + code[position + 2 :]
    if not _shaped(swapped):
        return
    assert not valid_concept_ids([swapped]).any()


def test_each_code_gets_its_first_problem_only() -> None:
    codes = pa.chunked_array(
        [["", "25483", "254837008", "2548370114", SUPPORT[:-1] + "0", "1239881000000100"]]
        + [["0254837009", CANCER, ""]]
    )
    problems = concept_id_problems(codes, known=frozenset({SUPPORT}))
    assert {k: v.tolist() for k, v in problems.items()} == {
        NOT_DIGITS: [False, True, False, False, False, False, False, False, False],
        LEADING_ZERO: [False, False, False, False, False, False, True, False, False],
        EXCEL_ROUNDED: [False, False, False, False, True, True, False, False, False],
        BAD_PARTITION: [False, False, False, True, False, False, False, False, False],
        BAD_CHECK_DIGIT: [False, False, True, False, False, False, False, False, False],
    }


def test_excel_rounding_needs_a_known_id_sharing_fifteen_digits() -> None:
    rounded = "1239881000000100"
    assert excel_rounded([rounded], {SUPPORT}).tolist() == [True]
    assert excel_rounded([rounded], set()).tolist() == [False]  # nothing to compare with
    assert excel_rounded([rounded], {"1239882000000101"}).tolist() == [False]
    assert excel_rounded([SUPPORT], {SUPPORT}).tolist() == [False]  # the real id itself
    assert excel_rounded(["999013651000230000"], {"999013651000230103"}).tolist() == [True]


def calc(*args) -> tuple[int, str, str]:
    return run_main("calc", *args, "--year", "2023-24", "--format", "json")


def test_excel_rounded_codes_are_counted_in_one_warning() -> None:
    code, out, err = calc(FIXTURES / "excel_rounded_16_digit_code.csv")
    assert code == 0, err
    warnings = " ".join(err.split())
    assert warnings.count("Excel rounded") == 1
    assert "1 row(s)" in warnings
    assert "1239881000000100" not in err and "PIDSECRET" not in err
    assert json.loads(out)["input"]["rejected"] == {EXCEL_ROUNDED: 1}


def test_allow_missing_clusters_goes_on_with_a_warning() -> None:
    code, out, err = calc(
        EVENTS,
        "--codelists",
        FIXTURES / "codelist_without_mdrv_cod.txt",
        "--allow-missing-clusters",
    )
    assert code == 0, err
    warnings = " ".join(err.split())
    assert "Warning:" in warnings and "MDRV_COD" in warnings and "zero" in warnings
    counts = {r["indicator"]: r["numerator"] for r in json.loads(out)["results"]}
    assert counts["CAN004"] == 0  # PIDSECRET01's review is not counted without MDRV_COD


def test_missing_clusters_named_by_the_extract_cluster_column_are_not_missing(tmp_path) -> None:
    """A cluster the extract itself names in its `cluster` column is not a quiet zero."""
    events = write_csv(
        tmp_path / "events.csv",
        f"""
practice_code,patient_id,code,cluster,date
A81001,PIDSECRET01,{CANCER},,2023-06-01
A81001,PIDSECRET01,,MDRV_COD,2023-09-01
""",
    )
    code, out, err = calc(events, "--codelists", FIXTURES / "codelist_without_mdrv_cod.txt")
    assert code == 0, err
    counts = {r["indicator"]: r["numerator"] for r in json.loads(out)["results"]}
    assert counts["CAN004"] == 1


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("CAN_COD.csv", b"", "is empty"),
        ("CAN_COD.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "cannot be read"),
        ("CAN_COD.csv", f"{CANCER},Malignant neoplasm\n".encode(), "header row missing"),
    ],
    ids=["empty", "binary", "headerless"],
)
def test_bad_file_in_a_codelist_folder_is_named(tmp_path, name, content, expected) -> None:
    folder = tmp_path / "codelists"
    folder.mkdir()
    (folder / "MDRV_COD.csv").write_text(f"code\n{REVIEW}\n")
    (folder / name).write_bytes(content)
    code, out, err = calc(EVENTS, "--codelists", folder)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), err
    assert name in lines[0] and expected in lines[0]
    assert CANCER not in err and "Malignant" not in err


def test_dev_null_as_codelist_is_a_plain_error() -> None:
    code, out, err = calc(EVENTS, "--codelists", "/dev/null")
    assert code == 2 and out == ""
    assert "/dev/null" in err and "empty" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "name"),
    [("--codelists", "codelist_no_header_row.txt"), ("--org-map", "org_map_no_header_row.csv")],
)
def test_headerless_files_never_echo_their_first_row(option: str, name: str) -> None:
    path = FIXTURES / name
    code, _, err = calc(EVENTS, option, path)
    assert code == 2
    first_row = path.read_text().splitlines()[0]
    for value in first_row.replace("\t", ",").split(","):
        assert value not in err, f"a value of the first row reached stderr: {value!r}"


# --- two overlapping exports, one without the episode column --------------------------------

WITH_EPISODE = f"""
practice_code,patient_id,code,date,episode
A81001,PIDSECRET01,{CANCER},2023-01-10,First
A81001,PIDSECRET01,{CANCER},2023-09-01,Review
A81001,PIDSECRET01,{REVIEW},2023-06-01,
"""
# The same entries exported without episodicity: the September row alone would look like a new
# diagnosis (blank = first/new) and move CAN_DAT from January to September 2023, after the
# review, so CAN004 would exclude the patient (R5) instead of counting the review (R3).
WITHOUT_EPISODE = f"""
practice_code,patient_id,code,date
A81001,PIDSECRET01,{CANCER},2023-01-10
A81001,PIDSECRET01,{CANCER},2023-09-01
A81001,PIDSECRET01,{REVIEW},2023-06-01
"""


@pytest.mark.parametrize("order", ["with-first", "without-first"])
def test_near_duplicates_resolve_to_the_row_with_the_column(tmp_path, order: str) -> None:
    wide = write_csv(tmp_path / "wide.csv", WITH_EPISODE)
    narrow = write_csv(tmp_path / "narrow.csv", WITHOUT_EPISODE)
    files = (wide, narrow) if order == "with-first" else (narrow, wide)
    code, out, err = calc(*files)
    assert code == 0, err
    document = json.loads(out)
    # the 'Review' entry does not move CAN_DAT: diagnosed 2023-01-10, reviewed 2023-06-01
    can004 = next(r for r in document["results"] if r["indicator"] == "CAN004")
    assert (can004["numerator"], can004["denominator"]) == (1, 1)
    # the two cancer rows of the narrow export lack the wide export's episode: near-duplicates;
    # the review row is an ordinary duplicate (the wide export's episode is blank too)
    ignored = document["input"]["ignored"]
    assert ignored[NEAR_DUPLICATES] == 2
    assert ignored["duplicate rows"] == 1
    assert "2 row(s) repeat an entry of another events file" in " ".join(err.split())


def test_near_duplicate_result_equals_the_wider_export_alone(tmp_path) -> None:
    wide = write_csv(tmp_path / "wide.csv", WITH_EPISODE)
    narrow = write_csv(tmp_path / "narrow.csv", WITHOUT_EPISODE)
    _, both, _ = calc(narrow, wide)
    _, alone, _ = calc(wide)
    assert json.loads(both)["results"] == json.loads(alone)["results"]


# --- identifiers ----------------------------------------------------------------------------


def test_explain_trims_the_patient_and_practice_given() -> None:
    events = FIXTURES / "semicolon_delimited.csv"
    code, out, err = run_main(
        "explain",
        events,
        "--year",
        "2023-24",
        "--patient",
        "  PIDSECRET01\t",
        "--practice",
        " a81001 ",
        "--format",
        "json",
    )
    assert code == 0, err
    explanations = json.loads(out)["explanations"]
    assert [e["patient_id"] for e in explanations] == ["PIDSECRET01"]


def test_practice_codes_in_the_patients_file_and_org_map_are_upper_cased(tmp_path) -> None:
    patients = write_csv(
        tmp_path / "patients.csv",
        """
patient_id,practice_code,registration_date
PIDSECRET01,a81001,2010-01-01
PIDSECRET02,A81001,2010-01-01
PIDSECRET03,a81001,2010-01-01
""",
    )
    org = write_csv(tmp_path / "org.csv", "practice_code,pcn_code\na81001,U1\n")
    code, out, err = calc(EVENTS, "--patients", patients, "--org-map", org, "--by", "pcn")
    assert code == 0, err
    document = json.loads(out)
    assert {r["pcn_code"] for r in document["results"]} == {"U1"}
    assert {r["register"] for r in document["results"]} == {3}
    assert "patients.csv: 2 practice code value(s) are not in upper case" in " ".join(err.split())


@pytest.mark.parametrize("days", ["99999999999999999999", "3661", "-1"])
def test_absurd_within_is_a_usage_error(days: str) -> None:
    code, out, err = run_main("worklist", EVENTS, "--year", "2023-24", "--within", days)
    assert code == 2 and out == ""
    assert "--within" in err and "Traceback" not in err


def test_indicator_choices_come_from_the_packs() -> None:
    """--indicator is checked against the year's packs (any case), not a list in the code."""
    code, out, err = run_main(
        "worklist", EVENTS, "--year", "2023-24", "--indicator", "can005", "--format", "json"
    )
    assert code == 0, err
    document = json.loads(out)
    assert {r["indicator"] for r in document["targets"] + document["will_fail"]} == {"CAN005"}
    code, _, err = run_main("worklist", EVENTS, "--year", "2023-24", "--indicator", "CAN001")
    assert code == 2 and "CAN004, CAN005" in err  # a register has no deadline to list
    code, _, err = run_main(
        "trend", EVENTS, "--from", "2024-01", "--to", "2024-02", "--indicator", "CAN009"
    )
    assert code == 2 and "CAN001, CAN004, CAN005" in err


@pytest.mark.parametrize(
    "ids", [("007", "7", "123"), ("P007", "P7", "P123")], ids=["digits", "text"]
)
def test_two_open_registrations_found_whatever_the_ids_look_like(tmp_path, ids) -> None:
    """Digit-only ids take a faster path (compared as numbers and lengths): 007 and 7 are still
    two patients, and only the id open twice is rejected."""
    a, b, twice = ids
    patients = write_csv(
        tmp_path / "patients.csv",
        f"""
patient_id,practice_code,registration_date
{a},A81001,2010-01-01
{b},A81001,2010-01-01
{twice},A81001,2010-01-01
{twice},A81001,2012-01-01
{twice},B82002,2012-01-01
""",
    )
    events = write_csv(
        tmp_path / "events.csv",
        f"""
patient_id,practice_code,code,date
{a},A81001,{CANCER},2023-06-01
{b},A81001,{CANCER},2023-06-01
""",
    )
    code, out, err = calc(events, "--patients", patients, "--rejects", tmp_path / "rejects.csv")
    assert code == 0, err
    document = json.loads(out)
    assert document["input"]["rejected"] == {
        "more than one open registration for the patient at the practice": 2
    }
    registers = {
        r["practice_code"]: r["register"] for r in document["results"] if r["indicator"] == "CAN001"
    }
    assert registers["A81001"] == 2
    rejects = (tmp_path / "rejects.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in rejects[1:]] == [
        "4",
        "5",
    ]  # the two at A81001; B82002 is another practice


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_rejects_file_when_the_extract_has_columns_named_like_its_own(tmp_path, suffix) -> None:
    """An extract with its own `line` and `reason` columns: the rejects file keeps them, renamed,
    instead of crashing or writing two columns of one name (review finding)."""
    events = write_csv(
        tmp_path / "events.csv",
        f"""
practice_code,patient_id,code,date,line,reason
A81001,PIDSECRET01,{CANCER},2023-06-01,7,first
A81001,,{CANCER},2023-06-01,8,second
""",
    )
    rejects = tmp_path / f"rejects{suffix}"
    code, _, err = calc(events, "--rejects", rejects)
    assert code == 0, err
    import pandas as pd

    table = pd.read_csv(rejects, dtype=str) if suffix == ".csv" else pd.read_parquet(rejects)
    assert list(table.columns[:4]) == ["file", "line", "column", "reason"]
    assert table.loc[0, "line"] == "3" or table.loc[0, "line"] == 3
    assert table.loc[0, "line (in file)"] == "8" and table.loc[0, "reason (in file)"] == "second"


@pytest.mark.parametrize(
    "first_row",
    ["A81001,PIDSECRET01,254837009,2020-01-01,2020-01-01", "PIDSECRET01,PIDSECRET01"],
)
def test_a_headerless_file_with_repeated_values_is_not_echoed(tmp_path, first_row) -> None:
    path = tmp_path / "headerless.csv"
    path.write_text(first_row + "\n" + first_row + "\n")
    code, _, err = calc(path)
    assert code == 2 and "header row missing" in err and "columns " in err
    for value in first_row.split(","):
        assert value not in err


def test_partition_10_needs_room_for_a_namespace() -> None:
    short = "1234510" + check_digit("1234510")  # 8 digits: no 7-digit namespace fits
    assert not valid_concept_ids([short]).any()
    ten = "123456710" + check_digit("123456710")  # 10 digits: one short
    eleven = "1234567810" + check_digit("1234567810")  # 11: item, namespace, 10, check
    assert valid_concept_ids([ten, eleven]).tolist() == [False, True]
    assert valid_concept_ids(["999013651000230103"]).all()


@pytest.mark.parametrize(
    "lookalike",
    ["PIDSECRET4\ufe0f", "PIDSECRET8\u034f", "PIDSECRET5\u3164", "PID\u2028SECRET3",
     "PID\u00a0SECRET2", "\uff30IDSECRET9"],
    ids=["variation selector", "grapheme joiner", "hangul filler", "line separator",
         "no-break space", "full-width letter"],
)  # fmt: skip
def test_look_alike_ids_are_rejected(tmp_path, lookalike) -> None:
    events = tmp_path / "events.csv"
    events.write_text(
        f"practice_code,patient_id,code,date\nA81001,{lookalike},{CANCER},2023-06-01\n"
        f"A81001,PIDSECRET01,{CANCER},2023-06-01\n",
        encoding="utf-8",
    )
    code, out, err = calc(events)
    assert code == 0, err
    rejected = json.loads(out)["input"]["rejected"]
    assert rejected == {"control, invisible or look-alike characters in an identifier": 1}


def test_full_width_digit_in_a_practice_code_is_rejected(tmp_path) -> None:
    events = tmp_path / "events.csv"
    events.write_text(
        f"practice_code,patient_id,code,date\nA8100\uff11,P1,{CANCER},2023-06-01\n"
        f"A81001,P2,{CANCER},2023-06-01\n",
        encoding="utf-8",
    )
    code, out, err = calc(events)
    assert code == 0, err
    assert {r["practice_code"] for r in json.loads(out)["results"]} == {"A81001"}


def test_trend_range_is_capped() -> None:
    code, _, err = run_main("trend", EVENTS, "--from", "2021-04", "--to", "9999-12")
    assert code == 2 and "at most 240" in err


def test_trend_cap_boundary_is_240_month_ends() -> None:
    from ccrqof.errors import UsageError
    from ccrqof.trend import month_ends

    assert len(month_ends("2021-04", "2041-03")) == 240  # the last month allowed
    with pytest.raises(UsageError, match="spans 241 months"):
        month_ends("2021-04", "2041-04")


def test_within_boundary_is_3660_days() -> None:
    code, _, err = run_main("worklist", EVENTS, "--year", "2023-24", "--within", "3660")
    assert code == 0, err


def test_org_map_blank_rows_are_ignored(tmp_path) -> None:
    org = tmp_path / "org.csv"
    org.write_text("practice_code,pcn_code\nA81001,U1\n,\n,\n")
    code, out, err = calc(EVENTS, "--org-map", org, "--by", "pcn")
    assert code == 0, err
    assert {r["pcn_code"] for r in json.loads(out)["results"]} == {"U1"}


def test_an_export_with_its_episode_column_left_blank_is_the_narrower_one(tmp_path) -> None:
    """Review finding: a blank `episode` column is no episode at all."""
    wide = write_csv(tmp_path / "wide.csv", WITH_EPISODE)
    blank = write_csv(
        tmp_path / "blank.csv", WITHOUT_EPISODE.replace("code,date\n", "code,date,episode\n")
    )
    blank.write_text(
        "\n".join(
            line + ("," if i else "") for i, line in enumerate(blank.read_text().splitlines())
        )
        + "\n"
    )
    _, both, _ = calc(wide, blank)
    _, alone, _ = calc(wide)
    assert json.loads(both)["results"] == json.loads(alone)["results"]
    assert json.loads(both)["input"]["ignored"][NEAR_DUPLICATES] == 2


def test_exports_that_each_lack_a_column_are_warned_about(tmp_path) -> None:
    wide = write_csv(tmp_path / "wide.csv", WITH_EPISODE)
    with_cluster = write_csv(
        tmp_path / "clustered.csv",
        f"""
practice_code,patient_id,code,cluster,date
A81001,PIDSECRET01,{CANCER},CAN_COD,2023-09-01
""",
    )
    code, _, err = calc(wide, with_cluster)
    assert code == 0, err
    assert "1 row(s) of one events file match rows of another" in " ".join(err.split())


def test_a_gzipped_code_list_is_read_and_a_bomb_refused(tmp_path) -> None:
    """Code lists and org maps go through the readers' byte reader: .gz is unzipped (and its
    separator found in the text, not the compressed bytes) within the same limits."""
    import gzip

    refset = (FIXTURES / "codelist_without_mdrv_cod.txt").read_text() + f"MDRV_COD\t{REVIEW}\n"
    good = tmp_path / "refset.txt.gz"
    good.write_bytes(gzip.compress(refset.encode(), mtime=0))
    code, _, err = calc(EVENTS, "--codelists", good)
    assert code == 0, err
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(bytes(64 << 20), compresslevel=9, mtime=0) * 5)
    code, _, err = calc(EVENTS, "--codelists", bomb)
    assert code == 2 and "unzips to more than" in err
