"""Canonical column names (docs/reference-data.md#events-extract) and the export spellings
recognised for them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from ccrqof.errors import InputError, UsageError

EVENT_COLUMNS = ("patient_id", "code", "date", "practice_code", "episode", "cluster")
PATIENT_COLUMNS = (
    "patient_id",
    "practice_code",
    "registration_date",
    "deregistration_date",
    "date_of_birth",
    "sex",
)

# Spellings are compared after lower-casing and removing everything but letters and digits.
ALIASES: dict[str, tuple[str, ...]] = {
    "patient_id": ("patientid", "patient", "pseudoid", "patientpseudoid"),
    "code": (
        "code",
        "snomedcode",
        "snomedctcode",
        "snomedctconceptid",
        "snomedconceptid",
        "conceptid",
        "snomedid",
        "snomed",
    ),
    "date": ("date", "effectivedate", "eventdate", "entrydate", "codedate"),
    "practice_code": ("practicecode", "odscode", "practiceodscode", "practice", "orgcode"),
    "episode": ("episode", "episodicity", "episodetype"),
    "cluster": ("cluster", "clusterid"),
    "registration_date": (
        "registrationdate",
        "dateofregistration",
        "regdate",
        "registrationstartdate",
    ),
    "deregistration_date": (
        "deregistrationdate",
        "dateofderegistration",
        "deregdate",
        "registrationenddate",
    ),
    "date_of_birth": ("dateofbirth", "dob", "birthdate"),
    "sex": ("sex", "gender"),
}


_LOOKS_LIKE_DATA = re.compile(r"^[\d\s/.:+Ee-]+$")


def _data_like(name: str) -> bool:
    """A number, a date, or a code such as A81001 (at least half digits) is a value, not a
    column name."""
    digits = sum(ch.isdigit() for ch in name)
    return bool(_LOOKS_LIKE_DATA.match(name)) or digits * 2 >= len(name.strip()) > 0


def looks_like_data(names: list[str]) -> bool:
    """Whether a 'header' is really a data row (then no name of it may be echoed)."""
    return any(_data_like(n) for n in names if n)


def describe_columns(names: list[str]) -> str:
    """The columns found, unless the 'header' is really a data row: then no name is echoed,
    since a data row may hold patient values."""
    if looks_like_data(names):
        return "the first line looks like data, not column names: is the header row missing?"
    return "found: " + (", ".join(names) or "none")


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_SPELLINGS = {
    spelling: canonical
    for canonical in dict.fromkeys(EVENT_COLUMNS + PATIENT_COLUMNS)
    for spelling in (normalise(canonical), *ALIASES.get(canonical, ()))
}


def looks_like_header(cells: list[str], explicit: dict[str, str] | None = None) -> bool:
    """Whether a line's cells are a header row: they name a patient id and one more column we
    read (in a recognised spelling, or a ``--column`` SOURCE). A report's title or run date
    names neither, and a data row holds values, not column names."""
    sources = {source: canonical for canonical, source in (explicit or {}).items()}
    named = {sources.get(cell) or _SPELLINGS.get(normalise(cell)) for cell in cells}
    named.discard(None)
    return "patient_id" in named and len(named) > 1


def map_columns(
    found: list[str], wanted: tuple[str, ...], explicit: dict[str, str], file: str
) -> dict[str, str]:
    """Map canonical name -> source column for the columns of `wanted` present in `found`.

    Explicit ``--column NAME=SOURCE`` choices come first (those whose SOURCE is in this file).
    Two source columns that could both be one canonical column is an error, never a guess.
    """
    mapping = {
        name: source for name, source in explicit.items() if name in wanted and source in found
    }
    taken = set(explicit.values())
    for canonical in wanted:
        if canonical in mapping:
            continue
        spellings = {normalise(canonical), *ALIASES.get(canonical, ())}
        candidates = [c for c in found if c not in taken and normalise(c) in spellings]
        if len(candidates) > 1:
            raise InputError(
                f"columns {' and '.join(repr(c) for c in candidates)} could both be "
                f"'{canonical}'; choose one with --column {canonical}=NAME",
                file=file,
            )
        if candidates:
            mapping[canonical] = candidates[0]
            taken.add(candidates[0])
    return mapping


def parse_column_options(options: tuple[str, ...]) -> dict[str, str]:
    """``("code=SnomedCTConceptId", ...)`` -> {"code": "SnomedCTConceptId"}; names checked."""
    valid = dict.fromkeys(EVENT_COLUMNS + PATIENT_COLUMNS)
    mapping: dict[str, str] = {}
    for option in options:
        name, sep, source = option.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not source:
            raise UsageError(
                f"--column expects NAME=SOURCE, e.g. --column code=ConceptId (got {option!r})"
            )
        if name not in valid:
            raise UsageError(
                f"--column: unknown column name {name!r}; valid names are {', '.join(valid)}"
            )
        mapping[name] = source
    return mapping


def check_sources_exist(mapping: dict[str, str], files_columns: dict[str, list[str]]) -> None:
    """Every --column SOURCE must be a column of one of the input files."""
    everywhere = {c for cols in files_columns.values() for c in cols}
    for name, source in mapping.items():
        if source not in everywhere:
            found = "; ".join(f"{f}: {', '.join(cols)}" for f, cols in files_columns.items())
            raise UsageError(
                f"--column {name}={source}: no column {source!r} in the input (found {found})"
            )


def spellings_markdown() -> str:
    """The recognised spellings as a Markdown table (kept in docs; a test checks it is current)."""
    rows = [
        "| column | required | also recognised (case, spaces and punctuation ignored) |",
        "|---|---|---|",
    ]
    required = {
        "patient_id": "yes",
        "code": "yes*",
        "date": "yes",
        "registration_date": "patients file",
        "cluster": "no*",
    }
    for name in dict.fromkeys(EVENT_COLUMNS + PATIENT_COLUMNS):
        spellings = ", ".join(f"`{s}`" for s in ALIASES.get(name, ()))
        rows.append(f"| `{name}` | {required.get(name, 'no')} | {spellings} |")
    return "\n".join(rows)


# Words in the headers exports give an organisation's code under ("Organisation", "Practice
# ODS", "Surgery"): a column so named is checked for ODS practice codes before a hint is given.
_PRACTICE_WORDS = ("org", "practice", "ods", "surgery")


def practice_like_name(name: str) -> bool:
    """A header an export may give practice codes under, other than the recognised ones."""
    return any(word in normalise(name) for word in _PRACTICE_WORDS)


def usage_summary(
    file: str, mapping: dict[str, str], found: list[str], practice_like: Sequence[str] = ()
) -> str:
    """One line saying which columns of a file were used, as what, and which were ignored;
    for an ignored column that holds practice codes (`practice_like`), how to use it."""
    order = list(dict.fromkeys(EVENT_COLUMNS + PATIENT_COLUMNS))
    pairs = sorted(mapping.items(), key=lambda pair: order.index(pair[0]))
    used = ", ".join(f'{canonical} ← "{source}"' for canonical, source in pairs)
    taken = set(mapping.values())
    ignored = [name for name in found if name not in taken]
    line = f"{file}: used {used or 'no column'}"
    if ignored and looks_like_data(ignored):  # a data row as header: never echo its cells
        line += f"; ignored: {len(ignored)} column(s)"
    elif ignored:
        line += "; ignored: " + ", ".join(ignored)
    for source in practice_like:
        line += (
            f"; {source} looks like ODS practice codes: to use it as the practice, add "
            f"--column practice_code={shlex.quote(source)}"
        )
    return line
