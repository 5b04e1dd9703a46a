"""`prepare` in SQL: codes to clusters, entries de-duplicated, every entry keyed to a patient.

The same rules as the Python engine, step for step (docs/explanation-prepare.md has them with
examples): a patient is a (practice, id) unit, from the events' practice codes or, when only
the registrations carry practices, from the registrations; exact duplicate rows count once;
episodes are trimmed and lower-cased, blank meaning first/new. Each step is a named query over
the inputs `events`, `patients` and `codelist`; an engine materialises them (DuckDB) or a script
keeps them as CTEs (`ccrqof sql`).

A practice code is NULL when the inputs have none; inside, it is `practice_key`, '' for none,
so that joins never compare NULLs (no practice code is blank: the readers reject those). Each
unit also gets a number, `unit`, in (practice_key, patient_id) order: the rules join and group on
that one integer, which is several times faster than on two text columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ccrqof.engine.sql.build import (
    DATE,
    alias,
    all_of,
    any_of,
    col,
    eq,
    flag,
    is_in,
    lit,
    numbered,
    on,
    select,
    table,
)

PATIENT_KEY = ("practice_key", "patient_id")  # what names a unit; `unit` numbers it
ENTRY_ROW = ("practice_key", "patient_id", "code", "cluster", "entry_day", "episode")


@dataclass(frozen=True)
class Shape:
    """What the inputs hold, which decides how patients are keyed."""

    codelist: str  # "given" (a row with a code is the list's), "illustrative", or "none"
    events_have_practice: bool
    patients: str  # "none", "with_practice" or "without_practice"
    every_patient: bool = False
    also_patients: tuple[str, ...] = ()
    has_cluster_column: bool = True
    # the tables came through ccrqof's readers (`ccrqof.schemas`): text already trimmed and in
    # its case, so only NULLs need care; a warehouse's raw tables are tidied here
    canonical: bool = False

    @property
    def by_events(self) -> bool:
        """Units from the events' own (practice, id), unless only registrations name practices."""
        return self.events_have_practice or self.patients != "with_practice"


def _text(name: str, tidy: bool = True, case=None) -> exp.Expression:
    """A text input column, '' for NULL; tidied (trimmed, and put in `case`: exp.Upper or
    exp.Lower) unless the shape says it already is."""
    value = exp.Coalesce(this=col(name), expressions=[lit("")])
    if not tidy:
        return value
    value = exp.Trim(this=value)
    return case(this=value) if case else value


def _practice(shape_has: bool, tidy: bool) -> exp.Expression:
    return _text("practice_code", tidy, exp.Upper) if shape_has else lit("")


def steps(shape: Shape, clusters: list[str]) -> list[tuple[str, exp.Select]]:
    """The named queries of `prepare`, in order; each may read the ones before it."""
    wanted = sorted(clusters)
    out: list[tuple[str, exp.Select]] = []
    has_code = exp.NEQ(this=col("code"), expression=lit(""))
    has_cluster = exp.NEQ(this=col("cluster"), expression=lit(""))

    if shape.codelist != "none":
        out.append(
            (
                "members",
                select(
                    alias(_text("cluster", case=exp.Upper), "cluster"),
                    alias(_text("code"), "code"),
                )
                .from_(table("codelist"), copy=False)
                .where(is_in(_text("cluster", case=exp.Upper), wanted), copy=False)
                .distinct(copy=False),
            )
        )
    tidy = not shape.canonical
    cluster_value = _text("cluster", tidy, exp.Upper) if shape.has_cluster_column else lit("")
    out.append(
        (
            "source_rows",
            select(
                alias(_practice(shape.events_have_practice, tidy), "practice_key"),
                alias(_text("patient_id", tidy), "patient_id"),
                alias(_text("code", tidy), "code"),
                alias(cluster_value, "cluster"),
                alias(exp.cast(col("date"), DATE), "entry_day"),
                alias(_text("episode", tidy, exp.Lower), "episode"),
            ).from_(table("events"), copy=False),
        )
    )
    if shape.codelist == "given":
        by_list = has_code
    elif shape.codelist == "illustrative":
        by_list = all_of(has_code, exp.Not(this=exp.Paren(this=has_cluster)))
    else:
        by_list = None
    by_row = all_of(has_cluster, exp.Not(this=exp.Paren(this=by_list))) if by_list else has_cluster
    listed = (
        all_of(
            by_list, col("code").isin(query=select(col("code")).from_(table("members"), copy=False))
        )
        if by_list is not None
        else exp.EQ(this=lit(1), expression=lit(0))
    )
    interest = any_of(listed, all_of(by_row, is_in(col("cluster"), wanted)))
    out.append(
        (
            "classified",
            select(
                exp.Star(),
                alias(flag(any_of(has_code, has_cluster)), "is_entry"),
                alias(flag(all_of(by_row, is_in(col("cluster"), wanted))), "by_row"),
                alias(flag(listed), "listed"),
                alias(flag(interest), "of_interest"),
            ).from_(table("source_rows"), copy=False),
        )
    )
    keep = [eq(col("of_interest"), lit(1))]
    if shape.also_patients:
        keep.append(is_in(col("patient_id"), shape.also_patients))
    keyed = select(exp.Star()).from_(table("classified"), copy=False)
    if not shape.every_patient:
        keyed = keyed.where(any_of(*keep) if len(keep) > 1 else keep[0], copy=False)
    out.append(("keyed", keyed))
    # exact duplicates count once (`copies` says how many there were): the one pass over the
    # extract's rows that every step after this reads (an engine materialises it)
    out.append(
        (
            "deduped",
            select(
                *(col(c) for c in ENTRY_ROW),
                col("by_row"),
                col("listed"),
                col("of_interest"),
                alias(exp.Count(this=exp.Star()), "copies"),
            )
            .from_(table("keyed"), copy=False)
            .group_by(
                *(col(c) for c in (*ENTRY_ROW, "by_row", "listed", "of_interest")), copy=False
            ),
        )
    )

    if shape.patients != "none":
        regs = select(
            alias(_practice(shape.patients == "with_practice", tidy), "practice_key"),
            alias(_text("patient_id", tidy), "patient_id"),
            alias(exp.cast(col("registration_date"), DATE), "registration_date"),
            alias(exp.cast(col("deregistration_date"), DATE), "deregistration_date"),
            alias(exp.cast(col("date_of_birth"), DATE), "date_of_birth"),
            alias(_text("sex", case=exp.Lower), "sex"),  # as written: always tidied
        ).from_(table("patients"), copy=False)
        out.append(("registrations", regs))
    out.extend(_units(shape))
    out.append(("entries", _entries(shape)))
    return out


def _units(shape: Shape) -> list[tuple[str, exp.Select]]:
    """`units`: every patient unit (practice_key, patient_id), with `from_events` 1 for units the
    events name; `unit_regs`: each unit's registrations; `kept`: the units with a registration
    (all, with no patients file), with date of birth and sex."""
    out = []
    event_units = (
        select(col("practice_key"), col("patient_id"))
        .from_(table("deduped"), copy=False)
        .distinct(copy=False)
    )
    if shape.by_events:
        units = select(col("practice_key"), col("patient_id"), alias(lit(1), "from_events")).from_(
            event_units.subquery("e"), copy=False
        )
        if shape.patients != "none" and (shape.every_patient or shape.also_patients):
            more = select(col("practice_key"), col("patient_id")).from_(
                table("registrations"), copy=False
            )
            if not shape.every_patient:
                more = more.where(is_in(col("patient_id"), shape.also_patients), copy=False)
            if shape.patients == "without_practice":  # ids the events do not name, no practice
                more = select(alias(lit(""), "practice_key"), col("patient_id")).from_(
                    table("registrations"), copy=False
                )
                if not shape.every_patient:
                    more = more.where(is_in(col("patient_id"), shape.also_patients), copy=False)
                more = more.where(
                    exp.Not(
                        this=col("patient_id").isin(
                            query=select(col("patient_id")).from_(table("deduped"))
                        )
                    ),
                    copy=False,
                )
            extra = (
                select(
                    col("practice_key", "m"), col("patient_id", "m"), alias(lit(0), "from_events")
                )
                .from_(more.distinct().subquery("m"), copy=False)
                .join(
                    event_units.subquery("e"),
                    on=on(("practice_key", "m", "e"), ("patient_id", "m", "e")),
                    join_type="left",
                    copy=False,
                )
                .where(exp.Is(this=col("patient_id", "e"), expression=exp.Null()), copy=False)
            )
            units = units.union(extra, distinct=False, copy=False)
        out.append(("units", _numbered(units)))
    else:  # the registered (practice, id) pairs; an events row joins each unit of its id
        regs = select(col("practice_key"), col("patient_id")).from_(
            table("registrations"), copy=False
        )
        if not shape.every_patient:
            ids = select(col("patient_id")).from_(table("deduped"), copy=False)
            regs = regs.where(
                any_of(
                    col("patient_id").isin(query=ids),
                    is_in(col("patient_id"), shape.also_patients),
                ),
                copy=False,
            )
        out.append(
            (
                "units",
                _numbered(
                    select(
                        col("practice_key"), col("patient_id"), alias(lit(1), "from_events")
                    ).from_(regs.distinct().subquery("r"), copy=False)
                ),
            )
        )
    if shape.patients == "none":
        out.append(
            (
                "kept",
                select(
                    col("unit"),
                    col("practice_key"),
                    col("patient_id"),
                    alias(exp.cast(exp.Null(), DATE), "date_of_birth"),
                    alias(exp.cast(exp.Null(), exp.DataType.build("TEXT")), "sex"),
                ).from_(table("units"), copy=False),
            )
        )
        return out
    by = ("practice_key", "patient_id") if shape.patients == "with_practice" else ("patient_id",)
    out.append(
        (
            "unit_regs",
            select(
                col("unit", "u"),
                col("practice_key", "u"),
                col("patient_id", "u"),
                col("registration_date", "r"),
                col("deregistration_date", "r"),
                col("date_of_birth", "r"),
                col("sex", "r"),
            )
            .from_(table("units", "u"), copy=False)
            .join(table("registrations", "r"), on=on(*((c, "u", "r") for c in by)), copy=False),
        )
    )
    # a patient's registrations may disagree on date of birth or sex: the largest value is
    # used, by every engine alike
    out.append(
        (
            "kept",
            select(
                col("unit"),
                col("practice_key"),
                col("patient_id"),
                alias(exp.Max(this=col("date_of_birth")), "date_of_birth"),
                alias(exp.Max(this=exp.Nullif(this=col("sex"), expression=lit(""))), "sex"),
            )
            .from_(table("unit_regs"), copy=False)
            .group_by(col("unit"), col("practice_key"), col("patient_id"), copy=False),
        )
    )
    return out


def _numbered(units: exp.Select) -> exp.Select:
    """The units with `unit`, a whole number each: the rules join and group on it alone."""
    return select(exp.Star(), alias(numbered(*PATIENT_KEY), "unit")).from_(
        units.subquery("n", copy=False), copy=False
    )


def _entries(shape: Shape) -> exp.Select:
    """Distinct entry rows of interest, in each of their clusters, for each kept unit."""
    row = ENTRY_ROW
    own = (
        select(*(col(c, "d") for c in row), alias(col("cluster", "d"), "entry_cluster"))
        .from_(table("deduped", "d"), copy=False)
        .where(eq(col("by_row", "d"), lit(1)), copy=False)
    )
    parts = own
    if shape.codelist != "none":
        listed = (
            select(*(col(c, "d") for c in row), alias(col("cluster", "m"), "entry_cluster"))
            .from_(table("deduped", "d"), copy=False)
            .join(table("members", "m"), on=eq(col("code", "d"), col("code", "m")), copy=False)
            .where(eq(col("listed", "d"), lit(1)), copy=False)
        )
        parts = own.union(listed, distinct=False, copy=False)
    kept = table("kept", "k")
    rows = parts.subquery("x")
    if shape.by_events:
        joined = on(("practice_key", "x", "k"), ("patient_id", "x", "k"))
    else:
        joined = eq(col("patient_id", "x"), col("patient_id", "k"))
    return (
        select(
            col("unit", "k"),
            col("practice_key", "k"),
            col("patient_id", "k"),
            col("entry_cluster", "x"),
            col("entry_day", "x"),
            col("code", "x"),
            col("episode", "x"),
        )
        .from_(rows, copy=False)
        .join(kept, on=joined, copy=False)
    )
