"""The DuckDB engine: the packs compiled to SQL and run in an embedded database.

`prepare` hands the extract's Arrow tables to DuckDB without a copy and materialises the keyed
units and entries once; `evaluate` runs one query per table (outcomes, evidence) at each
reference date. DuckDB works out of core: with `memory_limit` and a spill folder it scores
extracts larger than memory.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from ccrqof import schemas
from ccrqof.codelists import Codelist
from ccrqof.engine import (
    ACTIVITY_COLUMNS,
    EVIDENCE_COLUMNS,
    STEP_COLUMNS,
    TALLY_COLUMNS,
    TIMELINE_COLUMNS,
    Evaluation,
    PatientTrace,
    outcome_columns,
)
from ccrqof.engine.python.cascade import NOT_REGISTERED
from ccrqof.engine.python.handlers import NO_BIRTH_DATE, NO_SEX
from ccrqof.engine.python.prepare import (
    MISSING_FROM_PATIENTS,
    MORE_THAN_ONE_PRACTICE,
    NO_REGISTRATION_NOTICE,
)
from ccrqof.engine.sql import keying
from ccrqof.engine.sql.activity import activity_query, cohort_query
from ccrqof.engine.sql.build import col, eq, lit, select, table, with_ctes
from ccrqof.engine.sql.rules import (
    DISPATCHERS,
    date_column,
    evidence_queries,
    outcome_query,
    ruleset_scope,
    series_tally_queries,
    tally_query,
    trace_query,
    union_all,
)
from ccrqof.errors import UsageError
from ccrqof.readers import Extract
from ccrqof.rules.loader import RuleSet
from ccrqof.rules.model import Registered

DIALECT = "duckdb"
_EVENT_COLUMNS = tuple(schemas.EVENTS.names)  # the declared tables (ccrqof.schemas)
_PATIENT_COLUMNS = tuple(schemas.PATIENTS.names)
_MATERIALISED = {"deduped", "units", "unit_regs", "kept", "entries", "members"}
_READ_ONCE = ("visible", "population_", "facts_", "selected_")  # views; the rest are tables


@dataclass
class DuckHandle:
    """An extract inside DuckDB: the keyed tables, and what `prepare` counted."""

    con: object
    shape: keying.Shape
    practices: list
    counts: Counter
    entry_days: pd.Series  # rows with a coded entry per day, to count those after R
    notices: list[str] = field(default_factory=list)
    scope: tuple | None = None  # the rule sets whose queries are built now, and their views
    built: dict[str, bool] = field(default_factory=dict)  # what exists: True a table, else a view


def _arrow(frame: pd.DataFrame, names: Sequence[str], dates: Sequence[str]) -> pa.Table:
    """The columns an engine reads, as Arrow (no copy for Arrow-backed text); absent ones null."""
    columns = {}
    for name in names:
        if name in frame:
            array = pa.array(frame[name], from_pandas=True)
        else:
            array = pa.nulls(len(frame), pa.date32() if name in dates else pa.string())
        if name in dates:
            array = array.cast(pa.timestamp("s")).cast(pa.date32())
        elif pa.types.is_null(array.type):
            array = array.cast(pa.string())
        columns[name] = array
    return pa.table(columns)


def shape_of(
    extract: Extract, codelist: Codelist | None, rulesets: Sequence[RuleSet], also_patients
) -> keying.Shape:
    """How `prepare` must key this extract (the same choices as the Python engine's)."""
    patients = extract.patients
    mode = "none" if codelist is None else ("illustrative" if codelist.illustrative else "given")
    with_practice = (
        patients is not None
        and "practice_code" in patients
        and len(patients) > 0
        and bool(patients["practice_code"].notna().all())
    )
    return keying.Shape(
        codelist=mode,
        events_have_practice=extract.has_practice,
        patients="none"
        if patients is None
        else ("with_practice" if with_practice else "without_practice"),
        every_patient=any(r.needs_every_patient() for r in rulesets),
        also_patients=tuple(also_patients),
        canonical=True,
    )


def _members(codelist: Codelist) -> pa.Table:
    return pa.table(
        {
            "cluster": pa.array(codelist.members["cluster"].astype(str), pa.string()),
            "code": pa.array(codelist.members["code"].astype(str), pa.string()),
        }
    )


class DuckDBEngine:
    name = "duckdb"
    dialect = DIALECT
    dispatchers = DISPATCHERS

    def __init__(self, memory_limit: str | None = None, temp_directory: str | None = None):
        self.memory_limit = memory_limit
        self.temp_directory = temp_directory

    def _connect(self):
        """An in-memory database. Work past the memory limit spills to `temp_directory`, or
        to a private folder in the system's temporary folder (never the working folder, which
        is DuckDB's own default), removed with the connection."""
        from ccrqof.entry import held

        with held():  # an interrupt mid-import would print DuckDB's own traceback
            import duckdb

        spill = self.temp_directory
        if spill is None:
            spill = tempfile.mkdtemp(prefix="ccrqof-spill-")
        # no query here needs rows in insertion order (every view sorts what it shows), and
        # keeping it costs memory on every table built
        config = {"temp_directory": str(spill), "preserve_insertion_order": False}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        try:
            con = duckdb.connect(config=config)
        except duckdb.Error as error:
            raise UsageError(f"DuckDB cannot start with these settings: {error}") from None
        if self.temp_directory is None:
            weakref.finalize(con, shutil.rmtree, spill, ignore_errors=True)
        return con

    def prepare(
        self,
        extract: Extract,
        codelist: Codelist | None,
        rulesets: Sequence[RuleSet],
        *,
        also_patients: tuple[str, ...] = (),
    ) -> DuckHandle:
        con = self._connect()
        con.register("events", _arrow(extract.events, _EVENT_COLUMNS, ("date",)))
        if extract.patients is not None:
            con.register(
                "patients",
                _arrow(
                    extract.patients,
                    _PATIENT_COLUMNS,
                    ("registration_date", "deregistration_date", "date_of_birth"),
                ),
            )
        if codelist is not None:
            con.register("codelist", _members(codelist))
        shape = shape_of(extract, codelist, rulesets, also_patients)
        clusters = sorted(set().union(*(r.clusters() for r in rulesets)))
        for name, query in keying.steps(shape, clusters):
            self._materialise(con, name, query, name in _MATERIALISED)
        return self._handle(con, shape, extract)

    def _materialise(self, con, name: str, query, as_table: bool) -> None:
        """A named query as a temporary table (worked out once) or view (worked out when read)."""
        kind = "TABLE" if as_table else "VIEW"
        con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {query.sql(dialect=self.dialect)}")

    def _handle(self, con, shape: keying.Shape, extract: Extract) -> DuckHandle:
        has_patients = extract.patients is not None
        per_day = _per_day(con)
        handle = DuckHandle(
            con,
            shape,
            _practices(con, has_patients),
            _counts(con, shape, per_day),
            _entry_days(per_day),
            [] if has_patients else [NO_REGISTRATION_NOTICE],
        )
        for name in ("deduped", "units"):  # counted and keyed: their memory is the rules' now
            self._discard(con, name)
        for name in ("events", "patients", "codelist"):  # the caller may free the extract
            con.unregister(name)
        return handle

    def _discard(self, con, name: str) -> None:
        """Drop a table `_materialise` made that no later query reads."""
        con.execute(f"DROP TABLE IF EXISTS {name}")

    def _run(self, handle: DuckHandle, query) -> pd.DataFrame:
        return handle.con.execute(query.sql(dialect=self.dialect)).df()

    def evaluate(self, handle: DuckHandle, ruleset: RuleSet) -> Evaluation:
        """The tallies now; the patient rows (outcomes, evidence) when first read."""
        views = self._built(handle, (ruleset,))
        tallies = self._run(handle, tally_query(views, ruleset.outcome_dates()))
        (counts,) = self._population_counts(handle, (ruleset,), views[0].scope)
        return self._evaluation(handle, ruleset, _tallies(tallies), counts)

    def evaluate_series(
        self,
        handle: DuckHandle,
        rulesets: Sequence[RuleSet],
        progress: Callable[[int], None] | None = None,
    ) -> list[Evaluation]:
        """Evaluations at many reference dates (a `trend`), with the tallies of each run of
        dates under the same packs (at most RUN_LENGTH) worked out together: one column per date
        in each query, so each date and count query reads the entries once for all of them."""
        out = []
        for run in _same_packs(rulesets):
            if progress and out:
                progress(len(out))
            if len(run) == 1:
                out.append(self.evaluate(handle, run[0]))
                continue
            views = self._built(handle, tuple(run))
            tallies = _tallies(self._series_tallies(handle, views), "period")
            counts = self._population_counts(handle, run, views[0].scope)
            by_period = dict(tuple(tallies.groupby("period", sort=False)))
            for p, ruleset in enumerate(run):
                mine = by_period.get(p, tallies.iloc[:0])
                mine = mine.drop(columns="period").reset_index(drop=True)
                out.append(self._evaluation(handle, ruleset, mine, counts[p]))
        if progress:
            progress(len(out))
        return out

    def _series_tallies(self, handle: DuckHandle, views: list) -> pd.DataFrame:
        """The tallies at each reference date (`period`, its number): each pack's counts per
        practice, one column per date and (outcome, field), as rows."""
        parts = []
        for query, meaning in series_tally_queries(views):
            wide = self._run(handle, query)
            counts = wide[[f"n{i}" for i in range(len(meaning))]].to_numpy(dtype="int64")
            row, column = np.nonzero(counts)  # a tally counts what is there: no zero rows
            parts.append(
                pd.DataFrame(
                    {
                        "practice_code": wide["practice_code"].to_numpy(dtype=object)[row],
                        "period": [meaning[c].period for c in column],
                        "indicator": [meaning[c].indicator for c in column],
                        "outcome": [meaning[c].outcome for c in column],
                        "field_name": [meaning[c].field for c in column],
                        "n": counts[row, column],
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)

    def _evaluation(
        self, handle: DuckHandle, ruleset: RuleSet, tallies: pd.DataFrame, counts: dict
    ) -> Evaluation:
        ignored = Counter(handle.counts)
        R = np.datetime64(ruleset.reference_date, "D")
        days = handle.entry_days
        ignored["entries dated after the reference date"] = int(days[days.index > R].sum())
        ignored.update(counts)
        return Evaluation(
            ruleset,
            lambda: self._outcome_rows(handle, ruleset),
            list(handle.practices),
            ignored,
            list(handle.notices),
            lambda: self._evidence_rows(handle, ruleset),
            tallies,
        )

    def _built(self, handle: DuckHandle, rulesets: tuple[RuleSet, ...]) -> list:
        """The queries of rule sets with the same packs, at their reference dates, as tables
        (what several queries read) and views. Other rule sets' tables replace the last ones',
        which are dropped first (their memory is the new ones'); reading an earlier
        evaluation's rows builds its tables again."""
        if handle.scope is not None and _same(handle.scope[0], rulesets):
            return handle.scope[1]
        handle.scope = None  # until every new query is built: a build cut short is redone
        for name, as_table in list(handle.built.items()):
            self._drop(handle.con, name, as_table)
            del handle.built[name]
        periods = tuple(r.reference_date for r in rulesets)
        scope, views = ruleset_scope(rulesets[0], handle.shape.patients != "none", periods)
        for name, query in scope.ctes:  # each generated once
            as_table = not (name.startswith(_READ_ONCE) or name in scope.read_once)
            self._materialise(handle.con, name, query, as_table)
            handle.built[name] = as_table
        handle.scope = (rulesets, views)
        return views

    def _drop(self, con, name: str, as_table: bool) -> None:
        con.execute(f"DROP {'TABLE' if as_table else 'VIEW'} IF EXISTS {name}")

    def _outcome_rows(self, handle: DuckHandle, ruleset: RuleSet) -> pd.DataFrame:
        views = self._built(handle, (ruleset,))
        dates = ruleset.outcome_dates()
        rows = self._run(handle, union_all([outcome_query(v, dates) for v in views]))
        return _outcomes(rows, ruleset, handle)

    def _evidence_rows(self, handle: DuckHandle, ruleset: RuleSet) -> pd.DataFrame:
        parts = [q for v in self._built(handle, (ruleset,)) for q in evidence_queries(v)]
        if not parts:
            return pd.DataFrame(columns=list(EVIDENCE_COLUMNS))
        return _evidence(self._run(handle, union_all(parts)).rename(columns={"n": "count"}))

    def _population_counts(self, handle: DuckHandle, rulesets, scope) -> list[dict]:
        """At each reference date: kept units not registered there, and registered ones
        without sex or date of birth when a population needs them (as the Python engine counts
        them). One pass over the units for all the dates."""
        needs = [
            p.population for p in rulesets[0].ordered() if isinstance(p.population, Registered)
        ]
        lacking = {}
        if any(p.sex for p in needs):
            lacking[NO_SEX] = "sex"
        if any(p.needs_birth_date for p in needs):
            lacking[NO_BIRTH_DATE] = "date_of_birth"
        if handle.shape.patients == "none":  # everyone is registered, with no details
            kept = _scalars(handle.con, ["SELECT COUNT(*) FROM kept"])[0] if lacking else 0
            return [{name: kept for name in lacking} for _ in scope.indices]
        columns = ["COUNT(*)"]
        for p in scope.indices:
            registered = f"r.{scope.at('d', p)} IS NOT NULL"
            columns.append(f"SUM(CASE WHEN {registered} THEN 1 ELSE 0 END)")
            columns += [
                f"SUM(CASE WHEN {registered} AND k.{name} IS NULL THEN 1 ELSE 0 END)"
                for name in lacking.values()
            ]
        row = handle.con.execute(
            f"SELECT {', '.join(columns)} FROM kept k LEFT JOIN reg_dat r ON k.unit = r.unit"
        ).fetchone()
        values = iter(int(v or 0) for v in row)
        kept = next(values)
        out = []
        for _ in scope.indices:
            at = {NOT_REGISTERED: kept - next(values)}
            at.update({name: next(values) for name in lacking})
            out.append({name: at[name] for name in (*lacking, NOT_REGISTERED)})
        return out

    def trace(
        self,
        handle: DuckHandle,
        ruleset: RuleSet,
        patient_id: str,
        practice_code: str | None = None,
    ) -> PatientTrace:

        match = eq(col("patient_id"), lit(patient_id))
        if practice_code is not None:
            match = exp.and_(match, eq(col("practice_key"), lit(practice_code)))
        only = [
            ("kept", select(exp.Star()).from_(table("kept"), copy=False).where(match, copy=False))
        ]
        for name in ("entries", "unit_regs"):
            if name == "unit_regs" and handle.shape.patients == "none":
                continue
            only.append(
                (
                    name,
                    select(exp.Star())
                    .from_(table(name), copy=False)
                    .where(
                        exp.and_(
                            eq(col("patient_id"), lit(patient_id)),
                            *(
                                [eq(col("practice_key"), lit(practice_code))]
                                if practice_code is not None
                                else []
                            ),
                        ),
                        copy=False,
                    ),
                )
            )
        # the same names, shadowing the tables: every query below sees only this patient
        people = self._run(
            handle,
            with_ctes(
                only, select(col("practice_key"), col("patient_id")).from_("kept", copy=False)
            ),
        )
        people = people.sort_values("practice_key", ignore_index=True)
        scope, views = ruleset_scope(ruleset, handle.shape.patients != "none")
        ctes = only + scope.ctes
        outcomes = self._run(
            handle,
            with_ctes(ctes, union_all([outcome_query(v, ruleset.outcome_dates()) for v in views])),
        )
        steps = []
        for view in views:
            facts = self._run(handle, with_ctes(ctes, trace_query(view)))
            for row in facts.to_dict("records"):
                for i, rule in enumerate(view.pack.rules):
                    steps.append(
                        {
                            "practice_code": row["practice_key"] or None,
                            "patient_id": row["patient_id"],
                            "indicator": view.pack.indicator,
                            "rule": rule.rule,
                            "held": bool(row[f"held_{i}"]),
                            "decided": row["rule_index"] == i,
                            **{
                                name: row[f"{name}_{i}"]
                                for name in ("value", "bound", "count", "first", "last")
                                if f"{name}_{i}" in row
                            },
                        }
                    )
        return PatientTrace(
            ruleset,
            pd.DataFrame(
                {
                    "practice_code": [p or None for p in people["practice_key"]],
                    "patient_id": people["patient_id"],
                }
            ),
            _outcomes(outcomes, ruleset, handle),
            pd.DataFrame(steps, columns=list(STEP_COLUMNS)),
            self._timeline(handle, only),
        )

    def activity(
        self,
        handle: DuckHandle,
        measures: dict[str, tuple[str, ...]],
        first: dt.date,
        last: dt.date,
    ) -> pd.DataFrame:
        """Entries per practice, measure and month (the Engine protocol's `activity`)."""
        if not measures:
            return pd.DataFrame(columns=list(ACTIVITY_COLUMNS)).astype({"count": "int64"})
        registered = handle.shape.patients != "none"
        frame = self._run(handle, activity_query(measures, first, last, registered))
        frame["month"] = [
            f"{int(y):04d}-{int(m):02d}"
            for y, m in zip(frame["year"], frame["month_number"], strict=True)
        ]
        practice = frame["practice_code"].astype(object)
        frame["practice_code"] = practice.where(practice.notna() & (practice != ""), None)
        if handle.practices != [None]:
            frame["practice_code"] = frame["practice_code"].astype(str)
        return frame.astype({"count": "int64"})[list(ACTIVITY_COLUMNS)]

    def cohort_counts(
        self, handle: DuckHandle, ruleset: RuleSet, first: dt.date, last: dt.date
    ) -> pd.DataFrame:
        """Each cohort measure's counts per practice and month of entry from `first` to
        `last`, at the rule set's reference date (measures.COHORT_COUNT_COLUMNS), counted in
        the engine: a country's outcome rows never leave it."""
        views = [
            v
            for v in self._built(handle, (ruleset,))
            if v.pack.measures is not None and v.pack.measures.cohort is not None
        ]
        frames = []
        for view in views:
            query = cohort_query(view, ruleset.outcome_dates(), first, last)
            frame = self._run(handle, query)
            frame["measure"] = view.pack.measures.cohort.measure
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["practice_code", "measure", "month", "count", "base"])
        frame = pd.concat(frames, ignore_index=True)
        frame["month"] = [
            f"{int(y):04d}-{int(m):02d}"
            for y, m in zip(frame["year"], frame["month_number"], strict=True)
        ]
        practice = frame["practice_code"].astype(object)
        frame["practice_code"] = practice.where(practice.notna() & (practice != ""), None)
        frame = frame.astype({"count": "int64", "base": "int64"})
        return frame[["practice_code", "measure", "month", "count", "base"]]

    def _timeline(self, handle: DuckHandle, only) -> pd.DataFrame:
        entries = self._run(
            handle, with_ctes(only, select(exp.Star()).from_("entries", copy=False))
        )
        rows = [
            (
                r["practice_key"] or None,
                r["patient_id"],
                r["entry_day"],
                "entry",
                r["entry_cluster"],
                r["code"] or None,
                r["episode"] or None,
            )
            for r in entries.to_dict("records")
        ]
        if handle.shape.patients != "none":
            regs = self._run(
                handle, with_ctes(only, select(exp.Star()).from_("unit_regs", copy=False))
            )
            for r in regs.to_dict("records"):
                key = (r["practice_key"] or None, r["patient_id"])
                rows.append((*key, r["registration_date"], "registered", None, None, None))
                if not pd.isna(r["deregistration_date"]):
                    rows.append((*key, r["deregistration_date"], "deregistered", None, None, None))
        frame = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
        frame["date"] = pd.to_datetime(frame["date"]).to_numpy("datetime64[D]")
        return frame


def _outcomes(frame: pd.DataFrame, ruleset: RuleSet, handle: DuckHandle) -> pd.DataFrame:
    """The SQL columns under the names and types every engine's outcome table has."""
    names = {date_column(n): n for n in ruleset.outcome_dates()}
    frame = frame.rename(columns={"rule_id": "rule", "field_name": "field", **names})
    for name in (*ruleset.outcome_dates(), "due_by", "deadline"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[s]")
    # the Python engine's types, so that files written from either engine are the same: text,
    # but objects (None) for a field, and for practice codes where the inputs have none
    no_practices = handle.practices == [None]
    for name in ("practice_code", "patient_id", "indicator", "outcome", "rule", "field"):
        column = frame[name]
        if name == "field" or (name == "practice_code" and no_practices):
            frame[name] = column.astype(object).where(column.notna(), None)
        else:
            frame[name] = column.astype("str")
    return frame[[*outcome_columns(ruleset), "deadline"]]


def _tallies(frame: pd.DataFrame, *more: str) -> pd.DataFrame:
    frame = frame.rename(columns={"field_name": "field"})
    for name in ("practice_code", "indicator", "outcome", "field"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame.astype({"n": "int64"})[[*more, *TALLY_COLUMNS]]


def _same(these: Sequence[RuleSet], those: Sequence[RuleSet]) -> bool:
    return len(these) == len(those) and all(a is b for a, b in zip(these, those, strict=True))


RUN_LENGTH = 12  # reference dates worked out together: a run's tables grow with its length


def _same_packs(rulesets: Sequence[RuleSet]) -> list[list[RuleSet]]:
    """The rule sets in runs of ascending reference dates under the same year's packs (a
    series crossing 1 April changes packs; from April 2025 the 2024-25 packs run as local
    monitoring, the same packs under another status), at most RUN_LENGTH to a run."""
    runs: list[list[RuleSet]] = []
    for ruleset in rulesets:
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and len(runs[-1]) < RUN_LENGTH
            and ruleset.packs == last.packs
            and ruleset.reference_date > last.reference_date
        ):
            runs[-1].append(ruleset)
        else:
            runs.append([ruleset])
    return runs


def _evidence(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame):
        frame["latest"] = pd.to_datetime(frame["latest"]).astype("datetime64[s]")
    return frame[list(EVIDENCE_COLUMNS)]


def _practices(con, has_patients: bool) -> list:
    union = "SELECT practice_code FROM events"
    if has_patients:
        union += " UNION SELECT practice_code FROM patients"
    rows = con.execute(
        f"SELECT DISTINCT practice_code FROM ({union}) AS t WHERE practice_code IS NOT NULL "
        "AND practice_code <> '' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows] or [None]


def _counts(con, shape: keying.Shape, per_day: pd.DataFrame) -> Counter:
    """What `prepare` counts, in the Python engine's order (docs/explanation-prepare.md): from
    the per-day tallies of the extract's rows, and one query over the keyed tables."""
    parts = {}
    if shape.by_events and shape.events_have_practice:
        parts[MORE_THAN_ONE_PRACTICE] = (
            "SELECT COUNT(*) FROM (SELECT patient_id FROM units WHERE from_events = 1 "
            "GROUP BY patient_id HAVING COUNT(*) > 1) AS t"
        )
    if shape.patients != "none":
        parts[MISSING_FROM_PATIENTS] = (
            "SELECT (SELECT COUNT(*) FROM units) - (SELECT COUNT(*) FROM kept)"
            if shape.by_events
            else "SELECT COUNT(DISTINCT patient_id) FROM deduped WHERE patient_id NOT IN "
            "(SELECT patient_id FROM units)"
        )
    parts["distinct rows of interest"] = "SELECT COUNT(*) FROM deduped WHERE of_interest = 1"
    parts["rows of interest"] = "SELECT SUM(copies) FROM deduped WHERE of_interest = 1"
    values = dict(zip(parts, _scalars(con, list(parts.values())), strict=True))
    wanted = values["rows of interest"]  # every row of interest is a coded entry
    other = int(per_day["entries"].sum()) - wanted
    counts = Counter({"entries with codes in no cluster of interest": other})
    for name in (MORE_THAN_ONE_PRACTICE, MISSING_FROM_PATIENTS):
        if name in values:
            counts[name] = values[name]
    counts["duplicate rows"] = wanted - values["distinct rows of interest"]
    return counts


def _scalars(con, queries: list[str]) -> list[int]:
    """Several one-number queries as one row."""
    columns = ", ".join(f"({q}) AS v{i}" for i, q in enumerate(queries))
    row = con.execute(f"SELECT {columns}").fetchone()
    return [int(v or 0) for v in row]


def _per_day(con) -> pd.DataFrame:
    """The extract's coded entries per day (a row with a code or a cluster), in one plain pass
    over its rows: those of interest are counted in `deduped` (its `copies`)."""
    return con.execute(
        "SELECT entry_day, SUM(CASE WHEN code <> '' OR cluster <> '' THEN 1 ELSE 0 END) "
        "AS entries FROM source_rows GROUP BY entry_day"
    ).df()


def _entry_days(per_day: pd.DataFrame) -> pd.Series:
    """Rows with a coded entry per day, to count those after R."""
    dated = per_day[per_day["entry_day"].notna() & (per_day["entries"] > 0)]
    return pd.Series(
        dated["entries"].to_numpy(dtype="int64"),
        index=pd.to_datetime(dated["entry_day"]).to_numpy("datetime64[D]"),
    )
