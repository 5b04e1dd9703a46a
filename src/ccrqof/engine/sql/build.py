"""SQL building blocks as sqlglot syntax trees, so every dialect gets the same arithmetic.

Every month or day offset goes through `shifted` (one `DateAdd` node, cast back to DATE: date ±
interval is a TIMESTAMP in DuckDB, PostgreSQL and Spark), every day difference through
`days_between`, and conditions stay inside `CASE` (T-SQL has no boolean values). Nothing here is
written as a SQL string of one dialect and transpiled.
"""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

from ccrqof.dates import Offset

DATE = exp.DataType.build("DATE")
TRUE = exp.EQ(this=exp.Literal.number(1), expression=exp.Literal.number(1))


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table)


def lit(value: object) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def day(value: dt.date) -> exp.Expression:
    """A date literal: inlined, never a parameter (a one-row parameters CTE trips Spark)."""
    return exp.cast(exp.Literal.string(value.isoformat()), DATE)


def null_date() -> exp.Expression:
    return exp.cast(exp.Null(), DATE)


def shifted(date: exp.Expression, offset: Offset | None) -> exp.Expression:
    """`date + offset` as a DATE: calendar months clamp to the month end (31 May + 3 months =
    31 Aug; 30 Nov + 3 months = 28/29 Feb), as QOF counts "N months" (docs/explanation-dates.md).
    """
    if offset is None:
        return date
    unit = exp.Var(this="MONTH" if offset.unit == "months" else "DAY")
    added = exp.DateAdd(this=date, expression=exp.Literal.number(offset.amount), unit=unit)
    return exp.cast(added, DATE)


def days_between(later: exp.Expression, earlier: exp.Expression) -> exp.Expression:
    """Whole days from `earlier` to `later` (never `date - date`, which differs by dialect)."""
    return exp.DateDiff(this=later, expression=earlier, unit=exp.Var(this="DAY"))


def eq(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return exp.EQ(this=left, expression=right)


def all_of(*conditions: exp.Expression) -> exp.Expression:
    conditions = tuple(c for c in conditions if c is not None)
    return exp.and_(*conditions) if conditions else TRUE


def any_of(*conditions: exp.Expression) -> exp.Expression:
    return exp.or_(*conditions)


def is_in(value: exp.Expression, options) -> exp.Expression:
    options = list(options)
    if not options:
        return exp.EQ(this=exp.Literal.number(1), expression=exp.Literal.number(0))
    return exp.In(this=value, expressions=[lit(o) for o in options])


def flag(condition: exp.Expression) -> exp.Expression:
    """1 when the condition holds, else 0 (also when it is unknown: a missing date never
    makes a rule fire, and no NOT may turn unknown into true)."""
    return exp.Case(ifs=[exp.If(this=condition, true=lit(1))], default=lit(0))


def case(whens: list[tuple[exp.Expression, exp.Expression]], default=None) -> exp.Expression:
    return exp.Case(
        ifs=[exp.If(this=c, true=v) for c, v in whens],
        default=default if default is not None else exp.Null(),
    )


def numbered(*by: str) -> exp.Expression:
    """1, 2, 3 ... in the order of the columns `by` (ROW_NUMBER: every dialect has it)."""
    order = exp.Order(expressions=[exp.Ordered(this=col(c), nulls_first=False) for c in by])
    return exp.Window(this=exp.RowNumber(), order=order)


def alias(expression: exp.Expression, name: str) -> exp.Expression:
    return exp.alias_(expression, name, quoted=False)


def table(name: str, as_: str | None = None) -> exp.Table:
    """A table by its plain name (built, not parsed: parsing costs more than the rest)."""
    alias_node = exp.TableAlias(this=exp.to_identifier(as_)) if as_ else None
    return exp.Table(this=exp.to_identifier(name), alias=alias_node)


def select(*columns: exp.Expression) -> exp.Select:
    return exp.select(*columns)


def on(*pairs: tuple[str, str, str]) -> exp.Expression:
    """Join condition `a.x = b.x AND ...` from (column, left table, right table) triples."""
    return all_of(*(eq(col(c, left), col(c, right)) for c, left, right in pairs))


def with_ctes(ctes: list[tuple[str, exp.Select]], final: exp.Select) -> exp.Select:
    """`WITH name AS (query), ... final`, sharing the queries' trees (no copies: a rule set's
    queries are built once per evaluation and only read after)."""
    clause = exp.With(
        expressions=[
            exp.CTE(this=query, alias=exp.TableAlias(this=exp.to_identifier(name)))
            for name, query in ctes
        ]
    )
    final.set("with_", clause)
    return final
