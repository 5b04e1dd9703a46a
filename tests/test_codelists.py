"""Where an entry's clusters come from (docs/reference-data.md#code-lists)."""

from __future__ import annotations

import ccrqof

EVENTS = """patient_id,code,cluster,date
P1,254837009,,2023-06-01
P2,,CAN_COD,2023-06-01
P3,38341003,CAN_COD,2023-06-01
"""


def register(tmp_path, codelist_text: str | None):
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    extract = ccrqof.read_extract(events)
    path = None
    if codelist_text is not None:
        path = tmp_path / "refset.txt"
        path.write_text(codelist_text)
    codelist, warning = ccrqof.resolve_codelist(path, extract)
    outcomes = ccrqof.evaluate(extract, ccrqof.load_ruleset(year="2023-24"), codelist).outcomes
    return sorted(outcomes.loc[outcomes["indicator"] == "CAN001", "patient_id"]), warning


def test_without_codelist_cluster_column_first_then_illustrative_list_for_code_only_rows(
    tmp_path,
):
    # P1: code only -> illustrative list (breast cancer is CAN_COD there), with the warning;
    # P2, P3: their cluster column says CAN_COD (P3's hypertension code is not looked up)
    patients, warning = register(tmp_path, None)
    assert patients == ["P1", "P2", "P3"]
    assert warning is not None and "illustrative" in warning


def test_a_given_codelist_decides_rows_with_a_code(tmp_path):
    # the user's refset maps only 254837009; P3's code 38341003 is not in it, so P3's cluster
    # column is not used; P2 has no code, so its cluster column is
    refset = "Cluster_ID\tCluster_Description\tSNOMED_code\nCAN_COD\tCancer\t254837009\n"
    patients, warning = register(tmp_path, refset)
    assert patients == ["P1", "P2"]
    assert warning is None
