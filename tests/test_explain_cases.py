"""One generic runner for the golden explanation cases in ``explain_cases.yaml``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from test_worklist_cases import extract_for, ruleset_for

import ccrqof
from ccrqof.codelists import illustrative_codelist
from ccrqof.explanation import PatientExplanation
from ccrqof.loading import choose_indicators
from ccrqof.testing import parse_drawn_table

HERE = Path(__file__).parent
CASES = yaml.safe_load((HERE / "explain_cases.yaml").read_text(encoding="utf-8"))["cases"]
CASE_KEYS = {"name", "reason", "reference_date", "registrations", "events", "checks"}
CHECK_KEYS = {"patient", "practice", "practice_codes", "timeline", "CAN001", "CAN004", "CAN005"}
INDICATOR_KEYS = {"rule", "outcome", "field", "due_by", "steps"}
YES_NO = {True: "yes", False: "no"}


def explanations_for(case: dict, patient: str, practice: str | None):
    extract = extract_for(case)
    run, _ = choose_indicators([ruleset_for(case)], extract)  # as the command chooses
    ruleset = ruleset_for(case).only(run)
    explanations = ccrqof.explain(extract, ruleset, illustrative_codelist(), patient, practice)
    return ruleset, explanations


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES_NO[value]
    return str(value)


def structural_problems(ruleset, explanation: PatientExplanation) -> list[str]:
    """Steps are the pack's rules in order, ending at the deciding rule (the only decided
    step, and a matched one); no deciding rule means no step decided."""
    problems = []
    for ind in explanation.indicators:
        pack = ruleset.packs[ind.indicator]
        names = [s.rule for s in ind.steps]
        if names != [r.rule for r in pack.rules][: len(names)]:
            problems.append(f"{ind.indicator}: steps {names} are not the pack's rules in order")
        decided = [s for s in ind.steps if s.decided]
        if ind.rule is None:
            if decided:
                problems.append(f"{ind.indicator}: a step decided but no deciding rule")
        elif len(decided) != 1 or ind.steps[-1] is not decided[0]:
            problems.append(f"{ind.indicator}: the last step must be the only deciding one")
        elif not (decided[0].matched and decided[0].rule == ind.rule):
            problems.append(f"{ind.indicator}: deciding step {decided[0]} is not {ind.rule}")
        for step in ind.steps:
            if not step.why:
                problems.append(f"{ind.indicator} {step.rule}: no explanation text")
    return problems


def check_problems(ruleset, explanations: list[PatientExplanation], check: dict) -> list[str]:
    problems = []
    codes = sorted(e.practice_code or "" for e in explanations)
    want_codes = sorted(check.get("practice_codes", codes if len(codes) == 1 else ["(one)"]))
    if codes != want_codes:
        return [f"explanations for practices {codes}, expected {want_codes}"]
    for e in explanations:
        problems += structural_problems(ruleset, e)
    if len(explanations) != 1:
        return problems
    explanation = explanations[0]
    if "timeline" in check:
        want = parse_drawn_table(check["timeline"]).to_dict("records")
        columns = list(want[0])
        got = [{c: _text(item[c]) for c in columns} for item in explanation.timeline]
        if got != want:
            problems.append(f"timeline: expected {want}, got {got}")
    by_indicator = {i.indicator: i for i in explanation.indicators}
    for indicator in ("CAN001", "CAN004", "CAN005"):
        if indicator not in check:
            continue
        want, ind = check[indicator], by_indicator[indicator]
        for key in ("rule", "outcome", "field"):
            if key in want and getattr(ind, key) != want[key]:
                problems.append(f"{indicator} {key}: expected {want[key]}, got {getattr(ind, key)}")
        if "due_by" in want:
            expected = want["due_by"]
            expected = expected.isoformat() if isinstance(expected, dt.date) else expected
            if ind.due_by != expected:
                problems.append(f"{indicator} due_by: expected {expected}, got {ind.due_by}")
        if "steps" in want:
            problems += step_problems(indicator, ind.steps, want["steps"])
    return problems


def step_problems(indicator: str, steps, drawn: str) -> list[str]:
    if not drawn:
        return [] if not steps else [f"{indicator}: expected no steps, got {steps}"]
    problems = []
    actual = {s.rule: s for s in steps}
    order = [s.rule for s in steps]
    rows = parse_drawn_table(drawn).to_dict("records")
    wanted = [r["rule"] for r in rows]
    if [r for r in order if r in wanted] != wanted:
        problems.append(f"{indicator}: steps {order} do not include {wanted} in that order")
    for row in rows:
        step = actual.get(row["rule"])
        if step is None:
            continue
        if YES_NO[bool(step.matched)] != row["matched"]:
            problems.append(f"{indicator} {row['rule']}: matched {step.matched}, expected {row}")
        if row["why"] not in step.why:
            problems.append(f"{indicator} {row['rule']}: {step.why!r} lacks {row['why']!r}")
    return problems


def _checks():
    for case in CASES:
        for n, check in enumerate(case["checks"]):
            suffix = f"@{check['practice']}" if check.get("practice") else ""
            yield pytest.param(case, check, id=f"{case['name']}-{check['patient']}{suffix}-{n}")


def test_case_file_is_well_formed():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        assert set(case) <= CASE_KEYS, (case["name"], set(case) - CASE_KEYS)
        assert "\n" not in case["reason"].strip()
        for check in case["checks"]:
            assert set(check) <= CHECK_KEYS, (case["name"], set(check) - CHECK_KEYS)
            for indicator in ("CAN001", "CAN004", "CAN005"):
                assert set(check.get(indicator, {})) <= INDICATOR_KEYS, (case["name"], check)


@pytest.mark.parametrize(("case", "check"), list(_checks()))
def test_explain_case(case, check):
    ruleset, explanations = explanations_for(case, check["patient"], check.get("practice"))
    problems = check_problems(ruleset, explanations, check)
    assert not problems, f"{case['name']} ({case['reason']})\n" + "\n".join(problems)


def test_explanations_are_plain_data():
    """`--format json` serialises the dataclasses: every value must be a JSON type (a numpy
    bool would make json.dumps fail)."""
    import dataclasses
    import json

    for case in CASES:
        for check in case["checks"]:
            _, explanations = explanations_for(case, check["patient"], check.get("practice"))
            for e in explanations:
                for ind in e.indicators:
                    for step in ind.steps:
                        assert type(step.matched) is bool, step
                        assert type(step.decided) is bool, f"numpy bool, not bool: {step}"
                json.dumps(dataclasses.asdict(e))


def test_cases_cover_every_branch():
    """Meta-test: the golden cases between them show every kind of explanation text."""
    text = (HERE / "explain_cases.yaml").read_text(encoding="utf-8")
    for needle in (
        "| yes ",  # date test matched
        "is not on or before",  # date test not matched
        "no first cancer care review",  # missing date
        "registration date unknown",  # no registration data
        "0 review invitation(s)",
        "1 review invitation(s)",
        "3 days apart",  # two, too close
        "7 days apart",  # two, far enough apart
        "everyone still in the cascade",  # always
        "not registered",
        "not on the register",
        "after_R",
        "practice_codes: [A81001, B82002]",
        "due_by: null",
    ):
        assert needle in text, f"no golden explanation case shows {needle!r}"
