"""Everything an evaluating command reads, checked as the CLI checks it, usable without the CLI.

`load` picks the rule set for a QOF year or a reference date, reads the code list then the
extract, stops when the code list lacks a cluster the rules read, writes the rejected rows,
applies `strict`, and collects the notices and warnings (the stale extract among them) as data,
in the order the `ccrqof` command prints them::

    loaded = load("events.csv", "patients.csv", codelists="refset.txt", year="2023-24")
    evaluation = ccrqof.evaluate(loaded.extract, loaded.ruleset, loaded.codelist)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ccrqof
from ccrqof.codelists import Codelist, missing_clusters
from ccrqof.errors import RejectedRowsError, UsageError
from ccrqof.output import publish
from ccrqof.readers import Extract
from ccrqof.reporters.documents import write_frame
from ccrqof.rules import RuleSet

STALE_AFTER_DAYS = 31  # with no date given, an extract whose latest entry is older is stale


@dataclass(frozen=True)
class Message:
    """A line for the user: a notice (about reading) or a warning (about the results)."""

    kind: Literal["notice", "warning"]
    text: str


@dataclass(frozen=True)
class Loaded:
    """What `load` read, and what it has to say, in the order it arose."""

    ruleset: RuleSet
    extract: Extract
    codelist: Codelist | None
    messages: tuple[Message, ...] = ()
    indicators: tuple[str, ...] = ()  # what runs: chosen, or every one whose inputs are present

    @property
    def notices(self) -> list[str]:
        return [m.text for m in self.messages if m.kind == "notice"]

    @property
    def warnings(self) -> list[str]:
        return [m.text for m in self.messages if m.kind == "warning"]


def parse_date(value: dt.date | str | None, option: str = "as_of") -> dt.date | None:
    """A reference date given as a date or as YYYY-MM-DD text."""
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: expected a date as YYYY-MM-DD, e.g. 2024-03-31") from None


def load(
    events: str | Path | Iterable[str | Path],
    patients: str | Path | None = None,
    *,
    codelists: str | Path | None = None,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    skip_rows: int | None = None,
    rejects: str | Path | None = None,
    strict: bool = False,
    year: str | None = None,
    as_of: dt.date | str | None = None,
    rules_dir: str | Path | None = None,
    allow_missing_clusters: bool = False,
    indicators: Iterable[str] | None = None,
    series: Iterable[RuleSet] = (),
    on_file: Callable[[Path], None] | None = None,
    on_message: Callable[[Message], None] | None = None,
) -> Loaded:
    """The rule set, extract and code list for one run, checked, with its messages.

    `year` (a QOF year such as "2023-24": its 31 March) or `as_of` (a date) sets the reference
    date; neither means today, and then an extract whose latest entry is over a month older
    gives a warning. `indicators` chooses what runs (with the registers they need); by default
    every indicator whose inputs the extract has runs, and a notice names those left out
    (CS005 with no sex or date of birth). `series` are the rule sets of a series' other dates,
    chosen and checked alike (`Loaded.indicators` is what runs). `codelists` is the PCD refset
    file or a folder of `<cluster>.csv` files (or OpenCodelists downloads, the newest version of
    each cluster read; a notice names the file used for each); without it a `cluster` column or
    the bundled illustrative list is used, with a warning. `skip_rows` is the number of lines
    above the header row of every CSV events and patients file; by default a report's preamble
    is found and skipped, with a notice. A cluster the indicators that run read with no
    code in the given list raises UsageError, or with `allow_missing_clusters` is a warning.
    `rejects` (.csv or .parquet) receives every rejected row; `strict` then raises
    RejectedRowsError if there is any. `on_file` is called after each file is read, and
    `on_message` with each message as it arises (so that a caller sees the ones that came
    before an error).
    """
    if year and as_of:
        raise UsageError("give year or as_of, not both")
    reference_date = parse_date(as_of)
    ruleset = ccrqof.load_ruleset(
        year=year,
        reference_date=None if year else (reference_date or dt.date.today()),
        rules_dir=rules_dir,
    )
    series = list(series)
    offered = {i for r in (ruleset, *series) for i in r.packs}
    chosen = named_indicators(indicators, offered)
    given = ccrqof.read_codelists(codelists) if codelists is not None else None
    known = (given or ccrqof.illustrative_codelist()).codes()
    extract = ccrqof.read_extract(
        events if isinstance(events, str | Path) else list(events),
        patients,
        columns=columns,
        encoding=encoding,
        on_file=on_file,
        known_codes=known,
        skip_rows=skip_rows,
    )
    messages: list[Message] = []

    def say(kind: Literal["notice", "warning"], text: str) -> None:
        messages.append(Message(kind, text))
        if on_message is not None:
            on_message(messages[-1])

    run, left_out = choose_indicators([ruleset, *series], extract, chosen)
    ruleset = ruleset.only(run)
    codelist, warning = (given, None) if given else ccrqof.resolve_codelist(None, extract)
    files = ""  # which file of a code-list folder each cluster came from
    if given is not None:
        needed = set().union(*(r.only(run).clusters() for r in (ruleset, *series)))
        if files := given.files_notice(needed):
            say("notice", files)
        missing = _check_clusters(given, needed, extract, allow_missing_clusters)
        if missing:
            say("warning", missing)
    for notice in extract.report.notices:
        say("notice", notice)
    if files:
        extract.report.notices.insert(0, files)  # JSON's notices hold it too (said above)
    if left_out:
        say("notice", left_out)
        extract.report.notices.append(left_out)  # JSON's notices hold it too
    for problem in extract.report.warnings + (given.warnings() if given else []):
        say("warning", problem)
    if rejects is not None:
        write_frame(extract.report.rejects_table(), rejects)
    if strict and extract.report.total_rejected:
        publish()  # the rejects file is what the user needs to fix it
        where = f"; they are listed in {rejects}" if rejects else "; list them with --rejects FILE"
        raise RejectedRowsError(
            f"{extract.report.total_rejected:,} row(s) rejected and --strict is set{where}"
        )
    if warning:
        say("warning", warning)
    latest = extract.latest_event_date
    stale = (ruleset.reference_date - latest).days if latest is not None else 0
    if not year and not as_of and stale > STALE_AFTER_DAYS:
        say(
            "warning",
            f"the extract's latest entry is {stale} days before the reference date "
            f"({ruleset.reference_date.isoformat()}); results may be out of date. "
            "Use --as-of or --year to score an earlier date.",
        )
    return Loaded(ruleset, extract, codelist, tuple(messages), run)


DETAIL_WORDS = {"sex": "sex", "date_of_birth": "date of birth"}


def named_indicators(
    indicators: Iterable[str] | None,
    offered: set[str],
    why: str = "indicators: {} is not an indicator of the rule packs for these dates",
) -> tuple[str, ...] | None:
    """Chosen indicator names (comma-separated or one per value), upper-cased and checked
    against `offered`; None: none chosen. `why` words the error, {} the unknown names."""
    if indicators is None:
        return None
    if isinstance(indicators, str):
        indicators = [indicators]
    chosen = tuple(dict.fromkeys(i.strip().upper() for s in indicators for i in s.split(",")))
    chosen = tuple(i for i in chosen if i)
    unknown = [i for i in chosen if i not in offered]
    if unknown:
        raise UsageError(
            why.format(", ".join(unknown)) + f"; choose from {', '.join(sorted(offered))}"
        )
    return chosen or None


def choose_indicators(
    rulesets: list[RuleSet], extract: Extract, chosen: tuple[str, ...] | None = None
) -> tuple[tuple[str, ...], str]:
    """The indicators to run, and a line naming those left out and why.

    Chosen indicators run with the registers they need, and one whose population reads a
    column the patients file lacks (CS005: sex, date of birth) is an error. With none chosen,
    every indicator whose inputs are present runs: an extract without sex and dates of birth
    scores the cancer indicators and says in one line that CS005/CS006 were not computed."""
    present = set(extract.report.patient_details)  # the columns the readers were given
    if extract.patients is not None:  # an extract built without the readers: what it holds
        present |= {
            c for c in DETAIL_WORDS if c in extract.patients and extract.patients[c].notna().any()
        }
    needs: dict[str, tuple[str, ...]] = {}
    for ruleset in rulesets:
        for indicator in ruleset.packs:
            needs.setdefault(indicator, ruleset.needs(indicator))
    lacking = {i: [c for c in cols if c not in present] for i, cols in needs.items()}

    def why(missing: list[str]) -> str:
        if extract.patients is None:
            return f"each patient's {_words(missing)}, and there is no patients file"
        return (
            f"each patient's {_words(missing)}, and the patients file has no "
            f"{' or '.join(missing)} column"
        )

    fix = "give --patients with those columns (or map them with --column)"
    if chosen is not None:
        for indicator in chosen:
            if missing := lacking[indicator]:
                raise UsageError(
                    f"{indicator} needs {why(missing)}; {fix}, or leave it out of the chosen "
                    "indicators"
                )
        wanted = set(chosen)
        for ruleset in rulesets:
            wanted |= set(ruleset.only(chosen).packs)
        return tuple(i for i in needs if i in wanted), ""
    run = tuple(i for i in needs if not lacking[i])
    skipped = [i for i in needs if lacking[i]]
    if not skipped:
        return run, ""
    missing = sorted({c for i in skipped for c in lacking[i]}, key=list(DETAIL_WORDS).index)
    if not run:
        raise UsageError(
            f"no indicator can be computed: {', '.join(skipped)} need {why(missing)}; {fix}"
        )
    return (
        run,
        f"{', '.join(skipped)} not computed: they need {why(missing)} "
        "(choose indicators with --indicators)",
    )


def _words(columns: list[str]) -> str:
    return " and ".join(DETAIL_WORDS[c] for c in columns)


def _check_clusters(codelist: Codelist, needed: set[str], extract: Extract, allow: bool) -> str:
    """A cluster the rules read with no code in the list would count as zero, silently: an
    error, or with `allow` the warning to give."""
    empty = missing_clusters(codelist, needed, extract)
    if not empty:
        return ""
    message = (
        f"the code list {codelist.source} has no codes for {len(empty)} cluster(s) the rules "
        f"read: {', '.join(empty)}"
    )
    if not allow:
        why = "".join(f" ({w})" for w in codelist.warnings())
        raise UsageError(
            f"{message}{why}. Check that it is the full PCD refset (or the folder has a file "
            "per cluster); --allow-missing-clusters goes on, counting nothing for them"
        )
    return f"{message}; every count that uses them is zero (--allow-missing-clusters)"
