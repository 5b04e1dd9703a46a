"""ccrqof: the QOF cancer indicators (CAN001, CAN004, CAN005) from coded GP extracts.

The library does everything the CLI does::

    ruleset = load_ruleset(year="2023-24")
    extract = read_extract("events.csv", patients="patients.csv")
    evaluation = evaluate(extract, ruleset, read_codelists("refset.txt"))
    summary = score(evaluation)

To evaluate one extract at many dates, prepare it once with an engine::

    engine = get_engine()  # DuckDB, the default; "python" is the in-memory reference
    handle = engine.prepare(extract, codelist, [ruleset])
    evaluation = engine.evaluate(handle, ruleset)
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing itself takes longer to import than the rest of this module
if TYPE_CHECKING:
    from ccrqof.codelists import Codelist
    from ccrqof.engine import Engine, Evaluation
    from ccrqof.explanation import PatientExplanation
    from ccrqof.readers import Extract
    from ccrqof.rules import RuleSet

# Public names and the modules that define them, imported on first use (PEP 562) so that the
# command's entry point can set up its signal handling before pandas and pyarrow load.
_LAZY = {
    "CcrqofError": "ccrqof.errors",
    "Codelist": "ccrqof.codelists",
    "Engine": "ccrqof.engine",
    "Evaluation": "ccrqof.engine",
    "Extract": "ccrqof.readers",
    "get_engine": "ccrqof.engine",
    "RuleSet": "ccrqof.rules",
    "illustrative_codelist": "ccrqof.codelists",
    "load": "ccrqof.loading",
    "load_ruleset": "ccrqof.rules",
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
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'ccrqof' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def evaluate(
    extract: Extract,
    ruleset: RuleSet,
    codelist: Codelist | None = None,
    *,
    engine: str | Engine | None = None,
) -> Evaluation:
    """Outcome rows for every patient and indicator at the rule set's reference date.

    With no code list, only a `cluster` column in the extract maps entries to clusters. Every
    engine (`ccrqof.engine.ENGINES`; None is DuckDB, the default) gives the same tables.
    """
    from ccrqof.engine import get_engine

    chosen = get_engine(engine)
    return chosen.evaluate(chosen.prepare(extract, codelist, [ruleset]), ruleset)


def explain(
    extract: Extract,
    ruleset: RuleSet,
    codelist: Codelist | None,
    patient_id: str,
    practice_code: str | None = None,
    *,
    engine: str | Engine | None = None,
) -> list[PatientExplanation]:
    """Why one patient counts as they do, rule by rule (one explanation per practice)."""
    from ccrqof.engine import get_engine
    from ccrqof.explanation import explain_patient

    chosen = get_engine(engine)
    handle = chosen.prepare(extract, codelist, [ruleset], also_patients=(patient_id.strip(),))
    return explain_patient(chosen, handle, ruleset, patient_id, practice_code)


__all__ = [
    "CcrqofError",
    "Codelist",
    "Engine",
    "Evaluation",
    "Extract",
    "RuleSet",
    "__version__",
    "evaluate",
    "explain",
    "get_engine",
    "illustrative_codelist",
    "load",
    "load_ruleset",
    "read_codelists",
    "read_extract",
    "resolve_codelist",
    "score",
]
