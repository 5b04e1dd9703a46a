"""ccrqof: the QOF cancer indicators (CAN001, CAN004, CAN005) from coded GP extracts.

The library does everything the CLI does::

    ruleset = load_ruleset(year="2023-24")
    extract = read_extract("events.csv", patients="patients.csv")
    evaluation = evaluate(extract, ruleset, read_codelists("refset.txt"))
    summary = score(evaluation)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ccrqof.codelists import Codelist, illustrative_codelist, read_codelists, resolve_codelist
from ccrqof.engine import Evaluation, Prepared, prepare
from ccrqof.engine import evaluate as evaluate_prepared
from ccrqof.errors import CcrqofError
from ccrqof.readers import Extract, read_extract
from ccrqof.rules import RuleSet, load_ruleset
from ccrqof.scoring import score

try:
    __version__ = version("ccrqof")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"


def clusters_used(ruleset: RuleSet) -> set[str]:
    """Every cluster a pack of the rule set reads."""
    return set().union(*(pack.clusters() for pack in ruleset.packs.values()))


def every_patient_needed(*rulesets: RuleSet) -> bool:
    """Can a register of these rule sets take a patient with no entry in its clusters? Then
    `prepare` must key every patient, not only those with entries of interest."""
    return any(
        pack.is_register and not pack.selects_only_patients_with_entries()
        for ruleset in rulesets
        for pack in ruleset.packs.values()
    )


def evaluate(extract: Extract, ruleset: RuleSet, codelist: Codelist | None = None) -> Evaluation:
    """Outcome rows for every register patient and indicator at the rule set's reference date.

    With no code list, only a `cluster` column in the extract maps entries to clusters.
    """
    prepared = prepare(
        extract,
        codelist,
        clusters_used(ruleset),
        every_patient=every_patient_needed(ruleset),
    )
    return evaluate_prepared(prepared, ruleset)


__all__ = [
    "CcrqofError",
    "Codelist",
    "Evaluation",
    "Extract",
    "Prepared",
    "RuleSet",
    "__version__",
    "clusters_used",
    "evaluate",
    "evaluate_prepared",
    "every_patient_needed",
    "illustrative_codelist",
    "load_ruleset",
    "prepare",
    "read_codelists",
    "read_extract",
    "resolve_codelist",
    "score",
]
