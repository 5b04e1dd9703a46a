"""The canonical events and patients tables, declared once: column names, Arrow types,
nullability and what each column holds.

Every reader builds its tables through `as_frame` and its `Extract` through `extract`, and so do
tests and rule cases: one place says what an engine may rely on. In memory a table is a pandas
DataFrame in the declared column order, with text Arrow-backed (pandas' ``str`` dtype, NaN for
null) and dates as ``datetime64[s]`` at midnight (NaT for null): the readers' output costs no
copy, and the Arrow data behind it can be handed on without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from ccrqof.readers.extract import Extract, InputReport

TEXT = pa.large_string()  # the text type pandas keeps, so frames and Arrow share buffers
DAY = pa.timestamp("s")  # a date, at midnight (the unit pandas keeps)


def _field(name: str, kind: pa.DataType, nullable: bool, doc: str) -> pa.Field:
    return pa.field(name, kind, nullable=nullable, metadata={"doc": doc})


# One row per coded entry, or per patient without one (code, cluster and date all empty). This is
# what an engine reads.
EVENTS = pa.schema(
    [
        _field("patient_id", TEXT, False, "pseudonymised patient id, trimmed; never blank"),
        _field("code", TEXT, False, "SNOMED CT concept id as digits; '' when not given"),
        _field("cluster", TEXT, False, "the row's own PCD cluster id, upper case; '' if none"),
        _field("date", DAY, True, "the entry's date; null on a row without a coded entry"),
        _field("episode", TEXT, False, "episodicity (first, review...), lower case; '' if none"),
        _field("practice_code", TEXT, True, "ODS code, upper case; null when the input has none"),
    ],
    metadata={"table": "events", "required": "patient_id date"},
)

# Columns an events table may carry beside EVENTS, kept only when given: the reader's own
# bookkeeping and, in a single-file extract, the patient columns repeated on every row (the
# reader turns them into the patients table; engines never read them from here).
EVENT_EXTRAS = pa.schema(
    [
        _field("line", pa.int64(), False, "the row's line in its file"),
        _field("source", pa.int32(), False, "which file: the index of its key in report.sources"),
        _field("registration_date", DAY, True, "as in PATIENTS"),
        _field("deregistration_date", DAY, True, "as in PATIENTS"),
        _field("date_of_birth", DAY, True, "as in PATIENTS"),
        _field("sex", TEXT, True, "as in PATIENTS"),
    ],
    metadata={"table": "events"},
)

# One row per registration (a patient may have several: left and came back).
PATIENTS = pa.schema(
    [
        _field("patient_id", TEXT, False, "as in EVENTS"),
        _field("practice_code", TEXT, True, "as in EVENTS; null when the input has none"),
        _field("registration_date", DAY, False, "start of registration"),
        _field("deregistration_date", DAY, True, "end of registration; null: still registered"),
        _field("date_of_birth", DAY, True, "null when not recorded or not a usable date"),
        _field("sex", TEXT, True, "as written (F, male, 2...), trimmed; null when blank"),
    ],
    metadata={"table": "patients", "required": "patient_id registration_date"},
)

# A schema's metadata names its table (for messages) and the columns a caller must give; every
# other declared column is filled when left out ('' for text that may not be null, else null).

_PANDAS_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
_PANDAS_TYPES = {pa.string(): _PANDAS_TEXT, pa.large_string(): _PANDAS_TEXT}.get
_PANDAS_DAY = np.dtype("datetime64[s]")


def extract(
    events,
    patients=None,
    *,
    has_practice: bool,
    report: InputReport | None = None,
) -> Extract:
    """An `Extract` from columns of the EVENTS table (and, if given, the PATIENTS table).

    `events` and `patients` are each a pandas DataFrame, a pyarrow Table or a mapping of column
    name to values (a list, numpy array, pandas Series or Arrow array). Declared columns left
    out are filled ('' or null, typed); text must be text and dates dates (datetime64, Arrow
    date or timestamp): an id given as a number or a date given as text is a TypeError, an
    unknown or missing required column or a null where none is allowed a ValueError. A frame
    that already conforms (the readers') is used without a copy. `has_practice` says whether
    the events named their practices (the engine keys patients by it).
    """
    from ccrqof.readers.extract import Extract, InputReport

    if not isinstance(has_practice, bool | np.bool_):
        raise TypeError(f"has_practice must be True or False, not {type(has_practice).__name__}")
    return Extract(
        as_frame(EVENTS, events, extras=EVENT_EXTRAS),
        None if patients is None else as_frame(PATIENTS, patients),
        report if report is not None else InputReport(),
        bool(has_practice),
    )


def as_frame(
    schema: pa.Schema,
    data,
    *,
    extras: pa.Schema | None = None,
    keep: np.ndarray | None = None,
) -> pd.DataFrame:
    """`data` (see `extract`) as a DataFrame of `schema`'s columns in order, then the `extras`
    columns that were given; only the rows of `keep` (a boolean mask) when it is given. Arrow
    and numpy columns are filtered in Arrow and converted once (text stays Arrow-backed);
    pandas columns of the declared dtype are kept as they are."""
    table = schema.metadata[b"table"].decode()
    columns = _columns_of(data, table)
    declared = {f.name: f for f in schema}
    if extras is not None:
        declared.update({f.name: f for f in extras if f.name not in declared})
    unknown = [name for name in columns if name not in declared]
    if unknown:
        raise ValueError(
            f"{table}: unknown column(s) {', '.join(map(repr, unknown))}; the declared columns "
            f"are {', '.join(declared)}"
        )
    required = schema.metadata.get(b"required", b"").decode().split()
    missing = [name for name in required if name not in columns]
    if missing:
        raise ValueError(f"{table}: required column(s) {', '.join(map(repr, missing))} missing")
    lengths = {name: _length(values, f"{table}.{name}") for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{table}: columns of different lengths ({lengths})")
    n = next(iter(lengths.values()), 0)
    if keep is not None and len(keep) != n:
        raise ValueError(f"{table}: keep has {len(keep)} values for {n} rows")
    names = [f.name for f in schema] + [
        f.name for f in (extras or ()) if f.name in columns and f.name not in schema.names
    ]

    kept: dict[str, pd.Series] = {}  # pandas columns already of the declared dtype
    arrow: dict[str, pa.ChunkedArray] = {}
    for name in names:
        field = declared[name]
        if name not in columns:
            arrow[name] = _filled(field, n)
            continue
        values = columns[name]
        if isinstance(values, pd.Series) and values.dtype == _pandas_dtype(field.type):
            kept[name] = values.reset_index(drop=True)
        else:
            arrow[name] = _as_arrow(values, field, table)
    if keep is not None and not keep.all():
        kept = {name: s[keep].reset_index(drop=True) for name, s in kept.items()}
        arrow = {name: a.filter(pa.array(keep)) for name, a in arrow.items()}
    for name in names:
        if not declared[name].nullable:
            nulls = kept[name].isna().any() if name in kept else arrow[name].null_count > 0
            _check_nulls(declared[name], table, nulls)
    if not kept:  # the readers' case: one conversion of the whole table
        built = pa.table(arrow)
        return built.to_pandas(types_mapper=_PANDAS_TYPES, split_blocks=True, self_destruct=True)
    converted = pa.table(arrow).to_pandas(types_mapper=_PANDAS_TYPES, split_blocks=True)
    return pd.DataFrame(
        {name: kept[name] if name in kept else converted[name] for name in names}, copy=False
    )


def _columns_of(data, table: str) -> dict:
    if isinstance(data, pd.DataFrame):
        if data.columns.has_duplicates:
            raise ValueError(f"{table}: a column name is repeated")
        return {str(name): data[name] for name in data.columns}
    if isinstance(data, pa.Table):
        if len(set(data.column_names)) < data.num_columns:
            raise ValueError(f"{table}: a column name is repeated")
        return dict(zip(data.column_names, data.columns, strict=True))
    if isinstance(data, Mapping):
        return dict(data)
    raise TypeError(
        f"{table}: expected a pandas DataFrame, a pyarrow Table or a mapping of columns, "
        f"not {type(data).__name__}"
    )


def _length(values, where: str) -> int:
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise TypeError(f"{where}: expected a column of values, not {type(values).__name__}")
    return len(values)


def _pandas_dtype(kind: pa.DataType):
    if kind == TEXT:
        return _PANDAS_TEXT
    if kind == DAY:
        return _PANDAS_DAY
    return np.dtype(kind.to_pandas_dtype())


def _filled(field: pa.Field, n: int) -> pa.Array:
    """A declared column that was left out: '' for text that may not be null, else null."""
    if not field.nullable and field.type == TEXT:
        return pa.repeat(pa.scalar("", TEXT), n)
    if not field.nullable:
        raise ValueError(f"column {field.name!r} is required")
    return pa.nulls(n, field.type)


def _as_arrow(values, field: pa.Field, table: str) -> pa.ChunkedArray | pa.Array:
    """One column as Arrow of its declared type, or a TypeError saying what it was."""
    where = f"{table}.{field.name}"
    if isinstance(values, pa.ChunkedArray | pa.Array):
        array = values
    else:
        if isinstance(values, np.ndarray) and values.dtype.kind == "M":
            values = values.astype("datetime64[s]", copy=False)  # NaT becomes null
        try:
            array = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise TypeError(f"{where}: values of mixed or unknown types ({exc})") from None
    kind = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    target = field.type
    if target == TEXT:
        usable = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        expected = "text"
    elif target == DAY:
        usable = (pa.types.is_timestamp(kind) and kind.tz is None) or pa.types.is_date(kind)
        expected = "dates (datetime64, or an Arrow date or timestamp without a time zone)"
    else:
        usable = pa.types.is_integer(kind)
        expected = "whole numbers"
    if not (usable or pa.types.is_null(kind)):
        raise TypeError(f"{where}: expected {expected}, got {kind}")
    return array if array.type == target else array.cast(target)


def _check_nulls(field: pa.Field, table: str, has_nulls: bool) -> None:
    if has_nulls and not field.nullable:
        blank = " (a blank text is '')" if field.type == TEXT else ""
        raise ValueError(f"{table}.{field.name} holds nulls, and may not{blank}")


def markdown() -> str:
    """The declared tables as Markdown, for docs/explanation-prepare.md (checked by a test)."""
    return "\n\n".join(
        [
            f"Events (`EVENTS`):\n\n{describe(EVENTS)}",
            "Columns an events table may also carry (`EVENT_EXTRAS`, kept only when given; single-"
            f"file extracts):\n\n{describe(EVENT_EXTRAS)}",
            f"Registrations (`PATIENTS`):\n\n{describe(PATIENTS)}",
        ]
    )


def describe(schema: pa.Schema) -> str:
    """The schema as a Markdown table: column, type, nullable, meaning."""
    rows = ["| column | type | null | meaning |", "|---|---|---|---|"]
    for f in schema:
        kind = "date" if f.type == DAY else "text" if f.type == TEXT else str(f.type)
        doc = f.metadata[b"doc"].decode()
        rows.append(f"| `{f.name}` | {kind} | {'yes' if f.nullable else 'no'} | {doc} |")
    return "\n".join(rows)
