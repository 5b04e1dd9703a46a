"""Engines: one interface, several ways to run the same rule packs.

An engine `prepare`s an extract once (codes to clusters, patients keyed), then `evaluate`s a rule
set at its reference date into plain tables, and `trace`s one patient for `explain`. Scoring,
roll-ups, worklists, explanations and trends read only those tables, so every view works on
every engine. The tables' columns are below; docs/explanation-architecture.md draws the flow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


def outcome_columns(ruleset: RuleSet) -> tuple[str, ...]:
    """The columns of a patient-level outcome row: keys, the packs' outcome dates, due_by."""
    return (*OUTCOME_KEYS, *ruleset.outcome_dates(), "due_by")


@dataclass
class Evaluation:
    """Patient-level outcomes at one reference date, as plain tables, and what was ignored.

    `outcomes`: one row per patient in each indicator's population who reached a rule
    (`outcome_columns`, plus `deadline`: the due_by deadline even once it has passed).
    `evidence`: per patient, indicator and cluster a worklist shows (`Evidence` in the rule
    model), the count and latest date of those events; patients with none have no row.
    """

    ruleset: RuleSet
    outcomes: pd.DataFrame
    practices: list  # every practice in the extract, also those with an empty register
    ignored: Counter = field(default_factory=Counter)
    notices: list[str] = field(default_factory=list)
    evidence: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(EVIDENCE_COLUMNS))
    )


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

    def trace(
        self, handle: Any, ruleset: RuleSet, patient_id: str, practice_code: str | None = None
    ) -> PatientTrace: ...


def _python(**options) -> Engine:
    from ccrqof.engine.python import PythonEngine

    return PythonEngine()


def _duckdb(**options) -> Engine:
    from ccrqof.engine.sql.embedded import DuckDBEngine

    return DuckDBEngine(**options)


ENGINES: dict[str, Callable[..., Engine]] = {
    "python": _python,
    "duckdb": _duckdb,
}
DEFAULT_ENGINE = "python"  # duckdb once its start-up cost is down (issue 13)


def get_engine(name: str | Engine = DEFAULT_ENGINE, **options) -> Engine:
    """An engine by name (`ENGINES`; options such as DuckDB's `memory_limit`), or the engine
    given."""
    if not isinstance(name, str):
        return name
    from ccrqof.errors import UsageError

    if name not in ENGINES:
        raise UsageError(f"no engine called {name}; choose from {', '.join(ENGINES)}")
    return ENGINES[name](**options)


__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "EVIDENCE_COLUMNS",
    "OUTCOME_KEYS",
    "STEP_COLUMNS",
    "TIMELINE_COLUMNS",
    "Engine",
    "Evaluation",
    "PatientTrace",
    "get_engine",
    "outcome_columns",
]
