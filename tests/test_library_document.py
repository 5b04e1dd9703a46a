"""The library's JSON document is `calc --format json`'s, rule pack identity included."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from entry import run_main

import ccrqof
from ccrqof.loading import load
from ccrqof.organisations import summarise
from ccrqof.reporters import json_document
from ccrqof.reporters.documents import dump_json, rule_pack_identity
from ccrqof.rules.loader import BUNDLED

CANCER = "254837009"  # CAN_COD of the bundled illustrative list
REVIEW = "720006006"  # MDRV_COD

EVENTS = f"""practice_code,patient_id,code,date
A81001,PIDSECRET01,{CANCER},2023-06-01
A81001,PIDSECRET01,{REVIEW},2023-09-01
A81001,,{CANCER},2023-06-01
B82002,PIDSECRET02,{CANCER},2023-01-10
B82002,PIDSECRET02,{REVIEW},2024-05-01
"""


@pytest.fixture
def events(tmp_path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS, encoding="utf-8")
    return path


def library_document(events: Path, **dates) -> dict:
    """`load` (which chooses the indicators the extract's inputs allow, as the command does),
    evaluate, summarise, and the JSON document."""
    loaded = load(events, **dates)
    evaluation = ccrqof.evaluate(loaded.extract, loaded.ruleset, loaded.codelist)
    summary, _ = summarise(evaluation)
    return json_document(evaluation, summary, loaded.extract.report, ccrqof.__version__)


@pytest.mark.parametrize(
    ("args", "dates"),
    [
        (("--year", "2023-24"), {"year": "2023-24"}),
        (("--as-of", "2025-06-30"), {"as_of": dt.date(2025, 6, 30)}),  # monitoring
    ],
)
def test_library_json_document_is_the_command_s(events, args, dates):
    document = library_document(events, **dates)
    code, stdout, stderr = run_main("calc", events, *args, "--format", "json")
    assert code == 0, stderr
    assert json.loads(stdout) == document
    assert stdout == dump_json(document)
    assert document["rule_pack"]["name"] == "bundled"


def test_library_json_document_names_a_local_rule_pack(events, tmp_path):
    local = tmp_path / "my-packs" / "2023-24"
    local.mkdir(parents=True)
    for pack in (Path(str(BUNDLED)) / "2023-24").glob("*.yaml"):
        (local / pack.name).write_bytes(pack.read_bytes())
    ruleset = ccrqof.load_ruleset(year="2023-24", rules_dir=local.parent)
    document = library_document(events, year="2023-24", rules_dir=local.parent)
    assert document["rule_pack"] == rule_pack_identity(ruleset)
    assert document["rule_pack"]["name"] == "my-packs"
    assert document["rule_pack"]["year"] == "2023-24"
    code, stdout, stderr = run_main(
        "calc", events, "--year", "2023-24", "--rules", local.parent, "--format", "json"
    )
    assert code == 0, stderr
    assert json.loads(stdout) == document
