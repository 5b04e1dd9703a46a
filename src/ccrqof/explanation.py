"""Why a patient counts as they do: their timeline, and every rule of every cascade in order
with whether it matched and why, ending at the deciding rule. Worded from an engine's trace of
just that patient, so an explanation can never disagree with the counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import singledispatch

import numpy as np
import pandas as pd

from ccrqof.dates import age_at, human, to_day
from ccrqof.engine import PatientTrace
from ccrqof.errors import UsageError
from ccrqof.rules.loader import RuleSet
from ccrqof.rules.model import (
    COMPARISON_WORDS,
    AgeOutside,
    Always,
    DateTest,
    EarliestEventFrom,
    EventCountTest,
    IndicatorPack,
    LatestEvent,
    RuleKind,
)

OUTCOME_WORDS = {
    RuleKind.select_register: "on the register",
    RuleKind.select_numerator: "numerator",
    RuleKind.select_denominator: "denominator",
    RuleKind.reject_exclusion: "exclusion",
    RuleKind.reject_pca: "pca",
}


@dataclass
class Step:
    rule: str
    matched: bool
    why: str
    decided: bool = False


@dataclass
class IndicatorExplanation:
    indicator: str
    title: str
    outcome: str  # an OUTCOME_WORDS value, 'not registered', 'not on the register' or
    # 'not in the population' (CS005: not a woman of the age)
    rule: str | None
    field: str | None
    due_by: str | None
    steps: list[Step] = field(default_factory=list)


@dataclass
class PatientExplanation:
    practice_code: str | None
    patient_id: str
    reference_date: str
    ruleset: str
    timeline: list[dict]
    indicators: list[IndicatorExplanation]
    rules: str = ""  # in words, each indicator's rules' year where they differ


def _day(day) -> str:
    return human(np.asarray(day).astype("datetime64[D]").item())


def _date_label(pack: IndicatorPack, name: str) -> str:
    if name == "REG_DAT":
        return "registration (current)"
    definition = pack.dates.get(name)
    if isinstance(definition, LatestEvent):
        return f"latest {pack.word(definition.latest)}"
    if isinstance(definition, EarliestEventFrom):
        what = pack.word(definition.earliest)
        return f"first {what} on or after {pack.word(definition.on_or_after)}"
    return name


@singledispatch
def why(condition, pack: IndicatorPack, step: dict) -> str:
    """Why a rule's condition held or not for the patient, from a trace's step row."""
    raise TypeError(f"no wording for condition {type(condition).__name__}")


@why.register
def _always(condition: Always, pack: IndicatorPack, step: dict) -> str:
    return "everyone still in the cascade"


@why.register
def _date_test(condition: DateTest, pack: IndicatorPack, step: dict) -> str:
    label = f"{_date_label(pack, condition.date)} ({condition.date})"
    if pd.isna(step["value"]):
        return f"no {label}" if condition.date != "REG_DAT" else "registration date unknown"
    relation = COMPARISON_WORDS[condition.comparison]
    rule_words = "" if condition.bound.fixed else f" ({condition.bound})"
    held = "" if step["held"] else "not "
    return f"{label} {_day(step['value'])} is {held}{relation} {_day(step['bound'])}{rule_words}"


@why.register
def _event_count(condition: EventCountTest, pack: IndicatorPack, step: dict) -> str:
    count = int(step["count"])
    span = f", at least {condition.min_span_days} days apart" if condition.min_span_days else ""
    found = f"{count} {pack.word(condition.events)}(s) after {_day(step['bound'])}"
    if count > 1:
        days = (to_day(step["last"]) - to_day(step["first"])).astype(int)
        found += f", {int(days)} days apart"
    return f"{found} (needs at least {condition.at_least}{span})"


@why.register
def _age_outside(condition: AgeOutside, pack: IndicatorPack, step: dict) -> str:
    if pd.isna(step["value"]):
        return "date of birth not recorded"
    birth, R = to_day(step["value"]), to_day(step["bound"])
    age = int(age_at(np.array([birth]), R)[0])
    band = condition.age_outside
    held = "" if step["held"] else "not "
    return (
        f"aged {age} at {_day(step['bound'])} (born {_day(step['value'])}): "
        f"{held}under {band.lowest} or over {band.highest}"
    )


def _explain_indicator(pack: IndicatorPack, steps: pd.DataFrame, outcome) -> IndicatorExplanation:
    result = IndicatorExplanation(pack.indicator, pack.title, "", None, None, None)
    outside = (
        "not on the register" if pack.register or pack.is_register else "not in the population"
    )
    if steps.empty:
        result.outcome = "not registered" if pack.is_register else outside
        return result
    for rule, step in zip(pack.rules, steps.to_dict("records"), strict=True):
        result.steps.append(
            Step(rule.rule, step["held"], why(rule.when, pack, step), step["decided"])
        )
        if step["decided"]:
            result.outcome = OUTCOME_WORDS[rule.kind]
            result.rule, result.field = rule.rule, rule.field
            break
    else:
        result.outcome = outside
    if outcome is not None and not pd.isna(outcome["due_by"]):
        result.due_by = str(to_day(outcome["due_by"]))
    return result


def explain_patient(
    engine, handle, ruleset: RuleSet, patient_id: str, practice_code: str | None = None
) -> list[PatientExplanation]:
    """One explanation per practice the patient id appears under (usually one)."""
    patient_id = patient_id.strip()  # as the readers trim ids
    practice_code = practice_code.strip().upper() if practice_code is not None else None
    trace = engine.trace(handle, ruleset, patient_id, practice_code)
    if trace.people.empty:
        raise UsageError(
            "no patient with that id in the extract (patients absent from a given "
            "patients file are not counted); check the id and --practice"
        )
    practices = [None if pd.isna(p) else p for p in trace.people["practice_code"]]
    # by practice code (none first), the same order on every engine
    return [explain_one(trace, p) for p in sorted(practices, key=lambda p: (p is not None, p))]


def explain_one(trace: PatientTrace, practice_code) -> PatientExplanation:
    """The explanation of one patient of a trace (one practice's patient id)."""
    ruleset = trace.ruleset

    def own(frame: pd.DataFrame) -> pd.DataFrame:
        same = (
            frame["practice_code"].isna()
            if practice_code is None
            else (frame["practice_code"] == practice_code)
        )
        return frame[same.to_numpy(bool)]

    steps, outcomes = own(trace.steps), own(trace.outcomes)
    indicators = []
    for pack in ruleset.ordered():
        rows = outcomes[outcomes["indicator"] == pack.indicator].to_dict("records")
        indicators.append(
            _explain_indicator(
                pack, steps[steps["indicator"] == pack.indicator], rows[0] if rows else None
            )
        )
    return PatientExplanation(
        practice_code=practice_code,
        patient_id=str(trace.people["patient_id"].iloc[0]),
        reference_date=ruleset.reference_date.isoformat(),
        ruleset=ruleset.year.year,
        timeline=_timeline(own(trace.timeline), to_day(ruleset.reference_date), words_of(ruleset)),
        indicators=indicators,
        rules=ruleset.described(),
    )


def words_of(ruleset: RuleSet) -> dict[str, str]:
    """Every pack's words for its clusters and dates (the first pack to name one wins)."""
    words: dict[str, str] = {}
    for pack in ruleset.ordered():
        for name, text in pack.words.items():
            words.setdefault(name, text)
    return words


def _timeline(rows: pd.DataFrame, R, words: dict[str, str]) -> list[dict]:
    """Registrations and the patient's entries in the clusters the rules read, by date."""
    items = []
    for row in rows.to_dict("records"):
        row = {k: None if pd.isna(v) else v for k, v in row.items()}  # missing, as in JSON
        day = to_day(row["date"])
        cluster = row["cluster"]
        items.append(
            {
                "date": str(day),
                "what": words.get(cluster, cluster) if row["kind"] == "entry" else row["kind"],
                "cluster": cluster,
                "code": row["code"],
                "episode": row["episode"],
                "after_R": bool(day > R),
            }
        )
    return sorted(items, key=lambda item: (item["date"], item["what"]))
