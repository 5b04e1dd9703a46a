"""The declared canonical tables (`ccrqof.schemas`) and the one function that builds an Extract."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ccrqof import schemas
from ccrqof.readers import InputReport, read_extract

ROOT = Path(__file__).resolve().parents[1]
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def pandas_types(schema: pa.Schema) -> dict[str, object]:
    return {f.name: TEXT if f.type == schemas.TEXT else np.dtype("datetime64[s]") for f in schema}


def assert_conforms(frame: pd.DataFrame, schema: pa.Schema) -> None:
    assert list(frame.columns[: len(schema)]) == schema.names
    assert frame.dtypes[: len(schema)].to_dict() == pandas_types(schema)
    assert isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
    for field in schema:
        assert field.metadata[b"doc"], field.name  # every column says what it holds
        if not field.nullable:
            assert not frame[field.name].isna().any(), field.name


def test_every_reader_output_conforms():
    extract = read_extract(
        ROOT / "sample_data/events.csv", patients=ROOT / "sample_data/patients.csv"
    )
    assert_conforms(extract.events, schemas.EVENTS)
    assert_conforms(extract.patients, schemas.PATIENTS)
    assert list(extract.events.columns) == schemas.EVENTS.names  # no extras without need


def test_a_conforming_frame_is_used_without_a_copy():
    extract = read_extract(
        ROOT / "sample_data/events.csv", patients=ROOT / "sample_data/patients.csv"
    )
    again = schemas.extract(
        extract.events, extract.patients, has_practice=True, report=extract.report
    )
    assert again.report is extract.report and again.has_practice
    for name in ("patient_id", "code"):
        before = extract.events[name].array.__arrow_array__()
        after = again.events[name].array.__arrow_array__()
        assert after.chunks[0].buffers()[2].address == before.chunks[0].buffers()[2].address
    dates = (extract.patients["registration_date"], again.patients["registration_date"])
    assert np.shares_memory(dates[0].to_numpy(), dates[1].to_numpy())
    pd.testing.assert_frame_equal(again.events, extract.events)
    pd.testing.assert_frame_equal(again.patients, extract.patients)


EVENTS = {
    "patient_id": ["P1", "P2", "P3"],
    "code": ["254837009", "", ""],
    "cluster": ["", "CAN_COD", ""],
    "date": [dt.date(2023, 6, 1), dt.date(2023, 7, 1), None],
    "episode": ["first", "", ""],
    "practice_code": ["A81001", "A81001", "A81001"],
}
PATIENTS = {
    "patient_id": ["P1", "P2"],
    "registration_date": [dt.date(2010, 1, 1), dt.date(2011, 2, 3)],
    "sex": ["F", None],
}


@pytest.mark.parametrize(
    "as_given",
    [
        pytest.param(lambda columns: columns, id="dict of lists"),
        pytest.param(lambda columns: pd.DataFrame(columns), id="pandas objects"),
        pytest.param(lambda columns: pa.table(columns), id="arrow table"),
        pytest.param(
            lambda columns: {k: pa.chunked_array([pa.array(v)]) for k, v in columns.items()},
            id="dict of chunked arrays",
        ),
    ],
)
def test_any_shape_of_columns_builds_the_same_extract(as_given):
    extract = schemas.extract(as_given(EVENTS), as_given(PATIENTS), has_practice=True)
    assert_conforms(extract.events, schemas.EVENTS)
    assert_conforms(extract.patients, schemas.PATIENTS)
    assert extract.events["date"].tolist()[:2] == [
        pd.Timestamp(2023, 6, 1),
        pd.Timestamp(2023, 7, 1),
    ]
    assert pd.isna(extract.events["date"].iloc[2])
    patients = extract.patients
    assert patients["registration_date"].tolist() == [
        pd.Timestamp(2010, 1, 1),
        pd.Timestamp(2011, 2, 3),
    ]
    assert patients["deregistration_date"].isna().all()  # left out: typed nulls
    assert patients["date_of_birth"].isna().all() and patients["practice_code"].isna().all()
    assert patients["sex"].iloc[0] == "F" and pd.isna(patients["sex"].iloc[1])
    assert isinstance(extract.report, InputReport) and extract.patients is not None


def test_left_out_columns_are_filled_typed():
    extract = schemas.extract(
        {"patient_id": ["P1"], "date": np.array(["2023-06-01"], "datetime64[D]")},
        has_practice=False,
    )
    row = extract.events.iloc[0]
    assert (row["code"], row["cluster"], row["episode"]) == ("", "", "")
    assert pd.isna(row["practice_code"]) and row["date"] == pd.Timestamp(2023, 6, 1)
    assert_conforms(extract.events, schemas.EVENTS)
    assert extract.patients is None


def test_extras_are_kept_when_given_and_in_order():
    extract = schemas.extract(
        {
            "sex": ["F"],
            "line": [2],
            "patient_id": ["P1"],
            "date": [None],
            "registration_date": [dt.date(2010, 1, 1)],
        },
        has_practice=False,
    )
    names = [*schemas.EVENTS.names, "line", "registration_date", "sex"]
    assert list(extract.events.columns) == names
    assert extract.events["line"].dtype == np.int64


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ({"patient_id": [1], "date": [None]}, "events.patient_id: expected text, got int64"),
        ({"patient_id": ["P1"], "date": ["2023-06-01"]}, "events.date: expected dates"),
        (
            {"patient_id": ["P1"], "date": pd.Series([pd.Timestamp("2023-06-01", tz="UTC")])},
            "events.date: expected dates",
        ),
        ({"patient_id": ["P1"], "date": [None], "line": ["2"]}, "events.line: expected whole"),
        ({"patient_id": ["P1", 2], "date": [None, None]}, "events.patient_id: values of mixed"),
        ({"patient_id": ["P1"], "date": None}, "events.date: expected a column of values"),
    ],
)
def test_a_column_of_the_wrong_type_is_a_type_error(events, message):
    with pytest.raises(TypeError, match=message):
        schemas.extract(events, has_practice=False)


@pytest.mark.parametrize(
    ("events", "patients", "message"),
    [
        ({"patient_id": ["P1"], "date": [None], "Code": ["1"]}, None, "unknown column.*'Code'"),
        ({"patient_id": ["P1"]}, None, "events: required column.*'date'"),
        ({"patient_id": ["P1", None], "date": [None, None]}, None, "patient_id holds nulls"),
        ({"patient_id": ["P1"], "date": [None], "code": [None]}, None, "code holds nulls"),
        ({"patient_id": ["P1", "P2"], "date": [None]}, None, "different lengths"),
        (
            {"patient_id": ["P1"], "date": [None]},
            {"patient_id": ["P1"], "registration_date": [None]},
            "patients.registration_date holds nulls",
        ),
        (
            {"patient_id": ["P1"], "date": [None]},
            {"patient_id": ["P1"], "registration_date": [None], "line": [2]},
            "patients: unknown column.*'line'",
        ),
    ],
)
def test_a_missing_unknown_or_null_column_is_a_value_error(events, patients, message):
    with pytest.raises(ValueError, match=message):
        schemas.extract(events, patients, has_practice=False)


def test_has_practice_is_required_and_a_bool():
    with pytest.raises(TypeError):
        schemas.extract({"patient_id": ["P1"], "date": [None]})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="has_practice"):
        schemas.extract({"patient_id": ["P1"], "date": [None]}, has_practice="yes")
    with pytest.raises(TypeError, match="pandas DataFrame, a pyarrow Table or a mapping"):
        schemas.extract([("P1", None)], has_practice=False)


def test_keep_filters_rows():
    frame = schemas.as_frame(
        schemas.EVENTS,
        {"patient_id": ["P1", "P2", "P3"], "date": [None] * 3},
        keep=np.array([True, False, True]),
    )
    assert frame["patient_id"].tolist() == ["P1", "P3"]
    assert isinstance(frame.index, pd.RangeIndex)


def test_describe_is_a_markdown_table_of_every_column():
    text = schemas.describe(schemas.PATIENTS)
    assert text.splitlines()[0] == "| column | type | null | meaning |"
    assert len(text.splitlines()) == 2 + len(schemas.PATIENTS)
    assert "| `date_of_birth` | date | yes |" in text
