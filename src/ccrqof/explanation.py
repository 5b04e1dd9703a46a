"""Why a patient counts as they do: their timeline, and every rule of every cascade in order
with whether it matched and why, ending at the deciding rule. Runs the same engine on just
that patient's rows, so an explanation can never disagree with the counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ccrqof.dates import human, to_day
from ccrqof.engine.cascade import Trace, trace
from ccrqof.engine.prepare import Prepared
from ccrqof.errors import UsageError
from ccrqof.rules.loader import RuleSet
from ccrqof.rules.model import (
    COMPARISON_WORDS,
    DateTest,
    EarliestEventFrom,
    EventCountTest,
    LatestEvent,
    Rule,
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
    outcome: str  # an OUTCOME_WORDS value, 'not registered' or 'not on the register'
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


def _day(day) -> str:
    return human(np.asarray(day).astype("datetime64[D]").item())


def _date_label(pack, name: str) -> str:
    if name == "REG_DAT":
        return "registration (current)"
    definition = pack.dates.get(name)
    if isinstance(definition, LatestEvent):
        return f"latest {pack.word(definition.latest)}"
    if isinstance(definition, EarliestEventFrom):
        what = pack.word(definition.earliest)
        return f"first {what} on or after {pack.word(definition.on_or_after)}"
    return name


def _why(rule: Rule, pack, timeline, i: int, held: bool) -> str:
    when = rule.when
    if when == "always":
        return "everyone still in the cascade"
    if isinstance(when, DateTest):
        label = f"{_date_label(pack, when.date)} ({when.date})"
        day = timeline.dates[when.date][i]
        if np.isnat(day):
            return f"no {label}" if when.date != "REG_DAT" else "registration date unknown"
        bound = timeline.resolve(when.bound)
        bound = bound[i] if np.ndim(bound) else bound
        relation = COMPARISON_WORDS[when.comparison]
        rule_words = "" if when.bound.fixed else f" ({when.bound})"
        return (
            f"{label} {_day(day)} is {'' if held else 'not '}{relation} {_day(bound)}{rule_words}"
        )
    if isinstance(when, EventCountTest):
        start = when.in_last.apply(timeline.R)
        days = timeline.day[
            (timeline.pkey == i) & timeline.in_cluster(when.events) & (timeline.day > start)
        ]
        what = pack.word(when.events)
        span = f", at least {when.min_span_days} days apart" if when.min_span_days else ""
        found = f"{len(days)} {what}(s) after {_day(start)}"
        if len(days) > 1:
            found += f", {int((days.max() - days.min()).astype(int))} days apart"
        return f"{found} (needs at least {when.at_least}{span})"
    return str(when)  # pragma: no cover


def _explain_indicator(tr: Trace, i: int) -> IndicatorExplanation:
    pack, timeline = tr.pack, tr.timeline
    result = IndicatorExplanation(pack.indicator, pack.title, "", None, None, None)
    if not tr.entered[i]:
        result.outcome = "not registered" if pack.is_register else "not on the register"
        return result
    for j, rule in enumerate(pack.rules):
        held = bool(tr.conditions[j][i])
        decided = bool(tr.decided[i] == j)
        result.steps.append(Step(rule.rule, held, _why(rule, pack, timeline, i, held), decided))
        if decided:
            result.outcome = OUTCOME_WORDS[rule.kind]
            result.rule, result.field = rule.rule, rule.field
            break
    else:
        result.outcome = "not on the register"
    if (
        pack.due_by is not None
        and result.rule
        and rule.kind != RuleKind.select_numerator
        and np.isnat(timeline.dates[pack.due_by.missing][i])
    ):
        deadline = timeline.resolve(pack.due_by.deadline)
        deadline = deadline[i] if np.ndim(deadline) else deadline
        if not np.isnat(deadline) and deadline >= timeline.R:
            result.due_by = str(np.asarray(deadline).astype("datetime64[D]"))
    return result


def explain_patient(
    prepared: Prepared, ruleset: RuleSet, patient_id: str, practice_code: str | None = None
) -> list[PatientExplanation]:
    """One explanation per practice the patient id appears under (usually one)."""
    people = prepared.patients
    patient_id = patient_id.strip()  # as the readers trim ids
    match = people["patient_id"] == patient_id
    if practice_code is not None:
        match &= people["practice_code"] == practice_code.strip().upper()
    keys = np.flatnonzero(match.to_numpy())
    if not len(keys):
        raise UsageError(
            "no patient with that id in the extract (patients absent from a given "
            "patients file are not counted); check the id and --practice"
        )
    sub = prepared.subset(keys)
    _, _, traces = trace(sub, ruleset)
    explanations = []
    for i in range(len(keys)):
        explanations.append(
            PatientExplanation(
                practice_code=sub.patients["practice_code"].iloc[i],
                patient_id=patient_id,
                reference_date=ruleset.reference_date.isoformat(),
                ruleset=ruleset.year.year,
                timeline=_timeline(sub, i, to_day(ruleset.reference_date), words_of(ruleset)),
                indicators=[_explain_indicator(tr, i) for tr in traces.values()],
            )
        )
    return explanations


def words_of(ruleset: RuleSet) -> dict[str, str]:
    """Every pack's words for its clusters and dates (the first pack to name one wins)."""
    words: dict[str, str] = {}
    for pack in ruleset.ordered():
        for name, text in pack.words.items():
            words.setdefault(name, text)
    return words


def _timeline(sub: Prepared, i: int, R, words: dict[str, str]) -> list[dict]:
    """Registrations and the patient's entries in the clusters the rules read, by date."""
    items = []
    if sub.registrations is not None:
        regs = sub.registrations[sub.registrations["pkey"] == i]
        starts = regs["registration_date"].to_numpy("datetime64[D]")
        ends = regs["deregistration_date"].to_numpy("datetime64[D]")
        for start, end in zip(starts, ends, strict=True):
            items.append(
                {
                    "date": str(start),
                    "what": "registered",
                    "cluster": None,
                    "code": None,
                    "episode": None,
                    "after_R": bool(start > R),
                }
            )
            if not np.isnat(end):
                items.append(
                    {
                        "date": str(end),
                        "what": "deregistered",
                        "cluster": None,
                        "code": None,
                        "episode": None,
                        "after_R": bool(end > R),
                    }
                )
    own = np.flatnonzero(sub.pkey == i)
    for k in own:
        cluster = sub.cluster_names[sub.cluster[k]]
        items.append(
            {
                "date": str(sub.day[k]),
                "what": words.get(cluster, cluster),
                "cluster": cluster,
                "code": str(sub.code_names[sub.code[k]]) or None,
                "episode": sub.episode_names[sub.episode[k]] or None,
                "after_R": bool(sub.day[k] > R),
            }
        )
    return sorted(items, key=lambda item: (item["date"], item["what"]))
