"""One readable SQL script of a year's packs for a warehouse (`ccrqof sql`).

The script reads three tables: `events` (patient_id, code, date, practice_code, episode),
`patients` (patient_id, practice_code, registration_date, deregistration_date, date_of_birth,
sex) and `codelist` (cluster, code), each renamable. It is the DuckDB engine's own SQL: the
keying steps of `prepare`, then per pack a query per patient date and the cascade (each rule's
words beside its condition), printed in the dialect asked for.
"""

from __future__ import annotations

from sqlglot import exp

from ccrqof.engine.sql import keying
from ccrqof.engine.sql.build import (
    alias,
    case,
    col,
    day,
    days_between,
    eq,
    flag,
    lit,
    select,
    shifted,
    table,
    with_ctes,
)
from ccrqof.engine.sql.rules import date_column, outcome_query, ruleset_scope, union_all
from ccrqof.errors import UsageError
from ccrqof.rules.loader import RuleSet

DIALECTS = {
    "duckdb": "duckdb",
    "postgres": "postgres",
    "spark": "spark",
    "databricks": "databricks",
    "snowflake": "snowflake",
    "tsql": "tsql",
    "bigquery": "bigquery",
}
LEVELS = ("practices", "patients")
INPUT_TABLES = ("events", "patients", "codelist")
PRACTICE_COLUMNS = (
    "practice_code",
    "indicator",
    "reference_date",
    "register",
    "denominator",
    "numerator",
    "pcas",
    "exclusions",
)


def parse_tables(options: tuple[str, ...]) -> dict[str, str]:
    """`--table events=db.schema.gp_events` options as a mapping."""
    names: dict[str, str] = {}
    for option in options:
        name, sep, target = option.partition("=")
        name, target = name.strip().lower(), target.strip()
        if not sep or name not in INPUT_TABLES or not target:
            raise UsageError(
                f"--table expects NAME=TABLE with NAME one of {', '.join(INPUT_TABLES)}, "
                "e.g. events=warehouse.gp.events"
            )
        names[name] = target
    return names


def _rename(query: exp.Expression, tables: dict[str, str], ctes: set[str]) -> exp.Expression:
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in tables and not node.args.get("db"):
            if node.name in ctes:
                return node
            renamed = exp.to_table(tables[node.name])
            return renamed.as_(node.alias) if node.alias else renamed
        return node

    return query.transform(swap)


def _practices(ruleset: RuleSet) -> exp.Select:
    """Counts per practice and indicator, as the summary's first columns."""

    def total(outcome: str) -> exp.Expression:
        return exp.cast(exp.Sum(this=flag(eq(col("outcome"), lit(outcome)))), "BIGINT")

    counts = (
        select(
            col("practice_code"),
            col("indicator"),
            alias(total("numerator"), "numerator"),
            alias(total("denominator"), "denominator_only"),
            alias(total("pca"), "pcas"),
            alias(total("exclusion"), "exclusions"),
        )
        .from_(table("outcome_rows"), copy=False)
        .group_by(col("practice_code"), col("indicator"), copy=False)
    )
    register_of = exp.Case(
        ifs=[
            exp.If(
                this=eq(col("indicator", "c"), lit(p.indicator)),
                true=lit(p.indicator if p.is_register else p.register),
            )
            for p in ruleset.ordered()
        ],
        default=exp.Null(),
    )
    register = exp.Coalesce(this=col("numerator", "r"), expressions=[lit(0)])
    unregistered = [p.indicator for p in ruleset.ordered() if not p.is_register and not p.register]
    if unregistered:  # CS005: no register, so none to count (NULL, as the summary's)
        register = exp.Case(
            ifs=[
                exp.If(
                    this=exp.In(
                        this=col("indicator", "c"), expressions=[lit(i) for i in unregistered]
                    ),
                    true=exp.Null(),
                )
            ],
            default=register,
        )
    return (
        select(
            col("practice_code", "c"),
            col("indicator", "c"),
            alias(day(ruleset.reference_date), "reference_date"),
            alias(register, "register"),
            alias(
                exp.Add(this=col("numerator", "c"), expression=col("denominator_only", "c")),
                "denominator",
            ),
            col("numerator", "c"),
            col("pcas", "c"),
            col("exclusions", "c"),
        )
        .from_(counts.subquery("c"), copy=False)
        .join(
            counts.subquery("r"),
            on=exp.and_(
                eq(col("practice_code", "r"), col("practice_code", "c")),
                eq(col("indicator", "r"), register_of),
            ),
            join_type="left",
            copy=False,
        )
    )


def script(
    ruleset: RuleSet,
    dialect: str,
    level: str = "practices",
    tables: dict[str, str] | None = None,
    header: list[str] = (),
) -> str:
    """The whole script: a header of comments, then one statement."""
    if dialect not in DIALECTS:
        raise UsageError(f"no dialect {dialect}; choose from {', '.join(DIALECTS)}")
    if level not in LEVELS:
        raise UsageError(f"--level is practices or patients, not {level}")
    shape = keying.Shape(
        "given",
        True,
        "with_practice",
        every_patient=ruleset.needs_every_patient(),  # CS005: women with no coded entry
        has_cluster_column=False,
    )
    steps = keying.steps(shape, sorted(ruleset.clusters()))
    scope, views = ruleset_scope(ruleset, has_registrations=True)
    for view in views:
        _comment_rules(view, scope)
    dates = ruleset.outcome_dates()
    rows = union_all([outcome_query(v, dates) for v in views])
    ctes = [*steps, *scope.ctes]
    if level == "patients":
        final = select(
            *(col(c) for c in ("practice_code", "patient_id", "indicator", "outcome")),
            col("rule_id"),
            col("field_name"),
            *(alias(col(date_column(n)), n.lower()) for n in dates),
            col("due_by"),
        ).from_(rows.subquery("o"), copy=False)
        final = final.order_by(
            col("practice_code"), col("indicator"), col("patient_id"), copy=False
        )
    else:
        ctes.append(("outcome_rows", rows))
        final = _practices(ruleset).order_by(
            col("practice_code", "c"), col("indicator", "c"), copy=False
        )
    query = with_ctes(ctes, final)
    names = {name for name, _ in ctes}
    query = _rename(query, tables or {}, names - set(INPUT_TABLES))
    body = query.sql(dialect=DIALECTS[dialect], pretty=True, identify=False)
    return "\n".join([*(f"-- {line}" for line in header), body + ";", ""])


def _comment_rules(view, scope) -> None:
    """Each rule's words beside its condition in the cascade's CASE."""
    name = f"decided_{view.pack.indicator.lower()}"
    for cte_name, query in scope.ctes:
        if cte_name != name:
            continue
        case = query.find(exp.Case)
        for rule, branch in zip(view.pack.rules, case.args["ifs"], strict=True):
            words = f"{view.pack.indicator} {rule.rule} {rule.kind.value}"
            if rule.field:
                words += f" {rule.field}"
            branch.this.add_comments([f"{words}: {rule.says}"])


# (start, offset, expected): the month ends a warehouse must clamp as QOF does
PROBE_CASES = (
    ("2024-02-29", "- 12 months", "2023-02-28"),
    ("2023-01-31", "+ 1 month", "2023-02-28"),
    ("2024-01-31", "+ 1 month", "2024-02-29"),
    ("2024-04-30", "- 3 months", "2024-01-30"),
    ("2023-05-31", "+ 3 months", "2023-08-31"),
    ("2023-11-30", "+ 3 months", "2024-02-29"),
    ("2024-03-31", "- 24 months", "2022-03-31"),
    ("2023-02-28", "+ 1 month", "2023-03-28"),  # not 03-31: ADD_MONTHS keeps month ends
    ("2024-03-01", "- 1 day", "2024-02-29"),
    ("2024-03-31", "- 93 days", "2023-12-29"),
)


def probe(dialect: str) -> str:
    """A query that checks the warehouse's month and day arithmetic: one PASS/FAIL row per
    case, and one for a day difference."""
    import datetime as dt

    from ccrqof.dates import parse_offset

    if dialect not in DIALECTS:
        raise UsageError(f"no dialect {dialect}; choose from {', '.join(DIALECTS)}")
    rows = []
    for start, offset, want in PROBE_CASES:
        got = shifted(day(dt.date.fromisoformat(start)), parse_offset(offset))
        check = eq(got, day(dt.date.fromisoformat(want)))
        rows.append((f"{start} {offset} = {want}", check))
    span = days_between(day(dt.date(2024, 3, 1)), day(dt.date(2024, 2, 1)))
    rows.append(("days from 2024-02-01 to 2024-03-01 = 29", eq(span, lit(29))))
    query = union_all(
        [
            select(
                alias(lit(name), "probe"),
                alias(case([(check, lit("PASS"))], default=lit("FAIL")), "result"),
            )
            for name, check in rows
        ]
    )
    return query.sql(dialect=DIALECTS[dialect], pretty=True) + ";\n"
