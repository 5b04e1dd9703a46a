"""The `ccrqof` command: parses options, calls the library, turns errors into exit codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import click

import ccrqof
from ccrqof import measures, value
from ccrqof.cli_inputs import (
    Inputs,
    check_inputs_outputs,
    input_options,
    load_inputs,
    ruleset_of,
)
from ccrqof.cli_rules import rules
from ccrqof.cli_sql import sql
from ccrqof.dates import last_complete_month
from ccrqof.entry import run
from ccrqof.explanation import explain_patient
from ccrqof.loading import named_indicators
from ccrqof.organisations import (
    LEVELS,
    check_level,
    missing_from_map,
    parse_org_columns,
    published,
    read_org_map,
    summarise,
    with_org,
)
from ccrqof.output import check_split_folder
from ccrqof.readers import release_unused_memory
from ccrqof.reporters import flat_summary, json_document, patient_outcomes, render_summary
from ccrqof.reporters import measures as measures_view
from ccrqof.reporters.console import Stages, deliver, warn
from ccrqof.reporters.documents import (
    COLUMN_TYPES,
    dump_json,
    indicator_rules,
    input_counts,
    stamped,
    write_frame,
)
from ccrqof.reporters.documents import json_records as records_of
from ccrqof.reporters.files import SUFFIXES, write_split
from ccrqof.reporters.patients import (
    explanation_document,
    render_explanations,
    render_worklist,
    worklist_document,
    worklist_frame,
)
from ccrqof.reporters.terminal import input_lines, render_value
from ccrqof.reporters.trends import TREND_SORTS, render_trend, write_chart, write_charts_by
from ccrqof.trend import month_ends, parse_month, series
from ccrqof.worklist import build_worklist, listable

MAX_WITHIN_DAYS = 3660  # ten years: far beyond any deadline, and safe for date arithmetic
FILE_FORMATS = ("csv", "parquet", "xlsx", "html")
FORMATS = ("table", "json", *FILE_FORMATS)
CALC_FORMATS = (*FORMATS, "published")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(ccrqof.__version__, prog_name="ccrqof")
def cli() -> None:
    """QOF cancer (CAN001, CAN004, CAN005) and cervical screening (CS005, CS006) indicators
    from SNOMED CT coded GP extracts."""


cli.add_command(rules)
cli.add_command(sql)


def _org_map(
    path: Path | None, by: str, columns: tuple[str, ...] = (), split_by: str | None = None
):
    """The org map, checked for the --by and --split-by levels before the (possibly long)
    read of the extract; what it left out (ended PCN memberships...) said once."""
    if path is None:
        if columns:
            raise click.UsageError("--org-column needs --org-map FILE")
        return None
    organisations = read_org_map(path, parse_org_columns(columns))
    check_level(by, organisations)
    if split_by not in (None, "practice") and f"{split_by}_code" not in organisations:
        raise click.UsageError(
            f"--split-by {split_by}: the org map has no {split_by}_code column (found: "
            f"{', '.join(organisations.columns)}); name one with --org-column "
            f"{split_by}_code=HEADER"
        )
    for notice in organisations.attrs.get("notices", []):
        warn(notice)
    return organisations


def org_options(command):
    """--org-map and --org-column: practices' names, PCNs and ICBs on every row."""
    command = click.option(
        "--org-column",
        multiple=True,
        metavar="NAME=HEADER",
        help="The org map's column for NAME (practice_code, practice_name, pcn_code, pcn_name, "
        'icb_code, icb_name), e.g. practice_code="Partner Organisation Code". Repeatable.',
    )(command)
    return click.option(
        "--org-map",
        type=click.Path(path_type=Path),
        help="Practices' names, PCNs and ICBs (.csv or .xlsx): ccrqof's column names, NHS "
        "England's ePCN file or the NHS mapping file's headers. Adds them to every row; "
        "needed for --by and --split-by pcn or icb.",
    )(command)


def file_options(levels: tuple[str, ...]):
    """--split-by and --excel-friendly: files for the next tool and for each group."""

    def wrap(command):
        command = click.option(
            "--excel-friendly",
            is_flag=True,
            help="For --format csv: UTF-8 with a byte-order mark, and identifiers written as "
            '="0123" so Excel keeps leading zeros and long codes. Only for opening in Excel, '
            "not for Power BI, pandas or R.",
        )(command)
        return click.option(
            "--split-by",
            type=click.Choice(levels),
            help="Write one file per "
            + ", ".join(levels).replace("pcn", "PCN").replace("icb", "ICB")
            + " into the --output folder, named by its code (<code>.csv, .parquet, .xlsx or "
            ".html, by --format); pcn and icb need --org-map.",
        )(command)

    return wrap


def measures_options(what: str):
    """--measures and --measures-out (calc and trend), `what` saying what they hold."""

    def wrap(command):
        command = click.option(
            "--measures-out",
            type=click.Path(path_type=Path),
            help="Write the measures, one row per group, measure and month, to this file (.csv "
            "or .parquet); implies --measures.",
        )(command)
        return click.option(
            "--measures",
            "with_measures",
            is_flag=True,
            help=f"Also show the measures that show change quickly: {what}",
        )(command)

    return wrap


def _check_files(
    inputs: Inputs,
    fmt,
    output,
    split_by,
    excel_friendly,
    by="practice",
    org_map=None,
    **others: Path | None,
) -> bool:
    """The file options, before any reading; True when --output is a folder of split files
    (`others`: the command's other outputs, which may not land among the split files)."""
    if fmt in ("parquet", "xlsx", "html") and output is None:
        raise click.UsageError(f"--format {fmt} needs --output FILE")
    if excel_friendly and (fmt != "csv" or output is None):
        raise click.UsageError("--excel-friendly is for --format csv with --output FILE")
    if split_by is None:
        return False
    if output is None or fmt not in FILE_FORMATS:
        raise click.UsageError(
            "--split-by writes files: give --output FOLDER and --format csv, parquet, xlsx or html"
        )
    if LEVELS.index(split_by) < LEVELS.index(by):
        raise click.UsageError(f"--split-by {split_by} is finer than --by {by}")
    if split_by != "practice" and org_map is None:
        raise click.UsageError(f"--split-by {split_by} needs --org-map FILE")
    sources = [
        *(("EVENTS", events) for events in inputs.events),
        ("--patients", inputs.patients),
        ("--codelists", inputs.codelists),
        ("--org-map", org_map),
        ("--rules", inputs.rules_dir),
    ]
    folder = check_split_folder(output, f".{fmt}", "--output", sources).resolve()
    for option, path in others.items():
        if path is not None and Path(path).resolve().parent == folder:
            raise click.UsageError(
                f"--{option.replace('_', '-')} {path} is in the --split-by folder {output}, "
                "among the files sent to each group: write it elsewhere"
            )
    for label, source in sources:
        if (
            source is not None
            and Path(source).is_file()
            and Path(source).resolve().parent == folder
        ):
            raise click.UsageError(
                f"--output {output} holds the input {source} ({label}): split files beside "
                "inputs would be read as input by a run given the folder; choose a folder of "
                "their own"
            )
    return True


def _write(frame, output, fmt, split_by, excel_friendly, title: str) -> None:
    """A table to --output (or standard output), or one file per group into the folder."""
    if split_by is not None:
        write_split(
            frame,
            f"{split_by}_code",
            output,
            fmt,
            excel_friendly=excel_friendly,
            title=title,
            types=COLUMN_TYPES,
        )
    elif output is not None:
        write_frame(frame, output, fmt, excel_friendly=excel_friendly, title=title)
    else:
        deliver(None, frame)


def _split_notices(practices, organisations, by: str, split_by: str | None) -> list[str]:
    """Practices the map gives no code for the --split-by level (they go to the
    not-in-org-map file); those missing from the map altogether are said at --by already."""
    if split_by in (None, by, "practice"):
        return []
    return [n for n in missing_from_map(practices, organisations, split_by) if "have no" in n]


def _title(what: str, ruleset) -> str:
    return f"ccrqof {what}, {ruleset.reference_date:%d %b %Y}"


SUFFIX_FORMATS = {**SUFFIXES, ".json": "json"}  # the file writers' suffixes, and JSON


def _format(fmt: str | None, output: Path | None) -> str:
    """--format, or the one --output's suffix names (summary.csv is CSV, not a text table)."""
    if fmt is not None:
        return fmt
    return SUFFIX_FORMATS.get(output.suffix.lower(), "table") if output else "table"


def _chosen(given: tuple[str, ...], available: set[str]) -> tuple[str, ...] | None:
    """--indicators values that this command can show, checked (None: all of them)."""
    why = "--indicators {}: not an indicator these rule packs can list here"
    return named_indicators(given or None, available, why)


@cli.command()
@input_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(CALC_FORMATS),
    help="Summary format; 'published' is NHS Digital's long achievement shape. Default: "
    "from --output's suffix (.csv, .parquet, .xlsx, .html, .json), else table.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the summary to this file instead of standard output.",
)
@click.option(
    "--patients-out",
    type=click.Path(path_type=Path),
    help="Also write one row per register patient and indicator (.csv or .parquet). "
    "Contains patient identifiers.",
)
@org_options
@click.option(
    "--by",
    type=click.Choice(LEVELS),
    default="practice",
    show_default=True,
    help="Report per practice, or roll up to PCN or ICB (needs --org-map).",
)
@click.option(
    "--value",
    "with_value",
    is_flag=True,
    help="Also estimate what the points are worth in pounds (points x GBP per point x CPI x "
    "APDF, each figure with its source): an estimate, not a payment.",
)
@click.option(
    "--list-sizes",
    type=click.Path(path_type=Path),
    help="For --value: CSV of practice_code, list_size. Default: the patients registered at "
    "the reference date in --patients (too few if the extract holds only some patients).",
)
@click.option(
    "--national",
    multiple=True,
    metavar="NAME=VALUE",
    help="For --value: a national figure the rule pack lacks or you know better: "
    "pound_per_point, average_list_size or prevalence.CAN001 (a fraction). Repeatable.",
)
@measures_options(
    "cohorts by month of diagnosis (closed and so far) and this month's reviews, support "
    "discussions, invitations and PCA codes per 1,000 on the register."
)
@file_options(LEVELS)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def calc(
    inputs: Inputs,
    fmt,
    output,
    patients_out,
    org_map,
    org_column,
    by,
    with_value,
    list_sizes,
    national,
    with_measures,
    measures_out,
    split_by,
    excel_friendly,
    quiet,
) -> None:
    """Score CAN001, CAN004, CAN005, CS005 and CS006 for every practice in EVENTS.

    EVENTS is one or more files, globs or folders (CSV, CSV.gz or Parquet; a folder may be a
    Parquet dataset partitioned by practice_code=...). With neither --year nor --as-of the
    reference date is today.
    """
    fmt = _format(fmt, output)
    if fmt == "published" and by != "practice":
        raise click.UsageError("--format published is per practice; leave out --by")
    if by != "practice" and org_map is None:
        raise click.UsageError(f"--by {by} needs --org-map FILE")
    with_value = with_value or list_sizes is not None or bool(national)
    if with_value and fmt == "published":
        raise click.UsageError("--value adds columns NHS Digital's published shape has not")
    given = value.parse_national(national)
    value.check_national(given, ruleset_of(inputs) if given else None)
    with_measures = with_measures or measures_out is not None
    if with_measures and measures_out is None and fmt not in ("table", "json"):
        raise click.UsageError(
            "--measures adds to the terminal table or JSON; with --format "
            f"{fmt} write them with --measures-out FILE"
        )
    folder = _check_files(
        inputs,
        fmt,
        output,
        split_by,
        excel_friendly,
        by,
        org_map,
        patients_out=patients_out,
        measures_out=measures_out,
        rejects=inputs.rejects,
    )
    check_inputs_outputs(
        inputs,
        org_map,
        list_sizes,
        output=None if folder else output,
        patients_out=patients_out,
        rejects=inputs.rejects,
        measures_out=measures_out,
    )
    organisations = _org_map(org_map, by, org_column, split_by)
    sizes = value.read_list_sizes(list_sizes) if list_sizes is not None else None
    with Stages(quiet) as stages:
        stages.start("Reading")
        ruleset, extract, codelist, _ = load_inputs(inputs, on_file=stages.file_read)
        stages.start("Applying the rules")
        engine = inputs.chosen_engine()
        handle = engine.prepare(extract, codelist, [ruleset])
        evaluation = engine.evaluate(handle, ruleset)
        stages.start("Scoring")
        summary, notices = summarise(evaluation, by, organisations)
        notices += _split_notices(evaluation.practices, organisations, by, split_by)
        quick = None
        if with_measures:
            quick = measures.for_month(engine, handle, evaluation, by, organisations)
        worth = None
        if with_value:
            source = (
                f"--list-sizes {list_sizes.name}"
                if sizes is not None
                else ("patients registered at the reference date in the patients file")
            )
            if sizes is None:
                sizes = value.registered_list_sizes(extract.patients, ruleset.reference_date)
            practices = summary if by == "practice" else ccrqof.score(evaluation)
            summary, worth = value.with_values(
                summary, practices, ruleset, sizes, source, given, by, organisations
            )
        stages.start("Writing")
        if fmt == "json":
            document = json_document(evaluation, summary, extract.report, ccrqof.__version__)
            if worth is not None:
                document["value"] = worth
            if quick is not None:
                document["measures"] = records_of(with_org(quick, organisations, by))
            deliver(output, dump_json(document))
        elif fmt == "published":  # CSV, unless --output names a Parquet file
            parquet = output is not None and output.suffix.lower() in (".parquet", ".pq")
            deliver(output, published(summary, evaluation.ruleset), "parquet" if parquet else "csv")
        elif fmt in FILE_FORMATS:
            frame = flat_summary(summary, evaluation.ruleset)
            title = _title("QOF indicators", ruleset)
            _write(frame, output, fmt, split_by, excel_friendly, title)
        if patients_out is not None:
            rows = stamped(patient_outcomes(evaluation), ruleset)
            write_frame(with_org(rows, organisations), patients_out)
        if measures_out is not None:
            write_frame(with_org(quick, organisations, by), measures_out)
    for notice in [*evaluation.notices, *notices]:
        warn(notice)
    if worth is not None and fmt in FILE_FORMATS:  # a file holds no caveats: say them
        warn(f"value_gbp is an {worth['label']}")
        for note in worth["notes"]:
            warn(note)
    if fmt == "table":
        lines = input_lines(input_counts(evaluation, extract.report))

        def table(console) -> None:
            render_summary(console, evaluation, summary, lines)
            if worth is not None:
                render_value(console, summary, worth)
            if quick is not None:
                measures_view.render_month(console, quick)

        deliver(output, table)


@cli.command()
@input_options
@click.option(
    "--within",
    "within_days",
    type=click.IntRange(min=0, max=MAX_WITHIN_DAYS),
    metavar="DAYS",
    help="Only patients whose deadline is in the next DAYS days (0 to 3660: no deadline is "
    "further away than the 12-month review window).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Default: from --output's suffix (.csv, .parquet, .xlsx, .html, .json), else table.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the list to this file (with --split-by: this folder) instead of standard output.",
)
@org_options
@file_options(LEVELS)
def worklist(
    inputs: Inputs, within_days, fmt, output, org_map, org_column, split_by, excel_friendly
) -> None:
    """Patients who can still achieve CAN004/CAN005, by deadline, and those who will not;
    women to screen for CS005/CS006 by the year end, and those whose test lapses before it.

    The output holds patient identifiers: it is the patient list you asked for.
    """
    fmt = _format(fmt, output)
    folder = _check_files(
        inputs, fmt, output, split_by, excel_friendly, "practice", org_map, rejects=inputs.rejects
    )
    check_inputs_outputs(inputs, org_map, output=None if folder else output, rejects=inputs.rejects)
    organisations = _org_map(org_map, "practice", org_column, split_by)
    listed = {p.indicator for p in ruleset_of(inputs).packs.values() if listable(p)}
    indicator = _chosen(inputs.indicators, listed)  # before the (long) read
    ruleset, extract, codelist, _ = load_inputs(inputs)
    evaluation = ccrqof.evaluate(extract, ruleset, codelist, engine=inputs.chosen_engine())
    for notice in [*evaluation.notices, *missing_from_map(evaluation.practices, organisations)]:
        warn(notice)
    result = build_worklist(evaluation, ccrqof.score(evaluation), indicator, within_days)
    reference = ruleset.reference_date.isoformat()
    if fmt == "json":
        document = worklist_document(result, reference, ruleset.year.year)
        document["indicators"] = indicator_rules(ruleset)  # each one's rules' year and status
        deliver(output, dump_json(document))
    elif fmt in FILE_FORMATS:
        frame = with_org(stamped(worklist_frame(result), ruleset), organisations)
        _write(frame, output, fmt, split_by, excel_friendly, _title("worklist", ruleset))
    else:
        deliver(output, lambda c: render_worklist(c, result, reference, ruleset.described()))


@cli.command()
@input_options
@click.option(
    "--patient",
    "patient_id",
    required=True,
    metavar="ID",
    help="The patient to explain (as in the extract).",
)
@click.option(
    "--practice",
    help="The practice, when the id appears under several (compared in upper case).",
)
@click.option(
    "--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the explanation to this file instead of standard output.",
)
def explain(inputs: Inputs, patient_id, practice, fmt, output) -> None:
    """Why one patient counts as they do: timeline and every rule, in order."""
    patient_id = patient_id.strip()  # ids are trimmed when read: a pasted space must not miss
    practice = practice.strip().upper() if practice else None
    check_inputs_outputs(inputs, output=output, rejects=inputs.rejects)
    ruleset, extract, codelist, _ = load_inputs(inputs)
    engine = inputs.chosen_engine()
    handle = engine.prepare(extract, codelist, [ruleset], also_patients=(patient_id,))
    for notice in handle.notices:
        warn(notice)
    explanations = explain_patient(engine, handle, ruleset, patient_id, practice)
    if fmt == "json":
        deliver(output, dump_json({"explanations": explanation_document(explanations)}))
    else:
        deliver(output, lambda console: render_explanations(console, explanations))


@cli.command()
@input_options
@click.option("--from", "start", required=True, metavar="YYYY-MM", help="First month.")
@click.option(
    "--to",
    "end",
    metavar="YYYY-MM",
    help="Last month. Default: the last complete month (the month before today's).",
)
@click.option(
    "--every",
    type=click.Choice(["month", "quarter"]),
    default="month",
    show_default=True,
    help="A point at every month end, or every quarter end.",
)
@org_options
@click.option(
    "--by",
    type=click.Choice(LEVELS),
    default="practice",
    show_default=True,
    help="Per practice, PCN or ICB (needs --org-map).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Default: from --output's suffix (.csv, .parquet, .xlsx, .html, .json), else table.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the series to this file (with --split-by: this folder) instead of standard output.",
)
@file_options(LEVELS)
@click.option(
    "--chart",
    type=click.Path(path_type=Path),
    help="Also draw achievement over time to FILE.svg, FILE.png or FILE.html.",
)
@click.option(
    "--title",
    help="The chart's title (default: the indicators shown and the months).",
)
@click.option(
    "--sort",
    type=click.Choice(TREND_SORTS),
    default="name",
    show_default=True,
    help="Order of the table's rows: by name, by change (largest fall first) or by last "
    "achievement (lowest first).",
)
@measures_options(
    "cohorts by month of diagnosis and activity per month; --chart draws the cohorts too."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def trend(
    inputs: Inputs,
    start,
    end,
    every,
    org_map,
    org_column,
    by,
    fmt,
    output,
    chart,
    title,
    sort,
    with_measures,
    measures_out,
    split_by,
    excel_friendly,
    quiet,
) -> None:
    """The indicators at every month end from --from to --to, from one read of EVENTS.

    Each month end uses the rules of the QOF year containing it; from April 2025 the 2024-25
    cancer rules run as local monitoring (no points) beside that year's CS005/CS006.
    """
    if inputs.year or inputs.as_of:
        raise click.UsageError("trend takes --from and --to, not --year or --as-of")
    fmt = _format(fmt, output)
    if end is None:
        end = last_complete_month(dt.date.today())
        if parse_month(start, "--from") > parse_month(end, "--to"):
            raise click.UsageError(
                f"--from {start} is after the last complete month, {end} (the default --to): "
                "give an earlier --from or a --to"
            )
    days = month_ends(start, end, every)
    with_measures = with_measures or measures_out is not None
    if by != "practice" and org_map is None:
        raise click.UsageError(f"--by {by} needs --org-map FILE")
    if chart is not None and chart.suffix.lower() not in (".svg", ".png", ".html"):
        raise click.UsageError("--chart must end in .svg, .png or .html")
    if with_measures and measures_out is None and fmt not in ("table", "json") and chart is None:
        raise click.UsageError(
            "--measures adds to the terminal table, JSON or --chart; with --format "
            f"{fmt} write them with --measures-out FILE"
        )
    if title is not None and chart is None:
        raise click.UsageError("--title is the chart's: give --chart FILE too")
    folder = _check_files(
        inputs,
        fmt,
        output,
        split_by,
        excel_friendly,
        by,
        org_map,
        chart=chart,
        measures_out=measures_out,
        rejects=inputs.rejects,
    )
    check_inputs_outputs(
        inputs,
        org_map,
        output=None if folder else output,
        rejects=inputs.rejects,
        chart=chart,
        measures_out=measures_out,
    )
    # every year's packs in the range: a local pack may read an extra cluster in one year
    rulesets = [ccrqof.load_ruleset(reference_date=d, rules_dir=inputs.rules_dir) for d in days]
    chosen = _chosen(inputs.indicators, {p for r in rulesets for p in r.packs})
    organisations = _org_map(org_map, by, org_column, split_by)
    with Stages(quiet) as stages:
        stages.start("Reading")
        ruleset, extract, codelist, run = load_inputs(
            dataclasses.replace(inputs, year=None, as_of=days[-1].isoformat()),
            on_file=stages.file_read,
            series=rulesets,
        )
        rulesets = [r.only(run) for r in rulesets]
        stages.start("Preparing")
        engine = inputs.chosen_engine()
        handle = engine.prepare(extract, codelist, rulesets)
        del extract  # keyed: what the series reads is the engine's now
        release_unused_memory()
        stages.start(f"Evaluating {len(days)} month ends")
        shown = chosen or run
        frame = series(
            engine,
            handle,
            days,
            rulesets[-1].only(shown).packs.keys() if with_measures else shown,
            by,
            organisations,
            rules_dir=inputs.rules_dir,
            progress=lambda done: stages.detail(f"{done} of {len(days)}"),
        )
        quick = None
        if with_measures:  # the registers, read for the activity rates, are then left out
            stages.start("Measures")
            last = engine.evaluate(handle, rulesets[-1])
            year, month = parse_month(start, "--from")  # cohorts of every month in the range
            months = measures.months_between(dt.date(year, month, 1), days[-1])
            quick = measures.for_series(engine, handle, last, months, frame, by, organisations)
            frame = frame[frame["indicator"].isin(list(shown))].reset_index(drop=True)
        if chart is not None:
            stages.start("Drawing")
            thresholds = {
                p.indicator: (p.thresholds.lower, p.thresholds.upper)
                for p in rulesets[-1].packs.values()  # the bands of the latest point's rules
                if p.thresholds
            }
            retirement = next(
                (r.year.local_monitoring_from for r in rulesets if r.year.local_monitoring_from),
                None,
            )
            caveat = (
                "Illustrative code list: not for real numbers." if codelist.illustrative else None
            )
            drawn = dict(title=title, caveat=caveat, measures=quick)
            if by == "practice":
                write_chart(frame, thresholds, chart, retirement, **drawn)
            else:  # the whole extract, and one chart per group beside it
                write_charts_by(frame, thresholds, chart, retirement, by=by, **drawn)
    for notice in [*handle.notices, *frame.attrs.get("notices", [])]:
        warn(notice)
    if measures_out is not None:
        write_frame(with_org(quick, organisations, by), measures_out)
    if fmt == "json":
        document = {"ccrqof_version": ccrqof.__version__, "series": records_of(frame)}
        if quick is not None:
            document["measures"] = records_of(with_org(quick, organisations, by))
        deliver(output, dump_json(document))  # full precision, as calc's JSON
    elif fmt in FILE_FORMATS:
        flat = frame.drop(columns=[c for c in frame.columns if c == "breakdown"])
        title = f"ccrqof trend {days[0]:%b %Y} to {days[-1]:%b %Y}"
        _write(flat, output, fmt, split_by, excel_friendly, title)
    else:

        def table(console) -> None:
            render_trend(console, frame, sort=sort)
            if quick is not None:
                measures_view.render_series(console, quick)

        deliver(output, table)


def main() -> None:
    """The command as a process: exit codes and stderr lines (ccrqof.entry.main adds signals)."""
    run(cli)
