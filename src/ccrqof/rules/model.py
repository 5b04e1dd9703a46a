"""Rule packs as data: pydantic models of one indicator's cascade for one QOF year.

A pack that loads is well-formed: unknown keys, unknown rule kinds, dates that reference nothing
and misnumbered rules fail here, naming the file and the field path. No pandas in this module:
the models describe rules, the engine runs them.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ccrqof.dates import Offset, add_months, parse_offset

BUILTIN_DATES = {"REG_DAT"}  # from registration data, not from a cluster
REFERENCE = "R"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DateExpr(Frozen):
    """A named anchor plus an optional calendar offset (``R - 24 months``), or a fixed date.

    Fixed dates are only for the cut-offs the business rules name (1 April 2003, 1 January 2021).
    """

    anchor: str | None = None
    offset: Offset | None = None
    fixed: dt.date | None = None

    @classmethod
    def parse(cls, text: str | dt.date) -> DateExpr:
        if isinstance(text, dt.date):
            return cls(fixed=text)
        text = str(text).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return cls(fixed=dt.date.fromisoformat(text))
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)\s*(.*)", text)
        if not m:
            raise ValueError(
                f"expected a date like 'R - 12 months', 'CAN_DAT + 3 months' or "
                f"'2003-04-01', got {text!r}"
            )
        anchor, rest = m.groups()
        return cls(anchor=anchor, offset=parse_offset(rest) if rest else None)

    def __str__(self) -> str:
        if self.fixed is not None:
            return self.fixed.isoformat()
        return f"{self.anchor} {self.offset}" if self.offset else str(self.anchor)


def _date_expr(value: object) -> object:
    return DateExpr.parse(value) if isinstance(value, str | dt.date) else value


Comparison = Literal["on_or_before", "before", "after", "on_or_after"]
COMPARISON_WORDS = {
    "on_or_before": "on or before",
    "before": "before",
    "after": "after",
    "on_or_after": "on or after",
}


class DateTest(Frozen):
    """``{date: CAN_DAT, on_or_before: R - 24 months}``: compare a patient date with a bound."""

    date: str
    on_or_before: DateExpr | None = None
    before: DateExpr | None = None
    after: DateExpr | None = None
    on_or_after: DateExpr | None = None

    _parse = field_validator("on_or_before", "before", "after", "on_or_after", mode="before")(
        lambda v: _date_expr(v)
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> DateTest:
        given = [c for c in COMPARISON_WORDS if getattr(self, c) is not None]
        if len(given) != 1:
            raise ValueError(
                "a date test needs exactly one of on_or_before, before, after, "
                f"on_or_after (got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def comparison(self) -> Comparison:
        return next(c for c in COMPARISON_WORDS if getattr(self, c) is not None)

    @property
    def bound(self) -> DateExpr:
        return getattr(self, self.comparison)

    def anchors(self) -> set[str]:
        return {self.date} | ({self.bound.anchor} if self.bound.anchor else set())

    def clusters(self) -> set[str]:
        return set()


class EventCountTest(Frozen):
    """``{events: CANINVITE_COD, in_last: 12 months, at_least: 2, min_span_days: 7}``.

    Counts a cluster's events in the window ``(R - in_last, R]``; with ``min_span_days`` the
    earliest and latest of them must be at least that many days apart (decision D4,
    docs/reference-rules.md#d4-seven-days-apart).
    """

    events: str
    in_last: Offset
    at_least: int = Field(1, ge=1)
    min_span_days: int = Field(0, ge=0)

    @field_validator("in_last", mode="before")
    @classmethod
    def _window(cls, v: object) -> object:
        return parse_offset("- " + v) if isinstance(v, str) else v

    def anchors(self) -> set[str]:
        return set()

    def clusters(self) -> set[str]:
        return {self.events}


class Always(Frozen):
    """``when: always``: holds for everyone still in the cascade (the last rule's condition)."""

    def anchors(self) -> set[str]:
        return set()

    def clusters(self) -> set[str]:
        return set()

    def __str__(self) -> str:
        return "always"


def _always(value: object) -> object:
    return Always() if value == "always" else value


class AgeBand(Frozen):
    """Age at R in whole years, from and to inclusive (``{from: 25, to: 64}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    lowest: int = Field(alias="from", ge=0, le=150)
    highest: int = Field(alias="to", ge=0, le=150)

    @model_validator(mode="after")
    def _ordered(self) -> AgeBand:
        if self.lowest > self.highest:
            raise ValueError("age from must not be above age to")
        return self


class AgeOutside(Frozen):
    """``{age_outside: {from: 25, to: 49}}``: age at R in whole years (the clamped months of
    docs/reference-rules.md#time, so a 29 February birthday falls on 28 February) is below
    ``from`` or above ``to``.
    Never holds without a date of birth: a pack that tests age enters only patients who have
    one (``population: {date_of_birth: recorded}``)."""

    age_outside: AgeBand

    def anchors(self) -> set[str]:
        return set()

    def clusters(self) -> set[str]:
        return set()


Condition = Always | DateTest | EventCountTest | AgeOutside


class RuleKind(StrEnum):
    select_register = "select_register"
    select_numerator = "select_numerator"
    select_denominator = "select_denominator"
    reject_exclusion = "reject_exclusion"
    reject_pca = "reject_pca"


class Rule(Frozen):
    rule: Annotated[str, Field(pattern=r"^R\d+$")]
    kind: RuleKind
    field: str | None = None
    when: Condition

    _when = field_validator("when", mode="before")(lambda v: _always(v))
    says: str = Field(description="the rule in a practice manager's words")
    shadowed_by: str | None = Field(
        None,
        description="a rule earlier in the cascade that always fires first; the rule is "
        "kept because NHS Digital reports its field, and no case can make it decide",
    )

    @model_validator(mode="after")
    def _field_for_rejects(self) -> Rule:
        if self.kind.value.startswith("reject") and not self.field:
            raise ValueError(
                f"{self.rule}: a reject rule needs the NHS Digital field name it is reported under"
            )
        return self

    @property
    def number(self) -> int:
        return int(self.rule[1:])


class LatestEvent(Frozen):
    """Latest event of a cluster on or before R (optionally skipping some episode types)."""

    latest: str
    exclude_episodes: tuple[str, ...] = ()

    @field_validator("exclude_episodes")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(e.strip().lower() for e in v)  # the readers lower-case episodes

    def anchors(self) -> set[str]:
        return set()

    def clusters(self) -> set[str]:
        return {self.latest}


class EarliestEventFrom(Frozen):
    """Earliest event of a cluster on or before R and on or after an anchor date."""

    earliest: str
    on_or_after: str

    def anchors(self) -> set[str]:
        return {self.on_or_after}

    def clusters(self) -> set[str]:
        return {self.earliest}


DateDefinition = LatestEvent | EarliestEventFrom


SEX_WORDS = {"female": ("f", "female", "2"), "male": ("m", "male", "1")}


class Registered(Frozen):
    """Everyone registered at R (docs/reference-rules.md#who-is-counted), optionally only one sex
    and an age band at R, or only those with a date of birth recorded (a cascade that tests age),
    taken from the patients file: a patient needs no coded entry to be in it."""

    sex: Literal["female", "male"] | None = None
    age: AgeBand | None = None
    date_of_birth: Literal["recorded"] | None = None

    @property
    def needs_birth_date(self) -> bool:
        return self.age is not None or self.date_of_birth is not None

    def __str__(self) -> str:
        words = "the registered population"
        if self.sex:
            words += f", {self.sex}"
        if self.age:
            words += f", aged {self.age.lowest} to {self.age.highest} at R"
        elif self.date_of_birth:
            words += ", with a date of birth recorded"
        return words


class RegisterOf(Frozen):
    """The patients a register indicator of the same year selects (CAN004's is CAN001)."""

    indicator: Annotated[str, Field(pattern=r"^[A-Z]+\d{3}$")]

    def __str__(self) -> str:
        return f"the {self.indicator} register"


Population = Registered | RegisterOf


def _population(value: object) -> object:
    """``registered``, a register's indicator id (``CAN001``), or a mapping for Registered."""
    if value == "registered":
        return Registered()
    if isinstance(value, str):
        return RegisterOf(indicator=value)
    return value


# Every kind of node a pack is built from. An engine registers one handler per kind, and so do
# the wordings (describe, explain); tests/test_registry.py fails when one is missing.
CONDITION_KINDS = (Always, DateTest, EventCountTest, AgeOutside)
DATE_KINDS = (LatestEvent, EarliestEventFrom)
POPULATION_KINDS = (Registered, RegisterOf)


class Evidence(NamedTuple):
    """Events a worklist shows beside a patient: their count and latest date, per cluster, in
    the window from ``since`` (a patient date, on or after; or ``R - N``, after) up to R."""

    role: str  # "invitation" or "pca"
    cluster: str
    since: DateExpr


class DueBy(Frozen):
    """While ``missing`` is absent, the numerator is still reachable until ``deadline``."""

    missing: str
    deadline: DateExpr

    _parse = field_validator("deadline", mode="before")(lambda v: _date_expr(v))


class Recall(Frozen):
    """A screening indicator's worklist (CS005/CS006): anyone in the denominator can still
    achieve it by the QOF year's end, and a numerator patient's `date` counts while it is in
    the `window` up to R (`42 months`: R − 42 months < date), so one whose test leaves the
    window before the year end must be recalled."""

    date: str
    window: Annotated[int, Field(gt=0, description="months, written '42 months'")]

    @field_validator("window", mode="before")
    @classmethod
    def _months(cls, value: object) -> object:
        if isinstance(value, str):
            found = re.fullmatch(r"\s*(\d+)\s*months?\s*", value)
            if not found:
                raise ValueError(f"expected a window such as '42 months', got {value!r}")
            return int(found.group(1))
        return value

    def leaves(self, dates: np.ndarray) -> np.ndarray:
        """The first reference date at which each date is out of the window: date + window,
        or the day after when the month end clamped it (a test on 31 August still counts on
        28 February, 42 months on, and leaves on 1 March)."""
        dates = np.asarray(dates, dtype="datetime64[D]")
        moved = add_months(dates, self.window)
        back = add_months(moved, -self.window)
        return np.where(back >= dates, moved, moved + np.timedelta64(1, "D"))


def _months_value(value: object) -> object:
    """'3 months' -> 3 (a window in whole calendar months, as the rules count them)."""
    if isinstance(value, str):
        found = re.fullmatch(r"\s*(\d+)\s*months?\s*", value)
        if not found:
            raise ValueError(f"expected a window such as '3 months', got {value!r}")
        return int(found.group(1))
    return value


class CohortMeasure(Frozen):
    """Of the patients whose `entry` date (diagnosis) falls in a month, the share whose
    `outcome` date is within `within` months of it (on or before entry + within, as the
    indicator's numerator rule counts). It shows a fall in activity within months, where the
    QOF indicator's 12- or 24-month population spreads it over a year or two
    (docs/explanation-measures.md)."""

    measure: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    title: str
    entry: str
    outcome: str
    within: Annotated[int, Field(gt=0, description="months, written '3 months'")]

    _within = field_validator("within", mode="before")(lambda v: _months_value(v))


class Measures(Frozen):
    """Measures that show change quickly, beside (never instead of) the indicator: a cohort
    measure by month of diagnosis, and entries recorded per month (`activity`: a name such as
    `reviews` for the clusters whose entries it counts; one patient's entries on one day count
    once), per 1,000 patients on the indicator's register."""

    cohort: CohortMeasure | None = None
    activity: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], tuple[str, ...]] = Field(
        default_factory=dict
    )


class Thresholds(Frozen):
    lower: float = Field(ge=0, le=1)
    upper: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.lower >= self.upper:
            raise ValueError("lower threshold must be below the upper threshold")
        return self


class IndicatorPack(Frozen):
    """One indicator's rules for one QOF year (one YAML file)."""

    indicator: Annotated[str, Field(pattern=r"^[A-Z]+\d{3}$")]
    year: str
    title: str
    description: str
    population: Population = Field(
        description="'registered' (the specified population, optionally "
        "{sex: female, age: {from: 25, to: 64}}) or the indicator id of the register whose "
        "patients enter this cascade"
    )
    max_points: int = Field(ge=0)
    thresholds: Thresholds | None = None
    dates: dict[str, DateDefinition]
    rules: tuple[Rule, ...]
    due_by: DueBy | None = None
    recall: Recall | None = None
    outcome_dates: tuple[str, ...] = Field(
        (),
        description="the patient dates each outcome row shows (--patients-out columns), in order",
    )
    words: dict[str, str] = Field(
        default_factory=dict,
        description="plain words for the pack's clusters and dates, as explanations and "
        "worklists say them (CAN_COD: cancer diagnosis; CAN_DAT: diagnosis)",
    )
    measures: Measures | None = Field(
        None,
        description="measures that show change quickly beside the indicator: a cohort "
        "measure by month of diagnosis and entries recorded per month",
    )

    def word(self, name: str) -> str:
        """The pack's words for a cluster or date, or its name when it gives none."""
        return self.words.get(name, name)

    _population = field_validator("population", mode="before")(lambda v: _population(v))

    @field_validator("year", mode="before")
    @classmethod
    def _year(cls, v: object) -> object:
        from ccrqof.dates import parse_qof_year

        parse_qof_year(str(v))
        return str(v)

    @property
    def is_register(self) -> bool:
        return any(r.kind == RuleKind.select_register for r in self.rules)

    @property
    def register(self) -> str | None:
        """The register indicator whose patients enter this cascade, if any."""
        return self.population.indicator if isinstance(self.population, RegisterOf) else None

    def clusters(self) -> set[str]:
        """Every cluster the pack reads, in its dates, its rules and its activity measures."""
        found = set().union(*(d.clusters() for d in self.dates.values()))
        if self.measures is not None:
            found = found.union(*self.measures.activity.values())
        return found.union(*(r.when.clusters() for r in self.rules))

    def evidence(self) -> list[Evidence]:
        """What a worklist shows beside a patient still due: invitations (the event-count
        clusters, since the deadline's anchor) and the PCA codes of rules that test a coded date
        against a window up to R (not rules about the diagnosis date itself, such as DIAG1_DAT)."""
        if self.due_by is None:
            return []
        anchor = self.due_by.deadline.anchor
        found = [
            Evidence("invitation", cluster, DateExpr(anchor=anchor))
            for cluster in sorted(
                {r.when.events for r in self.rules if isinstance(r.when, EventCountTest)}
            )
        ]
        for rule in self.rules:
            when = rule.when
            if (
                rule.kind == RuleKind.reject_pca
                and isinstance(when, DateTest)
                and when.date != anchor
                and isinstance(self.dates.get(when.date), LatestEvent)
                and when.comparison == "after"
                and when.bound.anchor == REFERENCE
            ):
                found.append(Evidence("pca", self.dates[when.date].latest, when.bound))
        return found

    def population_columns(self) -> tuple[str, ...]:
        """The patients file's columns the population reads beyond registration."""
        population = self.population
        return (
            *(("sex",) if getattr(population, "sex", None) else ()),
            *(("date_of_birth",) if getattr(population, "needs_birth_date", False) else ()),
        )

    def takes_patients_without_entries(self) -> bool:
        """Can a patient with no entry in the pack's clusters reach a select rule? A cascade
        over a register's patients cannot; one over the registered population can; a register
        can when a select rule needs no entry (`always`, a test of REG_DAT). Then an engine
        must key every patient, not only those with entries of interest."""
        if self.register:
            return False
        if not self.is_register:
            return True
        for rule in self.rules:
            when = rule.when
            if isinstance(when, EventCountTest):
                continue
            if isinstance(when, DateTest) and when.date in self.dates:
                continue
            return True
        return False

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorPack:
        numbers = [r.number for r in self.rules]
        if len(set(numbers)) != len(numbers):
            dup = sorted({n for n in numbers if numbers.count(n) > 1})
            raise ValueError(f"duplicate rule number(s): {', '.join(f'R{n}' for n in dup)}")
        if numbers != sorted(numbers):
            raise ValueError("rules must be listed in cascade order R1, R2, ...")
        patient_dates = set(BUILTIN_DATES)  # dates a patient has; R is the reference date
        for name, definition in self.dates.items():
            if name in patient_dates or name == REFERENCE:
                raise ValueError(f"date {name} is defined twice or shadows a built-in date")
            anchor = getattr(definition, "on_or_after", None)
            if anchor and anchor not in patient_dates:
                raise ValueError(
                    f"date {name} refers to {anchor}, which is not a patient date defined above it"
                )
            patient_dates.add(name)

        def undefined(names: set[str]) -> str:
            return ", ".join(sorted(n for n in names if n not in patient_dates | {REFERENCE}))

        for rule in self.rules:
            if isinstance(rule.when, DateTest):
                if rule.when.date not in patient_dates:
                    raise ValueError(
                        f"{rule.rule} tests {rule.when.date}, which is not a "
                        f"patient date (defined: {', '.join(sorted(patient_dates))})"
                    )
                if missing := undefined(rule.when.anchors()):
                    raise ValueError(f"{rule.rule} uses undefined date(s) {missing}")
        ages = [r.rule for r in self.rules if isinstance(r.when, AgeOutside)]
        if ages and not (
            isinstance(self.population, Registered) and self.population.needs_birth_date
        ):
            raise ValueError(
                f"{', '.join(ages)} test(s) age: the population must need a date of birth "
                "(population: {date_of_birth: recorded}), or patients without one would "
                "pass the age test untested"
            )
        for name in self.outcome_dates:
            if name not in patient_dates:
                raise ValueError(f"outcome_dates: {name} is not a patient date of the pack")
        if self.due_by is not None:
            shown = set(self.outcome_dates)
            for name in (self.due_by.missing, self.due_by.deadline.anchor):
                if name in patient_dates and name not in shown:
                    raise ValueError(
                        f"due_by uses {name}: list it in outcome_dates, so worklists can show it"
                    )
            if self.due_by.missing not in patient_dates:
                raise ValueError(f"due_by.missing: {self.due_by.missing} is not a patient date")
            if missing := undefined({self.due_by.deadline.anchor} - {None}):
                raise ValueError(f"due_by.deadline uses undefined date {missing}")
        if self.measures is not None:
            cohort = self.measures.cohort
            if cohort is not None:
                for name in (cohort.entry, cohort.outcome):
                    if name not in self.outcome_dates:
                        raise ValueError(
                            f"measures.cohort uses {name}: list it in outcome_dates, so the "
                            "measure reads it from the outcome rows"
                        )
            if self.measures.activity and self.register is None:
                raise ValueError(
                    "measures.activity counts per 1,000 on a register: the pack's "
                    "population must be a register"
                )
        if self.recall is not None:
            if self.due_by is not None:
                raise ValueError("a pack has due_by (a deadline per patient) or recall, not both")
            if self.recall.date not in self.outcome_dates:
                raise ValueError(f"recall.date: list {self.recall.date} in outcome_dates")
        kinds = {r.kind for r in self.rules}
        if self.is_register:
            if kinds != {RuleKind.select_register}:
                raise ValueError(
                    "a register indicator (population: registered) has only select_register rules"
                )
            if not isinstance(self.population, Registered):
                raise ValueError("a register indicator's population is 'registered'")
            if self.thresholds is not None:
                raise ValueError("a register indicator has no thresholds")
        else:
            if RuleKind.select_register in kinds:
                raise ValueError("select_register is only for register indicators")
            last = self.rules[-1] if self.rules else None
            if (
                not last
                or last.kind != RuleKind.select_denominator
                or not isinstance(last.when, Always)
            ):
                raise ValueError(
                    "the last rule must be 'select_denominator' when 'always', so "
                    "every patient leaves the cascade at exactly one rule"
                )
            if self.thresholds is None:
                raise ValueError("an indicator with a denominator needs thresholds")
        return self


class YearStatus(StrEnum):
    paid = "paid"
    income_protected = "income_protected"
    local_monitoring = "local_monitoring"


class NationalFigure(Frozen):
    """A national figure the £ estimate uses, with where it came from; `value` None: not
    known (the estimate then shows points without pounds and says which figure is missing)."""

    value: float | None
    source: str


class NationalFigures(Frozen):
    """A year's national figures for the £ estimate (docs/reference-rules.md#the-pound-estimate)."""

    average_list_size: NationalFigure | None = None
    prevalence: dict[str, NationalFigure] = Field(
        default_factory=dict, description="national prevalence of each register, as a fraction"
    )


class YearInfo(Frozen):
    """A QOF year's facts (year.yaml beside the indicator files)."""

    year: str
    pped: dt.date
    pound_per_point: float
    pound_per_point_source: str = ""
    national: NationalFigures = NationalFigures()
    status: YearStatus
    statuses: dict[str, YearStatus] = Field(
        default_factory=dict,
        description="indicators whose status that year differs from the year's (in 2024-25 the "
        "cancer indicators were income protected while others were paid)",
    )
    note: str = ""
    notes: dict[YearStatus, str] = Field(
        default_factory=dict,
        description="a note for the indicators of one status, in place of `note` (2024-25: "
        "the income protected cancer indicators)",
    )
    local_monitoring_from: dt.date | None = Field(
        None, description="after this year ends, run its rules for later dates with no points"
    )
    local_monitoring_indicators: tuple[str, ...] = Field(
        (), description="the indicators that run on after the year; none listed: all of them"
    )
    local_monitoring_note: str = ""

    def status_of(self, indicator: str) -> YearStatus:
        return self.statuses.get(indicator, self.status)

    def note_for(self, status: YearStatus) -> str:
        """What a header says about this year's indicators of `status`."""
        if status == YearStatus.local_monitoring:
            return self.local_monitoring_note
        return self.notes.get(status, self.note if status == self.status else "")

    def status_for(self, indicators) -> YearStatus:
        """The status these indicators share that year (the year's own if they differ)."""
        shared = {self.status_of(i) for i in indicators}
        return shared.pop() if len(shared) == 1 else self.status

    def retires(self, indicator: str) -> bool:
        """Does this year's pack for `indicator` run on as local monitoring after the year?"""
        if self.local_monitoring_from is None:
            return False
        return not self.local_monitoring_indicators or indicator in self.local_monitoring_indicators
