"""Every dialect of one extract gives the results of its canonical file (issue 3).

A random valid extract (patients of one or two practices, entries with codes of the bundled
illustrative list, one registration each) is written once canonically (comma, ISO dates,
canonical column names, UTF-8, CSV, separate patients file) and again in other dialects:
delimiter, line ending, date format (with or without a time part), column spellings and order
(EMIS-, SystmOne- and Vision-like), encoding (UTF-8, UTF-8 with BOM, Windows-1252), container
(CSV, CSV.gz, Parquet of text, typed Parquet) and layout (patients file, or registration
repeated on every event row). Each must read without a rejected row and give the same
summary and patient-level outcomes at R = 31 March 2024 as the canonical file.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ccrqof
from ccrqof.loading import choose_indicators
from ccrqof.reporters import patient_outcomes

R = dt.date(2024, 3, 31)
CODES = {
    "CAN_COD": ["254837009", "399068003", "363406005"],
    "MDRV_COD": ["720006006"],
    "CANPCSUPP_COD": ["1239881000000109"],
    "CANINVITE_COD": ["999000000001007"],
    "CANPCADEC_COD": ["999000000002000"],
    "CANPCAPU_COD": ["999000000003005"],
    "none": ["195967001"],  # asthma: in no cluster of interest
}
ALL_CODES = [c for codes in CODES.values() for c in codes]
EPISODES = ["", "First", "New", "Review", "ended", "FLARE-UP"]
# cp1252-encodable text with everything a CSV writer has to quote
DESCRIPTIONS = [
    "Malignant neoplasm of breast",
    "Café review – “structured”",
    "Support, discussed; in full",
    'Said "yes"',
    "Two\nlines",
    "Ölfarbe £5",
    "",
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

EVENT_FIELDS = ("practice_code", "patient_id", "code", "date", "episode", "description")
PATIENT_FIELDS = ("patient_id", "practice_code", "registration_date", "deregistration_date")
SPELLINGS = {
    "canonical": {},
    "emis": {
        "practice_code": "Practice code",
        "patient_id": "Patient ID",
        "code": "SNOMED CT Concept ID",
        "date": "Effective date",
        "episode": "Episodicity",
        "description": "Description",
        "registration_date": "Date of registration",
        "deregistration_date": "Date of deregistration",
    },
    "systmone": {
        "practice_code": "ODS code",
        "patient_id": "PatientId",
        "code": "ConceptId",
        "date": "Event date",
        "episode": "Episode",
        "description": "Term",
        "registration_date": "Registration date",
        "deregistration_date": "Deregistration date",
    },
    "vision": {
        "practice_code": "PRACTICE",
        "patient_id": "patient",
        "code": "SNOMED_CODE",
        "date": "DATE",
        "episode": "Episode type",
        "description": "Rubric",
        "registration_date": "Registration start date",
        "deregistration_date": "Registration end date",
    },
}


# --- the extract ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    code: str
    day: dt.date
    episode: str
    description: str
    time: dt.time


@dataclass(frozen=True)
class Patient:
    patient_id: str
    practice: str
    registered: dt.date
    deregistered: dt.date | None
    entries: tuple[Entry, ...]


def days(lo: dt.date, hi: dt.date):
    return st.dates(min_value=lo, max_value=hi)


entries = st.builds(
    Entry,
    code=st.sampled_from(ALL_CODES),
    day=days(dt.date(2021, 1, 1), dt.date(2024, 6, 30)),
    episode=st.sampled_from(EPISODES),
    description=st.sampled_from(DESCRIPTIONS),
    time=st.sampled_from([dt.time(0, 0), dt.time(9, 30), dt.time(23, 59, 59)]),
)


@st.composite
def patients(draw, patient_id: str) -> Patient:
    registered = draw(days(dt.date(2000, 1, 1), dt.date(2024, 6, 30)))
    deregistered = draw(st.none() | days(registered, dt.date(2024, 9, 30)))
    cancer = Entry("254837009", draw(days(dt.date(2021, 1, 1), R)), "", "", dt.time(0, 0))
    more = draw(st.lists(entries, max_size=5))
    has_cancer = draw(st.booleans())
    return Patient(
        patient_id,
        draw(st.sampled_from(["A81001", "B82002"])),
        registered,
        deregistered,
        tuple(([cancer] if has_cancer else []) + more),
    )


@st.composite
def extracts(draw) -> tuple[Patient, ...]:
    ids = draw(
        st.lists(
            st.sampled_from(
                ["PIDSECRET01", "PIDSECRET02", "PIDSECRET03", "PIDSECRET04", "0042", "042"]
            ),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    extract = tuple(draw(patients(pid)) for pid in ids)
    assume(any(p.entries for p in extract))  # an events file needs at least one row
    return extract


# --- dialects ---------------------------------------------------------------------------------


def _iso(d: dt.date, t: dt.time) -> str:
    return d.isoformat()


DATE_FORMATS = {
    "iso": _iso,
    "iso_time": lambda d, t: f"{d.isoformat()}T{t.isoformat()}",
    "iso_space_time": lambda d, t: f"{d.isoformat()} {t.strftime('%H:%M')}",
    "uk": lambda d, t: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "uk_short": lambda d, t: f"{d.day}/{d.month}/{d.year}",
    "uk_time": lambda d, t: f"{d.day:02d}/{d.month:02d}/{d.year} {t.strftime('%H:%M')}",
    "mon_dash": lambda d, t: f"{d.day:02d}-{MONTHS[d.month - 1]}-{d.year}",
    "mon_dash_upper": lambda d, t: f"{d.day:02d}-{MONTHS[d.month - 1].upper()}-{d.year}",
    "mon_space": lambda d, t: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "mon_space_time": lambda d, t: f"{d.day:02d} {MONTHS[d.month - 1]} {d.year} {t}",
}


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    newline: str = "\n"
    dates: str = "iso"
    spelling: str = "canonical"
    shuffle: bool = False  # columns in reverse order
    encoding: str = "utf-8"
    container: str = "csv"  # csv | csv.gz | parquet_text | parquet_typed
    single_file: bool = False

    def __str__(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())


CANONICAL = Dialect()
AXES = {
    "delimiter": [",", "\t", ";"],
    "newline": ["\n", "\r\n"],
    "dates": list(DATE_FORMATS),
    "spelling": list(SPELLINGS),
    "shuffle": [False, True],
    "encoding": ["utf-8", "utf-8-sig", "cp1252"],
    "container": ["csv", "csv.gz", "parquet_text", "parquet_typed"],
    "single_file": [False, True],
}
dialects = st.builds(Dialect, **{axis: st.sampled_from(values) for axis, values in AXES.items()})


def _rows(extract: tuple[Patient, ...], dialect: Dialect) -> tuple[list[dict], list[dict]]:
    """Event rows and patient rows as plain values (dates still dates)."""
    events, people = [], []
    for p in extract:
        registration = {
            "registration_date": (p.registered, dt.time(0, 0)),
            "deregistration_date": (p.deregistered, dt.time(0, 0)),
        }
        people.append({"patient_id": p.patient_id, "practice_code": p.practice, **registration})
        for e in p.entries:
            row = {
                "practice_code": p.practice,
                "patient_id": p.patient_id,
                "code": e.code,
                "date": (e.day, e.time),
                "episode": e.episode,
                "description": e.description,
            }
            events.append({**row, **registration} if dialect.single_file else row)
        if dialect.single_file and not p.entries:  # a patient with no coded entries
            events.append(
                {
                    "practice_code": p.practice,
                    "patient_id": p.patient_id,
                    "code": None,
                    "date": (None, None),
                    "episode": "",
                    "description": "",
                    **registration,
                }
            )
    return events, people


def _text_value(value, dialect: Dialect) -> str:
    if isinstance(value, tuple):
        day, time = value
        return "" if day is None else DATE_FORMATS[dialect.dates](day, time)
    return "" if value is None else value


def _columns(fields: list[str], dialect: Dialect) -> list[str]:
    names = list(fields)
    return names[::-1] if dialect.shuffle else names


def _write_csv(path: Path, rows: list[dict], fields: list[str], dialect: Dialect) -> None:
    spelled = SPELLINGS[dialect.spelling]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=dialect.delimiter, lineterminator=dialect.newline)
    writer.writerow([spelled.get(f, f) for f in fields])
    for row in rows:
        writer.writerow([_text_value(row[f], dialect) for f in fields])
    data = buffer.getvalue().encode(dialect.encoding)
    if dialect.container == "csv.gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def _write_parquet(path: Path, rows: list[dict], fields: list[str], dialect: Dialect) -> None:
    spelled = SPELLINGS[dialect.spelling]
    columns = {}
    for f in fields:
        values = [row[f] for row in rows]
        if dialect.container == "parquet_typed" and f == "code":
            array = pa.array([None if v is None else int(v) for v in values], pa.int64())
        elif dialect.container == "parquet_typed" and values and isinstance(values[0], tuple):
            if f == "date":  # a timestamp with the time of day
                array = pa.array(
                    [None if d is None else dt.datetime.combine(d, t) for d, t in values],
                    pa.timestamp("s"),
                )
            else:
                array = pa.array([d for d, _ in values], pa.date32())
        else:
            array = pa.array([_text_value(v, dialect) for v in values], pa.string())
        columns[spelled.get(f, f)] = array
    pq.write_table(pa.table(columns), path)


def write(extract: tuple[Patient, ...], dialect: Dialect, folder: Path) -> tuple[Path, Path | None]:
    """The extract in `dialect`: (events file, patients file or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    events, people = _rows(extract, dialect)
    event_fields = list(EVENT_FIELDS) + (
        ["registration_date", "deregistration_date"] if dialect.single_file else []
    )
    suffix = {
        "csv": ".csv",
        "csv.gz": ".csv.gz",
        "parquet_text": ".parquet",
        "parquet_typed": ".parquet",
    }[dialect.container]
    write_one = _write_parquet if dialect.container.startswith("parquet") else _write_csv
    events_path = folder / f"events{suffix}"
    write_one(events_path, events, _columns(event_fields, dialect), dialect)
    if dialect.single_file:
        return events_path, None
    patients_path = folder / f"patients{suffix}"
    write_one(patients_path, people, _columns(list(PATIENT_FIELDS), dialect), dialect)
    return events_path, patients_path


# --- results ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def ruleset():
    return ccrqof.load_ruleset(year="2023-24")


@dataclass
class Results:
    summary: pd.DataFrame
    outcomes: pd.DataFrame
    rejected: dict
    ignored: dict  # from reading only


def results(events: Path, patients: Path | None) -> Results:
    extract = ccrqof.read_extract(events, patients)
    codelist, _ = ccrqof.resolve_codelist(None, extract)
    run, _ = choose_indicators([ruleset()], extract)  # as the command: no sex, no CS005
    evaluation = ccrqof.evaluate(extract, ruleset().only(run), codelist)
    summary = ccrqof.score(evaluation)
    summary = summary.assign(breakdown=summary["breakdown"].map(lambda b: sorted(b.items())))
    report = extract.report.as_dict()
    return Results(
        summary.reset_index(drop=True),
        patient_outcomes(evaluation).reset_index(drop=True),
        report["rejected"],
        report["ignored"],
    )


def check_same(extract, dialect: Dialect, folder: Path, expected: Results) -> None:
    found = results(*write(extract, dialect, folder))
    context = f"dialect: {dialect}"
    assert found.rejected == {}, context
    pd.testing.assert_frame_equal(found.summary, expected.summary, obj=context)
    pd.testing.assert_frame_equal(found.outcomes, expected.outcomes, obj=context)
    if dialect.single_file == CANONICAL.single_file:  # same rows: same reading counts
        assert found.ignored == expected.ignored, context


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(extract=extracts(), drawn=st.lists(dialects, min_size=3, max_size=3))
def test_random_dialects_give_the_canonical_results(tmp_path_factory, extract, drawn):
    root = tmp_path_factory.mktemp("dialects")
    expected = results(*write(extract, CANONICAL, root / "canonical"))
    assert expected.rejected == {}
    for i, dialect in enumerate(drawn):
        check_same(extract, dialect, root / f"d{i}", expected)


# One rich extract through every value of every axis, changing one axis at a time, so that each
# dialect is exercised on every run whatever hypothesis draws above.
RICH = (
    Patient(
        "PIDSECRET01",
        "A81001",
        dt.date(2010, 1, 1),
        None,
        (
            Entry("254837009", dt.date(2023, 6, 1), "First", "Two\nlines", dt.time(9, 30)),
            Entry("720006006", dt.date(2023, 9, 1), "", "Café review – “structured”", dt.time()),
            Entry("1239881000000109", dt.date(2023, 7, 15), "", 'Said "yes"', dt.time()),
            Entry("254837009", dt.date(2024, 3, 1), "Review", "", dt.time(23, 59, 59)),
        ),
    ),
    Patient(
        "0042",
        "A81001",
        dt.date(2024, 1, 15),  # registered in the last 3 months: REG1_DAT3
        None,
        (
            Entry(
                "399068003", dt.date(2023, 10, 2), "New", "Support, discussed; in full", dt.time()
            ),
        ),
    ),
    Patient(
        "042",
        "B82002",
        dt.date(2005, 5, 5),
        dt.date(2024, 2, 29),  # left before R: not registered at R
        (Entry("254837009", dt.date(2022, 11, 30), "", "Ölfarbe £5", dt.time()),),
    ),
    Patient(
        "PIDSECRET02",
        "B82002",
        dt.date(2012, 12, 12),
        None,
        (
            Entry("363406005", dt.date(2022, 12, 31), "", "", dt.time()),
            Entry("999000000003005", dt.date(2023, 11, 1), "", "", dt.time()),
            Entry("195967001", dt.date(2023, 11, 1), "", "Asthma", dt.time()),
            Entry("720006006", dt.date(2024, 5, 1), "", "after R", dt.time()),
        ),
    ),
    Patient("PIDSECRET03", "B82002", dt.date(2001, 1, 1), None, ()),  # no coded entries
)


@pytest.fixture(scope="module")
def rich_expected(tmp_path_factory) -> Results:
    expected = results(*write(RICH, CANONICAL, tmp_path_factory.mktemp("canonical")))
    assert expected.rejected == {}
    # sanity: the extract is not trivial (two practices, register patients in both)
    registers = expected.summary.set_index(["practice_code", "indicator"])["register"]
    assert registers[("A81001", "CAN001")] == 2 and registers[("B82002", "CAN001")] == 1
    return expected


@pytest.mark.parametrize(
    "dialect",
    [
        pytest.param(replace(CANONICAL, **{axis: value}), id=f"{axis}={value!r}")
        for axis, values in AXES.items()
        for value in values
        if getattr(CANONICAL, axis) != value
    ],
)
def test_each_dialect_gives_the_canonical_results(tmp_path, rich_expected, dialect):
    check_same(RICH, dialect, tmp_path, rich_expected)
