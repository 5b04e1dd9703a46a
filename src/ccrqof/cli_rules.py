"""`ccrqof rules`: inspect, compare and check rule packs (registered on the `ccrqof` group)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ccrqof.engine import DEFAULT_ENGINE, ENGINES
from ccrqof.reporters.documents import dump_json

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


@click.group()
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
@click.option(
    "--engine",
    type=click.Choice(list(ENGINES)),
    default=DEFAULT_ENGINE,
    show_default=True,
    help="The engine the cases run on (run the check once on each to check them all).",
)
def rules_check(directory: Path | None, fmt: str, engine: str) -> None:
    """Validate every pack under DIRECTORY and run its cases (default: the bundled packs).

    DIRECTORY holds year folders (2023-24/ with year.yaml, <INDICATOR>.yaml and
    <INDICATOR>.cases.yaml), or is one. Exit 0 when everything passes, 1 when any check or case
    fails, 2 for usage errors.
    """
    from ccrqof.rules.check import check_packs

    report = check_packs(_rules_root(directory), engine)
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
        shared = info.status_for(packs)
        retiring = [i for i in packs if info.retires(i)]
        monitoring = f"local monitoring from {info.local_monitoring_from}"
        status = shared.value.replace("_", " ")
        if retiring and len(retiring) == len(packs):
            status += f"; {monitoring}"
        click.echo(f"{year}  (PPED {info.pped.isoformat()})  {status}")
        for pack in sorted(packs.values(), key=lambda p: p.indicator):
            points = f"{pack.max_points} points"
            if pack.thresholds:
                points += f", {thresholds_words(pack)}"
            points += f", {_count(len(pack.rules), 'rule')}"
            if info.status_of(pack.indicator) != shared:  # 2024-25: cancer income protected
                points += f"; {info.status_of(pack.indicator).value.replace('_', ' ')}"
            if pack.indicator in retiring and len(retiring) < len(packs):
                points += f"; {monitoring}"
            click.echo(f"  {pack.indicator}  {pack.title}  ({points})")


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
