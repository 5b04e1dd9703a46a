"""Patient lists the user asked for (worklists, explanations): the only outputs with ids."""

from __future__ import annotations

import dataclasses

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ccrqof.explanation import PatientExplanation
from ccrqof.worklist import Worklist


def _date(value) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%d %b %Y")


def worklist_frame(worklist: Worklist) -> pd.DataFrame:
    """Both lists in one table, told apart by `list` (to_contact / will_fail)."""
    contact = worklist.to_contact.assign(list="to_contact")
    failing = worklist.will_fail.assign(list="will_fail")
    frame = pd.concat([contact, failing], ignore_index=True)
    shown = ("leaves_window",) if worklist.recall else ()
    for col in (*worklist.dates, "due_by", *shown, "last_invitation"):
        frame[col] = pd.to_datetime(frame[col]).dt.strftime("%Y-%m-%d")
    for col in ("days_left", "invitations"):
        frame[col] = frame[col].astype("Int64")
    first = ["list", "practice_code", "indicator", "patient_id"]
    return frame[first + [c for c in frame.columns if c not in first]]


def worklist_document(worklist: Worklist, reference_date: str, ruleset: str) -> dict:
    frame = worklist_frame(worklist).astype(object).where(lambda f: f.notna(), None)
    contact, failing = (frame[frame["list"] == name] for name in ("to_contact", "will_fail"))
    targets = worklist.targets.astype(
        {"needed_for_lower": "Int64", "needed_for_upper": "Int64"}
    ).astype(object)
    targets = targets.where(worklist.targets.notna(), None)
    return {
        "reference_date": reference_date,
        "ruleset": ruleset,
        "targets": targets.to_dict("records"),
        "to_contact": contact[list(worklist.to_contact_columns)].to_dict("records"),
        "will_fail": failing[list(worklist.will_fail_columns)].to_dict("records"),
    }


def _rows(frame: pd.DataFrame, name: str, columns) -> list[dict]:
    return frame.loc[frame["list"] == name, list(columns)].to_dict("records")


def render_worklist(
    console: Console, worklist: Worklist, reference_date: str, ruleset: str = ""
) -> None:
    rules = (
        f" ({ruleset if ruleset.startswith('QOF') else f'QOF {ruleset} rules'})" if ruleset else ""
    )
    console.print(
        Text.assemble(
            ("Worklist at ", "bold"),
            (reference_date, "bold"),
            rules,
            ": contains patient identifiers",
        )
    )
    practice = worklist.targets["practice_code"].astype(object)
    groups = worklist.targets.groupby(practice.where(practice.notna(), ""), sort=True)
    for practice, targets in groups:
        console.print(
            Text.assemble(("\nPractice ", "bold"), (practice or "(no practice code)", "bold cyan"))
        )
        for target in targets.to_dict("records"):
            _render_indicator(console, worklist, practice, target, reference_date)


def _needed(value) -> str:
    return (
        "cannot be reached from this list"
        if value is None or pd.isna(value)
        else f"{int(value)} of them"
    )


def _render_indicator(console, worklist, practice, target, reference_date) -> None:
    indicator = target["indicator"]

    def mine(frame):
        return frame[
            (frame["indicator"] == indicator) & (frame["practice_code"].fillna("") == practice)
        ]

    contact, failing = mine(worklist.to_contact), mine(worklist.will_fail)
    achieved = "n/a" if pd.isna(target["achievement"]) else f"{100 * target['achievement']:.1f}%"
    console.print(
        Text.assemble(
            (f"{indicator}", "bold"),
            f"  {target['numerator']}/{target['denominator']} achieved ",
            f"({achieved}); {target['listed']} can still be achieved. To reach the lower "
            f"threshold: {_needed(target['needed_for_lower'])}; the upper: "
            f"{_needed(target['needed_for_upper'])}.",
        )
    )
    lapsing = int((contact["outcome"] == "numerator").sum())
    if lapsing:
        console.print(
            f"{lapsing} in the numerator now will drop out of it when their last test leaves "
            "the window before the year end (Leaves window): recall them before then."
        )
    if len(contact):
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for name, justify in (
            ("Patient", "left"),
            *((word.capitalize(), "right") for word in worklist.dates.values()),
            ("Due by", "right"),
            ("Days left", "right"),
            *((("Leaves window", "right"),) if worklist.recall else ()),
            ("Now", "left"),
            ("Invited", "left"),
            ("PCA codes", "left"),
        ):
            table.add_column(name, justify=justify)
        for row in contact.to_dict("records"):
            invited = (
                f"{row['invitations']}, last {_date(row['last_invitation'])}"
                if row["invitations"]
                else "no"
            )
            table.add_row(
                row["patient_id"],
                *(_date(row[name]) for name in worklist.dates),
                _date(row["due_by"]),
                str(row["days_left"]),
                *((_date(row["leaves_window"]),) if worklist.recall else ()),
                f"{row['rule']} {row['field'] or ''}".strip(),
                invited,
                row["pca_codes"],
            )
        console.print(table)
    if len(failing):
        console.print(
            Text(
                f"Will count as not achieved ({len(failing)}): " + ", ".join(failing["patient_id"]),
                style="red",
            )
        )


def explanation_document(explanations: list[PatientExplanation]) -> list[dict]:
    return [dataclasses.asdict(e) for e in explanations]


def render_explanations(console: Console, explanations: list[PatientExplanation]) -> None:
    for e in explanations:
        console.print(
            Text.assemble(
                ("Patient ", "bold"),
                (e.patient_id, "bold cyan"),
                f" at practice {e.practice_code or '(no practice code)'} — "
                f"{e.rules or f'QOF {e.ruleset} rules'}, "
                f"reference date {e.reference_date}",
            )
        )
        table = Table(
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
            title="Timeline",
            title_justify="left",
        )
        for name in ("Date", "Entry", "Cluster", "Code", "Episode"):
            table.add_column(name)
        for item in e.timeline:
            style = "dim" if item["after_R"] else ""
            table.add_row(
                item["date"],
                item["what"] + (" (after R: ignored)" if item["after_R"] else ""),
                item["cluster"] or "",
                item["code"] or "",
                item["episode"] or "",
                style=style,
            )
        console.print(table)
        for ind in e.indicators:
            head = f"{ind.indicator} {ind.title}: {ind.outcome}"
            if ind.rule:
                head += f" at {ind.rule}" + (f" ({ind.field})" if ind.field else "")
            if ind.due_by:
                head += f"; still achievable until {ind.due_by}"
            console.print(Text(head, style="bold"))
            for step in ind.steps:
                mark = "→" if step.decided else " "
                state = "matched" if step.matched else "not matched"
                console.print(
                    Text(
                        f"  {mark} {step.rule} – {state}: {step.why}",
                        style="green" if step.decided else "",
                    )
                )
        console.print()
