"""The activity query: entries recorded per practice, measure and month, from the keyed
`entries` table that `prepare` made (one patient's entries on one day count once)."""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

from ccrqof.engine.sql.build import alias, all_of, col, day, eq, is_in, lit, select, shifted, table


def activity_query(
    measures: dict[str, tuple[str, ...]], first: dt.date, last: dt.date, registered: bool
):
    """practice_code, measure, year, month_number, count: one SELECT DISTINCT per measure (a
    patient-day counts once in each), then counted. With `registered`, only entries dated
    while the patient was registered at the practice (`unit_regs`): an entry brought from a
    former practice, or one under a practice the patient has left, is not this practice's."""
    parts = []
    for measure, clusters in measures.items():
        conditions = [
            is_in(col("entry_cluster", "e"), sorted(clusters)),
            exp.GTE(this=col("entry_day", "e"), expression=day(first)),
            exp.LTE(this=col("entry_day", "e"), expression=day(last)),
        ]
        rows = select(
            alias(col("practice_key", "e"), "practice_key"),
            alias(lit(measure), "measure"),
            alias(col("unit", "e"), "unit"),
            alias(col("entry_day", "e"), "entry_day"),
        ).from_(table("entries", "e"), copy=False)
        if registered:
            ended = col("deregistration_date", "r")
            rows = rows.join(table("unit_regs", "r"), on=eq(col("unit", "e"), col("unit", "r")))
            conditions += [
                exp.LTE(this=col("registration_date", "r"), expression=col("entry_day", "e")),
                exp.Or(
                    this=exp.Is(this=ended, expression=exp.Null()),
                    expression=exp.GT(this=ended, expression=col("entry_day", "e")),
                ),
            ]
        parts.append(rows.where(all_of(*conditions), copy=False).distinct(copy=False))
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.union(part, distinct=False, copy=False)
    year = exp.Year(this=col("entry_day"))
    month = exp.Month(this=col("entry_day"))
    return (
        select(
            alias(col("practice_key"), "practice_code"),
            col("measure"),
            alias(year, "year"),
            alias(month, "month_number"),
            alias(exp.Count(this=exp.Star()), "count"),
        )
        .from_(rows.subquery("d", copy=False), copy=False)
        .group_by(col("practice_key"), col("measure"), year, month, copy=False)
    )


def cohort_query(view, dates: tuple[str, ...], first: dt.date, last: dt.date):
    """practice_code, year, month_number, count, base of one pack's cohort measure: its
    outcome rows whose entry date is from `first` to `last`, counted per practice and month of
    entry, `count` those whose outcome date is on or before entry + the window (the pack's
    numerator rule, in the same clamped month arithmetic)."""
    from ccrqof.dates import Offset
    from ccrqof.engine.sql.rules import date_column, outcome_query

    cohort = view.pack.measures.cohort
    entry, outcome = col(date_column(cohort.entry)), col(date_column(cohort.outcome))
    within = exp.LTE(this=outcome, expression=shifted(entry, Offset(cohort.within, "months")))
    achieved = exp.Case(
        ifs=[
            exp.If(
                this=all_of(exp.Not(this=exp.Is(this=outcome, expression=exp.Null())), within),
                true=lit(1),
            )
        ],
        default=lit(0),
    )
    rows = outcome_query(view, dates).subquery("o", copy=False)
    year, month = exp.Year(this=entry), exp.Month(this=entry)
    return (
        select(
            col("practice_code"),
            alias(year, "year"),
            alias(month, "month_number"),
            alias(exp.Sum(this=achieved), "count"),
            alias(exp.Count(this=exp.Star()), "base"),
        )
        .from_(rows, copy=False)
        .where(
            all_of(
                exp.GTE(this=entry, expression=day(first)),
                exp.LTE(this=entry, expression=day(last)),
            ),
            copy=False,
        )
        .group_by(col("practice_code"), year, month, copy=False)
    )
