"""Rule packs in plain words: one line per rule (``ccrqof rules show``) and rule-by-rule
differences between two years (``ccrqof rules diff``)."""

from __future__ import annotations

from functools import singledispatch

from ccrqof.rules.model import (
    COMPARISON_WORDS,
    AgeOutside,
    Always,
    DateTest,
    EarliestEventFrom,
    EventCountTest,
    IndicatorPack,
    LatestEvent,
    Registered,
    RegisterOf,
    Rule,
    RuleKind,
)

KIND_WORDS = {
    RuleKind.select_register: "register",
    RuleKind.select_numerator: "numerator",
    RuleKind.select_denominator: "denominator",
    RuleKind.reject_exclusion: "exclusion",
    RuleKind.reject_pca: "PCA",
}


@singledispatch
def condition_words(when) -> str:
    """A rule's condition in the words of `rules show` (one handler per condition kind)."""
    raise TypeError(f"no wording for condition {type(when).__name__}")


@condition_words.register
def _always(when: Always) -> str:
    return "everyone left"


@condition_words.register
def _date_test(when: DateTest) -> str:
    return f"{when.date} {COMPARISON_WORDS[when.comparison]} {when.bound}"


@condition_words.register
def _event_count(when: EventCountTest) -> str:
    window = f"in the {str(when.in_last).removeprefix('- ')} up to R"
    count = f"at least {when.at_least} {when.events}" if when.at_least > 1 else when.events
    span = f", at least {when.min_span_days} days apart" if when.min_span_days else ""
    return f"{count} {window}{span}"


@condition_words.register
def _age_outside(when: AgeOutside) -> str:
    return f"aged under {when.age_outside.lowest} or over {when.age_outside.highest} at R"


def rule_line(rule: Rule) -> str:
    """``R5 exclusion DIAGCRV12M: CAN_DAT after R - 12 months``."""
    head = " ".join(filter(None, [rule.rule, KIND_WORDS[rule.kind], rule.field]))
    line = f"{head}: {condition_words(rule.when)}"
    if rule.shadowed_by:
        line += f" (shadowed by {rule.shadowed_by}: never decides)"
    return line


@singledispatch
def date_words(definition) -> str:
    """A patient date's definition in words (one handler per date kind)."""
    raise TypeError(f"no wording for date definition {type(definition).__name__}")


@date_words.register
def _latest(definition: LatestEvent) -> str:
    skip = (
        f", skipping episodes {', '.join(definition.exclude_episodes)}"
        if definition.exclude_episodes
        else ""
    )
    return f"latest {definition.latest} on or before R{skip}"


@date_words.register
def _earliest_from(definition: EarliestEventFrom) -> str:
    return f"earliest {definition.earliest} on or after {definition.on_or_after}, up to R"


@singledispatch
def population_words(population) -> str:
    raise TypeError(f"no wording for population {type(population).__name__}")


@population_words.register
def _registered(population: Registered) -> str:
    return str(population)


@population_words.register
def _register_of(population: RegisterOf) -> str:
    return str(population)


DISPATCHERS = {
    "condition": condition_words,
    "date": date_words,
    "population": population_words,
}


def thresholds_words(pack: IndicatorPack) -> str:
    if pack.thresholds is None:
        return "none"
    return f"{pack.thresholds.lower:.0%} to {pack.thresholds.upper:.0%}"


def pack_lines(pack: IndicatorPack) -> list[str]:
    population = population_words(pack.population)
    lines = [
        f"{pack.indicator} {pack.year}: {pack.title}",
        f"Population: {population}",
        f"Points: {pack.max_points}; thresholds: {thresholds_words(pack)}",
        "Dates:",
        *(f"  {name}: {date_words(d)}" for name, d in pack.dates.items()),
    ]
    if pack.due_by:
        lines.append(f"Due by: while {pack.due_by.missing} is missing, {pack.due_by.deadline}")
    lines.append("Rules (each patient leaves at the first rule that matches):")
    for rule in pack.rules:
        lines.append(f"  {rule_line(rule)}")
        lines.append(f"      {rule.says}")
    return lines + measure_lines(pack)


def measure_lines(pack: IndicatorPack) -> list[str]:
    """The measures the pack defines beside the indicator, in words."""
    if pack.measures is None:
        return []
    lines = ["Measures beside it (not part of the indicator):"]
    cohort = pack.measures.cohort
    if cohort is not None:
        lines.append(
            f"  {cohort.measure}: {cohort.title}: of the patients whose {cohort.entry} falls in "
            f"a month, the share with {cohort.outcome} on or before {cohort.entry} + "
            f"{cohort.within} months"
        )
    for name, clusters in pack.measures.activity.items():
        lines.append(
            f"  {name}: {', '.join(clusters)} entries per month, per 1,000 on the "
            f"{pack.register} register"
        )
    return lines


def _pack_facts(pack: IndicatorPack) -> dict[str, str]:
    facts = {
        "title": pack.title,
        "population": pack.register
        or ("registered" if pack.population == Registered() else str(pack.population)),
        "max_points": str(pack.max_points),
        "thresholds": thresholds_words(pack),
        "due_by": (f"{pack.due_by.missing} by {pack.due_by.deadline}" if pack.due_by else "none"),
    }
    facts.update({f"date {n}": date_words(d) for n, d in pack.dates.items()})
    return facts


def _rule_facts(rule: Rule) -> dict[str, str]:
    return {
        "kind": KIND_WORDS[rule.kind],
        "field": rule.field or "-",
        "when": condition_words(rule.when),
        "shadowed_by": rule.shadowed_by or "-",
        "says": rule.says,
    }


def diff_lines(old: dict[str, IndicatorPack], new: dict[str, IndicatorPack]) -> list[str]:
    """What changed from one year's packs to another's, indicator by indicator, rule by rule."""
    lines: list[str] = []
    for indicator in sorted(set(old) | set(new)):
        if indicator not in new:
            lines.append(f"{indicator}: removed")
            continue
        if indicator not in old:
            lines.append(f"{indicator}: added ({len(new[indicator].rules)} rules)")
            continue
        a, b = old[indicator], new[indicator]
        changes: list[str] = []
        fa, fb = _pack_facts(a), _pack_facts(b)
        for key in [*fa, *(k for k in fb if k not in fa)]:
            if fa.get(key) != fb.get(key):
                changes.append(f"  {key}: {fa.get(key, '(none)')} → {fb.get(key, '(none)')}")
        rules_a = {r.rule: r for r in a.rules}
        rules_b = {r.rule: r for r in b.rules}
        for number in sorted(set(rules_a) | set(rules_b), key=lambda r: int(r[1:])):
            if number not in rules_b:
                changes.append(f"  {number} removed: {rule_line(rules_a[number])}")
            elif number not in rules_a:
                changes.append(f"  {number} added: {rule_line(rules_b[number])}")
            else:
                ra, rb = _rule_facts(rules_a[number]), _rule_facts(rules_b[number])
                for key in ra:
                    if ra[key] != rb[key]:
                        changes.append(f"  {number} {key}: {ra[key]} → {rb[key]}")
        lines.append(f"{indicator}: " + ("unchanged" if not changes else "changed"))
        lines.extend(changes)
    return lines


def pack_page(pack: IndicatorPack, cases) -> str:
    """A Markdown reference page for one pack and its cases (generated into docs/packs/)."""
    lines = [
        f"# {pack.indicator} {pack.year}: {pack.title}",
        "",
        "Generated from the bundled rule pack and its cases by `python docs/generate.py`;",
        "do not edit by hand.",
        "",
        pack.description,
        "",
        "```text",
        *pack_lines(pack),
        "```",
        "",
        f"## Cases ({len(cases)})",
        "",
        "| case | why | patients and deciding rule |",
        "|---|---|---|",
    ]
    for case in cases:
        decided = ", ".join(f"{p}: {e.rule}" for p, e in case.expect.items())
        reason = case.reason.replace("|", "\\|")
        lines.append(f"| `{case.name}` | {reason} | {decided} |")
    return "\n".join(lines) + "\n"
