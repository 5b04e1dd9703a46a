"""Canonical column names (data.md) and the export spellings recognised for them."""

from __future__ import annotations

import re

from ccrqof.errors import InputError

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


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def recognise(found: list[str], wanted: tuple[str, ...], file: str) -> dict[str, str]:
    """Map canonical name -> source column for the columns of `wanted` present in `found`.

    Two source columns that could both be one canonical column is an error, never a guess.
    """
    mapping: dict[str, str] = {}
    for canonical in wanted:
        spellings = {normalise(canonical), *ALIASES.get(canonical, ())}
        exact = [c for c in found if c == canonical]
        candidates = exact or [c for c in found if normalise(c) in spellings]
        if len(candidates) > 1:
            raise InputError(
                f"columns {' and '.join(repr(c) for c in candidates)} could both be "
                f"'{canonical}'; rename one of them so only one remains",
                file=file,
            )
        if candidates:
            mapping[canonical] = candidates[0]
    return mapping
