"""Synthetic GP extracts for demos, tests and benchmarks; no real patient data.

The generator works on whole numpy arrays (no per-patient Python loops) so that a national-scale
extract takes seconds; text columns are only built at the end, with pyarrow, which keeps memory low.
The model is deliberately simple. It is tuned to give QOF-like rates (register about 3% of the
list, about 0.6% of the list diagnosed each year, most care reviews on time) and to put plenty of
patients near the rule boundaries: new diagnoses, late and missing reviews, invitations, PCA codes,
new registrations, deregistrations and events after the reference date. The extract is taken a few
weeks after the reference date, so it also holds events the calculation must ignore.
Cancer-related codes come only from the bundled illustrative code list.

Two profiles:

- ``sparse`` (the default): a whole practice list, every registered patient with their common
  entries (blood pressure, weight, ...). Only about 3% of the events are entries the rules read.
- ``dense``: a cluster-filtered extract, as an ICB's cancer extract is. The patients are those
  with an entry in the clusters the extract was filtered to, so nearly all of them have a cancer
  diagnosis. The extract also holds entries of a few other clusters, copies of rows, and patients
  who moved between practices. At least 85% of the event rows are entries the rules read.
  ``patients_per_practice`` counts the patients *in the extract*: about 370 a practice is
  national scale (6,500 practices, 2.4 million patients, 9.4 million events).

`extracted` takes the extract long after the reference date (histories then run on to it), and
`Decline` makes practices stop recording some care reviews, support discussions and invitations
from a date, as many did once CAN004 and CAN005 left QOF on 1 April 2025.

`write_extract_in_parts` writes an extract of any size part by part, so memory stays bounded.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["PROFILES", "Decline", "make_extract", "write_extract", "write_extract_in_parts"]

PROFILES = ("sparse", "dense")

EPISODES = ["", "first", "new", "review", "ended"]
BLANK, FIRST, NEW, REVIEW, ENDED = range(5)

# Common non-cancer entries, with relative frequency: noise the tool must skip over.
NOISE_CODES = {
    "75367002": 5.0,  # blood pressure
    "27113001": 3.0,  # body weight
    "38341003": 1.5,  # hypertensive disorder
    "195967001": 1.0,  # asthma
    "44054006": 1.0,  # type 2 diabetes mellitus
    "230690007": 0.3,  # cerebrovascular accident
}
# Relative frequency of the illustrative diagnosis codes by sex (F, M); unknown codes get (1, 1).
CANCER_WEIGHTS = {
    "254837009": (15.0, 0.1),  # breast
    "399068003": (0.0, 14.0),  # prostate
    "363406005": (5.0, 6.0),  # colon
    "93880001": (4.0, 4.5),  # lung
    "372244006": (3.0, 3.0),  # melanoma
    "363418001": (1.0, 1.0),  # pancreas
    "118600007": (2.0, 2.5),  # lymphoma
}
# England population by 5-year age band 0-4 ... 85-89, 90+ (ONS 2021, % rounded).
AGE_BANDS = np.array(
    [5.4, 5.9, 6.0, 5.6, 6.0, 6.6, 6.9, 6.6, 6.3, 6.4, 6.9, 6.7, 5.8, 5.0, 5.0, 3.6, 2.5, 1.5, 0.8]
)
AGE_TILT = 0.065  # cancer is about 1.9x as common for every 10 years of age
YEAR = 365.25
ODS_LETTERS = "ABCDEFGHJKLMNPQRSTUVWY"


@dataclass(frozen=True)
class Decline:
    """Care reviews, support discussions and invitations that practices stop recording, as many
    did once CAN004 and CAN005 left QOF (1 April 2025). QOF's 12- and 24-month windows show
    such a fall only slowly; synthetic data with one let the measures that show it quickly
    (cohorts by month of diagnosis, entries recorded a month) be tried and tested.

    The share of those entries *not recorded* rises in a straight line from 0 on `start` to
    `reviews`, `support` and `invitations` on `full`, and stays there; nothing dated before
    `start` changes. A practice's shares are those times its `practice_scale` factor (one per
    practice, e.g. to make some PCNs fall further; none: 1) and times exp(N(0, `spread`)),
    capped at 1, so practices differ.
    """

    start: date = date(2025, 4, 1)
    full: date = date(2026, 9, 1)
    reviews: float = 0.65
    support: float = 0.65
    invitations: float = 0.5
    spread: float = 0.0
    practice_scale: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.full <= self.start:
            raise ValueError(f"Decline: full ({self.full}) must be after start ({self.start})")
        for name in ("reviews", "support", "invitations"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"Decline: {name} is a share, from 0 to 1, not {share}")
        if not self.spread >= 0.0:
            raise ValueError(f"Decline: spread must be 0 or more, not {self.spread}")
        if not all(np.isfinite(f) and f >= 0.0 for f in self.practice_scale):
            raise ValueError("Decline: practice_scale factors must be 0 or more")


def _codelist() -> dict[str, list[str]]:
    """Codes per cluster from the bundled illustrative list (the only cancer codes we emit)."""
    path = resources.files("ccrqof.data").joinpath("illustrative_codelist.csv")
    clusters: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        clusters.setdefault(row["cluster"].strip(), []).append(row["code"].strip())
    return clusters


def _practice_codes(n: int, first: int = 0) -> list[str]:
    """ODS-like codes A81001, A81002, ... A81999, A82001, ...; deterministic. `first` numbers
    practices on from an earlier part of the same extract."""
    out = []
    for i in range(first, first + n):
        block = 81 + i // 999
        out.append(f"{ODS_LETTERS[block // 100]}{block % 100:02d}{i % 999 + 1:03d}")
    return out


def _list_sizes(rng: np.random.Generator, n: int, size: int | tuple[int, int]) -> np.ndarray:
    """Beta(2, 3) over the range: for (2000, 20000) the median is about 9,000, as in England."""
    if n < 1:
        raise ValueError("n_practices must be at least 1")
    if isinstance(size, tuple | list):
        lo, hi = size
        if not 1 <= lo <= hi:
            raise ValueError(f"patients_per_practice range must be 1 <= lo <= hi, not {size}")
        return np.rint(lo + rng.beta(2.0, 3.0, n) * (hi - lo)).astype(np.int64)
    if int(size) < 1:
        raise ValueError("patients_per_practice must be at least 1")
    return np.full(n, int(size), dtype=np.int64)


def _centred(rng: np.random.Generator, sd: float, n: int) -> np.ndarray:
    """Practice-level deviations with mean exactly 0, so overall rates stay on target."""
    x = rng.normal(0.0, sd, n)
    return x - x.mean()


def _expand(idx: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat each idx k times; also return the 0-based position within each repeat group."""
    rows = np.repeat(idx, k)
    start = np.repeat(np.cumsum(k) - k, k)
    return rows, np.arange(rows.size) - start


def _to_text(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Day numbers (since 1970-01-01) to ISO date strings, missing ones to ''.

    Formats each distinct day once and then looks it up: much faster than casting every value.
    """
    first = int(days.min()) if days.size else 0
    span = np.arange(first, (int(days.max()) if days.size else first) + 1, dtype=np.int32)
    text = pa.array(span, type=pa.date32()).cast(pa.large_string())
    return pc.fill_null(text.take(pa.array(days - first, mask=missing)), "")


def _age_band_weights(dense: bool) -> np.ndarray:
    """Probability of each age band: England's, or for a cancer extract England's tilted by
    exp(0.065 x age), as the sparse profile picks who has cancer."""
    if not dense:
        return AGE_BANDS / AGE_BANDS.sum()
    lo = 5.0 * np.arange(AGE_BANDS.size)
    width = np.where(np.arange(AGE_BANDS.size) == AGE_BANDS.size - 1, 10.0, 5.0)
    w = AGE_BANDS / width * (np.exp(AGE_TILT * (lo + width)) - np.exp(AGE_TILT * lo)) / AGE_TILT
    return w / w.sum()


@dataclass
class _Population:
    """One entry per patient (day numbers); dereg 0 means still registered."""

    prac: np.ndarray
    end: np.ndarray  # the practice's extraction date: nothing can be recorded after it
    age: np.ndarray
    dob: np.ndarray
    female: np.ndarray
    reg: np.ndarray
    dereg: np.ndarray
    returners: np.ndarray  # patients who also have an earlier registration row ...
    prev_start: np.ndarray  # ... from prev_start[returners] to prev_end[returners]
    prev_end: np.ndarray
    prev_prac: np.ndarray  # ... at this practice (another one for a patient who moved)


def _population(
    rng: np.random.Generator,
    sizes: np.ndarray,
    ref: int,
    extracted: np.ndarray,
    dense: bool = False,
) -> _Population:
    """Age pyramid and registration history: mostly long-registered, some joiners and leavers.

    Dense (a cancer extract): older, more leavers (deaths), and some patients who moved here
    from another practice of the extract, whose old registration row is in the extract too."""
    n = int(sizes.sum())
    prac = np.repeat(np.arange(sizes.size, dtype=np.int32), sizes)
    end = extracted[prac]
    band = rng.choice(AGE_BANDS.size, n, p=_age_band_weights(dense))
    top = band == AGE_BANDS.size - 1
    width = np.where(top, 10.0, 5.0)  # the 90+ band is 90-100
    if dense:  # within the band, tilted too (inverse CDF of exp(AGE_TILT x a))
        u = rng.random(n)
        age = 5.0 * band + np.log1p(u * np.expm1(AGE_TILT * width)) / AGE_TILT
    else:
        age = 5.0 * band + rng.random(n) * width
    dob = ref - np.floor(age * YEAR).astype(np.int64)
    female = rng.random(n) < 0.505

    u = rng.random(n)
    reg = ref - 92 - np.floor(rng.exponential(11.0, n) * YEAR).astype(np.int64)
    reg = np.where(u < 0.01, ref - rng.integers(0, 92, n), reg)  # joined in the last 3 months
    joined_late = (u >= 0.01) & (u < 0.013)
    reg = np.where(joined_late, rng.integers(ref + 1, end + 1), reg)  # joined after R
    reg = np.minimum(np.maximum(reg, dob + rng.integers(0, 43, n)), end)  # babies join in weeks

    # Leavers (moved away or died): mostly in the year before R, a few on R, a few after it.
    left = rng.random(n) < (0.06 if dense else 0.02)
    kind = rng.random(n)
    after = rng.integers(ref + 1, end + 1)
    dereg = np.where(kind < 0.80, ref - rng.integers(1, 366, n), np.where(kind < 0.87, ref, after))
    earlier = np.maximum(dereg - rng.integers(30, 3000, n), dob)
    reg = np.where(left & (reg >= dereg), earlier, reg)
    left &= reg < dereg
    dereg = np.where(left, dereg, 0)

    # Left and came back: an earlier registration row that ended before the current one.
    back = rng.random(n) < (0.02 if dense else 0.004)
    prev_end = reg - rng.integers(14, 1500, n)
    prev_start = prev_end - rng.integers(180, 5000, n)
    returners = np.flatnonzero(back & (prev_start >= dob))
    prev_prac = prac
    if dense and sizes.size > 1:  # three in four of them moved here from another practice
        moved = rng.random(n) < 0.75
        prev_prac = np.where(moved, (prac + rng.integers(1, sizes.size, n)) % sizes.size, prac)
        prev_prac = prev_prac.astype(np.int32)
    return _Population(
        prac, end, age, dob, female, reg, dereg, returners, prev_start, prev_end, prev_prac
    )


class _Events:
    """Event blocks as small integer arrays. A block keeps only what the practice record could
    hold at extraction: nothing after the extract was taken, nothing after the patient left."""

    def __init__(self, pop: _Population) -> None:
        self.last = np.where(pop.dereg > 0, np.minimum(pop.dereg, pop.end), pop.end)
        self.blocks: list[tuple[np.ndarray, ...]] = []

    def add(
        self, pid: np.ndarray, code: np.ndarray | int, day: np.ndarray, ep: np.ndarray | int = BLANK
    ) -> None:
        keep = day <= self.last[pid]
        code = np.broadcast_to(np.asarray(code, dtype=np.int16), pid.shape)
        ep = np.broadcast_to(np.asarray(ep, dtype=np.int8), pid.shape)
        block = (pid[keep].astype(np.int32), code[keep], day[keep].astype(np.int32), ep[keep])
        self.blocks.append(block)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(patient, code, day, episode), sorted by patient then date (same day: in added order)."""
        pid, code, day, ep = (np.concatenate(col) for col in zip(*self.blocks, strict=True))
        self.blocks.clear()
        first = int(day.min()) if day.size else 0
        key = pid.astype(np.int64) * (int(day.max(initial=first)) - first + 1) + (day - first)
        order = np.argsort(key, kind="stable")
        return pid[order], code[order], day[order], ep[order]


def _cancer_events(
    rng: np.random.Generator,
    pop: _Population,
    ref: int,
    practice: dict[str, np.ndarray],
    table: dict[str, int],
    diagnoses: tuple[np.ndarray, np.ndarray],
    out: _Events,
    who: np.ndarray | None = None,
    follow_ups: tuple[float, int] = (0.30, 3),
) -> None:
    """Diagnoses, reviews, support discussions, invitations and PCA codes for cancer patients.

    `who` are the cancer patients (default: drawn from the list, older more often);
    `follow_ups` is the share of them with later entries of the same diagnosis, and the most
    such entries one has."""
    # Who (older more often), when (survivors on the list: recent diagnoses dominate), which code.
    if who is None:
        rel = np.exp(AGE_TILT * pop.age)
        sick = rng.random(rel.size) < np.minimum(
            practice["prevalence"][pop.prac] * rel / rel.mean(), 0.4
        )
        who = np.flatnonzero(sick)
    c = who
    m = c.size
    t_min = (ref - pop.end[c]) / YEAR
    t_max = np.maximum(np.minimum(30.0, pop.age[c] - 0.5), t_min + 0.01)
    tau = 4.5  # years; 3.1% ever x (1 - e^(-1/4.5)) is about 0.6% of the list diagnosed a year
    t = t_min - tau * np.log1p(-rng.random(m) * -np.expm1(-(t_max - t_min) / tau))
    d1 = np.maximum(ref - np.floor(t * YEAR).astype(np.int64), pop.dob[c] + 1)

    can, weights = diagnoses  # code indices and their (F, M) weights
    cum = np.cumsum(weights / weights.sum(axis=0), axis=0)  # per-sex CDF over the codes

    def cancer_code(rows: np.ndarray) -> np.ndarray:
        col = np.where(pop.female[rows], 0, 1)
        pick = (rng.random(rows.size)[:, None] > cum[:, col].T).sum(axis=1)
        return can[np.minimum(pick, can.size - 1)]

    mdrv, supp, invite = table["MDRV_COD"], table["CANPCSUPP_COD"], table["CANINVITE_COD"]
    code1 = cancer_code(c)
    out.add(c, code1, d1, rng.choice([BLANK, FIRST, NEW], m, p=[0.55, 0.35, 0.10]))

    # Some had an earlier cancer, possibly with its own review: both are before CAN_DAT.
    two = np.flatnonzero(rng.random(m) < 0.10)
    d0 = d1[two] - rng.integers(365, 12 * 365, two.size)
    born = d0 > pop.dob[c[two]]
    two, d0 = two[born], d0[born]
    out.add(c[two], cancer_code(c[two]), d0, rng.choice([BLANK, FIRST], two.size, p=[0.6, 0.4]))
    old = np.flatnonzero(rng.random(two.size) < 0.5)
    out.add(c[two[old]], mdrv, d0[old] + rng.integers(30, 365, old.size))

    # Later entries of the same diagnosis as review/ended: they must not move CAN_DAT.
    fol = np.flatnonzero(rng.random(m) < follow_ups[0])
    rows, _ = _expand(fol, rng.integers(1, follow_ups[1] + 1, fol.size))
    ep = rng.choice([REVIEW, ENDED], rows.size, p=[0.85, 0.15])
    out.add(c[rows], code1[rows], d1[rows] + rng.integers(20, 1800, rows.size), ep)

    # Cancer care review: on time (within 12 months), late, or none; yearly repeats for some.
    v = rng.random(m)
    pr = practice["p_review"][pop.prac[c]]
    ontime, late = v < pr, (v >= pr) & (v < pr + 0.10)
    offset = np.floor(rng.beta(1.6, 2.6, m) * 365).astype(np.int64)
    offset[rng.random(m) < 0.02] = 0  # on the day of diagnosis: counts
    rev1 = np.where(ontime, d1 + offset, d1 + rng.integers(370, 1000, m))
    reviewed = np.flatnonzero(ontime | late)
    out.add(c[reviewed], mdrv, rev1[reviewed])
    rep = reviewed[rng.random(reviewed.size) < 0.30]
    rows, j = _expand(rep, rng.integers(1, 4, rep.size))
    out.add(c[rows], mdrv, rev1[rows] + (j + 1) * 365 + rng.integers(-60, 61, rows.size))

    # Support discussion (code in use only in recent years): within 3 months, later, or none.
    v = rng.random(m)
    ps = practice["p_support"][pop.prac[c]]
    recent = d1 > ref - 5 * 365
    within, later = recent & (v < ps), recent & (v >= ps) & (v < ps + 0.10)
    sday = np.where(within, d1 + rng.integers(0, 90, m), d1 + rng.integers(100, 500, m))
    has = np.flatnonzero(within | later)
    out.add(c[has], supp, sday[has])

    # Invitations: unreviewed recent patients get 1-3, some 7+ days apart, some in the same week.
    inv = np.flatnonzero(~ontime & (d1 > ref - 3 * 365) & (rng.random(m) < 0.5))
    k = rng.choice([1, 2, 3], inv.size, p=[0.3, 0.4, 0.3])
    close = rng.random((inv.size, 1)) < 0.35
    gap = np.where(close, rng.integers(0, 7, (inv.size, 2)), rng.integers(7, 60, (inv.size, 2)))
    steps = np.concatenate([np.zeros((inv.size, 1), np.int64), np.cumsum(gap, axis=1)], axis=1)
    first = d1[inv] + rng.integers(14, 330, inv.size)
    rows, j = _expand(np.arange(inv.size), k)
    out.add(c[inv[rows]], invite, first[rows] + steps[rows, j])
    pre = np.flatnonzero(ontime & (rng.random(m) < 0.20))  # invited, then came for the review
    out.add(c[pre], invite, np.maximum(d1[pre], rev1[pre] - rng.integers(7, 40, pre.size)))

    # Personalised care adjustment codes for a few recent diagnoses.
    pca = np.flatnonzero((d1 > ref - 820) & (rng.random(m) < 0.04))
    which = np.where(rng.random(pca.size) < 0.5, table["CANPCADEC_COD"], table["CANPCAPU_COD"])
    out.add(c[pca], which, d1[pca] + rng.integers(0, 400, pca.size))


def _noise_events(
    rng: np.random.Generator,
    pop: _Population,
    noise: list[int],
    out: _Events,
    scale: float = 1.0,
    at_least: np.ndarray | None = None,
) -> None:
    """Common non-cancer entries: about 3 a patient (times `scale`), more for older ones, mostly
    recent; patients in `at_least` get one more."""
    rate = 1.5 + pop.age / 25.0
    k = rng.poisson(rate if scale == 1.0 else scale * rate)
    if at_least is not None:
        k[at_least] += 1
    rows, _ = _expand(np.arange(pop.age.size, dtype=np.int32), k)
    end, dob = pop.end[rows], pop.dob[rows]
    day = end - np.floor(rng.exponential(4.0, rows.size) * YEAR).astype(np.int64)
    early = day < dob
    day[early] = dob[early] + np.floor(rng.random(int(early.sum())) * (end - dob)[early])
    del end, dob
    w = np.array(list(NOISE_CODES.values()))
    out.add(rows, np.asarray(noise)[rng.choice(w.size, rows.size, p=w / w.sum())], day)


def make_extract(
    n_practices: int = 1,
    patients_per_practice: int | tuple[int, int] = 5000,
    reference_date: date = date(2024, 3, 31),
    seed: int = 0,
    *,
    profile: str = "sparse",
    extracted: date | None = None,
    decline: Decline | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (events, patients), all text columns, for n_practices synthetic practices.

    Same arguments give identical output. Columns follow docs/reference-data.md: events has
    practice_code, patient_id, code, date, episode; patients has one row per registration.
    `profile` is "sparse" (a whole practice list) or "dense" (a cluster-filtered cancer extract);
    see the module's docstring. `extracted` is the day every practice's extract was taken
    (default: 3 to 5 weeks after `reference_date`, a different day per practice); a later one lets
    the histories run on for years. `decline` leaves out some entries from its start on;
    everything else (patients, ids, the other entries) is as without it.
    """
    events, patients = _tables(
        np.random.default_rng(seed),
        n_practices,
        patients_per_practice,
        reference_date,
        profile,
        extracted=extracted,
        decline=decline,
    )
    return events.to_pandas(), patients.to_pandas()


def _tables(
    rng: np.random.Generator,
    n_practices: int,
    patients_per_practice: int | tuple[int, int],
    reference_date: date,
    profile: str,
    *,
    first_practice: int = 0,
    ids: tuple[str, int] | None = None,
    extracted: date | None = None,
    decline: Decline | None = None,
) -> tuple[pa.Table, pa.Table]:
    """make_extract as Arrow tables. A part of a larger extract numbers its practices from
    `first_practice` and gives its patient ids a prefix and a width (`ids`)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    dense = profile == "dense"
    ref = _day(reference_date)
    if extracted is not None and _day(extracted) <= ref:
        raise ValueError(f"extracted ({extracted}) must be after reference_date ({reference_date})")
    if decline is not None and len(decline.practice_scale) not in (0, n_practices):
        raise ValueError(
            f"Decline.practice_scale has {len(decline.practice_scale)} factors: give one per "
            f"practice ({n_practices}), or none"
        )
    sizes = _list_sizes(rng, n_practices, patients_per_practice)

    # Practice-level variation, so that a national run gives a spread of achievement; centred,
    # so overall rates stay on target (and a single practice gets exactly the target rates).
    taken = ref + rng.integers(21, 36, n_practices)  # the extract is taken 3-5 weeks after R
    if extracted is not None:  # drawn all the same, so the rest of the model stays as it was
        taken[:] = _day(extracted)
    practice = {
        "prevalence": 0.031 * np.exp(_centred(rng, 0.12, n_practices)),
        "p_review": np.clip(0.75 + _centred(rng, 0.06, n_practices), 0.3, 0.95),
        "p_support": np.clip(0.60 + _centred(rng, 0.08, n_practices), 0.2, 0.88),
    }

    # One table of code strings; events refer to codes by index into it.
    codes = _codelist()
    strings = [*codes["CAN_COD"], *NOISE_CODES]
    can = np.arange(len(codes["CAN_COD"]))
    weights = np.array([CANCER_WEIGHTS.get(code, (1.0, 1.0)) for code in codes["CAN_COD"]])
    table: dict[str, int] = {}
    for cluster in ("MDRV_COD", "CANPCSUPP_COD", "CANINVITE_COD", "CANPCADEC_COD", "CANPCAPU_COD"):
        table[cluster] = len(strings)
        strings.append("720006006" if "720006006" in codes[cluster] else codes[cluster][0])
    noise = list(range(len(codes["CAN_COD"]), len(codes["CAN_COD"]) + len(NOISE_CODES)))

    pop = _population(rng, sizes, ref, taken, dense)
    out = _Events(pop)
    if dense:
        _dense_events(rng, pop, ref, practice, table, (can, weights), noise, out)
    else:
        _cancer_events(rng, pop, ref, practice, table, (can, weights), out)
        _noise_events(rng, pop, noise, out)
    pid, code, day, ep = out.arrays()
    prac = pop.prac[pid]
    # Entries a decline leaves out are only marked here, and removed after the copies are made,
    # so that the copies and the patient ids draw the same random numbers as without it; the
    # decline draws its own from a jumped-ahead copy of the stream, which rng does not see.
    recorded = None
    if decline is not None:
        own = np.random.Generator(rng.bit_generator.jumped())
        recorded = ~_not_recorded(own, decline, table, len(strings), n_practices, prac, code, day)
    if dense:
        pid, code, day, ep, prac, recorded = _copies(rng, pop, pid, code, day, ep, prac, recorded)
    if recorded is not None:
        pid, code, day, ep, prac = (a[recorded] for a in (pid, code, day, ep, prac))
    events = (prac, pid, code, day, ep)
    return _frames(rng, pop, events, strings, n_practices, first_practice, ids)


def _day(when: date) -> int:
    """Day number since 1970-01-01, as the model counts days."""
    return int(np.datetime64(when, "D").astype(np.int64))


def _not_recorded(
    rng: np.random.Generator,
    decline: Decline,
    table: dict[str, int],
    n_codes: int,
    n_practices: int,
    prac: np.ndarray,
    code: np.ndarray,
    day: np.ndarray,
) -> np.ndarray:
    """Which entries the decline leaves out: each review, support discussion and invitation
    dated on or after its start, with the chance its practice's share at that date gives."""
    share = np.zeros(n_codes)
    share[table["MDRV_COD"]] = decline.reviews
    share[table["CANPCSUPP_COD"]] = decline.support
    share[table["CANINVITE_COD"]] = decline.invitations
    scale = np.asarray(decline.practice_scale or np.ones(n_practices), dtype=float)
    factor = scale * np.exp(_centred(rng, decline.spread, n_practices))
    start, full = _day(decline.start), _day(decline.full)
    ramp = np.clip((day - start) / (full - start), 0.0, 1.0)  # 0 before start
    chance = np.minimum(share[code] * factor[prac], 1.0) * ramp
    return rng.random(code.size) < chance


# The dense profile: who is in a cancer extract, and what else such an extract holds.
DENSE_CANCER = 0.93  # patients with a cancer diagnosis
DENSE_UNCONFIRMED = 0.02  # a review or an invitation coded, but no diagnosis
# The rest (5%) have only entries of the other clusters the extract was filtered to.
DENSE_OTHER_RATE = 0.08  # other-cluster entries, as a share of the sparse profile's rate
DENSE_COPIES = 0.02  # event rows exported twice


def _dense_events(
    rng: np.random.Generator,
    pop: _Population,
    ref: int,
    practice: dict[str, np.ndarray],
    table: dict[str, int],
    diagnoses: tuple[np.ndarray, np.ndarray],
    noise: list[int],
    out: _Events,
) -> None:
    """A cluster-filtered extract: nearly everyone has a cancer diagnosis, with more follow-up
    entries of it than a whole-list extract shows; a few have entries of interest but no
    diagnosis; a few have only entries of the other clusters of the filter."""
    n = pop.age.size
    kind = rng.random(n)
    cancer = np.flatnonzero(kind < DENSE_CANCER)
    _cancer_events(rng, pop, ref, practice, table, diagnoses, out, cancer, follow_ups=(0.52, 4))
    odd = np.flatnonzero((kind >= DENSE_CANCER) & (kind < DENSE_CANCER + DENSE_UNCONFIRMED))
    which = np.where(rng.random(odd.size) < 0.5, table["MDRV_COD"], table["CANINVITE_COD"])
    day = pop.end[odd] - np.floor(rng.exponential(2.0, odd.size) * YEAR).astype(np.int64)
    out.add(odd, which, np.maximum(day, pop.dob[odd] + 1))
    other = np.flatnonzero(kind >= DENSE_CANCER + DENSE_UNCONFIRMED)
    _noise_events(rng, pop, noise, out, scale=DENSE_OTHER_RATE, at_least=other)


def _copies(
    rng: np.random.Generator,
    pop: _Population,
    pid: np.ndarray,
    code: np.ndarray,
    day: np.ndarray,
    ep: np.ndarray,
    prac: np.ndarray,
    recorded: np.ndarray | None = None,
) -> tuple[np.ndarray | None, ...]:
    """Rows exported twice, and the old practice's copy of the record of a patient who moved
    (its entries up to when they left); sorted by patient then date again. A copy keeps its
    row's `recorded` mark (returned last; None stays None)."""
    twice = np.flatnonzero(rng.random(pid.size) < DENSE_COPIES)
    movers = np.zeros(pop.age.size, dtype=bool)
    movers[pop.returners] = True
    movers &= pop.prev_prac != pop.prac
    end = np.zeros(pop.age.size, dtype=np.int64)
    end[pop.returners] = pop.prev_end[pop.returners]
    old = np.flatnonzero(movers[pid] & (day <= end[pid]))
    extra = np.concatenate([twice, old])
    moved = np.concatenate([prac[twice], pop.prev_prac[pid[old]]])
    pid, code, day, ep = (np.concatenate([a, a[extra]]) for a in (pid, code, day, ep))
    prac = np.concatenate([prac, moved])
    key = pid.astype(np.int64) * (int(day.max()) - int(day.min()) + 1) + (day - int(day.min()))
    order = np.argsort(key, kind="stable")
    if recorded is not None:
        recorded = np.concatenate([recorded, recorded[extra]])[order]
    return pid[order], code[order], day[order], ep[order], prac[order], recorded


def _frames(
    rng: np.random.Generator,
    pop: _Population,
    events: tuple[np.ndarray, ...],
    strings: list[str],
    n_practices: int,
    first_practice: int = 0,
    ids: tuple[str, int] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Text columns, built by lookup (pyarrow take) from small tables: fast and compact."""
    prac, pid, code, day, ep = events
    n = pop.age.size
    # Pseudonymised ids: a shuffled, gappy, zero-padded number, unique across the extract.
    prefix, width = ids if ids is not None else ("", max(7, len(str(n * 10))))
    stride = 10**width // n
    number = rng.permutation(n) * stride + rng.integers(0, stride, n)
    if prefix:  # a part of a larger extract: its number, then the id
        number += int(prefix) * 10**width
    text = pa.array(number).cast(pa.large_string())
    patient_ids = pc.utf8_lpad(text, len(prefix) + width, "0")
    ods = pa.array(_practice_codes(n_practices, first_practice), pa.large_string())

    events = pa.table(
        {
            "practice_code": ods.take(prac),
            "patient_id": patient_ids.take(pid),
            "code": pa.array(strings, pa.large_string()).take(code),
            "date": _to_text(day),
            "episode": pa.array(EPISODES, pa.large_string()).take(ep),
        }
    )
    # Registration rows: the earlier row of a returner goes just before the current one.
    key = np.concatenate([2 * np.arange(n) + 1, 2 * pop.returners])
    order = np.argsort(key)
    prow = (key[order] // 2).astype(np.int64)
    earlier = key[order] % 2 == 0
    start = np.where(earlier, pop.prev_start[prow], pop.reg[prow])
    stop = np.where(earlier, pop.prev_end[prow], pop.dereg[prow])
    patients = pa.table(
        {
            "practice_code": ods.take(np.where(earlier, pop.prev_prac[prow], pop.prac[prow])),
            "patient_id": patient_ids.take(prow),
            "registration_date": _to_text(start),
            "deregistration_date": _to_text(stop, missing=stop == 0),
            "date_of_birth": _to_text(pop.dob[prow]),
            "sex": pa.array(["M", "F"], pa.large_string()).take(pop.female[prow].astype(np.int8)),
        }
    )
    return events, patients


def write_extract(
    events: pd.DataFrame, patients: pd.DataFrame, folder: str | Path, fmt: str = "csv"
) -> list[Path]:
    """Write events.<fmt> and patients.<fmt> (csv without index, or parquet) into folder.

    Parquet holds dates as DATE (blank: null), as a warehouse export does; CSV holds them as
    YYYY-MM-DD text.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in (("events", events), ("patients", patients)):
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(_with_date_types(frame), path)
        else:
            _write_csv(frame, path)
        paths.append(path)
    return paths


def write_extract_in_parts(
    folder: str | Path,
    n_practices: int,
    patients_per_practice: int | tuple[int, int] = 5000,
    reference_date: date = date(2024, 3, 31),
    seed: int = 0,
    *,
    profile: str = "sparse",
    fmt: str = "parquet",
    practices_per_part: int = 6500,
) -> dict[str, float]:
    """Write events.<fmt> and patients.<fmt> of an extract of any size, one part at a time, so
    that memory is that of one part (about a national extract for the default part size).

    With one part (n_practices <= practices_per_part) the files are exactly those of
    `make_extract` written by `write_extract`. With more, part k draws from the seed
    [seed, k], numbers its practices on from the earlier parts, and puts k (zero-padded) before
    its patient ids, which all have the same width, so ids stay unique across the extract.
    Returns the numbers of event rows, registration rows, patients and parts, and the seconds
    spent generating and writing.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if practices_per_part < 1:
        raise ValueError("practices_per_part must be at least 1")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = max(1, -(-n_practices // practices_per_part))
    info = {"events": 0, "registrations": 0, "patients": 0, "parts": parts}
    timing = {"generate_seconds": 0.0, "write_seconds": 0.0}
    if parts == 1:
        t = time.perf_counter()
        events, patients = make_extract(
            n_practices, patients_per_practice, reference_date, seed, profile=profile
        )
        timing["generate_seconds"] = time.perf_counter() - t
        info.update(
            events=len(events),
            registrations=len(patients),
            patients=int(patients["patient_id"].nunique()),
        )
        t = time.perf_counter()
        write_extract(events, patients, folder, fmt)
        timing["write_seconds"] = time.perf_counter() - t
        return {**info, **timing}

    most = (
        patients_per_practice
        if isinstance(patients_per_practice, int)
        else max(patients_per_practice)
    )
    width = max(7, len(str(practices_per_part * int(most) * 10)))
    writers: dict[str, _PartWriter] = {}
    try:
        for k in range(parts):
            first = k * practices_per_part
            t = time.perf_counter()
            events, patients = _tables(
                np.random.default_rng([seed, k]),
                min(practices_per_part, n_practices - first),
                patients_per_practice,
                reference_date,
                profile,
                first_practice=first,
                ids=(f"{k:0{len(str(parts - 1))}d}", width),
            )
            timing["generate_seconds"] += time.perf_counter() - t
            info["events"] += events.num_rows
            info["registrations"] += patients.num_rows
            info["patients"] += len(pc.unique(patients.column("patient_id")))
            t = time.perf_counter()
            for name, table in (("events", events), ("patients", patients)):
                if name not in writers:
                    writers[name] = _PartWriter(folder / f"{name}.{fmt}", fmt, table)
                writers[name].write(table)
            timing["write_seconds"] += time.perf_counter() - t
            del events, patients
    finally:
        for writer in writers.values():
            writer.close()
    return {**info, **timing}


class _PartWriter:
    """Appends the parts of one file: Parquet row groups or CSV lines (one header)."""

    def __init__(self, path: Path, fmt: str, first: pa.Table) -> None:
        self.fmt = fmt
        if fmt == "parquet":
            self.out = pq.ParquetWriter(path, _with_date_types(first).schema)
        else:
            self.out = open(path, "wb")  # noqa: SIM115 (closed by close())
            self.out.write((",".join(first.column_names) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            self.out.write_table(_with_date_types(table))
        else:  # our values never need quoting; pyarrow refuses one that would
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            pacsv.write_csv(table, self.out, options)

    def close(self) -> None:
        self.out.close()


_DATE_COLUMNS = ("date", "registration_date", "deregistration_date", "date_of_birth")


def _with_date_types(frame: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(frame, pa.Table):
        table = frame
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in _DATE_COLUMNS:
        if name in table.column_names:
            text = table.column(name)
            days = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.date32())
            table = table.set_column(table.column_names.index(name), name, days)
    return table


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """pyarrow's writer is several times faster than pandas' at national scale; our values never
    need quoting, so write them bare (pandas does the same); anything else falls back to pandas."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    safe = all(
        pa.types.is_string(col.type) or pa.types.is_large_string(col.type) for col in table.columns
    ) and not any(
        pc.any(pc.match_substring_regex(col, r'[,"\r\n]')).as_py() for col in table.columns
    )
    if not safe:
        frame.to_csv(path, index=False)
        return
    with open(path, "wb") as out:
        out.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))
