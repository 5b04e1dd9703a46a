"""ccrqof: the QOF cancer indicators (CAN001, CAN004, CAN005) from coded GP extracts.

The library does everything the CLI does::

    ruleset = load_ruleset(year="2023-24")
    extract = read_extract("events.csv", patients="patients.csv")
    evaluation = evaluate(extract, ruleset, read_codelists("refset.txt"))
    summary = score(evaluation)
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing itself takes longer to import than the rest of this module
if TYPE_CHECKING:
    from ccrqof.codelists import Codelist
    from ccrqof.engine import Evaluation
    from ccrqof.readers import Extract
    from ccrqof.rules import RuleSet

# Public names and the modules that define them, imported on first use (PEP 562) so that the
# command's entry point can set up its signal handling before pandas and pyarrow load.
_LAZY = {
    "CcrqofError": "ccrqof.errors",
    "Codelist": "ccrqof.codelists",
    "Evaluation": "ccrqof.engine",
    "Extract": "ccrqof.readers",
    "Prepared": "ccrqof.engine",
    "RuleSet": "ccrqof.rules",
    "illustrative_codelist": "ccrqof.codelists",
    "load_ruleset": "ccrqof.rules",
    "prepare": "ccrqof.engine",
    "read_codelists": "ccrqof.codelists",
    "read_extract": "ccrqof.readers",
    "resolve_codelist": "ccrqof.codelists",
    "score": "ccrqof.scoring",
}


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("ccrqof")
        except PackageNotFoundError:  # running from a source tree
            value = "0+unknown"
    elif name == "evaluate_prepared":
        from ccrqof.engine import evaluate as value
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'ccrqof' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    from ccrqof.engine import evaluate as evaluate_prepared
    from ccrqof.engine import prepare

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
