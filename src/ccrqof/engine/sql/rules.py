"""A rule set at one reference date compiled to SQL: one handler per rule-model node kind.

Reads the tables `prepare` made (`kept` units, their `entries` and `unit_regs`) and builds, per
pack, a query of patient dates, a query of event counts, the population, the cascade as one
`CASE` (the first rule whose condition holds decides), outcome rows and evidence rows. Dates a
pack defines alike are worked out once, as in the Python engine. R is inlined as a literal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import singledispatch

from sqlglot import exp

from ccrqof.dates import Offset
from ccrqof.engine.python.cascade import OUTCOME_OF_KIND
from ccrqof.engine.sql.build import (
    TRUE,
    alias,
    all_of,
    case,
    col,
    day,
    days_between,
    eq,
    flag,
    is_in,
    lit,
    null_date,
    on,
    select,
    shifted,
    table,
)
from ccrqof.rules.loader import RuleSet
from ccrqof.rules.model import (
    REFERENCE,
    SEX_WORDS,
    Always,
    DateExpr,
    DateTest,
    EarliestEventFrom,
    EventCountTest,
    IndicatorPack,
    LatestEvent,
    Registered,
    RegisterOf,
)

UNIT = ("unit",)  # a patient unit's number (`prepare`'s `kept`): every join and group is on it
_COMPARE = {
    "on_or_before": exp.LTE,
    "before": exp.LT,
    "after": exp.GT,
    "on_or_after": exp.GTE,
}


def date_column(name: str) -> str:
    """A pack's date as a column name: lower case and prefixed, never a reserved word."""
    return "d_" + name.lower()


def _unit_group(t: str | None = None) -> list[exp.Expression]:
    return [col(c, t) for c in UNIT]


@dataclass
class Scope:
    """The queries built so far for one rule set at R, shared by its packs."""

    R: dt.date
    has_registrations: bool
    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    shared: dict[tuple, str] = field(default_factory=dict)

    def add(self, key: tuple, make) -> str:
        """The name of a query, built once per key (packs that define a date alike share it)."""
        if key not in self.shared:
            name = f"q{len(self.ctes)}_{key[0]}"
            self.ctes.append((name, make()))
            self.shared[key] = name
        return self.shared[key]

    @property
    def r(self) -> exp.Expression:
        return day(self.R)


@dataclass
class PackScope:
    """One pack's view of the scope: its own date names (a pack's names are its own)."""

    scope: Scope
    pack: IndicatorPack
    dates: dict[str, tuple[str, tuple]] = field(default_factory=dict)  # name -> (query, key)
    counts: dict[EventCountTest, str] = field(default_factory=dict)

    def resolve(self, expr: DateExpr, t: str | None = None) -> exp.Expression:
        if expr.fixed is not None:
            base = day(expr.fixed)
        elif expr.anchor == REFERENCE:
            base = self.scope.r
        else:
            base = col(date_column(expr.anchor), t)
        return shifted(base, expr.offset)


# --- patient dates ---------------------------------------------------------------------------


@singledispatch
def patient_date(definition, pack: PackScope) -> exp.Select:
    """(unit, d) rows: one date per unit that has one."""
    raise TypeError(f"no SQL for date definition {type(definition).__name__}")


@patient_date.register
def _latest(definition: LatestEvent, pack: PackScope) -> exp.Select:
    where = [eq(col("entry_cluster"), lit(definition.latest))]
    if definition.exclude_episodes:  # a blank or unknown episode counts as first/new
        where.append(exp.Not(this=is_in(col("episode"), definition.exclude_episodes)))
    return (
        select(*_unit_group(), alias(exp.Max(this=col("entry_day")), "d"))
        .from_(table("visible"), copy=False)
        .where(all_of(*where), copy=False)
        .group_by(*_unit_group(), copy=False)
    )


@patient_date.register
def _earliest_from(definition: EarliestEventFrom, pack: PackScope) -> exp.Select:
    anchor, _ = pack.dates[definition.on_or_after]
    return (
        select(*_unit_group("v"), alias(exp.Min(this=col("entry_day", "v")), "d"))
        .from_(table("visible", "v"), copy=False)
        .join(
            table(anchor, "a"),
            on=all_of(
                on(*((c, "v", "a") for c in UNIT)),
                exp.GTE(this=col("entry_day", "v"), expression=col("d", "a")),
            ),
            copy=False,
        )
        .where(eq(col("entry_cluster", "v"), lit(definition.earliest)), copy=False)
        .group_by(*_unit_group("v"), copy=False)
    )


def _event_counts(condition: EventCountTest, scope: Scope) -> exp.Select:
    """Per unit: events of the cluster in the window (R - N, R], and the first and last."""
    start = shifted(scope.r, condition.in_last)
    return (
        select(
            *_unit_group(),
            alias(exp.Count(this=exp.Star()), "n"),
            alias(exp.Min(this=col("entry_day")), "first_day"),
            alias(exp.Max(this=col("entry_day")), "last_day"),
        )
        .from_(table("visible"), copy=False)
        .where(
            all_of(
                eq(col("entry_cluster"), lit(condition.events)),
                exp.GT(this=col("entry_day"), expression=start),
            ),
            copy=False,
        )
        .group_by(*_unit_group(), copy=False)
    )


# --- conditions ------------------------------------------------------------------------------


@singledispatch
def holds(condition, pack: PackScope) -> exp.Expression:
    """The rule's condition over a pack's facts row (inside CASE only)."""
    raise TypeError(f"no SQL for condition {type(condition).__name__}")


@holds.register
def _always(condition: Always, pack: PackScope) -> exp.Expression:
    return TRUE


@holds.register
def _date_test(condition: DateTest, pack: PackScope) -> exp.Expression:
    compare = _COMPARE[condition.comparison]
    return compare(this=col(date_column(condition.date)), expression=pack.resolve(condition.bound))


def _count_columns(condition: EventCountTest, pack: PackScope) -> tuple[str, str, str]:
    name = pack.counts[condition]
    return f"{name}_n", f"{name}_first", f"{name}_last"


@holds.register
def _event_count(condition: EventCountTest, pack: PackScope) -> exp.Expression:
    n, first, last = _count_columns(condition, pack)
    enough = exp.GTE(
        this=exp.Coalesce(this=col(n), expressions=[lit(0)]),
        expression=lit(condition.at_least),
    )
    if not condition.min_span_days:
        return enough
    span = exp.GTE(
        this=days_between(col(last), col(first)), expression=lit(condition.min_span_days)
    )
    return all_of(enough, span)


@singledispatch
def measures(condition, pack: PackScope) -> dict[str, exp.Expression]:
    """What an explanation says about a condition (STEP_COLUMNS' measures)."""
    raise TypeError(f"no SQL for condition {type(condition).__name__}")


@measures.register
def _always_measures(condition: Always, pack: PackScope) -> dict[str, exp.Expression]:
    return {}


@measures.register
def _date_test_measures(condition: DateTest, pack: PackScope) -> dict[str, exp.Expression]:
    return {"value": col(date_column(condition.date)), "bound": pack.resolve(condition.bound)}


@measures.register
def _event_count_measures(condition: EventCountTest, pack: PackScope) -> dict[str, exp.Expression]:
    n, first, last = _count_columns(condition, pack)
    return {
        "bound": shifted(pack.scope.r, condition.in_last),
        "count": exp.Coalesce(this=col(n), expressions=[lit(0)]),
        "first": col(first),
        "last": col(last),
    }


# --- populations -----------------------------------------------------------------------------


@singledispatch
def population(definition, pack: PackScope) -> exp.Select:
    """(unit) rows: who enters the pack's cascade."""
    raise TypeError(f"no SQL for population {type(definition).__name__}")


@population.register
def _registered(definition: Registered, pack: PackScope) -> exp.Select:
    where = []
    if definition.sex is not None:
        where.append(is_in(col("sex", "k"), SEX_WORDS[definition.sex]))
    if definition.age is not None:
        birth, R = col("date_of_birth", "k"), pack.scope.r
        lowest = shifted(birth, _months(12 * definition.age.lowest))
        beyond = shifted(birth, _months(12 * (definition.age.highest + 1)))
        where += [exp.LTE(this=lowest, expression=R), exp.GT(this=beyond, expression=R)]
    query = (
        select(*_unit_group("k"))
        .from_(table("kept", "k"), copy=False)
        .join(table("reg_dat", "r"), on=on(*((c, "k", "r") for c in UNIT)), copy=False)
    )
    return query.where(all_of(*where), copy=False) if where else query


def _months(n: int) -> Offset:
    return Offset(n, "months")


@population.register
def _register_of(definition: RegisterOf, pack: PackScope) -> exp.Select:
    return select(*_unit_group()).from_(
        table(f"selected_{definition.indicator.lower()}"), copy=False
    )


DISPATCHERS = {
    "condition": holds,
    "condition measures": measures,
    "date": patient_date,
    "population": population,
}


# --- a rule set ------------------------------------------------------------------------------


def registered_query(scope: Scope) -> exp.Select:
    """REG_DAT: the latest start of a registration current at R; with no registration data,
    every unit is registered and REG_DAT is unknown."""
    if not scope.has_registrations:
        return select(*_unit_group(), alias(exp.cast(exp.Null(), "DATE"), "d")).from_(
            table("kept"), copy=False
        )
    R = scope.r
    current = all_of(
        exp.LTE(this=col("registration_date"), expression=R),
        exp.or_(
            exp.Is(this=col("deregistration_date"), expression=exp.Null()),
            exp.GT(this=col("deregistration_date"), expression=R),
        ),
    )
    return (
        select(*_unit_group(), alias(exp.Max(this=col("registration_date")), "d"))
        .from_(table("unit_regs"), copy=False)
        .where(current, copy=False)
        .group_by(*_unit_group(), copy=False)
    )


def _date_key(name: str, definition, keys: dict[str, tuple]) -> tuple:
    anchor = getattr(definition, "on_or_after", None)
    return ("date", definition, keys[anchor] if anchor else ())


def pack_queries(pack: IndicatorPack, scope: Scope) -> PackScope:
    """The pack's dates, counts, population, facts and `decided` queries, added to the scope."""
    view = PackScope(scope, pack)
    view.dates["REG_DAT"] = ("reg_dat", ("REG_DAT",))
    for name, definition in pack.dates.items():
        key = _date_key(name, definition, {n: k for n, (_, k) in view.dates.items()})
        query = scope.add(key, lambda d=definition: patient_date(d, view))
        view.dates[name] = (query, key)
    for rule in pack.rules:
        if isinstance(rule.when, EventCountTest):
            view.counts[rule.when] = scope.add(
                ("count", rule.when.events, rule.when.in_last),
                lambda c=rule.when: _event_counts(c, scope),
            )
    ind = pack.indicator.lower()
    scope.ctes.append((f"population_{ind}", population(pack.population, view)))
    facts = select(*_unit_group("p")).from_(table(f"population_{ind}", "p"), copy=False)
    for name, (query, _) in view.dates.items():
        alias_name = f"t_{date_column(name)}"
        facts = facts.select(
            alias(col("d", alias_name), date_column(name)), append=True, copy=False
        )
        facts = facts.join(
            table(query, alias_name),
            on=on(*((c, "p", alias_name) for c in UNIT)),
            join_type="left",
            copy=False,
        )
    for count in dict.fromkeys(view.counts.values()):
        facts = facts.select(
            alias(col("n", count), f"{count}_n"),
            alias(col("first_day", count), f"{count}_first"),
            alias(col("last_day", count), f"{count}_last"),
            append=True,
            copy=False,
        ).join(table(count), on=on(*((c, "p", count) for c in UNIT)), join_type="left", copy=False)
    scope.ctes.append((f"facts_{ind}", facts))
    deciding = case(
        [(holds(rule.when, view), lit(i)) for i, rule in enumerate(pack.rules)], default=None
    )
    scope.ctes.append(
        (
            f"decided_{ind}",
            select(exp.Star(), alias(deciding, "rule_index")).from_(
                table(f"facts_{ind}"), copy=False
            ),
        )
    )
    chosen = [i for i, r in enumerate(pack.rules) if r.kind.value.startswith("select")]
    scope.ctes.append(
        (
            f"selected_{ind}",
            select(*_unit_group())
            .from_(table(f"decided_{ind}"), copy=False)
            .where(is_in(col("rule_index"), chosen), copy=False),
        )
    )
    return view


def _by_rule(pack: IndicatorPack, values: list) -> exp.Expression:
    return case([(eq(col("rule_index"), lit(i)), lit(v)) for i, v in enumerate(values)])


def outcome_query(view: PackScope, dates: tuple[str, ...]) -> exp.Select:
    """One row per unit the cascade decided (Evaluation.outcomes' columns; `rule_id` and
    `field_name`, since `rule` is a reserved word in some dialects)."""
    pack, scope = view.pack, view.scope
    outcome = _by_rule(pack, [OUTCOME_OF_KIND[r.kind] for r in pack.rules])
    columns = [
        alias(exp.Nullif(this=col("practice_key", "k"), expression=lit("")), "practice_code"),
        col("patient_id", "k"),
        alias(lit(pack.indicator), "indicator"),
        alias(outcome, "outcome"),
        alias(_by_rule(pack, [r.rule for r in pack.rules]), "rule_id"),
        alias(_by_rule(pack, [r.field for r in pack.rules]), "field_name"),
    ]
    for name in dates:
        shown = col(date_column(name)) if name in pack.outcome_dates else null_date()
        columns.append(alias(shown, date_column(name)))
    if pack.due_by is None:
        deadline, due = null_date(), null_date()
    else:
        deadline = view.resolve(pack.due_by.deadline)
        still = all_of(
            exp.Is(this=col(date_column(pack.due_by.missing)), expression=exp.Null()),
            exp.NEQ(this=outcome, expression=lit("numerator")),
            exp.GTE(this=deadline, expression=scope.r),
        )
        due = case([(still, deadline)])
    columns += [alias(due, "due_by"), alias(deadline, "deadline")]
    return (
        select(*columns)
        .from_(table(f"decided_{pack.indicator.lower()}", "c"), copy=False)
        .join(table("kept", "k"), on=on(*((c, "c", "k") for c in UNIT)), copy=False)
        .where(exp.Not(this=exp.Is(this=col("rule_index"), expression=exp.Null())), copy=False)
    )


def tally_query(views: list[PackScope], dates: tuple[str, ...]) -> exp.Select:
    """The outcome rows counted by practice, indicator, outcome and field: all that scoring
    reads, a few rows a practice however many patients it has."""
    rows = union_all([outcome_query(v, dates) for v in views]).subquery("o", copy=False)
    keys = ("practice_code", "indicator", "outcome", "field_name")
    return (
        select(*map(col, keys), alias(exp.Count(this=exp.Star()), "n"))
        .from_(rows, copy=False)
        .group_by(*map(col, keys), copy=False)  # nodes of their own: builders do not copy
    )


def evidence_queries(view: PackScope) -> list[exp.Select]:
    """Per decided unit and `Evidence` cluster: the count and latest date of its events."""
    pack = view.pack
    out = []
    decided = f"decided_{pack.indicator.lower()}"
    for item in pack.evidence():
        if item.since.anchor == REFERENCE:  # (R - N, R]
            since = exp.GT(this=col("entry_day", "v"), expression=view.resolve(item.since))
        else:  # on or after the patient's date, up to R
            since = exp.GTE(this=col("entry_day", "v"), expression=view.resolve(item.since, "c"))
        out.append(
            select(
                alias(
                    exp.Nullif(this=col("practice_key", "v"), expression=lit("")), "practice_code"
                ),
                col("patient_id", "v"),
                alias(lit(pack.indicator), "indicator"),
                alias(lit(item.role), "role"),
                alias(lit(item.cluster), "cluster"),
                alias(exp.Count(this=exp.Star()), "n"),
                alias(exp.Max(this=col("entry_day", "v")), "latest"),
            )
            .from_(table("visible", "v"), copy=False)
            .join(table(decided, "c"), on=on(*((c, "v", "c") for c in UNIT)), copy=False)
            .where(
                all_of(
                    exp.Not(this=exp.Is(this=col("rule_index", "c"), expression=exp.Null())),
                    eq(col("entry_cluster", "v"), lit(item.cluster)),
                    since,
                ),
                copy=False,
            )
            .group_by(
                *_unit_group("v"), col("practice_key", "v"), col("patient_id", "v"), copy=False
            )
        )
    return out


def trace_query(view: PackScope) -> exp.Select:
    """Per entered unit: each rule's condition as 0/1 and its measures (for explain)."""
    pack = view.pack
    columns = [col("practice_key", "k"), col("patient_id", "k"), col("rule_index")]
    for i, rule in enumerate(pack.rules):
        columns.append(alias(flag(holds(rule.when, view)), f"held_{i}"))
        for name, value in measures(rule.when, view).items():
            columns.append(alias(value, f"{name}_{i}"))
    return (
        select(*columns)
        .from_(table(f"decided_{pack.indicator.lower()}", "c"), copy=False)
        .join(table("kept", "k"), on=on(*((c, "c", "k") for c in UNIT)), copy=False)
    )


def ruleset_scope(ruleset: RuleSet, has_registrations: bool) -> tuple[Scope, list]:
    """Every pack's queries at the rule set's reference date, registers first."""
    scope = Scope(ruleset.reference_date, has_registrations)
    scope.ctes.append(
        (
            "visible",
            select(exp.Star())
            .from_(table("entries"), copy=False)
            .where(exp.LTE(this=col("entry_day"), expression=scope.r), copy=False),
        )
    )
    scope.ctes.append(("reg_dat", registered_query(scope)))
    views = [pack_queries(pack, scope) for pack in ruleset.ordered()]
    return scope, views


def union_all(queries: list[exp.Select]) -> exp.Select:
    result = queries[0]
    for query in queries[1:]:
        result = result.union(query, distinct=False, copy=False)
    return result


__all__ = [
    "DISPATCHERS",
    "date_column",
    "evidence_queries",
    "outcome_query",
    "ruleset_scope",
    "tally_query",
    "trace_query",
    "union_all",
]
