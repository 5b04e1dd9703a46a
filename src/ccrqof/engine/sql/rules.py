"""A rule set at one reference date, or at several, compiled to SQL: one handler per
rule-model node kind.

Reads the tables `prepare` made (`kept` units, their `entries` and `unit_regs`) and builds, per
pack, a query of patient dates, a query of event counts, the population, the cascade as one
`CASE` (the first rule whose condition holds decides), outcome rows and evidence rows. Dates a
pack defines alike are worked out once, as in the Python engine. R is inlined as a literal.

A series (`trend`) compiles a run of month ends under the same packs together: still one row
per patient unit, with one column per month end for each date, count, population flag and
cascade (`d_can_dat_0`, `d_can_dat_1`, ...), so that each date and count query reads the
entries once for all of the run's month ends, not once each. One reference date gives the
plain names and filters (`d_can_dat`).
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
    any_of,
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
    AgeOutside,
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
    """The queries built so far for one rule set's packs at its reference dates (ascending;
    `p` numbers them), shared by the packs."""

    periods: tuple[dt.date, ...]
    has_registrations: bool
    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    shared: dict[tuple, str] = field(default_factory=dict)
    read_once: set[str] = field(default_factory=set)  # queries only one other query reads

    @property
    def single(self) -> bool:
        return len(self.periods) == 1

    @property
    def indices(self) -> range:
        return range(len(self.periods))

    def r(self, p: int = 0) -> exp.Expression:
        return day(self.periods[p])

    def at(self, name: str, p: int) -> str:
        """A column's name at reference date p: plain when there is one reference date."""
        return name if self.single else f"{name}_{p}"

    def within(self, p: int, condition: exp.Expression, value: exp.Expression) -> exp.Expression:
        """`value` where `condition` holds at reference date p, else NULL. With one reference
        date the query's WHERE already keeps only such rows, so the value is plain."""
        return value if self.single else case([(condition, value)])

    def add(self, key: tuple, make) -> str:
        """The name of a query, built once per key (packs that define a date alike share it)."""
        if key not in self.shared:
            name = f"q{len(self.ctes)}_{key[0]}"
            self.ctes.append((name, make()))
            self.shared[key] = name
        return self.shared[key]


@dataclass
class PackScope:
    """One pack's view of the scope: its own date names (a pack's names are its own)."""

    scope: Scope
    pack: IndicatorPack
    dates: dict[str, tuple[str, tuple]] = field(default_factory=dict)  # name -> (query, key)
    counts: dict[EventCountTest, str] = field(default_factory=dict)

    def resolve(self, expr: DateExpr, p: int = 0, t: str | None = None) -> exp.Expression:
        """A rule's date at reference date p (a patient date is its column at p)."""
        if expr.fixed is not None:
            base = day(expr.fixed)
        elif expr.anchor == REFERENCE:
            base = self.scope.r(p)
        else:
            base = col(self.scope.at(date_column(expr.anchor), p), t)
        return shifted(base, expr.offset)


# --- patient dates ---------------------------------------------------------------------------


@singledispatch
def patient_date(definition, pack: PackScope) -> exp.Select:
    """(unit, d) rows: one date per unit that has one (d_0, d_1, ... at several dates)."""
    raise TypeError(f"no SQL for date definition {type(definition).__name__}")


def _visible_at(p: int, scope: Scope, t: str | None = None) -> exp.Expression:
    return exp.LTE(this=col("entry_day", t), expression=scope.r(p))


@patient_date.register
def _latest(definition: LatestEvent, pack: PackScope) -> exp.Select:
    scope = pack.scope
    where = [eq(col("entry_cluster"), lit(definition.latest))]
    if definition.exclude_episodes:  # a blank or unknown episode counts as first/new
        where.append(exp.Not(this=is_in(col("episode"), definition.exclude_episodes)))
    latest = [
        alias(
            exp.Max(this=scope.within(p, _visible_at(p, scope), col("entry_day"))), scope.at("d", p)
        )
        for p in scope.indices
    ]
    return (
        select(*_unit_group(), *latest)
        .from_(table("visible"), copy=False)
        .where(all_of(*where), copy=False)
        .group_by(*_unit_group(), copy=False)
    )


@patient_date.register
def _earliest_from(definition: EarliestEventFrom, pack: PackScope) -> exp.Select:
    scope = pack.scope
    anchor, _ = pack.dates[definition.on_or_after]

    def from_anchor(p: int) -> exp.Expression:
        return exp.GTE(this=col("entry_day", "v"), expression=col(scope.at("d", p), "a"))

    same_unit = on(*((c, "v", "a") for c in UNIT))
    earliest = [
        alias(
            exp.Min(
                this=scope.within(
                    p, all_of(from_anchor(p), _visible_at(p, scope, "v")), col("entry_day", "v")
                )
            ),
            scope.at("d", p),
        )
        for p in scope.indices
    ]
    return (
        select(*_unit_group("v"), *earliest)
        .from_(table("visible", "v"), copy=False)
        .join(
            table(anchor, "a"),
            on=all_of(same_unit, from_anchor(0)) if scope.single else same_unit,
            copy=False,
        )
        .where(eq(col("entry_cluster", "v"), lit(definition.earliest)), copy=False)
        .group_by(*_unit_group("v"), copy=False)
    )


def _event_counts(condition: EventCountTest, scope: Scope) -> exp.Select:
    """Per unit: events of the cluster in the window (R - N, R] at each reference date R,
    and the first and last of them."""

    def window(p: int) -> exp.Expression:
        start = exp.GT(this=col("entry_day"), expression=shifted(scope.r(p), condition.in_last))
        return all_of(start, _visible_at(p, scope))

    columns = []
    for p in scope.indices:
        n = exp.Count(this=exp.Star()) if scope.single else exp.Sum(this=flag(window(p)))
        columns += [
            alias(n, scope.at("n", p)),
            alias(
                exp.Min(this=scope.within(p, window(p), col("entry_day"))), scope.at("first_day", p)
            ),
            alias(
                exp.Max(this=scope.within(p, window(p), col("entry_day"))), scope.at("last_day", p)
            ),
        ]
    # the windows move forward with R: the first one starts earliest
    earliest = shifted(scope.r(0), condition.in_last)
    return (
        select(*_unit_group(), *columns)
        .from_(table("visible"), copy=False)
        .where(
            all_of(
                eq(col("entry_cluster"), lit(condition.events)),
                exp.GT(this=col("entry_day"), expression=earliest),
            ),
            copy=False,
        )
        .group_by(*_unit_group(), copy=False)
    )


# --- conditions ------------------------------------------------------------------------------


@singledispatch
def holds(condition, pack: PackScope, p: int = 0) -> exp.Expression:
    """The rule's condition at reference date p over a pack's facts row (inside CASE only)."""
    raise TypeError(f"no SQL for condition {type(condition).__name__}")


@holds.register
def _always(condition: Always, pack: PackScope, p: int = 0) -> exp.Expression:
    return TRUE


@holds.register
def _date_test(condition: DateTest, pack: PackScope, p: int = 0) -> exp.Expression:
    compare = _COMPARE[condition.comparison]
    value = col(pack.scope.at(date_column(condition.date), p))
    return compare(this=value, expression=pack.resolve(condition.bound, p))


def _count_columns(condition: EventCountTest, pack: PackScope, p: int) -> tuple[str, str, str]:
    name = pack.counts[condition]
    return tuple(pack.scope.at(f"{name}_{part}", p) for part in ("n", "first", "last"))


@holds.register
def _event_count(condition: EventCountTest, pack: PackScope, p: int = 0) -> exp.Expression:
    n, first, last = _count_columns(condition, pack, p)
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


BIRTH_DAY = "birth_day"  # a facts row's date of birth, for a pack whose rules test age


def _age_bounds(birth: exp.Expression, band) -> tuple[exp.Expression, exp.Expression]:
    """The days a patient turns `band.lowest` and `band.highest + 1` (clamped months)."""
    return (
        shifted(birth, _months(12 * band.lowest)),
        shifted(birth, _months(12 * (band.highest + 1))),
    )


@holds.register
def _age_outside(condition: AgeOutside, pack: PackScope, p: int = 0) -> exp.Expression:
    reached, beyond = _age_bounds(col(BIRTH_DAY), condition.age_outside)
    R = pack.scope.r(p)
    return exp.or_(exp.GT(this=reached, expression=R), exp.LTE(this=beyond, expression=R))


@singledispatch
def measures(condition, pack: PackScope) -> dict[str, exp.Expression]:
    """What an explanation says about a condition (STEP_COLUMNS' measures; one reference
    date)."""
    raise TypeError(f"no SQL for condition {type(condition).__name__}")


@measures.register
def _always_measures(condition: Always, pack: PackScope) -> dict[str, exp.Expression]:
    return {}


@measures.register
def _date_test_measures(condition: DateTest, pack: PackScope) -> dict[str, exp.Expression]:
    return {"value": col(date_column(condition.date)), "bound": pack.resolve(condition.bound)}


@measures.register
def _event_count_measures(condition: EventCountTest, pack: PackScope) -> dict[str, exp.Expression]:
    n, first, last = _count_columns(condition, pack, 0)
    return {
        "bound": shifted(pack.scope.r(), condition.in_last),
        "count": exp.Coalesce(this=col(n), expressions=[lit(0)]),
        "first": col(first),
        "last": col(last),
    }


@measures.register
def _age_outside_measures(condition: AgeOutside, pack: PackScope) -> dict[str, exp.Expression]:
    return {"value": col(BIRTH_DAY), "bound": pack.scope.r()}


# --- populations -----------------------------------------------------------------------------


@singledispatch
def population(definition, pack: PackScope) -> exp.Select:
    """(unit) rows: who enters the pack's cascade. At several reference dates, everyone who
    enters it at any of them, with `entered_0`, `entered_1`, ... 1 where they do."""
    raise TypeError(f"no SQL for population {type(definition).__name__}")


@population.register
def _registered(definition: Registered, pack: PackScope) -> exp.Select:
    scope = pack.scope
    where = []
    if definition.sex is not None:
        where.append(is_in(col("sex", "k"), SEX_WORDS[definition.sex]))
    if definition.date_of_birth is not None:
        where.append(exp.Not(this=exp.Is(this=col("date_of_birth", "k"), expression=exp.Null())))

    def enters(p: int) -> list[exp.Expression]:
        """Registered at R (reg_dat has a row only for units registered at some R) and of age."""
        conditions = []
        if not scope.single and scope.has_registrations:
            null = exp.Is(this=col(scope.at("d", p), "r"), expression=exp.Null())
            conditions.append(exp.Not(this=null))
        if definition.age is not None:
            lowest, beyond = _age_bounds(col("date_of_birth", "k"), definition.age)
            R = scope.r(p)
            conditions += [exp.LTE(this=lowest, expression=R), exp.GT(this=beyond, expression=R)]
        return conditions

    query = (
        select(*_unit_group("k"))
        .from_(table("kept", "k"), copy=False)
        .join(table("reg_dat", "r"), on=on(*((c, "k", "r") for c in UNIT)), copy=False)
    )
    if scope.single:
        where += enters(0)
    else:
        for p in scope.indices:
            query = query.select(
                alias(flag(all_of(*enters(p))), scope.at("entered", p)), append=True, copy=False
            )
    return query.where(all_of(*where), copy=False) if where else query


def _months(n: int) -> Offset:
    return Offset(n, "months")


@population.register
def _register_of(definition: RegisterOf, pack: PackScope) -> exp.Select:
    scope = pack.scope
    entered = [
        alias(col(scope.at("selected", p)), scope.at("entered", p))
        for p in (() if scope.single else scope.indices)
    ]
    return select(*_unit_group(), *entered).from_(
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
    """REG_DAT: the latest start of a registration current at R (one row per unit registered
    at some R; `d_p` NULL at the others); with no registration data, every unit is registered
    and REG_DAT is unknown."""
    if not scope.has_registrations:
        unknown = [alias(null_date(), scope.at("d", p)) for p in scope.indices]
        return select(*_unit_group(), *unknown).from_(table("kept"), copy=False)

    def current(p: int) -> exp.Expression:
        R = scope.r(p)
        return all_of(
            exp.LTE(this=col("registration_date"), expression=R),
            exp.or_(
                exp.Is(this=col("deregistration_date"), expression=exp.Null()),
                exp.GT(this=col("deregistration_date"), expression=R),
            ),
        )

    latest = [
        alias(exp.Max(this=scope.within(p, current(p), col("registration_date"))), scope.at("d", p))
        for p in scope.indices
    ]
    anywhere = (
        current(0) if scope.single else any_of(*(exp.Paren(this=current(p)) for p in scope.indices))
    )
    return (
        select(*_unit_group(), *latest)
        .from_(table("unit_regs"), copy=False)
        .where(anywhere, copy=False)
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
    scope.ctes.append((f"facts_{ind}", _facts(view)))
    chosen = [i for i, r in enumerate(pack.rules) if r.kind.value.startswith("select")]
    if scope.single:  # the facts stay beside the rule: outcome rows show the dates
        decided = select(exp.Star(), alias(_cascade(view, 0), "rule_index"))
        selected = select(*_unit_group()).where(is_in(col("rule_index"), chosen), copy=False)
    else:  # only what the tallies read; a unit outside the population at R has no rule there
        decided = select(
            *_unit_group(),
            *(
                alias(_cascade(view, p, col(scope.at("entered", p))), scope.at("rule_index", p))
                for p in scope.indices
            ),
        )
        chosen_at = [is_in(col(scope.at("rule_index", p)), chosen) for p in scope.indices]
        selected = select(
            *_unit_group(),
            *(
                alias(flag(c), scope.at("selected", p))
                for p, c in zip(scope.indices, chosen_at, strict=True)
            ),
        ).where(any_of(*chosen_at), copy=False)
    scope.ctes.append((f"decided_{ind}", decided.from_(table(f"facts_{ind}"), copy=False)))
    scope.ctes.append((f"selected_{ind}", selected.from_(table(f"decided_{ind}"), copy=False)))
    return view


def _cascade(view: PackScope, p: int, entered: exp.Expression | None = None) -> exp.Expression:
    """The index of the first rule whose condition holds at reference date p."""
    rules = [(holds(rule.when, view, p), lit(i)) for i, rule in enumerate(view.pack.rules)]
    if entered is not None:
        rules.insert(0, (eq(entered, lit(0)), exp.Null()))
    return case(rules, default=None)


def _facts(view: PackScope) -> exp.Select:
    """The population with each of the pack's dates and counts (a column per date and R)."""
    scope = view.scope
    facts = select(*_unit_group("p")).from_(
        table(f"population_{view.pack.indicator.lower()}", "p"), copy=False
    )
    if not scope.single:
        entered = [col(scope.at("entered", p), "p") for p in scope.indices]
        facts = facts.select(*entered, append=True, copy=False)
    if any(isinstance(rule.when, AgeOutside) for rule in view.pack.rules):
        facts = facts.select(
            alias(col("date_of_birth", "b"), BIRTH_DAY), append=True, copy=False
        ).join(table("kept", "b"), on=on(*((c, "p", "b") for c in UNIT)), copy=False)
    for name, (query, _) in view.dates.items():
        alias_name = f"t_{date_column(name)}"
        facts = facts.select(
            *(
                alias(col(scope.at("d", p), alias_name), scope.at(date_column(name), p))
                for p in scope.indices
            ),
            append=True,
            copy=False,
        )
        facts = facts.join(
            table(query, alias_name),
            on=on(*((c, "p", alias_name) for c in UNIT)),
            join_type="left",
            copy=False,
        )
    for count in dict.fromkeys(view.counts.values()):
        for p in scope.indices:
            facts = facts.select(
                alias(col(scope.at("n", p), count), scope.at(f"{count}_n", p)),
                alias(col(scope.at("first_day", p), count), scope.at(f"{count}_first", p)),
                alias(col(scope.at("last_day", p), count), scope.at(f"{count}_last", p)),
                append=True,
                copy=False,
            )
        facts = facts.join(
            table(count), on=on(*((c, "p", count) for c in UNIT)), join_type="left", copy=False
        )
    return facts


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
            exp.GTE(this=deadline, expression=scope.r()),
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


@dataclass(frozen=True)
class TallyColumn:
    """What a column of `series_tally_queries` counts: a pack's outcome and field at the
    reference date numbered `period`."""

    period: int
    indicator: str
    outcome: str
    field: str | None


def series_tally_queries(views: list[PackScope]) -> list[tuple[exp.Select, list[TallyColumn]]]:
    """At several reference dates, per pack: one row per practice (`practice_code`) and a
    count per reference date and (outcome, field), `n0`, `n1`, ... (what each counts is
    beside it). One pass over the pack's cascades, grouped by practice alone, whatever the
    number of reference dates."""
    out = []
    for view in views:
        pack, scope = view.pack, view.scope
        kinds: dict[tuple, list[int]] = {}  # (outcome, field) -> the rules that give it
        for i, rule in enumerate(pack.rules):
            kinds.setdefault((OUTCOME_OF_KIND[rule.kind], rule.field), []).append(i)
        counts, meaning = [], []
        for p in scope.indices:
            for (outcome, field_name), rules in kinds.items():
                decided = is_in(col(scope.at("rule_index", p), "c"), rules)
                counts.append(alias(exp.Sum(this=flag(decided)), f"n{len(meaning)}"))
                meaning.append(TallyColumn(p, pack.indicator, outcome, field_name))
        practice = exp.Nullif(this=col("practice_key", "k"), expression=lit(""))
        query = (
            select(alias(practice, "practice_code"), *counts)
            .from_(table(f"decided_{pack.indicator.lower()}", "c"), copy=False)
            .join(table("kept", "k"), on=on(*((c, "c", "k") for c in UNIT)), copy=False)
            .group_by(col("practice_key", "k"), copy=False)
        )
        out.append((query, meaning))
    return out


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


def ruleset_scope(
    ruleset: RuleSet, has_registrations: bool, periods: tuple[dt.date, ...] | None = None
) -> tuple[Scope, list]:
    """Every pack's queries at the rule set's reference date, or at each of `periods`
    (ascending dates run under the same packs), registers first."""
    scope = Scope(periods or (ruleset.reference_date,), has_registrations)
    scope.ctes.append(
        (
            "visible",
            select(exp.Star())
            .from_(table("entries"), copy=False)
            .where(_visible_at(len(scope.periods) - 1, scope), copy=False),
        )
    )
    scope.ctes.append(("reg_dat", registered_query(scope)))
    views = [pack_queries(pack, scope) for pack in ruleset.ordered()]
    if not scope.single:  # only the tallies read a cascade no other pack's population reads
        populations = {getattr(p.population, "indicator", None) for p in ruleset.packs.values()}
        scope.read_once |= {
            f"decided_{v.pack.indicator.lower()}"
            for v in views
            if v.pack.indicator not in populations
        }
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
    "series_tally_queries",
    "tally_query",
    "trace_query",
    "union_all",
]
