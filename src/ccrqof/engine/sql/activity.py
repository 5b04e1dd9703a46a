"""The activity query: entries recorded per practice, measure and month, from the keyed
`entries` table that `prepare` made (one patient's entries on one day count once)."""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

from ccrqof.engine.sql.build import alias, all_of, col, day, is_in, lit, select, table


def activity_query(measures: dict[str, tuple[str, ...]], first: dt.date, last: dt.date):
    """practice_code, measure, year, month_number, count: one SELECT DISTINCT per measure (a
    patient-day counts once in each), then counted."""
    parts = []
    for measure, clusters in measures.items():
        parts.append(
            select(
                col("practice_key"),
                alias(lit(measure), "measure"),
                col("unit"),
                col("entry_day"),
            )
            .from_(table("entries"), copy=False)
            .where(
                all_of(
                    is_in(col("entry_cluster"), sorted(clusters)),
                    exp.GTE(this=col("entry_day"), expression=day(first)),
                    exp.LTE(this=col("entry_day"), expression=day(last)),
                ),
                copy=False,
            )
            .distinct(copy=False)
        )
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
