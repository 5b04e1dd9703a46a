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
    rejects: str | Path | None = None,
    strict: bool = False,
    year: str | None = None,
    as_of: dt.date | str | None = None,
    rules_dir: str | Path | None = None,
    allow_missing_clusters: bool = False,
    clusters: set[str] | None = None,
    on_file: Callable[[Path], None] | None = None,
    on_message: Callable[[Message], None] | None = None,
) -> Loaded:
    """The rule set, extract and code list for one run, checked, with its messages.

    `year` (a QOF year such as "2023-24": its 31 March) or `as_of` (a date) sets the reference
    date; neither means today, and then an extract whose latest entry is over a month older gives
    a warning. `codelists` is the PCD refset file or a folder of `<cluster>.csv` files; without
    it a `cluster` column or the bundled illustrative list is used, with a warning. A cluster in
    `clusters` (default: every cluster the rule set reads) with no code in the given list raises
    UsageError, or with `allow_missing_clusters` is a warning. `rejects` (.csv or .parquet)
    receives every rejected row; `strict` then raises RejectedRowsError if there is any.
    `on_file` is called after each file is read, and `on_message` with each message as it
    arises (so that a caller sees the ones that came before an error).
    """
    if year and as_of:
        raise UsageError("give year or as_of, not both")
    reference_date = parse_date(as_of)
    ruleset = ccrqof.load_ruleset(
        year=year,
        reference_date=None if year else (reference_date or dt.date.today()),
        rules_dir=rules_dir,
    )
    given = ccrqof.read_codelists(codelists) if codelists is not None else None
    known = (given or ccrqof.illustrative_codelist()).codes()
    extract = ccrqof.read_extract(
        events if isinstance(events, str | Path) else list(events),
        patients,
        columns=columns,
        encoding=encoding,
        on_file=on_file,
        known_codes=known,
    )
    messages: list[Message] = []

    def say(kind: Literal["notice", "warning"], text: str) -> None:
        messages.append(Message(kind, text))
        if on_message is not None:
            on_message(messages[-1])

    codelist, warning = (given, None) if given else ccrqof.resolve_codelist(None, extract)
    if given is not None:
        needed = clusters if clusters is not None else ruleset.clusters()
        missing = _check_clusters(given, needed, extract, allow_missing_clusters)
        if missing:
            say("warning", missing)
    for notice in extract.report.notices:
        say("notice", notice)
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
    return Loaded(ruleset, extract, codelist, tuple(messages))


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
