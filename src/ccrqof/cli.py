"""The `ccrqof` command: parses options, calls the library, turns errors into exit codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import click

import ccrqof
from ccrqof.columns import parse_column_options
from ccrqof.entry import run
from ccrqof.errors import UsageError
from ccrqof.explanation import explain_patient
from ccrqof.loading import load
from ccrqof.organisations import LEVELS, check_level, published, read_org_map, summarise
from ccrqof.output import check_outputs
from ccrqof.reporters import flat_summary, json_document, patient_outcomes, render_summary
from ccrqof.reporters.console import Stages, deliver, say, warn
from ccrqof.reporters.documents import dump_json, input_counts, write_frame
from ccrqof.reporters.documents import json_records as records_of
from ccrqof.reporters.patients import (
    explanation_document,
    render_explanations,
    render_worklist,
    worklist_document,
    worklist_frame,
)
from ccrqof.reporters.trends import render_trend, write_chart
from ccrqof.trend import month_ends, series
from ccrqof.worklist import build_worklist

MAX_WITHIN_DAYS = 3660  # ten years: far beyond any deadline, and safe for date arithmetic
INPUT_NAMES = (
    "events",
    "patients",
    "codelists",
    "column_options",
    "encoding",
    "rejects",
    "strict",
    "year",
    "as_of",
    "rules_dir",
    "allow_missing_clusters",
)
FORMATS = ("table", "json", "csv", "parquet")
CALC_FORMATS = (*FORMATS, "published")


def _parse_as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "expected a date as YYYY-MM-DD, e.g. 2024-03-31", param_hint="--as-of"
        ) from None


def _input_lines(counts: dict) -> list[str]:
    read = ", ".join(f"{n:,} {what} rows" for what, n in counts["rows_read"].items())
    lines = [f"Read {read}."]
    rejected = counts["rejected"]
    if rejected:
        lines.append(
            "Rejected: "
            + "; ".join(f"{n:,} {why}" for why, n in rejected.items())
            + " (nothing else was dropped)."
        )
    else:
        lines.append("Rejected: none.")
    ignored = {k: v for k, v in counts["ignored"].items() if v}
    if ignored:
        lines.append(
            "Not counted: " + "; ".join(f"{n:,} {why}" for why, n in ignored.items()) + "."
        )
    return lines


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(ccrqof.__version__, prog_name="ccrqof")
def cli() -> None:
    """QOF cancer indicators (CAN001, CAN004, CAN005) from SNOMED CT coded GP extracts."""


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


def input_options(command):
    """The shared input, code-list, column-mapping and date options, passed as `inputs`."""

    @functools.wraps(command)
    def with_inputs(**kwargs):
        inputs = Inputs(**{name: kwargs.pop(name) for name in INPUT_NAMES})
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
                "<cluster>.csv files. Without it, a cluster column or the small bundled "
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
        )
    ):
        with_inputs = option(with_inputs)
    return with_inputs


def _check_outputs(inputs: Inputs, org_map: Path | None = None, **paths: Path | None) -> None:
    """Before any work: no output is or could become an input, no two outputs share a file,
    output folders are writable, suffixes are known."""
    sources = [
        *(("EVENTS", events) for events in inputs.events),
        ("--patients", inputs.patients),
        ("--codelists", inputs.codelists),
        ("--org-map", org_map),
        ("--rules", inputs.rules_dir),
    ]
    named = {"--" + option.replace("_", "-"): path for option, path in paths.items()}
    check_outputs(named, sources)
    for option, path in paths.items():
        if path is None:
            continue
        if option not in ("output", "chart") and path.suffix.lower() not in (".csv", ".parquet"):
            raise click.UsageError(f"--{option.replace('_', '-')} must end in .csv or .parquet")


def _org_map(path: Path | None, by: str):
    """The org map, checked for the --by level before the (possibly long) read of the extract."""
    if path is None:
        return None
    organisations = read_org_map(path)
    check_level(by, organisations)
    return organisations


def _chosen(given: tuple[str, ...], available: set[str]) -> tuple[str, ...] | None:
    """--indicator values checked against the packs' indicators (None: all of them)."""
    chosen = tuple(dict.fromkeys(i.strip().upper() for i in given))
    unknown = [i for i in chosen if i not in available]
    if unknown:
        raise UsageError(
            f"--indicator {', '.join(unknown)}: not an indicator these rule packs can list here; "
            f"choose from {', '.join(sorted(available))}"
        )
    return chosen or None


def load_inputs(inputs: Inputs, on_file=None, clusters: set[str] | None = None):
    """(ruleset, extract, codelist) for the shared options, from `ccrqof.loading.load`, its
    notices and warnings printed on stderr as they arise. The options' own spelling is checked
    first, as click usage errors."""
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
        rejects=inputs.rejects,
        strict=inputs.strict,
        year=inputs.year,
        as_of=as_of,
        rules_dir=inputs.rules_dir,
        allow_missing_clusters=inputs.allow_missing_clusters,
        clusters=clusters,
        on_file=on_file,
        on_message=say,
    )
    return loaded.ruleset, loaded.extract, loaded.codelist


@cli.command()
@input_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(CALC_FORMATS),
    default="table",
    show_default=True,
    help="Summary format; 'published' is NHS Digital's long achievement shape.",
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
@click.option(
    "--org-map",
    type=click.Path(path_type=Path),
    help="CSV of practice_code with optional practice_name, pcn_code, pcn_name, "
    "icb_code, icb_name.",
)
@click.option(
    "--by",
    type=click.Choice(LEVELS),
    default="practice",
    show_default=True,
    help="Report per practice, or roll up to PCN or ICB (needs --org-map).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def calc(inputs: Inputs, fmt, output, patients_out, org_map, by, quiet) -> None:
    """Score CAN001, CAN004 and CAN005 for every practice in EVENTS.

    EVENTS is one or more files, globs or folders (CSV, CSV.gz or Parquet; a folder may be a
    Parquet dataset partitioned by practice_code=...). With neither --year nor --as-of the
    reference date is today.
    """
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    if fmt == "published" and by != "practice":
        raise click.UsageError("--format published is per practice; leave out --by")
    if by != "practice" and org_map is None:
        raise click.UsageError(f"--by {by} needs --org-map FILE")
    _check_outputs(
        inputs, org_map, output=output, patients_out=patients_out, rejects=inputs.rejects
    )
    organisations = _org_map(org_map, by)
    with Stages(quiet) as stages:
        stages.start("Reading")
        ruleset, extract, codelist = load_inputs(inputs, on_file=stages.file_read)
        stages.start("Applying the rules")
        evaluation = ccrqof.evaluate(extract, ruleset, codelist)
        stages.start("Scoring")
        summary, notices = summarise(evaluation, by, organisations)
        stages.start("Writing")
        if fmt == "json":
            document = json_document(evaluation, summary, extract.report, ccrqof.__version__)
            deliver(output, dump_json(document))
        elif fmt in ("csv", "parquet", "published"):
            shape = published if fmt == "published" else flat_summary
            kind = fmt
            if fmt == "published":  # CSV, unless --output names a Parquet file
                parquet = output is not None and output.suffix.lower() in (".parquet", ".pq")
                kind = "parquet" if parquet else "csv"
            deliver(output, shape(summary, evaluation.ruleset), kind)
        if patients_out is not None:
            write_frame(patient_outcomes(evaluation), patients_out)
    for notice in [*evaluation.notices, *notices]:
        warn(notice)
    if fmt == "table":
        lines = _input_lines(input_counts(evaluation, extract.report))
        deliver(output, lambda c: render_summary(c, evaluation, summary, lines))


@cli.command()
@input_options
@click.option(
    "--indicator",
    multiple=True,
    metavar="ID",
    help="Only this indicator, such as CAN004 (repeatable). Default: every indicator of the "
    "year's packs that has a deadline ('ccrqof rules list' shows them).",
)
@click.option(
    "--within",
    "within_days",
    type=click.IntRange(min=0, max=MAX_WITHIN_DAYS),
    metavar="DAYS",
    help="Only patients whose deadline is in the next DAYS days (0 to 3660: no deadline is "
    "further away than the 12-month review window).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the list to this file instead of standard output.",
)
def worklist(inputs: Inputs, indicator, within_days, fmt, output) -> None:
    """Patients who can still achieve CAN004/CAN005, by deadline, and those who will not.

    The output holds patient identifiers: it is the patient list you asked for.
    """
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    _check_outputs(inputs, output=output, rejects=inputs.rejects)
    ruleset, extract, codelist = load_inputs(inputs)
    evaluation = ccrqof.evaluate(extract, ruleset, codelist)
    for notice in evaluation.notices:
        warn(notice)
    indicator = _chosen(indicator, {p.indicator for p in ruleset.packs.values() if p.due_by})
    result = build_worklist(evaluation, ccrqof.score(evaluation), indicator, within_days)
    reference = ruleset.reference_date.isoformat()
    if fmt == "json":
        deliver(output, dump_json(worklist_document(result, reference, ruleset.year.year)))
    elif fmt in ("csv", "parquet"):
        deliver(output, worklist_frame(result), fmt)
    else:
        deliver(output, lambda c: render_worklist(c, result, reference, ruleset.year.year))


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
    _check_outputs(inputs, output=output, rejects=inputs.rejects)
    ruleset, extract, codelist = load_inputs(inputs)
    prepared = ccrqof.prepare(
        extract,
        codelist,
        ccrqof.clusters_used(ruleset),
        also_patients=(patient_id,),
        every_patient=ccrqof.every_patient_needed(ruleset),
    )
    for notice in prepared.notices:
        warn(notice)
    explanations = explain_patient(prepared, ruleset, patient_id, practice)
    if fmt == "json":
        deliver(output, dump_json({"explanations": explanation_document(explanations)}))
    else:
        deliver(output, lambda console: render_explanations(console, explanations))


@cli.command()
@input_options
@click.option("--from", "start", required=True, metavar="YYYY-MM", help="First month.")
@click.option("--to", "end", required=True, metavar="YYYY-MM", help="Last month.")
@click.option(
    "--every",
    type=click.Choice(["month", "quarter"]),
    default="month",
    show_default=True,
    help="A point at every month end, or every quarter end.",
)
@click.option(
    "--indicator",
    multiple=True,
    metavar="ID",
    help="Only this indicator, such as CAN004 (repeatable). Default: every indicator of the "
    "packs in the range.",
)
@click.option("--org-map", type=click.Path(path_type=Path), help="As for calc.")
@click.option(
    "--by",
    type=click.Choice(LEVELS),
    default="practice",
    show_default=True,
    help="Per practice, PCN or ICB (needs --org-map).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Write the series to this file instead of standard output.",
)
@click.option(
    "--chart",
    type=click.Path(path_type=Path),
    help="Also draw achievement over time to FILE.svg, FILE.png or FILE.html.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def trend(
    inputs: Inputs, start, end, every, indicator, org_map, by, fmt, output, chart, quiet
) -> None:
    """CAN001/CAN004/CAN005 at every month end from --from to --to, from one read of EVENTS.

    Each month end uses the rules of the QOF year containing it; from April 2025 the 2024-25
    rules run as local monitoring (no points).
    """
    if inputs.year or inputs.as_of:
        raise click.UsageError("trend takes --from and --to, not --year or --as-of")
    days = month_ends(start, end, every)
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    if by != "practice" and org_map is None:
        raise click.UsageError(f"--by {by} needs --org-map FILE")
    if chart is not None and chart.suffix.lower() not in (".svg", ".png", ".html"):
        raise click.UsageError("--chart must end in .svg, .png or .html")
    _check_outputs(inputs, org_map, output=output, rejects=inputs.rejects, chart=chart)
    # every year's packs in the range: a local pack may read an extra cluster in one year
    rulesets = [ccrqof.load_ruleset(reference_date=d, rules_dir=inputs.rules_dir) for d in days]
    chosen = _chosen(indicator, {p for r in rulesets for p in r.packs})
    clusters = set().union(*(ccrqof.clusters_used(r) for r in rulesets))
    organisations = _org_map(org_map, by)
    with Stages(quiet) as stages:
        stages.start("Reading")
        ruleset, extract, codelist = load_inputs(
            dataclasses.replace(inputs, year=None, as_of=days[-1].isoformat()),
            on_file=stages.file_read,
            clusters=clusters,
        )
        stages.start(f"Evaluating {len(days)} month ends")
        prepared = ccrqof.prepare(
            extract, codelist, clusters, every_patient=ccrqof.every_patient_needed(*rulesets)
        )
        frame = series(
            prepared,
            days,
            chosen,
            by,
            organisations,
            rules_dir=inputs.rules_dir,
        )
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
            write_chart(frame, thresholds, chart, retirement)
    for notice in prepared.notices:
        warn(notice)
    if fmt == "json":
        records = records_of(frame)  # full precision, as calc's JSON
        deliver(output, dump_json({"ccrqof_version": ccrqof.__version__, "series": records}))
    elif fmt in ("csv", "parquet"):
        deliver(output, frame.drop(columns=[c for c in frame.columns if c == "breakdown"]), fmt)
    else:
        deliver(output, lambda console: render_trend(console, frame))


RULES_DIR_OPTION = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    metavar="DIR",
    help="A folder of year folders (as bundled); its years replace the bundled ones.",
)


def _rules_root(rules_dir: Path | None) -> Path:
    from ccrqof.rules.loader import BUNDLED

    return Path(str(rules_dir or BUNDLED))


def _year_folder(root: Path, year: str) -> Path:
    from ccrqof.errors import UsageError
    from ccrqof.rules import available_years

    years = available_years(root)
    if year not in years:
        raise UsageError(f"no rule pack for {year} in {root}: packs exist for {', '.join(years)}")
    return root / year


@cli.group()
def rules() -> None:
    """Inspect, compare and check rule packs (the bundled ones, or your own folder)."""


@rules.command("check")
@click.argument(
    "directory",
    required=False,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
)
def rules_check(directory: Path | None, fmt: str) -> None:
    """Validate every pack under DIRECTORY and run its cases (default: the bundled packs).

    DIRECTORY holds year folders (2023-24/ with year.yaml, <INDICATOR>.yaml and
    <INDICATOR>.cases.yaml), or is one. Exit 0 when everything passes, 1 when any check or case
    fails, 2 for usage errors.
    """
    from ccrqof.rules.check import check_packs

    report = check_packs(_rules_root(directory))
    if fmt == "json":
        click.echo(dump_json(report.as_dict()), nl=False)
    else:
        for line in _check_lines(report):
            click.echo(line)
    if not report.passed:
        sys.exit(1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _check_lines(report) -> list[str]:
    lines = [f"Checking rule packs in {report.root}"]
    failing = {p.file for p in report.problems}
    for pack in report.packs:
        cases_file = pack.file.removesuffix(".yaml") + ".cases.yaml"
        bad = pack.file in failing or cases_file in failing
        detail = f"{_count(pack.rules, 'rule')}, {_count(pack.cases, 'case')}"
        if pack.cases_failed:
            detail += f", {pack.cases_failed} failed"
        lines.append(f"  {'FAIL' if bad else 'ok  '}  {pack.file}  {detail}")
    for problem in report.problems:
        lines.append(f"FAIL {problem}")
    verdict = "passed" if report.passed else f"FAILED: {len(report.problems)} problem(s)"
    lines.append(
        f"{len(report.years)} year(s), {len(report.packs)} pack(s), {report.cases} case(s): "
        + verdict
    )
    return lines


@rules.command("list")
@RULES_DIR_OPTION
def rules_list(rules_dir: Path | None) -> None:
    """The QOF years and indicators available, with their status and points."""
    from ccrqof.rules import available_years, load_year_folder
    from ccrqof.rules.describe import thresholds_words

    root = _rules_root(rules_dir)
    for year in available_years(root):
        info, packs = load_year_folder(root / year)
        status = info.status.value.replace("_", " ")
        if info.local_monitoring_from:
            status += f"; local monitoring from {info.local_monitoring_from.isoformat()}"
        click.echo(f"{year}  (PPED {info.pped.isoformat()})  {status}")
        for pack in sorted(packs.values(), key=lambda p: p.indicator):
            points = f"{pack.max_points} points"
            if pack.thresholds:
                points += f", {thresholds_words(pack)}"
            click.echo(
                f"  {pack.indicator}  {pack.title}  ({points}, {_count(len(pack.rules), 'rule')})"
            )


@rules.command("show")
@click.argument("indicator")
@click.option("--year", help="QOF year such as 2023-24. Default: the latest with INDICATOR.")
@RULES_DIR_OPTION
def rules_show(indicator: str, year: str | None, rules_dir: Path | None) -> None:
    """INDICATOR's cascade in plain words: rules, fields, windows, thresholds and points."""
    from ccrqof.errors import UsageError
    from ccrqof.rules import available_years, load_year_folder
    from ccrqof.rules.describe import pack_lines

    root = _rules_root(rules_dir)
    indicator = indicator.upper()
    years = [year] if year else list(reversed(available_years(root)))
    for name in years:
        _, packs = load_year_folder(_year_folder(root, name))
        if indicator in packs:
            for line in pack_lines(packs[indicator]):
                click.echo(line)
            return
    raise UsageError(f"no pack for {indicator} in {', '.join(years)}")


@rules.command("diff")
@click.argument("old_year")
@click.argument("new_year")
@RULES_DIR_OPTION
def rules_diff(old_year: str, new_year: str, rules_dir: Path | None) -> None:
    """What changed from OLD_YEAR's packs to NEW_YEAR's, indicator by indicator, rule by rule."""
    from ccrqof.rules import load_year_folder
    from ccrqof.rules.describe import diff_lines

    root = _rules_root(rules_dir)
    _, old = load_year_folder(_year_folder(root, old_year))
    _, new = load_year_folder(_year_folder(root, new_year))
    click.echo(f"Rule packs {old_year} → {new_year}")
    for line in diff_lines(old, new):
        click.echo(line)


def main() -> None:
    """The command as a process: exit codes and stderr lines (ccrqof.entry.main adds signals)."""
    run(cli)
