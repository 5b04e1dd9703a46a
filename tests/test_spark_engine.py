"""The Spark engine verified by running it, on one local Spark started once per test run (the
`spark_backend` fixture): every rule case in one batch; a synthetic extract's tables, a
series of month ends and an explanation equal DuckDB's; `calc --engine spark` end to end gives
`--engine duckdb`'s JSON; and what a user without pyspark, Java or a reachable server is told.
Spark is not in `tests/engines.py`'s list: the property and oracle tests' hundreds of small runs
would take it an hour, so it is verified here in a few large ones."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from entry import run_main

import ccrqof
from ccrqof import measures
from ccrqof.engine.sql.spark import SparkEngine
from ccrqof.rules.loader import BUNDLED, RuleSet
from ccrqof.synthetic import make_extract
from ccrqof.testing import case_files, run_case_files
from ccrqof.trend import month_ends

FILES = case_files(Path(str(BUNDLED)))
OUTCOME_KEYS = ["practice_code", "patient_id", "indicator"]
EVIDENCE_KEYS = ["practice_code", "patient_id", "indicator", "role", "cluster"]


@pytest.fixture
def spark(spark_backend):
    return SparkEngine(session=spark_backend.session)


def test_every_rule_case_passes_on_spark(spark):
    results = run_case_files(FILES, engine=spark)
    failures = [
        f"{path.parent.name}/{path.name} {r.case.name}: {patient} {what} expected {want}, got {got}"
        for path, found in results.items()
        for r in found
        for patient, what, want, got in r.mismatches
    ]
    assert not failures, "\n".join(failures)
    assert sum(len(found) for found in results.values()) == 296  # 164 cancer, 132 screening
    python = run_case_files(FILES, engine="python")
    for path, found in results.items():  # the same rules decided, patient by patient
        assert [r.deciding for r in found] == [r.deciding for r in python[path]]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three synthetic practices as the CSV files a user has."""
    events, patients = make_extract(3, 300, seed=5)
    folder = tmp_path_factory.mktemp("spark")
    events.to_csv(folder / "events.csv", index=False)
    patients.to_csv(folder / "patients.csv", index=False)
    return folder / "events.csv", folder / "patients.csv"


def test_a_synthetic_extracts_tables_are_duckdbs(spark, spark_backend, files):
    """Outcomes and evidence alike to the dtype, at two reference dates on one prepared extract,
    counts, practices, notices, the scored summary (the Python engine's too) and an
    explanation. Each rule set's checkpoints replace and release the last one's; the engine's
    session has the caller's settings and none of its views lands in the caller's session."""
    extract = ccrqof.read_extract(files[0], patients=files[1])
    codelist = ccrqof.illustrative_codelist()
    rulesets = [
        ccrqof.load_ruleset(reference_date=dt.date(2024, 3, 31)),
        ccrqof.load_ruleset(reference_date=dt.date(2025, 8, 31)),  # local monitoring
    ]
    duckdb, python = ccrqof.get_engine("duckdb"), ccrqof.get_engine("python")
    duck_handle = duckdb.prepare(extract, codelist, rulesets)
    python_handle = python.prepare(extract, codelist, rulesets)
    caller = spark_backend.session.conf
    caller.set("spark.sql.shuffle.partitions", "3")  # the caller's runtime settings carry over
    try:
        handle = spark.prepare(extract, codelist, rulesets)
    finally:
        caller.set("spark.sql.shuffle.partitions", "2")
    assert handle.con.spark.conf.get("spark.sql.shuffle.partitions") == "3"
    earlier: set[int] = set()
    for ruleset in rulesets:
        want, got = duckdb.evaluate(duck_handle, ruleset), spark.evaluate(handle, ruleset)
        assert len(want.outcomes) > 50 and len(want.evidence) > 5
        pd.testing.assert_frame_equal(
            got.outcomes.sort_values(OUTCOME_KEYS, ignore_index=True),
            want.outcomes.sort_values(OUTCOME_KEYS, ignore_index=True),
        )
        pd.testing.assert_frame_equal(
            got.evidence.sort_values(EVIDENCE_KEYS, ignore_index=True),
            want.evidence.sort_values(EVIDENCE_KEYS, ignore_index=True),
        )
        assert list(got.ignored.items()) == list(want.ignored.items())
        assert (got.practices, got.notices) == (want.practices, want.notices)
        pd.testing.assert_frame_equal(  # the reference engine's tables differ in dtypes only
            ccrqof.score(got), ccrqof.score(python.evaluate(python_handle, ruleset))
        )
        live = {_rdd(frame) for frame in handle.con.checkpoints.values()}
        persisted = _persisted(spark_backend.session)
        assert live <= persisted
        gone = earlier - live  # the last rule set's own checkpoints (prepare's stay)
        assert not gone & persisted, "a replaced checkpoint was not released"
        assert bool(gone) == bool(earlier)
        earlier = live
    first = rulesets[0]  # a rule set without some of the last one's tables: theirs go too
    register = RuleSet(
        first.year, first.reference_date, first.status, {"CAN001": first.packs["CAN001"]}
    )
    assert len(spark.evaluate(handle, register).outcomes) > 10
    assert "decided_can004" not in handle.con.checkpoints
    assert not (earlier - {_rdd(f) for f in handle.con.checkpoints.values()}) & _persisted(
        spark_backend.session
    )
    assert not spark_backend.session.catalog.tableExists("kept")

    patient = want.outcomes.query("indicator == 'CAN004'")["patient_id"].iloc[0]
    explained = [
        [
            dataclasses.asdict(e)
            for e in ccrqof.explain(extract, rulesets[0], codelist, patient, engine=e)
        ]
        for e in (duckdb, spark)
    ]
    assert explained[0] and explained[1] == explained[0]


def test_a_series_on_spark_is_duckdbs(spark, files):
    """All month ends together (`evaluate_series`), across a change of year's packs, give the
    tallies and counts DuckDB gives (tests/test_series.py holds DuckDB to the Python engine)."""
    extract = ccrqof.read_extract(files[0], patients=files[1])
    codelist = ccrqof.illustrative_codelist()
    rulesets = [ccrqof.load_ruleset(reference_date=d) for d in month_ends("2024-02", "2024-05")]
    duckdb = ccrqof.get_engine("duckdb")
    want = duckdb.evaluate_series(duckdb.prepare(extract, codelist, rulesets), rulesets)
    handle = spark.prepare(extract, codelist, rulesets)
    got = spark.evaluate_series(handle, rulesets)
    got.append(spark.evaluate(handle, rulesets[0]))  # and back to one date on the same handle
    # the measures beside the indicators: cohorts from the outcome rows, activity by its query
    last = rulesets[-1]
    mine = measures.for_month(spark, handle, spark.evaluate(handle, last))
    duck_handle = duckdb.prepare(extract, codelist, rulesets)
    theirs = measures.for_month(duckdb, duck_handle, duckdb.evaluate(duck_handle, last))
    assert theirs["count"].sum() > 0
    pd.testing.assert_frame_equal(mine, theirs)
    keys = ["practice_code", "indicator", "outcome", "field"]
    for mine, theirs in zip(got, [*want, want[0]], strict=True):
        assert len(theirs.tallies) > 10
        pd.testing.assert_frame_equal(
            mine.tallies.sort_values(keys, ignore_index=True),
            theirs.tallies.sort_values(keys, ignore_index=True),
        )
        assert dict(mine.ignored) == dict(theirs.ignored)


def _persisted(session) -> set[int]:
    return {int(i) for i in session.sparkContext._jsc.getPersistentRDDs().keySet()}


def _rdd(checkpoint) -> int:
    """The id of the RDD holding a checkpointed DataFrame's rows (classic Spark)."""
    return int(checkpoint._jdf.queryExecution().logical().rdd().id())


def test_calc_engine_spark_gives_duckdbs_json(spark_backend, files):
    """Through the command (in process: the active session, the test's, is used)."""
    common = ("calc", *map(str, files[:1]), "--patients", str(files[1]), "--year", "2023-24")
    code, want, _ = run_main(*common, "--format", "json", "--engine", "duckdb")
    assert code == 0
    code, got, stderr = run_main(*common, "--format", "json", "--engine", "spark")
    assert (code, stderr.count("Traceback")) == (0, 0), stderr
    assert got == want
    assert '"numerator"' in got


def _one_error(code: int, stderr: str) -> str:
    assert code == 2 and "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_without_pyspark_the_spark_engine_names_the_extra(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if not installed: import fails
    code, _, stderr = run_main("calc", str(files[0]), "--engine", "spark")
    line = _one_error(code, stderr)
    assert "pip install 'ccrqof[spark]'" in line


def test_without_java_the_spark_engine_says_so(files, tmp_path):
    """A process with no java on PATH and no JAVA_HOME: told before any input is read."""
    done = subprocess.run(
        [sys.executable, "-m", "ccrqof", "calc", str(files[0]), "--engine", "spark"],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},
        timeout=120,
    )
    line = _one_error(done.returncode, done.stderr)
    assert "Java 17" in line and "JAVA_HOME" in line


def test_a_java_that_cannot_start_is_one_line_too(files, tmp_path):
    """JAVA_HOME names no Java: Spark's launcher says why in its own words, then ccrqof once."""
    done = subprocess.run(
        [sys.executable, "-m", "ccrqof", "calc", str(files[0]), "--engine", "spark"],
        capture_output=True,
        text=True,
        env={"PATH": str(tmp_path), "HOME": str(tmp_path), "JAVA_HOME": str(tmp_path / "no")},
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "Spark could not start" in last and "Java 17" in last


@pytest.fixture
def closed_port():
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sc://127.0.0.1:{port}/;token=SECRETTOKEN", "cannot reach the Spark Connect server at"),
        ("http://127.0.0.1:{port}", "must be a Spark Connect URL such as sc://host:15002"),
    ],
)
def test_a_bad_spark_connect_url_is_refused_quickly(files, closed_port, url, says):
    """Refused within seconds, not after the client's ten minutes of retries; the URL's token
    is never repeated."""
    url = url.format(port=closed_port)
    began = time.monotonic()
    code, _, stderr = run_main("calc", str(files[0]), "--engine", "spark", "--spark-remote", url)
    line = _one_error(code, stderr)
    assert says in line and "SECRETTOKEN" not in stderr
    assert time.monotonic() - began < 15
