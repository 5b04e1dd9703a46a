"""Rule cases: small drawn tables of events with the expected outcome per patient, run on any
engine.

The same format serves the project's own tests (on every engine) and a user's local packs (one
``<INDICATOR>.cases.yaml`` beside each ``<INDICATOR>.yaml``, checked by ``ccrqof rules check``).
``@CAN_COD`` in a code cell stands for "an entry of this cluster", so cases do not depend on any
code list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ccrqof.errors import RulePackError
from ccrqof.rules.loader import RuleSet, load_year_folder
from ccrqof.rules.model import IndicatorPack

DEFAULT_REGISTRATION = dt.date(2000, 1, 1)
NOT_ON_REGISTER = "not on register"
_DATE_NAME = r"^[A-Z][A-Z0-9_]*$"


class Expected(BaseModel):
    """A patient's expected rule, and optionally outcome, field, due_by and any of the pack's
    outcome dates (``CAN_DAT: 2023-06-01``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    outcome: str | None = None
    field: str | None = None
    due_by: dt.date | None = None
    no_due_by: bool = False
    dates: dict[Annotated[str, Field(pattern=_DATE_NAME)], dt.date] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _dates(cls, value: object) -> object:
        """Upper-case keys are outcome dates: gathered into `dates`."""
        if not isinstance(value, dict):
            return value
        dates = {k: v for k, v in value.items() if isinstance(k, str) and k.isupper()}
        rest = {k: v for k, v in value.items() if k not in dates}
        return {**rest, "dates": {**rest.get("dates", {}), **dates}} if dates else value


class Case(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    reason: str
    reference_date: dt.date | None = None
    registrations: str | None = None
    events: str
    expect: dict[str, Expected]

    @field_validator("expect", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k): {"rule": v} if isinstance(v, str) else v for k, v in value.items()}
        return value


class CaseFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    indicator: str
    year: str
    cases: list[Case]


def parse_drawn_table(text: str) -> pd.DataFrame:
    """``a | b`` rows under a ``name | name`` header; blank (or missing trailing) cells are
    empty strings."""
    rows = [
        [cell.strip() for cell in line.strip().removeprefix("|").split("|")]
        for line in text.strip().splitlines()
        if line.strip()
    ]
    header, body = [h for h in rows[0] if h], rows[1:]
    for i, row in enumerate(body, start=2):
        while len(row) > len(header) and row[-1] == "":
            row.pop()
        if len(row) > len(header):
            raise ValueError(f"row {i} has {len(row)} cells, the header has {len(header)}")
        row.extend([""] * (len(header) - len(row)))
    return pd.DataFrame(body, columns=header, dtype=object)


@dataclass
class CaseResult:
    case: Case
    file: Path
    mismatches: list[tuple[str, str, object, object]] = field(default_factory=list)
    deciding: dict[str, str] = field(default_factory=dict)  # patient -> rule that decided

    @property
    def passed(self) -> bool:
        return not self.mismatches


def load_case_file(path: Path) -> CaseFile:
    try:
        return CaseFile.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RulePackError(problems, file=str(path)) from None


def _extract(case: Case):
    """The case's drawn tables as an extract, built like the readers' (`ccrqof.schemas`)."""
    from ccrqof import schemas

    events = parse_drawn_table(case.events)
    is_cluster = events["code"].str.startswith("@")
    columns = {
        "patient_id": events["patient"],
        "code": events["code"].where(~is_cluster, ""),
        "cluster": events["code"].str[1:].where(is_cluster, ""),
        "date": pd.to_datetime(events["date"].replace("", None)),
    }
    if "episode" in events:
        columns["episode"] = events["episode"].str.lower()
    if "practice" in events:
        columns["practice_code"] = events["practice"]
    if case.registrations:
        regs = parse_drawn_table(case.registrations)
        patients = {
            "patient_id": regs["patient"],
            "registration_date": pd.to_datetime(regs["registration_date"]),
        }
        for name in ("deregistration_date", "date_of_birth"):  # blank: none recorded
            if name in regs:
                patients[name] = pd.to_datetime(regs[name].replace("", None))
        if "sex" in regs:
            patients["sex"] = regs["sex"].replace("", None)
    else:
        ids = events["patient"].unique()
        patients = {"patient_id": ids, "registration_date": [DEFAULT_REGISTRATION] * len(ids)}
    return schemas.extract(columns, patients, has_practice="practice_code" in columns)


def run_case(
    case: Case, pack: IndicatorPack, ruleset: RuleSet, file: Path, engine=None
) -> CaseResult:
    """Evaluate one case with its own pack folder at its reference date on `engine` (a name
    or an engine) and compare."""
    from ccrqof import evaluate
    from ccrqof.codelists import illustrative_codelist

    reference = case.reference_date or ruleset.year.pped
    at = dataclasses.replace(ruleset, reference_date=reference)
    outcomes = evaluate(_extract(case), at, illustrative_codelist(), engine=engine).outcomes
    return _compare(case, pack, outcomes, file)


def _compare(case: Case, pack: IndicatorPack, outcomes: pd.DataFrame, file: Path) -> CaseResult:
    """The case's expectations against the outcome rows of its patients."""
    rows = outcomes[outcomes["indicator"] == pack.indicator].set_index("patient_id")
    result = CaseResult(case, file)
    for patient, expected in case.expect.items():
        if patient not in rows.index:
            actual_rule = NOT_ON_REGISTER
        else:
            actual_rule = rows.at[patient, "rule"]
            result.deciding[patient] = actual_rule
        if actual_rule != expected.rule:
            result.mismatches.append((patient, "rule", expected.rule, actual_rule))
            continue
        if actual_rule == NOT_ON_REGISTER:
            continue
        row = rows.loc[patient]
        if expected.outcome and row["outcome"] != expected.outcome:
            result.mismatches.append((patient, "outcome", expected.outcome, row["outcome"]))
        if expected.field and row["field"] != expected.field:
            result.mismatches.append((patient, "field", expected.field, row["field"]))
        wanted = {**expected.dates, "due_by": expected.due_by}
        for name, want in wanted.items():
            if name != "due_by" and name not in pack.outcome_dates:
                result.mismatches.append((patient, name, want, "(not an outcome date of the pack)"))
                continue
            got = None if pd.isna(row[name]) else pd.Timestamp(row[name]).date()
            if want is not None and want != got:
                result.mismatches.append((patient, name, want, got))
        if expected.no_due_by and not pd.isna(row["due_by"]):
            result.mismatches.append((patient, "due_by", None, pd.Timestamp(row["due_by"]).date()))
    return result


def run_case_files(paths: list[Path], engine=None) -> dict[Path, list[CaseResult]]:
    """Every case of these files in one batch (`run_cases`), against the packs beside them."""
    items, order, folders = [], {}, {}
    for path in map(Path, paths):
        cases = load_case_file(path)
        if path.parent not in folders:
            info, packs = load_year_folder(path.parent)
            folders[path.parent] = RuleSet.of_year(info, packs)
        ruleset = folders[path.parent]
        pack = ruleset.packs[cases.indicator]
        items += [(case, pack, ruleset, path) for case in cases.cases]
        order[path] = len(cases.cases)
    results = iter(run_cases(items, engine))
    found = {path: [next(results) for _ in range(n)] for path, n in order.items()}
    for result in (r for rs in found.values() for r in rs):
        if isinstance(result, Exception):
            raise result
    return found


def combined_extract(cases: list[Case]):
    """The cases' drawn tables as one extract, each case's patient ids prefixed with its
    number (`3|p1`) so that no case sees another's rows; and per case None, or the exception
    its drawn tables raised (that case has no rows). The extract is None if no case has rows."""
    from ccrqof import schemas

    failures: list = [None] * len(cases)
    events, patients, with_practice = [], [], False
    for n, case in enumerate(cases):
        try:
            extract = _extract(case)
        except Exception as exc:  # a bad drawn table or date in the case itself
            failures[n] = exc
            continue
        with_practice |= extract.has_practice
        for frame, parts in ((extract.events, events), (extract.patients, patients)):
            parts.append(frame.assign(patient_id=f"{n}|" + frame["patient_id"].astype(str)))
    if not events:
        return None, failures
    combined = schemas.extract(
        pd.concat(events, ignore_index=True),
        pd.concat(patients, ignore_index=True),
        has_practice=with_practice,
    )
    return combined, failures


def run_cases(
    items: list[tuple[Case, IndicatorPack, RuleSet, Path]], engine=None
) -> list[CaseResult | Exception]:
    """Many cases in one batch: all cases are one extract (each case's patient ids made its
    own), prepared once and evaluated at each rule set's reference dates, so an engine that is
    slow to start (DuckDB per run, Spark per query) pays it per reference date, not per case.
    Each case's patients see only their own rows: the results are `run_case`'s, in the items'
    order; a case whose drawn tables cannot be read gives its exception instead."""
    from ccrqof.codelists import illustrative_codelist
    from ccrqof.engine import get_engine

    combined, results = combined_extract([case for case, *_ in items])
    if combined is None:
        return results
    at: dict[tuple, RuleSet] = {}  # (rule set, reference date) -> the rule set at that date
    wanted: dict[tuple, set[str]] = {}  # and the indicators its cases test
    keys = []
    for case, pack, ruleset, _ in items:
        reference = case.reference_date or ruleset.year.pped
        keys.append((id(ruleset), reference))
        if results[len(keys) - 1] is None:
            at.setdefault(keys[-1], dataclasses.replace(ruleset, reference_date=reference))
            wanted.setdefault(keys[-1], set()).add(pack.indicator)
    # only the packs a date's cases test (and their registers): a cancer case's date does
    # not run cervical screening over every patient, which changes none of its rows
    at = {key: rules.only(wanted[key]) for key, rules in at.items()}
    chosen = get_engine(engine)
    handle = chosen.prepare(combined, illustrative_codelist(), list(at.values()))
    for key, rules in at.items():
        outcomes = chosen.evaluate(handle, rules).outcomes
        ids = outcomes["patient_id"].astype(str)
        for n, (case, pack, _, file) in enumerate(items):
            if results[n] is not None or keys[n] != key:
                continue
            prefix = f"{n}|"
            mine = outcomes[ids.str.startswith(prefix)]
            mine = mine.assign(patient_id=mine["patient_id"].str[len(prefix) :])
            results[n] = _compare(case, pack, mine, file)
    return results


def run_case_file(path: Path, engine=None) -> list[CaseResult]:
    """Run every case of ``<folder>/<INDICATOR>.cases.yaml`` against the pack beside it."""
    path = Path(path)
    cases = load_case_file(path)
    info, packs = load_year_folder(path.parent)
    if cases.indicator not in packs or cases.year != info.year:
        raise RulePackError(
            f"cases are for {cases.indicator} {cases.year}, but the folder holds "
            f"{', '.join(packs)} {info.year}",
            file=str(path),
        )
    ruleset = RuleSet.of_year(info, packs)
    return [run_case(case, packs[cases.indicator], ruleset, path, engine) for case in cases.cases]


def case_files(root: Path) -> list[Path]:
    return sorted(Path(root).glob("*/*.cases.yaml"))
