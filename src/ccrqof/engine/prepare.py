"""Turn a read extract into flat numpy arrays the cascade can run on at any reference date.

Done once per extract: code-list mapping, duplicate removal and patient keys do not depend on
the reference date, so a monthly series reuses this work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ccrqof.codelists import Codelist
from ccrqof.readers import Extract

NO_REGISTRATION_NOTICE = (
    "No registration data (no --patients file and no registration column): every patient in the "
    "extract is treated as registered, registration dates are unknown, and the REG1_DAT3 "
    "(newly registered) rule cannot apply."
)


@dataclass
class Prepared:
    """Events as arrays over integer patient keys, plus each patient's registrations."""

    patients: pd.DataFrame  # one row per patient key: practice_code, patient_id
    pkey: np.ndarray  # event -> patient key
    cluster: np.ndarray  # event -> cluster name (object array)
    code: np.ndarray  # event -> SNOMED CT code ("" when the extract gave only a cluster)
    day: np.ndarray  # event -> datetime64[D]
    episode: np.ndarray  # event -> episode, lower case ("" when not given)
    registrations: pd.DataFrame | None  # pkey, registration_date, deregistration_date ([D])
    entry_days: np.ndarray  # the date of every distinct coded entry, to count those after R
    practices: list = field(default_factory=list)  # every practice named in the inputs
    counts: Counter = field(default_factory=Counter)  # reference-date independent "ignored"
    notices: list[str] = field(default_factory=list)

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def subset(self, keys: np.ndarray) -> Prepared:
        """Only these patients (re-keyed 0..n-1): to explain one patient with the same engine."""
        new_key = np.full(self.n_patients, -1)
        new_key[keys] = np.arange(len(keys))
        events = np.isin(self.pkey, keys)
        regs = None
        if self.registrations is not None:
            regs = self.registrations[self.registrations["pkey"].isin(keys)].copy()
            regs["pkey"] = new_key[regs["pkey"].to_numpy()]
        return Prepared(
            patients=self.patients.iloc[keys].reset_index(drop=True),
            pkey=new_key[self.pkey[events]],
            cluster=self.cluster[events],
            code=self.code[events],
            day=self.day[events],
            episode=self.episode[events],
            registrations=regs,
            entry_days=self.entry_days[:0],
            practices=sorted(
                {p for p in self.patients["practice_code"].iloc[keys] if isinstance(p, str)}
            )
            or [None],
        )


def prepare(extract: Extract, codelist: Codelist | None, clusters: set[str]) -> Prepared:
    """Map codes to the clusters the rules use and key every event to a patient."""
    events = extract.events
    counts: Counter = Counter()
    notices: list[str] = []
    event_cols = ["practice_code", "patient_id", "code", "cluster", "date", "episode"]
    is_entry = (events["code"] != "") | (events["cluster"] != "")
    dup = events.loc[is_entry].duplicated(event_cols)
    counts["duplicate rows"] = int(dup.sum())
    coded = events.loc[is_entry].loc[~dup, event_cols]

    # An entry's clusters come from its code when the user gave a code list, else from its own
    # `cluster` column; the fallback list (illustrative) only serves rows with no cluster.
    has_code, has_cluster = coded["code"] != "", coded["cluster"] != ""
    by_list = (
        has_code if codelist is not None and not codelist.illustrative else has_code & ~has_cluster
    )
    by_list &= codelist is not None
    fields = ["practice_code", "patient_id", "code", "date", "episode"]
    tagged = coded.loc[has_cluster & ~by_list, [*fields, "cluster"]]
    in_cluster = np.zeros(len(coded), bool)
    in_cluster[(has_cluster & ~by_list).to_numpy()] = tagged["cluster"].isin(clusters).to_numpy()
    parts = [tagged[tagged["cluster"].isin(clusters)]]
    if codelist is not None:
        members = codelist.members[codelist.members["cluster"].isin(clusters)]
        listed = coded.loc[by_list, fields]
        parts.append(listed.merge(members, on="code", how="inner"))
        in_cluster[by_list.to_numpy()] = listed["code"].isin(members["code"]).to_numpy()
    relevant = pd.concat(parts, ignore_index=True).drop_duplicates()
    counts["entries with codes in no cluster of interest"] = int((~in_cluster).sum())

    # Patients: everyone on an event row (patient-only rows included).
    people = events[["practice_code", "patient_id"]].drop_duplicates(ignore_index=True)
    registrations = extract.patients
    named = set(people["practice_code"].dropna())
    if registrations is not None and "practice_code" in registrations:
        named |= set(registrations["practice_code"].dropna())
    practices = sorted(p for p in named if p != "") or [None]
    if registrations is not None:
        on = ["patient_id"] + (
            ["practice_code"] if _has_practice(registrations) and extract.has_practice else []
        )
        known = (
            people.merge(registrations[on].drop_duplicates(), on=on, how="left", indicator=True)[
                "_merge"
            ]
            == "both"
        )
        counts["patients missing from the patients file"] = int((~known).sum())
        if not extract.has_practice and _has_practice(registrations):
            # practice comes from the registration, not the event rows
            people = registrations[["practice_code", "patient_id"]].drop_duplicates(
                ignore_index=True
            )
            relevant = relevant.drop(columns="practice_code").merge(people, on="patient_id")
        else:
            people = people[known.to_numpy()].reset_index(drop=True)
    else:
        notices.append(NO_REGISTRATION_NOTICE)

    people = people.reset_index(drop=True)
    people["pkey"] = np.arange(len(people))
    keyed = relevant.merge(people, on=["practice_code", "patient_id"], how="inner")
    regs = None
    if registrations is not None:
        on = ["patient_id"] + (["practice_code"] if _has_practice(registrations) else [])
        regs = registrations.merge(people, on=on, how="inner")[
            ["pkey", "registration_date", "deregistration_date"]
        ]
        regs = regs.assign(
            registration_date=regs["registration_date"].to_numpy("datetime64[D]"),
            deregistration_date=regs["deregistration_date"].to_numpy("datetime64[D]"),
        )
    return Prepared(
        patients=people[["practice_code", "patient_id"]],
        pkey=keyed["pkey"].to_numpy(np.int64),
        cluster=keyed["cluster"].to_numpy(object),
        code=keyed["code"].to_numpy(object),
        day=keyed["date"].to_numpy("datetime64[D]"),
        episode=keyed["episode"].to_numpy(object),
        registrations=regs,
        practices=practices,
        entry_days=coded["date"].to_numpy("datetime64[D]"),
        counts=counts,
        notices=notices,
    )


def _has_practice(frame: pd.DataFrame) -> bool:
    return (
        "practice_code" in frame
        and frame["practice_code"].notna().all()
        and bool((frame["practice_code"] != "").all())
    )
