"""Code-to-cluster membership: the NHS PCD refset file, a folder of per-cluster CSVs, or the
small bundled illustrative list (which is not the refset, and says so)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from ccrqof.columns import describe_columns, normalise
from ccrqof.errors import InputError
from ccrqof.snomed import valid_concept_ids

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
    invalid: int = 0  # entries whose code is not a SNOMED CT concept id: left out

    def clusters(self) -> set[str]:
        return set(self.members["cluster"].unique())

    def codes(self) -> frozenset[str]:
        return frozenset(self.members["code"])

    def warnings(self) -> list[str]:
        if not self.invalid:
            return []
        return [
            f"{self.invalid:,} entr{'y' if self.invalid == 1 else 'ies'} of the code list "
            f"{self.source} are not SNOMED CT concept ids (for example codes that Excel "
            "reformatted as numbers, with a decimal point or an exponent) and were left out"
        ]


def _pairs(frame: pd.DataFrame, code_col: str, cluster: pd.Series | str, source: str) -> Codelist:
    members = pd.DataFrame(
        {"code": frame[code_col].astype(str).str.strip(), "cluster": cluster}
    ).drop_duplicates()
    members = members[members["code"] != ""]
    valid = valid_concept_ids(members["code"].tolist())
    return Codelist(members[valid].reset_index(drop=True), source, invalid=int((~valid).sum()))


def _find(frame: pd.DataFrame, wanted: str) -> str | None:
    return next((c for c in frame.columns if normalise(c) == normalise(wanted)), None)


def read_text_table(path: Path, sep: str | None, what: str) -> pd.DataFrame:
    """A small text file (or .gz, unzipped within the readers' limits) as strings, or one
    sentence naming the file and why not. `sep` None: tab when the first line has more tabs than
    commas."""
    from ccrqof.readers.tables import read_bytes

    if not path.exists():
        raise InputError("does not exist", file=str(path))
    data = read_bytes(path)
    if not data.strip():
        raise InputError(f"is empty: expected {what} with a header row", file=str(path))
    if sep is None:
        first = data[: 1 << 16].split(b"\n", 1)[0]
        sep = "\t" if first.count(b"\t") > first.count(b",") else ","
    try:
        return pd.read_csv(
            io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"is empty: expected {what} with a header row", file=str(path)) from None
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError, OSError) as exc:
        raise InputError(
            f"cannot be read as {what} ({exc.__class__.__name__}); it should be a UTF-8 text file",
            file=str(path),
        ) from None


def read_codelists(path: str | Path) -> Codelist:
    """Read the PCD refset content file (tab-separated) or a folder of `<cluster>.csv` files."""
    path = Path(path)
    if path.is_dir():
        files = sorted(
            f for f in path.iterdir() if f.suffix.lower() == ".csv" and not f.name.startswith(".")
        )
        if not files:
            raise InputError("has no <cluster>.csv files", file=str(path))
        parts, invalid = [], 0
        for f in files:
            frame = read_text_table(f, ",", "a code list")
            code = _find(frame, "code")
            if code is None:
                raise InputError(
                    f"has no 'code' column ({describe_columns(list(frame.columns))})",
                    file=str(f),
                )
            found = _pairs(frame, code, f.stem.upper(), str(path))
            parts.append(found.members)
            invalid += found.invalid
        members = pd.concat(parts, ignore_index=True).drop_duplicates()
        return Codelist(members, str(path), invalid=invalid)
    frame = read_text_table(path, None, "a code list")
    cluster, code = _find(frame, "Cluster_ID"), _find(frame, "SNOMED_code")
    cluster = cluster or _find(frame, "cluster")
    code = code or _find(frame, "code")
    if cluster is None or code is None:
        raise InputError(
            "needs the columns 'Cluster_ID' and 'SNOMED_code' (the PCD refset content file) or "
            f"'cluster' and 'code' ({describe_columns(list(frame.columns))})",
            file=str(path),
        )
    return _pairs(frame, code, frame[cluster].str.strip().str.upper(), str(path))


def missing_clusters(codelist: Codelist, needed: set[str], extract) -> list[str]:
    """Clusters the rules read that the code list gives no code for, and no row of the
    extract names in its own `cluster` column: every count that uses them would be a quiet
    zero."""
    empty = needed - codelist.clusters()
    if not empty:  # the usual case: no need to look through the extract
        return []
    given = set(pd.unique(extract.events["cluster"].dropna())) - {""}
    return sorted(empty - given)


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
