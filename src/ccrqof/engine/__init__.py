"""Engines: one interface, several ways to run the same rule packs.

An engine `prepare`s an extract once (codes to clusters, patients keyed), then `evaluate`s a rule
set at its reference date into plain tables (or many, `evaluate_series`, for a `trend`), and
`trace`s one patient for `explain`. Scoring,
roll-ups, worklists, explanations and trends read only those tables, so every view works on
every engine. The tables' columns are below; docs/explanation-architecture.md draws the flow.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from ccrqof.codelists import Codelist
from ccrqof.readers import Extract
from ccrqof.rules.loader import RuleSet

OUTCOME_KEYS = ("practice_code", "patient_id", "indicator", "outcome", "rule", "field")
EVIDENCE_COLUMNS = (
    "practice_code",
    "patient_id",
    "indicator",
    "role",
    "cluster",
    "count",
    "latest",
)
STEP_COLUMNS = (
    "practice_code",
    "patient_id",
    "indicator",
    "rule",
    "held",  # the rule's condition, whether or not an earlier rule took the patient
    "decided",
    "value",  # the patient date a date test compares
    "bound",  # what it is compared with; for an event count, the window's (exclusive) start
    "count",  # events in an event count's window
    "first",  # the earliest and latest of them
    "last",
)
TIMELINE_COLUMNS = ("practice_code", "patient_id", "date", "kind", "cluster", "code", "episode")
TALLY_COLUMNS = ("practice_code", "indicator", "outcome", "field", "n")
ACTIVITY_COLUMNS = ("practice_code", "measure", "month", "count")


def outcome_columns(ruleset: RuleSet) -> tuple[str, ...]:
    """The columns of a patient-level outcome row: keys, the packs' outcome dates, due_by."""
    return (*OUTCOME_KEYS, *ruleset.outcome_dates(), "due_by")


Table = pd.DataFrame | Callable[[], pd.DataFrame]


class Evaluation:
    """Patient-level outcomes at one reference date, as plain tables, and what was ignored.

    `outcomes`: one row per patient in each indicator's population who reached a rule
    (`outcome_columns`, plus `deadline`: the due_by deadline even once it has passed).
    `evidence`: per patient, indicator and cluster a worklist shows (`Evidence` in the rule
    model), the count and latest date of those events; patients with none have no row.
    `tallies`: the outcome rows counted by practice, indicator, outcome and field
    (TALLY_COLUMNS): all that scoring reads.

    An engine may give a table as a function that fetches it when first read, so that a
    summary of the whole country never holds its millions of patient rows.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        outcomes: Table,
        practices: list,  # every practice in the extract, also those with an empty register
        ignored: Counter | None = None,
        notices: list[str] | None = None,
        evidence: Table | None = None,
        tallies: Table | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.practices = practices
        self.ignored = Counter() if ignored is None else ignored
        self.notices = [] if notices is None else notices
        self._tables: dict[str, Table | None] = {
            "outcomes": outcomes,
            "evidence": evidence,
            "tallies": tallies,
        }

    def _table(self, name: str, otherwise: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        value = self._tables[name]
        if not isinstance(value, pd.DataFrame):
            value = otherwise() if value is None else value()
            self._tables[name] = value
        return value

    @property
    def outcomes(self) -> pd.DataFrame:
        return self._table("outcomes", pd.DataFrame)

    @property
    def evidence(self) -> pd.DataFrame:
        return self._table("evidence", lambda: pd.DataFrame(columns=list(EVIDENCE_COLUMNS)))

    @property
    def tallies(self) -> pd.DataFrame:
        return self._table("tallies", lambda: tally(self.outcomes))


def tally(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Outcome rows counted by practice, indicator, outcome and field (None where absent)."""
    keys = [name for name in TALLY_COLUMNS if name != "n"]
    counted = outcomes.groupby(keys, dropna=False, sort=False).size().reset_index(name="n")
    for name in keys:
        counted[name] = counted[name].astype(object).where(counted[name].notna(), None)
    return counted.astype({"n": "int64"})


@dataclass
class PatientTrace:
    """One patient id (at each practice it appears under) through every cascade.

    `people`: the matching patients (practice_code, patient_id), in the order explained;
    `outcomes`: their outcome rows (as Evaluation.outcomes); `steps`: one row per rule of each
    cascade they entered (STEP_COLUMNS); `timeline`: registrations and entries in the rules'
    clusters (TIMELINE_COLUMNS; `kind` is registered, deregistered or the cluster)."""

    ruleset: RuleSet
    people: pd.DataFrame
    outcomes: pd.DataFrame
    steps: pd.DataFrame
    timeline: pd.DataFrame


class Engine(Protocol):
    """What every engine does. The handle is the engine's own prepared form of an extract; it
    has `notices` (what the user should know about how the extract was keyed)."""

    name: str
    dispatchers: dict  # one singledispatch function per node role (tests/test_registry.py)

    def prepare(
        self,
        extract: Extract,
        codelist: Codelist | None,
        rulesets: Sequence[RuleSet],
        *,
        also_patients: tuple[str, ...] = (),
    ) -> Any: ...

    def evaluate(self, handle: Any, ruleset: RuleSet) -> Evaluation: ...

    def evaluate_series(
        self,
        handle: Any,
        rulesets: Sequence[RuleSet],
        progress: Callable[[int], None] | None = None,
    ) -> list[Evaluation]:
        """`evaluate` at each rule set's reference date (ascending), as a `trend` asks: an
        engine may work out many dates at once. `progress` is told how many are done."""
        ...

    def trace(
        self, handle: Any, ruleset: RuleSet, patient_id: str, practice_code: str | None = None
    ) -> PatientTrace: ...

    def activity(
        self, handle: Any, measures: dict[str, tuple[str, ...]], first: dt.date, last: dt.date
    ) -> pd.DataFrame:
        """Entries recorded from `first` to `last` in each measure's clusters, per practice
        and month (ACTIVITY_COLUMNS; month as YYYY-MM): one patient's entries on one day count
        once. Months and practices without entries have no row."""
        ...


def evaluate_each(
    engine: Engine,
    handle: Any,
    rulesets: Sequence[RuleSet],
    progress: Callable[[int], None] | None = None,
) -> list[Evaluation]:
    """`evaluate_series` one reference date after another (the Python engine's, and any
    engine's without its own)."""
    out = []
    for ruleset in rulesets:
        out.append(engine.evaluate(handle, ruleset))
        if progress:
            progress(len(out))
    return out


def _python(**options) -> Engine:
    from ccrqof.engine.python import PythonEngine

    return PythonEngine()


def _duckdb(**options) -> Engine:
    from ccrqof.engine.sql.embedded import DuckDBEngine

    return DuckDBEngine(**options)


def _spark(**options) -> Engine:
    from ccrqof.engine.sql.spark import SparkEngine

    return SparkEngine(**options)


ENGINES: dict[str, Callable[..., Engine]] = {
    "python": _python,
    "duckdb": _duckdb,
    "spark": _spark,
}
DEFAULT_ENGINE = "duckdb"


def get_engine(name: str | Engine | None = None, **options) -> Engine:
    """An engine by name (`ENGINES`; options such as DuckDB's `memory_limit`), the engine
    given, or with None the default (`DEFAULT_ENGINE`)."""
    if name is None:
        name = DEFAULT_ENGINE
    if not isinstance(name, str):
        return name
    from ccrqof.errors import UsageError

    if name not in ENGINES:
        raise UsageError(f"no engine called {name}; choose from {', '.join(ENGINES)}")
    return ENGINES[name](**options)


__all__ = [
    "ACTIVITY_COLUMNS",
    "DEFAULT_ENGINE",
    "ENGINES",
    "EVIDENCE_COLUMNS",
    "OUTCOME_KEYS",
    "STEP_COLUMNS",
    "TALLY_COLUMNS",
    "TIMELINE_COLUMNS",
    "Engine",
    "evaluate_each",
    "Evaluation",
    "PatientTrace",
    "get_engine",
    "outcome_columns",
    "tally",
]
