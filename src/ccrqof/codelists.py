"""Code-to-cluster membership: the NHS PCD refset file, a folder of per-cluster CSVs, or the
small bundled illustrative list (which is not the refset, and says so)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from ccrqof.columns import normalise
from ccrqof.errors import InputError

ILLUSTRATIVE_WARNING = (
    "No --codelists given: using ccrqof's small illustrative code list, which is NOT the full "
    "PCD refset, so counts will be incomplete for real data. Download the Primary Care Domain "
    "refset content file from NHS England (or the clusters from OpenCodelists) and pass it "
    "with --codelists."
)


@dataclass(frozen=True)
class Codelist:
    """Membership pairs (code, cluster): one code may be in several clusters."""

    members: pd.DataFrame  # columns: code (str), cluster (str)
    source: str
    illustrative: bool = False

    def clusters(self) -> set[str]:
        return set(self.members["cluster"].unique())


def _pairs(frame: pd.DataFrame, code_col: str, cluster: pd.Series | str, source: str) -> Codelist:
    members = pd.DataFrame(
        {"code": frame[code_col].astype(str).str.strip(), "cluster": cluster}
    ).drop_duplicates()
    return Codelist(members[members["code"] != ""].reset_index(drop=True), source)


def _find(frame: pd.DataFrame, wanted: str) -> str | None:
    return next((c for c in frame.columns if normalise(c) == normalise(wanted)), None)


def read_codelists(path: str | Path) -> Codelist:
    """Read the PCD refset content file (tab-separated) or a folder of `<cluster>.csv` files."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise InputError("has no <cluster>.csv files", file=str(path))
        parts = []
        for f in files:
            frame = pd.read_csv(f, dtype=str, keep_default_na=False)
            code = _find(frame, "code")
            if code is None:
                raise InputError(
                    f"has no 'code' column (found: {', '.join(frame.columns)})", file=str(f)
                )
            parts.append(_pairs(frame, code, f.stem.upper(), str(path)).members)
        return Codelist(pd.concat(parts, ignore_index=True).drop_duplicates(), str(path))
    if not path.exists():
        raise InputError("does not exist", file=str(path))
    sep = "\t" if path.suffix.lower() in (".txt", ".tsv") or _looks_tabbed(path) else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(
            f"cannot be read as a code list ({exc.__class__.__name__})", file=str(path)
        ) from None
    cluster, code = _find(frame, "Cluster_ID"), _find(frame, "SNOMED_code")
    cluster = cluster or _find(frame, "cluster")
    code = code or _find(frame, "code")
    if cluster is None or code is None:
        raise InputError(
            "needs the columns 'Cluster_ID' and 'SNOMED_code' (the PCD refset content file) or "
            f"'cluster' and 'code' (found: {', '.join(frame.columns)})",
            file=str(path),
        )
    return _pairs(frame, code, frame[cluster].str.strip().str.upper(), str(path))


def _looks_tabbed(path: Path) -> bool:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline()
    return first.count("\t") > first.count(",")


def illustrative_codelist() -> Codelist:
    with resources.as_file(resources.files("ccrqof.data") / "illustrative_codelist.csv") as p:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    return Codelist(frame[["code", "cluster"]], "bundled illustrative list", illustrative=True)


def resolve_codelist(path: str | Path | None, extract) -> tuple[Codelist | None, str | None]:
    """The code list to use and any warning (data.md order: --codelists, a cluster column, the
    bundled illustrative list, which serves only rows that have a code but no cluster)."""
    if path is not None:
        return read_codelists(path), None
    events = extract.events
    if not ((events["code"] != "") & (events["cluster"] == "")).any():
        return None, None
    return illustrative_codelist(), ILLUSTRATIVE_WARNING
