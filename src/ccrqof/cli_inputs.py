"""The input options every evaluating command shares (events, patients, code list, columns,
dates, rule packs, rejects), and loading them with `ccrqof.loading.load`."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import click

from ccrqof.columns import parse_column_options
from ccrqof.engine import DEFAULT_ENGINE, ENGINES
from ccrqof.loading import load
from ccrqof.output import check_outputs
from ccrqof.reporters.console import say

INPUT_NAMES = (
    "events",
    "patients",
    "codelists",
    "column_options",
    "encoding",
    "skip_rows",
    "rejects",
    "strict",
    "year",
    "as_of",
    "rules_dir",
    "allow_missing_clusters",
    "engine",
    "memory_limit",
    "spill_dir",
    "spark_remote",
    "indicators",
)


@dataclass(frozen=True)
class Inputs:
    """The options every evaluating command shares, gathered in one value."""

    events: tuple
    patients: Path | None
    codelists: Path | None
    column_options: tuple
    encoding: str | None
    rejects: Path | None
    strict: bool
    year: str | None
    as_of: str | None
    rules_dir: Path | None = None
    allow_missing_clusters: bool = False
    engine: str = DEFAULT_ENGINE
    memory_limit: str | None = None
    spill_dir: Path | None = None
    spark_remote: str | None = None
    indicators: tuple[str, ...] = ()
    skip_rows: int | None = None

    def check_engine_options(self) -> None:
        """Engine options that the chosen engine cannot use are an error before any reading."""
        if self.engine != "duckdb":
            for option, value in (
                ("--memory-limit", self.memory_limit),
                ("--spill-dir", self.spill_dir),
            ):
                if value is not None:
                    raise click.UsageError(f"{option} works with --engine duckdb only")
        if self.engine != "spark" and self.spark_remote is not None:
            raise click.UsageError("--spark-remote works with --engine spark only")
        if self.memory_limit is not None and not _SIZE.fullmatch(self.memory_limit.strip()):
            raise click.BadParameter(
                "expected a size such as 4GB, 500MB or 2GiB", param_hint="--memory-limit"
            )

    def chosen_engine(self):
        from ccrqof.engine import get_engine

        if self.engine == "duckdb":
            return get_engine(
                "duckdb", memory_limit=self.memory_limit, temp_directory=self.spill_dir
            )
        if self.engine == "spark":
            return get_engine("spark", remote=self.spark_remote)
        return get_engine(self.engine)


_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", re.IGNORECASE)


def input_options(command):
    """The shared input, code-list, column-mapping and date options, passed as `inputs`."""

    @functools.wraps(command)
    def with_inputs(**kwargs):
        inputs = Inputs(**{name: kwargs.pop(name) for name in INPUT_NAMES})
        inputs.check_engine_options()
        if inputs.engine == "spark":
            inputs.chosen_engine()  # no pyspark, Java or server: say so before reading inputs
        return command(inputs, **kwargs)

    for option in reversed(
        (
            click.argument("events", nargs=-1, required=True, type=click.Path(path_type=Path)),
            click.option(
                "--patients",
                type=click.Path(path_type=Path),
                help="Registrations file (patient_id, registration_date, ...). Without "
                "it, registration columns on event rows are used, or every patient counts "
                "as registered.",
            ),
            click.option(
                "--codelists",
                type=click.Path(path_type=Path),
                help="NHS PCD refset content file (Cluster_ID, SNOMED_code) or a folder of "
                "<cluster>.csv files, or of OpenCodelists downloads (the newest version of each "
                "cluster is used). Without it, a cluster column or the small bundled "
                "illustrative list is used.",
            ),
            click.option(
                "--column",
                "column_options",
                multiple=True,
                metavar="NAME=SOURCE",
                help="Use input column SOURCE as NAME (e.g. code=SnomedCTConceptId). Repeatable.",
            ),
            click.option(
                "--skip-rows",
                "skip_rows",
                type=click.IntRange(min=0),
                metavar="N",
                help="Skip N lines above the header row of every CSV events and patients file "
                "(a report's title and run date). Default: when the first line is not the "
                "header, the first line that names a patient id and another known column is, "
                "and the lines above it are skipped with a note; 0 turns that off.",
            ),
            click.option(
                "--encoding",
                help="Text encoding of CSV inputs (default: UTF-8, else "
                "Windows-1252 with a notice).",
            ),
            click.option(
                "--rejects",
                type=click.Path(path_type=Path),
                help="Write every rejected row with its file, line, column and reason "
                "(.csv or .parquet). Contains the rows' values.",
            ),
            click.option(
                "--strict",
                is_flag=True,
                help="Fail (exit 1) if any row is rejected, after writing --rejects.",
            ),
            click.option(
                "--year", help="QOF year such as 2023-24: the reference date is its end (31 March)."
            ),
            click.option(
                "--as-of",
                "as_of",
                metavar="YYYY-MM-DD",
                help="Reference date; the rules of the QOF year containing it apply.",
            ),
            click.option(
                "--indicators",
                "--indicator",
                "indicators",
                multiple=True,
                metavar="LIST",
                help="The indicators to compute, such as CAN004,CS005 (comma-separated or "
                "repeated; the registers they need come too). Default: every indicator of "
                "the year whose inputs are present (CS005/CS006 need sex and date of birth "
                "in the patients file).",
            ),
            click.option(
                "--rules",
                "rules_dir",
                type=click.Path(path_type=Path, exists=True, file_okay=False),
                metavar="DIR",
                help="Use the rule packs in DIR (year folders such as 2023-24, as bundled) "
                "on top of the bundled packs: its years replace the bundled ones. Check them "
                "first with 'ccrqof rules check DIR'.",
            ),
            click.option(
                "--allow-missing-clusters",
                is_flag=True,
                help="Go on (with a warning) when the code list has no codes for a cluster "
                "the rules read; by default that is an error, since every count using the "
                "cluster would be a quiet zero.",
            ),
            click.option(
                "--engine",
                type=click.Choice(list(ENGINES)),
                default=DEFAULT_ENGINE,
                show_default=True,
                help="How the rules run: embedded DuckDB (the packs compiled to SQL; works out "
                "of core), the in-memory Python reference engine, or Spark (the same SQL, "
                "locally or on a cluster with --spark-remote; pip install 'ccrqof[spark]'). "
                "All give the same results.",
            ),
            click.option(
                "--memory-limit",
                metavar="SIZE",
                help="DuckDB engine: the most memory it holds (e.g. 4GB); past it, work spills "
                "to --spill-dir. Default: 80% of the machine's memory.",
            ),
            click.option(
                "--spill-dir",
                type=click.Path(path_type=Path, file_okay=False),
                help="DuckDB engine: where work past --memory-limit spills (fast local disk "
                "with room for about the extract's size). Default: a new folder in the "
                "system's temporary folder, removed at the end.",
            ),
            click.option(
                "--spark-remote",
                metavar="URL",
                help="Spark engine: run on this Spark Connect server, such as sc://host:15002 "
                "or a Databricks cluster (docs/howto-spark.md). Default: the SPARK_REMOTE "
                "environment variable's server, else Spark on this machine.",
            ),
        )
    ):
        with_inputs = option(with_inputs)
    return with_inputs


def check_inputs_outputs(
    inputs: Inputs,
    org_map: Path | None = None,
    list_sizes: Path | None = None,
    **paths: Path | None,
) -> None:
    """Before any work: no output is or could become an input, no two outputs share a file,
    output folders are writable, suffixes are known."""
    sources = [
        *(("EVENTS", events) for events in inputs.events),
        ("--patients", inputs.patients),
        ("--codelists", inputs.codelists),
        ("--org-map", org_map),
        ("--list-sizes", list_sizes),
        ("--rules", inputs.rules_dir),
    ]
    named = {"--" + option.replace("_", "-"): path for option, path in paths.items()}
    check_outputs(named, sources)
    for option, path in paths.items():
        if path is None:
            continue
        if option not in ("output", "chart") and path.suffix.lower() not in (".csv", ".parquet"):
            raise click.UsageError(f"--{option.replace('_', '-')} must end in .csv or .parquet")


def _parse_as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "expected a date as YYYY-MM-DD, e.g. 2024-03-31", param_hint="--as-of"
        ) from None


def ruleset_of(inputs: Inputs):
    """The rule set the inputs' date selects, before any reading (to check choices early)."""
    import ccrqof

    if inputs.year and inputs.as_of:
        raise click.UsageError("give --year or --as-of, not both")
    as_of = _parse_as_of(inputs.as_of)
    return ccrqof.load_ruleset(
        year=inputs.year,
        reference_date=None if inputs.year else (as_of or dt.date.today()),
        rules_dir=inputs.rules_dir,
    )


def load_inputs(inputs: Inputs, on_file=None, series=()):
    """(ruleset, extract, codelist, indicators run) for the shared options, from
    `ccrqof.loading.load`, its notices and warnings printed on stderr as they arise. The
    options' own spelling is checked first, as click usage errors."""
    if inputs.year and inputs.as_of:
        raise click.UsageError("give --year or --as-of, not both")
    as_of = _parse_as_of(inputs.as_of)
    columns = parse_column_options(inputs.column_options)
    loaded = load(
        inputs.events,
        inputs.patients,
        codelists=inputs.codelists,
        columns=columns,
        encoding=inputs.encoding,
        skip_rows=inputs.skip_rows,
        rejects=inputs.rejects,
        strict=inputs.strict,
        year=inputs.year,
        as_of=as_of,
        rules_dir=inputs.rules_dir,
        allow_missing_clusters=inputs.allow_missing_clusters,
        indicators=inputs.indicators or None,
        series=series,
        on_file=on_file,
        on_message=say,
    )
    return loaded.ruleset, loaded.extract, loaded.codelist, loaded.indicators
