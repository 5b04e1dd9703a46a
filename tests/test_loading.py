"""`ccrqof.loading.load` used as a library, without the CLI: what it reads, writes, raises and
says, and that the command says exactly that; and that a run through it gives the command's
JSON document."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from entry import run_main

import ccrqof
from ccrqof.errors import CcrqofError, RejectedRowsError, UsageError
from ccrqof.loading import Loaded, Message, load
from ccrqof.organisations import summarise
from ccrqof.reporters import json_document
from ccrqof.reporters.documents import dump_json

# Codes of the bundled illustrative list (src/ccrqof/data/illustrative_codelist.csv).
CANCER = "254837009"  # CAN_COD
REVIEW = "720006006"  # MDRV_COD

# One patient with an empty id (rejected); the latest entry is 2024-05-01, so with no date
# given the extract is stale.
EVENTS = f"""practice_code,patient_id,code,date,description
A81001,PIDSECRET01,{CANCER},2023-06-01,Café
A81001,PIDSECRET01,{REVIEW},2023-09-01,
A81001,,{CANCER},2023-06-01,
B82002,PIDSECRET02,{CANCER},2023-01-10,
B82002,PIDSECRET02,{REVIEW},2024-05-01,
"""
# No MDRV_COD, and one code that Excel turned into a number.
CODELIST = f"""Cluster_ID\tSNOMED_code
CAN_COD\t{CANCER}
CANPCSUPP_COD\t1.23988E+15
CANINVITE_COD\t999000000001007
CANPCADEC_COD\t999000000002000
CANPCAPU_COD\t999000000003005
"""


@pytest.fixture
def events(tmp_path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS, encoding="utf-8")
    return path


@pytest.fixture
def cp1252_events(tmp_path) -> Path:
    path = tmp_path / "events_cp1252.csv"
    path.write_bytes(EVENTS.encode("cp1252"))
    return path


@pytest.fixture
def codelist(tmp_path) -> Path:
    path = tmp_path / "refset.txt"
    path.write_text(CODELIST, encoding="utf-8")
    return path


def test_load_reads_the_rule_set_extract_and_code_list(events):
    loaded = load(events, year="2023-24")
    assert isinstance(loaded, Loaded)
    assert loaded.ruleset.year.year == "2023-24"
    assert loaded.ruleset.reference_date == dt.date(2024, 3, 31)
    assert loaded.extract.report.total_rejected == 1
    assert loaded.codelist.illustrative  # no code list given: the bundled one, with a warning
    assert loaded.notices == [
        'events.csv: used patient_id ← "patient_id", code ← "code", date ← "date", '
        'practice_code ← "practice_code"; ignored: description',
        # no patients file: no sex or date of birth for CS005/CS006
        "CS005, CS006 not computed: they need each patient's sex and date of birth, and there "
        "is no patients file (choose indicators with --indicators)",
    ]
    assert sorted(loaded.ruleset.packs) == ["CAN001", "CAN004", "CAN005"]
    assert [w for w in loaded.warnings if "illustrative" in w]
    evaluation = ccrqof.evaluate(loaded.extract, loaded.ruleset, loaded.codelist)
    assert set(evaluation.outcomes["practice_code"]) == {"A81001", "B82002"}


def test_as_of_is_a_date_or_iso_text(events):
    for as_of in (dt.date(2024, 1, 31), "2024-01-31"):
        loaded = load([events], as_of=as_of)
        assert loaded.ruleset.reference_date == dt.date(2024, 1, 31)


def test_errors_are_library_errors_not_click_ones(events, codelist):
    with pytest.raises(UsageError, match="not both"):
        load(events, year="2023-24", as_of="2024-03-31")
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        load(events, as_of="31/03/2024")
    with pytest.raises(UsageError, match="MDRV_COD"):
        load(events, codelists=codelist, year="2023-24")  # a cluster the rules read is missing
    with pytest.raises(CcrqofError):
        load(events, year="1999-00")


def test_rejects_file_written_without_strict(events, tmp_path):
    rejects = tmp_path / "rejects.csv"
    loaded = load(events, year="2023-24", rejects=rejects)
    assert loaded.extract.report.total_rejected == 1
    frame = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert len(frame) == 1
    assert frame["line"].tolist() == ["4"]


def test_strict_raises_after_writing_the_rejects_and_saying_what_came_before(events, tmp_path):
    rejects = tmp_path / "rejects.parquet"
    said: list[Message] = []
    with pytest.raises(RejectedRowsError, match=r"1 row\(s\) rejected") as caught:
        load(events, year="2023-24", rejects=rejects, strict=True, on_message=said.append)
    assert caught.value.exit_code == 1
    assert str(rejects) in str(caught.value)
    assert len(pd.read_parquet(rejects)) == 1
    # the illustrative list's warning comes after the strict check, as on the command line
    assert not [m for m in said if "illustrative" in m.text]


def test_strict_passes_a_clean_extract(tmp_path):
    path = tmp_path / "clean.csv"
    path.write_text(f"patient_id,code,date\nPIDSECRET01,{CANCER},2023-06-01\n", encoding="utf-8")
    assert load(path, year="2023-24", strict=True).extract.report.total_rejected == 0


def test_stale_extract_is_a_warning_returned_as_data(events):
    loaded = load(events)  # R = today; the latest entry is 2024-05-01
    stale = [w for w in loaded.warnings if "out of date" in w]
    days = (dt.date.today() - dt.date(2024, 5, 1)).days
    assert stale == [
        f"the extract's latest entry is {days} days before the reference date "
        f"({dt.date.today().isoformat()}); results may be out of date. Use --as-of or --year "
        "to score an earlier date."
    ]
    assert loaded.messages[-1] == Message("warning", stale[0])
    for dates in ({"year": "2023-24"}, {"as_of": dt.date.today()}):
        assert not [w for w in load(events, **dates).warnings if "out of date" in w], dates


def test_messages_in_the_order_they_arise(cp1252_events, codelist):
    said: list[Message] = []
    loaded = load(
        cp1252_events, codelists=codelist, allow_missing_clusters=True, on_message=said.append
    )
    assert said == list(loaded.messages)
    kinds = [m.kind for m in loaded.messages]
    assert kinds == ["warning", "notice", "notice", "notice", "warning", "warning"]
    missing, encoding, columns, left_out, excel, stale = (m.text for m in loaded.messages)
    assert left_out.startswith("CS005, CS006 not computed")
    assert "no codes for 2 cluster(s) the rules read: CANPCSUPP_COD, MDRV_COD" in missing
    assert "Windows-1252" in encoding
    assert "not SNOMED CT concept ids" in excel
    assert "out of date" in stale
    assert columns.startswith("events_cp1252.csv: used patient_id")
    assert loaded.notices == [encoding, columns, left_out]
    assert loaded.warnings == [missing, excel, stale]


def test_the_command_prints_the_library_messages_exactly(cp1252_events, codelist):
    loaded = load(cp1252_events, codelists=codelist, allow_missing_clusters=True)
    code, _, stderr = run_main(
        "calc", cp1252_events, "--codelists", codelist, "--allow-missing-clusters"
    )
    assert code == 0, stderr
    label = {"notice": "Note:", "warning": "Warning:"}
    expected = "".join(f"{label[m.kind]} {m.text}\n" for m in loaded.messages)
    assert stderr.startswith(expected)
    assert "PIDSECRET" not in stderr


def test_a_library_run_gives_the_command_s_json_document(events):
    loaded = load(events, year="2023-24")
    evaluation = ccrqof.evaluate(loaded.extract, loaded.ruleset, loaded.codelist)
    summary, _ = summarise(evaluation)  # score's rows with the (blank) organisation columns
    document = json_document(evaluation, summary, loaded.extract.report, ccrqof.__version__)
    code, stdout, stderr = run_main("calc", events, "--year", "2023-24", "--format", "json")
    assert code == 0, stderr
    assert json.loads(stdout) == document
    assert stdout == dump_json(document)
