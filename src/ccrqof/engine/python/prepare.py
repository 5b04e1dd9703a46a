"""Turn a read extract into flat integer arrays the cascade can run on at any reference date.

Done once per extract: code-list mapping, duplicate removal and patient keys do not depend on
the reference date, so a monthly series reuses this work. Everything is keyed by integers
(factorised once), so a national extract is joined with array operations, not string merges.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ccrqof.codelists import Codelist
from ccrqof.readers import Extract
from ccrqof.readers.values import mask

MORE_THAN_ONE_PRACTICE = "patients with entries of interest under more than one practice"
MISSING_FROM_PATIENTS = "patients with entries of interest missing from the patients file"
NO_REGISTRATION_NOTICE = (
    "No registration data (no --patients file and no registration column): every patient in the "
    "extract is treated as registered, registration dates are unknown, and the REG1_DAT3 "
    "(newly registered) rule cannot apply."
)


@dataclass
class Prepared:
    """Events as arrays over integer patient keys, plus each patient's registrations.

    Clusters, codes and episodes are small integers into `cluster_names`, `code_names` and
    `episode_names`.
    """

    patients: pd.DataFrame  # one row per key: practice_code, patient_id (date_of_birth, sex)
    pkey: np.ndarray  # event -> patient key
    cluster: np.ndarray  # event -> index into cluster_names
    code: np.ndarray  # event -> index into code_names ("" when only a cluster was given)
    day: np.ndarray  # event -> datetime64[D]
    episode: np.ndarray  # event -> index into episode_names (lower case, "" when not given)
    registrations: pd.DataFrame | None  # pkey, registration_date, deregistration_date ([D])
    entry_days: np.ndarray  # the date of every row with a coded entry, to count those after R
    cluster_names: list[str] = field(default_factory=list)
    code_names: np.ndarray = field(default_factory=lambda: np.array([], object))
    episode_names: list[str] = field(default_factory=list)
    practices: list = field(default_factory=list)  # every practice named in the inputs
    counts: Counter = field(default_factory=Counter)  # reference-date independent "ignored"
    notices: list[str] = field(default_factory=list)

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def cluster_ids(self, names) -> list[int]:
        return [self.cluster_names.index(n) for n in names if n in self.cluster_names]

    def episode_ids(self, names) -> list[int]:
        return [i for i, n in enumerate(self.episode_names) if n in set(names)]

    def subset(self, keys: np.ndarray) -> Prepared:
        """Only these patients (re-keyed 0..n-1): to explain one patient with the same engine."""
        new_key = np.full(self.n_patients, -1)
        new_key[keys] = np.arange(len(keys))
        events = np.isin(self.pkey, keys)
        regs = None
        if self.registrations is not None:
            regs = self.registrations[self.registrations["pkey"].isin(keys)].copy()
            regs["pkey"] = new_key[regs["pkey"].to_numpy()]
        patients = self.patients.iloc[keys].reset_index(drop=True)
        return Prepared(
            patients=patients,
            pkey=new_key[self.pkey[events]],
            cluster=self.cluster[events],
            code=self.code[events],
            day=self.day[events],
            episode=self.episode[events],
            registrations=regs,
            entry_days=self.entry_days[:0],
            cluster_names=self.cluster_names,
            code_names=self.code_names,
            episode_names=self.episode_names,
            practices=sorted(set(patients["practice_code"].dropna())) or [None],
        )


def combine(*columns: np.ndarray) -> np.ndarray:
    """One int64 per distinct combination of integer columns (not dense; -1 values allowed).

    Mixed-radix packing: cheap while the product of the ranges fits in 63 bits; when it would
    not, the partial key is made dense first.
    """
    combined = np.zeros(len(columns[0]), np.int64)
    span = 1
    for column in columns:
        column = np.asarray(column, np.int64)
        low = int(column.min()) if len(column) else 0
        width = (int(column.max()) - low + 1) if len(column) else 1
        if span * width >= 2**62:
            combined, uniques = pd.factorize(combined)
            span = len(uniques) or 1
        combined = combined * width + (column - low)
        span *= width
    return combined


def factorize(*columns: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids 0..n-1 for the distinct combinations of integer columns, and n."""
    codes, uniques = pd.factorize(combine(*columns))
    return codes, len(uniques)


def join(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j) with left[i] == right[j]: an inner many-to-many join on integer keys."""
    order = np.argsort(right, kind="stable")
    sorted_right = right[order]
    lo = np.searchsorted(sorted_right, left, "left")
    hi = np.searchsorted(sorted_right, left, "right")
    counts = hi - lo
    i = np.repeat(np.arange(len(left)), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    j = order[starts + np.arange(len(i))]
    return i, j


def _practice_given(frame: pd.DataFrame | None) -> bool:
    return (
        frame is not None
        and "practice_code" in frame
        and bool(frame["practice_code"].notna().all())
        and len(frame) > 0
    )


def _arrow(column: pd.Series) -> pa.ChunkedArray:
    """The Arrow data behind a text column (no copy when it is already Arrow-backed)."""
    array = pa.array(column, from_pandas=True)
    if not isinstance(array, pa.ChunkedArray):
        array = pa.chunked_array([array])
    return array.cast(pa.string()) if pa.types.is_null(array.type) else array


def _is_in(column: pd.Series, values) -> np.ndarray:
    """Which values of a text column are among `values` (a list or an Arrow array)."""
    array = _arrow(column)
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array([str(v) for v in values], pa.string())
    return mask(pc.is_in(array, value_set=values.cast(array.type)))


_KEYED_COLUMNS = ("patient_id", "practice_code", "code", "cluster", "episode")
PATIENT_ATTRIBUTES = ("date_of_birth", "sex")  # for populations by sex and age
_REGISTRATION_COLUMNS = (
    *("patient_id", "practice_code", "registration_date", "deregistration_date"),
    *PATIENT_ATTRIBUTES,
)


def _rows(frame: pd.DataFrame, keep: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
    """The kept rows of these columns. Arrow-backed text is filtered by Arrow, which keeps its
    chunks (pandas' take would first join a national file's chunks into one copy)."""
    keep_arrow = pa.array(keep)
    out = {}
    for name in columns:
        if name not in frame:
            continue
        column = frame[name]
        if isinstance(column.array, pd.arrays.ArrowStringArray):
            out[name] = pd.Series(pc.filter(_arrow(column), keep_arrow), dtype=column.dtype)
        else:
            out[name] = column.to_numpy()[keep]
    return pd.DataFrame(out)


def _practices(events: pd.DataFrame, registrations: pd.DataFrame | None) -> list:
    """Every practice named in the inputs, also those with nobody in scope."""
    named: set = set()
    for frame in (events, registrations):
        if frame is not None and "practice_code" in frame:
            named.update(pc.unique(_arrow(frame["practice_code"])).to_pylist())
    return sorted(named - {None, ""}) or [None]


def _entries(
    events: pd.DataFrame, codelist: Codelist | None, members: pd.DataFrame, wanted: list[str]
) -> tuple[np.ndarray, ...]:
    """Masks over the rows: a coded entry at all; one the code list maps (`listed`); one whose
    own `cluster` column decides (`by_row`); and one in a cluster the rules use.

    With a given code list, a row with a code is the list's to map; with the illustrative
    list, the row's cluster comes first and the list serves rows with a code only.
    """
    has_code = mask(pc.not_equal(_arrow(events["code"]), ""))
    has_cluster = mask(pc.not_equal(_arrow(events["cluster"]), ""))
    if codelist is None:
        by_list = np.zeros(len(events), bool)
    else:
        by_list = has_code if not codelist.illustrative else has_code & ~has_cluster
    by_row = has_cluster & ~by_list
    listed = by_list & _is_in(events["code"], members["code"].unique())
    of_interest = listed.copy()
    if by_row.any():  # most extracts have no cluster column
        of_interest |= by_row & _is_in(events["cluster"], wanted)
    return has_code | has_cluster, listed, by_row, of_interest


class Units(NamedTuple):
    """Patient units (one patient id at one practice), and the (event row, unit) pairs that say
    which units each event row belongs to."""

    practice: np.ndarray  # unit -> practice id (-1: no practice)
    pid: np.ndarray  # unit -> patient id
    event_index: np.ndarray  # event rows ...
    event_unit: np.ndarray  # ... and the unit of each


def _units_from_events(
    ev_practice: np.ndarray, ev_pid: np.ndarray, more_practice=None, more_pid=None
) -> tuple[Units, int]:
    """Each event row's own (practice, id) is its unit: used when the events carry practice
    codes, or when the registrations do not either (then the id alone is the unit). `more`
    (practice, id) pairs are units too, with no events: registered patients a population over
    the patients table needs. Also returns how many units the events name (they come first)."""
    n = len(ev_pid)
    practice = (
        ev_practice if more_practice is None else np.concatenate([ev_practice, more_practice])
    )
    pid = ev_pid if more_pid is None else np.concatenate([ev_pid, more_pid])
    unit_of_row, n_units = factorize(practice, pid)
    first = np.unique(unit_of_row, return_index=True)[1]
    from_events = int(unit_of_row[:n].max()) + 1 if n else 0
    return Units(practice[first], pid[first], np.arange(n), unit_of_row[:n]), from_events


def _units_from_registrations(
    reg_practice: np.ndarray, reg_pid: np.ndarray, ev_pid: np.ndarray
) -> Units:
    """Practice comes from the registrations: each registered (practice, id) is a unit, and an
    event row joins every unit of its id (one per practice the id is registered at)."""
    reg_unit, _ = factorize(reg_practice, reg_pid)
    first = np.unique(reg_unit, return_index=True)[1]
    unit_practice, unit_pid = reg_practice[first], reg_pid[first]
    event_index, event_unit = join(ev_pid, unit_pid)
    return Units(unit_practice, unit_pid, event_index, event_unit)


def prepare(
    extract: Extract,
    codelist: Codelist | None,
    clusters: set[str],
    *,
    also_patients: tuple[str, ...] = (),
    every_patient: bool = False,
    details: bool = True,
) -> Prepared:
    """Map codes to the clusters the rules use and key every event to a patient.

    Only entries in a cluster the rules use can change a result, and in a whole-practice
    extract they are a few per cent of the rows; the others are counted first and then left
    behind, so keys, duplicates and joins are worked out for the few. The patients keyed are
    those with such an entry, plus any named in `also_patients` (to explain someone who has
    none), or everyone with `every_patient` (for a register that can take patients without
    entries: see `ccrqof.every_patient_needed`). Every rule, with examples, and who "everyone"
    is: docs/explanation-prepare.md.
    """
    events, registrations = extract.events, extract.patients
    counts: Counter = Counter()
    notices: list[str] = [] if registrations is not None else [NO_REGISTRATION_NOTICE]
    wanted = sorted(clusters)
    practices = _practices(events, registrations)

    members = pd.DataFrame({"code": [], "cluster": []})
    if codelist is not None:
        members = codelist.members[codelist.members["cluster"].isin(wanted)]
    is_entry, listed, by_row, of_interest = _entries(events, codelist, members, wanted)
    counts["entries with codes in no cluster of interest"] = int((is_entry & ~of_interest).sum())
    day_all = events["date"].to_numpy("datetime64[D]")
    entry_days = day_all[is_entry]
    if not every_patient:
        keyed = of_interest.copy()
        if also_patients:
            keyed |= _is_in(events["patient_id"], also_patients)
        listed, by_row, of_interest, day = (
            listed[keyed],
            by_row[keyed],
            of_interest[keyed],
            day_all[keyed],
        )
        events = _rows(events, keyed, _KEYED_COLUMNS)
        if registrations is not None:  # the keyed patients' (matched again by practice below)
            ids = pa.concat_arrays(
                [
                    pc.unique(_arrow(events["patient_id"])).cast(pa.large_string()),
                    pa.array(list(also_patients), pa.large_string()),
                ]
            )
            registrations = _rows(
                registrations, _is_in(registrations["patient_id"], ids), _REGISTRATION_COLUMNS
            )
    else:
        day = day_all
    n_events = len(events)
    n_regs = 0 if registrations is None else len(registrations)

    # Shared integer ids for practices and patient ids across both files.
    def both(column: str) -> pd.Series:
        parts = [events[column]]
        if registrations is not None:
            parts.append(
                registrations[column]
                if column in registrations
                else pd.Series([None] * n_regs, dtype=events[column].dtype)
            )
        return pd.concat(parts, ignore_index=True)

    practice_all, practice_names = pd.factorize(both("practice_code"))
    pid_all, pid_names = pd.factorize(both("patient_id"))
    ev_practice, reg_practice = practice_all[:n_events], practice_all[n_events:]
    ev_pid, reg_pid = pid_all[:n_events], pid_all[n_events:]
    events_have_practice = extract.has_practice
    regs_have_practice = _practice_given(registrations)

    # Patient units (a patient at a practice) and each event's unit(s).
    by_events = events_have_practice or not regs_have_practice
    if by_events:
        more_practice = more_pid = None
        if registrations is not None and (every_patient or also_patients):
            # registered patients, with or without events: everyone, or the ids asked for
            wanted_ids = pd.Index(pid_names).get_indexer(list(also_patients))
            pick = slice(None) if every_patient else np.isin(reg_pid, wanted_ids[wanted_ids >= 0])
            more_practice, more_pid = reg_practice[pick], reg_pid[pick]
            if not regs_have_practice:  # ids the events do not name, at no practice
                more_pid = np.setdiff1d(more_pid, ev_pid)
                more_practice = np.full(len(more_pid), -1)
        units, from_events = _units_from_events(ev_practice, ev_pid, more_practice, more_pid)
        if events_have_practice:  # the same id under two practices is two patients: say so
            named = units.pid[:from_events]
            counts[MORE_THAN_ONE_PRACTICE] = int((np.bincount(named) > 1).sum())
    else:
        units = _units_from_registrations(reg_practice, reg_pid, ev_pid)
    unit_practice, unit_pid = units.practice, units.pid
    n_units = len(unit_pid)

    # Registrations of each unit: by practice and id whenever the registrations name practices
    # (also for units made from them: a unit is one practice's registration), else by id.
    regs = None
    attributes: dict[str, np.ndarray] = {}
    if registrations is not None:
        if regs_have_practice:
            reg_i, unit_j = join(
                reg_practice * len(pid_names) + reg_pid,
                unit_practice.astype(np.int64) * len(pid_names) + unit_pid,
            )
        else:
            reg_i, unit_j = join(reg_pid, unit_pid)
        regs = pd.DataFrame(
            {
                "pkey": unit_j,
                "registration_date": registrations["registration_date"].to_numpy("datetime64[D]")[
                    reg_i
                ],
                "deregistration_date": registrations["deregistration_date"].to_numpy(
                    "datetime64[D]"
                )[reg_i],
            }
        )
        for name in PATIENT_ATTRIBUTES if details else ():  # only when a population reads them
            if name in registrations:
                attributes[name] = _largest_per_unit(registrations[name], reg_i, unit_j, n_units)
        known = np.zeros(n_units, bool)
        known[unit_j] = True
        if by_events:
            missing = int((~known).sum())
        else:  # units are the registrations; count the event patients none of them matched
            missing = len(np.setdiff1d(np.unique(ev_pid), unit_pid))
        counts[MISSING_FROM_PATIENTS] = missing
        keep_units = np.flatnonzero(known)
    else:
        keep_units = np.arange(n_units)

    # Re-key the kept units 0..n-1.
    new_key = np.full(n_units, -1)
    new_key[keep_units] = np.arange(len(keep_units))
    people = pd.DataFrame(
        {
            "practice_code": _names(practice_names, unit_practice[keep_units]),
            "patient_id": _names(pid_names, unit_pid[keep_units]),
        }
    )
    for name, values in attributes.items():
        kept = values[keep_units]
        people[name] = (
            pd.to_datetime(pd.Series(kept)).astype("datetime64[s]")
            if name == "date_of_birth"
            else pd.Series(kept, dtype=object)
        )
    if regs is not None:
        regs["pkey"] = new_key[regs["pkey"].to_numpy()]
        regs = regs[regs["pkey"] >= 0].reset_index(drop=True)

    # Entries: exact duplicates counted once; clusters from the code list or the row.
    code_idx, code_names = pd.factorize(events["code"])
    cluster_idx, cluster_col_names = pd.factorize(events["cluster"])
    episode_idx, episode_names = pd.factorize(events["episode"])
    day_number = day.astype(np.int64)
    undated = np.isnat(day)
    if undated.any():  # NaT is the int64 minimum: give it a small number of its own
        day_number[undated] = day_number[~undated].min() - 1 if (~undated).any() else 0
    row_id = combine(ev_practice, ev_pid, code_idx, cluster_idx, day_number, episode_idx)
    distinct = ~pd.Series(row_id).duplicated().to_numpy()
    counts["duplicate rows"] = int((of_interest & ~distinct).sum())
    entry = of_interest & distinct

    # the row's own cluster
    row_cluster = np.array(
        [
            wanted.index(c) if c in wanted else -1
            for c in np.asarray(cluster_col_names, dtype=object)
        ],
        np.int64,
    )
    row_cluster = row_cluster[cluster_idx] if len(row_cluster) else np.full(n_events, -1)
    rows_a = np.flatnonzero(entry & by_row & (row_cluster >= 0))
    clusters_a = row_cluster[rows_a]
    # the code list's clusters (a code may be in several)
    rows_b, clusters_b = np.array([], np.int64), np.array([], np.int64)
    if codelist is not None:
        lookup = pd.Index(np.asarray(code_names, dtype=object))
        member_code = lookup.get_indexer(members["code"].to_numpy(object))
        member_cluster = np.array([wanted.index(c) for c in members["cluster"]], np.int64)
        found = member_code >= 0
        on_list = np.flatnonzero(entry & listed)
        i, j = join(code_idx[on_list], member_code[found])
        rows_b, clusters_b = on_list[i], member_cluster[found][j]

    rows = np.concatenate([rows_a, rows_b])
    cluster_of_row = np.concatenate([clusters_a, clusters_b])
    # each relevant row, for every patient unit it belongs to
    if by_events:  # one unit per row
        ev_rows, ev_units = rows, units.event_unit[rows]
        pairs = np.arange(len(rows))
    else:
        i, j = join(rows, units.event_index)
        ev_rows, ev_units, pairs = rows[i], units.event_unit[j], i
    keys = new_key[ev_units]
    kept = keys >= 0
    ev_rows, keys, pairs = ev_rows[kept], keys[kept], pairs[kept]
    code_display = np.asarray(code_names, dtype=object)
    return Prepared(
        patients=people,
        pkey=keys,
        cluster=cluster_of_row[pairs],
        code=code_idx[ev_rows],
        day=day[ev_rows],
        episode=episode_idx[ev_rows],
        registrations=regs,
        entry_days=entry_days,
        cluster_names=wanted,
        code_names=code_display,
        episode_names=[str(e) for e in episode_names],
        practices=practices,
        counts=counts,
        notices=notices,
    )


def _largest_per_unit(values: pd.Series, rows: np.ndarray, units: np.ndarray, n: int):
    """Each unit's largest value of a registration column (None without one): when a patient's
    registrations disagree on date of birth or sex, every engine takes the largest alike."""
    frame = pd.DataFrame({"unit": units, "value": values.to_numpy()[rows]}).dropna()
    if values.dtype.kind != "M":  # text (sex) compared as the populations read it
        frame["value"] = frame["value"].astype(str).str.strip().str.lower()
        frame = frame[frame["value"] != ""]
    largest = frame.groupby("unit")["value"].max()
    out = np.full(n, None, dtype=object)
    out[largest.index.to_numpy()] = largest.to_numpy(dtype=object)
    return out


def _names(names, codes: np.ndarray) -> pd.Series:
    """Take names by code (-1 is missing) keeping pandas' string type."""
    if not len(names):
        return pd.Series([None] * len(codes), dtype=object)
    values = pd.Series(names).take(np.maximum(codes, 0)).reset_index(drop=True)
    return values.where(pd.Series(codes >= 0), None)
