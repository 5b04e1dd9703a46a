"""`ccrqof sql`: a year's rule packs as one SQL script for a warehouse, or a probe of its date
arithmetic (registered on the `ccrqof` group)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from ccrqof.engine.sql.script import DIALECTS, LEVELS


@click.command("sql")
@click.option(
    "--dialect", required=True, type=click.Choice(tuple(DIALECTS)), help="The warehouse's SQL."
)
@click.option("--year", help="QOF year such as 2023-24: the reference date is its end.")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", help="Reference date.")
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="practices",
    show_default=True,
    help="Counts per practice and indicator, or one row per patient and indicator (as "
    "--patients-out; rule and field are rule_id and field_name).",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="NAME=TABLE",
    help="Read input NAME (events, patients or codelist) from TABLE, e.g. "
    "events=warehouse.gp.events. Repeatable.",
)
@click.option(
    "--probe",
    is_flag=True,
    help="Print a query that checks the warehouse's month-end arithmetic (PASS/FAIL rows) "
    "instead of the script.",
)
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    metavar="DIR",
    help="Rule packs in DIR on top of the bundled ones, as for calc.",
)
@click.option(
    "--indicators",
    "--indicator",
    "indicators",
    multiple=True,
    metavar="LIST",
    help="Only these indicators, such as CAN004,CAN005 (the registers they need come too). "
    "Default: all of the year's (CS005/CS006 read the patients table's sex and date_of_birth).",
)
@click.option("--output", type=click.Path(path_type=Path), help="Write the SQL to this file.")
def sql(dialect, year, as_of, level, tables, probe, rules_dir, indicators, output) -> None:
    """One readable SQL script of the rule packs for a warehouse (Snowflake, Databricks,
    SQL Server, PostgreSQL, BigQuery, Spark, DuckDB).

    It reads tables events (patient_id, code, date, practice_code, episode), patients
    (patient_id, practice_code, registration_date, deregistration_date, date_of_birth, sex) and
    codelist (cluster, code); docs/howto-warehouse.md shows how to run it and use it as a dbt
    model. Check the warehouse first with --probe.
    """
    import ccrqof
    from ccrqof.engine.sql import script as scripts
    from ccrqof.loading import named_indicators
    from ccrqof.output import check_outputs
    from ccrqof.reporters.console import deliver
    from ccrqof.reporters.documents import rule_pack_identity

    check_outputs({"--output": output}, [("--rules", rules_dir)])
    if probe:
        deliver(output, scripts.probe(dialect))
        return
    if bool(year) == bool(as_of):
        raise click.UsageError("give --year or --as-of (one of them)")
    try:
        reference = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise click.BadParameter(
            "expected a date as YYYY-MM-DD, e.g. 2024-03-31", param_hint="--as-of"
        ) from None
    ruleset = ccrqof.load_ruleset(year=year, reference_date=reference, rules_dir=rules_dir)
    chosen = named_indicators(indicators, set(ruleset.packs))
    if chosen:
        ruleset = ruleset.only(chosen)
    names = scripts.parse_tables(tables)
    pack = rule_pack_identity(ruleset)
    header = [
        f"ccrqof {ccrqof.__version__}: QOF rules as SQL ({dialect}), one row per "
        + ("practice and indicator" if level == "practices" else "patient and indicator"),
        f"rule pack: {pack['name']} {pack['year']} (sha256 {pack['sha256'][:16]}), "
        f"status {ruleset.status.value}, reference date R = {ruleset.reference_date}",
        *(
            f"{', '.join(group)}: {rules} rules, {status.value}"
            for rules, status, group, _ in ruleset.groups()
            if len(ruleset.groups()) > 1
        ),
        *(
            f"also: {other['name']} {other['year']} (sha256 {other['sha256'][:16]})"
            for other in pack.get("others", ())
        ),
        "inputs: " + ", ".join(f"{n} = {names.get(n, n)}" for n in scripts.INPUT_TABLES),
        "run the probe first: ccrqof sql --probe --dialect " + dialect,
    ]
    deliver(output, scripts.script(ruleset, dialect, level, names, header))
