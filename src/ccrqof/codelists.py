"""Code-to-cluster membership: the NHS PCD refset file, a folder of per-cluster CSVs (named
`<cluster>.csv`, `<cluster>-<version>.csv` or as OpenCodelists names its downloads), or the
small bundled illustrative list (which is not the refset, and says so)."""

from __future__ import annotations

import datetime as dt
import io
import re
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
    # a folder's files: the one read for each cluster, and older versions left unread
    files: tuple[tuple[str, str], ...] = ()  # (cluster, file name)
    superseded: tuple[tuple[str, str], ...] = ()  # (cluster, file name)

    def clusters(self) -> set[str]:
        return set(self.members["cluster"].unique())

    def codes(self) -> frozenset[str]:
        return frozenset(self.members["code"])

    def files_notice(self, needed: set[str] | None = None) -> str:
        """A folder's clusters and the file each was read from (those in `needed` named, the
        others counted), and the older versions not used; "" for a single file."""
        if not self.files:
            return ""
        shown = [(c, f) for c, f in self.files if needed is None or c in needed]
        line = f"code list folder {self.source}: used " + (
            ", ".join(f"{cluster} ← {name}" for cluster, name in shown) or "no file the rules read"
        )
        others = len(self.files) - len(shown)
        if others:
            line += f" (and {others:,} other cluster file(s), which the indicators run do not read)"
        if self.superseded:
            line += "; not used, as older versions: " + ", ".join(
                name for _, name in self.superseded
            )
        return line

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


# OpenCodelists names a download `<organisation>-<codelist slug>-<version>.csv`; a PCD cluster's
# slug is its id in lower case (`can_cod`). The version is a date tag (20241205, 2024-12-05) or
# a hash.
_CLUSTER_PART = re.compile(r"^[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*_cod$", re.IGNORECASE)
_DATED = re.compile(r"^(.+?)-(\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class ClusterFile:
    """A code-list folder's file, with the cluster and version its name gives."""

    path: Path
    cluster: str
    version: str | None  # as in the name; None: `<cluster>.csv`
    date: dt.date | None  # the version as a date, when it is one


def _version_date(version: str) -> dt.date | None:
    digits = version.replace("-", "")
    if not re.fullmatch(r"\d{8}", digits):
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def cluster_file(path: Path) -> ClusterFile:
    """The cluster and version a file's name gives: `CAN_COD.csv`; `CAN_COD-20241205.csv`;
    `nhsd-primary-care-domain-refsets-can_cod-20241205.csv` (OpenCodelists: the slug's last
    `..._cod` part is the cluster, what follows it the version). Other names are read as
    before: the whole name, upper-cased, is the cluster (`<name>-<date>.csv`: the name)."""
    stem = path.name[: -len(".csv")]
    parts = stem.split("-")
    at = max((i for i, part in enumerate(parts) if _CLUSTER_PART.match(part)), default=None)
    if at is not None:
        version = "-".join(parts[at + 1 :]) or None
        return ClusterFile(path, parts[at].upper(), version, version and _version_date(version))
    dated = _DATED.match(stem)
    if dated:
        return ClusterFile(
            path, dated.group(1).upper(), dated.group(2), _version_date(dated.group(2))
        )
    return ClusterFile(path, stem.upper(), None, None)


def newest_files(files: list[Path]) -> tuple[list[ClusterFile], list[ClusterFile]]:
    """(the file to read for each cluster, the older versions left unread). Several files of
    one cluster are ordered by the date in their names; two that cannot be ordered (no date,
    or the same one) are an error naming both, never a guess."""
    by_cluster: dict[str, list[ClusterFile]] = {}
    for f in files:
        named = cluster_file(f)
        by_cluster.setdefault(named.cluster, []).append(named)
    chosen, older = [], []
    for cluster, versions in sorted(by_cluster.items()):
        clash = _unordered(versions)
        if clash:
            raise InputError(
                f"has two files for cluster {cluster} whose versions cannot be ordered: "
                f"{clash[0].path.name} and {clash[1].path.name}. Put the date in each name "
                "(<cluster>-YYYYMMDD.csv), or remove the one not to use",
                file=str(clash[0].path.parent),
            )
        versions = sorted(versions, key=lambda v: v.date or dt.date.min)
        chosen.append(versions[-1])
        older.extend(versions[:-1])
    return chosen, older


def _unordered(versions: list[ClusterFile]) -> tuple[ClusterFile, ClusterFile] | None:
    """Two files of one cluster whose order is unknown: one without a date in its name beside
    another file, or two of the same date."""
    for i, first in enumerate(versions):
        for second in versions[i + 1 :]:
            if first.date is None or second.date is None or first.date == second.date:
                return first, second
    return None


def read_codelists(path: str | Path) -> Codelist:
    """Read the PCD refset content file (tab-separated) or a folder of per-cluster CSV files,
    each with a `code` column (OpenCodelists downloads: `code`, `term`) and named for its
    cluster, optionally with a version (`cluster_file`): the newest version of each is read."""
    path = Path(path)
    if path.is_dir():
        files = sorted(
            f for f in path.iterdir() if f.suffix.lower() == ".csv" and not f.name.startswith(".")
        )
        if not files:
            raise InputError("has no <cluster>.csv files", file=str(path))
        chosen, older = newest_files(files)
        parts, invalid = [], 0
        for named in chosen:
            f = named.path
            frame = read_text_table(f, ",", "a code list")
            code = _find(frame, "code")
            if code is None:
                raise InputError(
                    f"has no 'code' column ({describe_columns(list(frame.columns))})",
                    file=str(f),
                )
            found = _pairs(frame, code, named.cluster, str(path))
            parts.append(found.members)
            invalid += found.invalid
        members = pd.concat(parts, ignore_index=True).drop_duplicates()
        return Codelist(
            members,
            str(path),
            invalid=invalid,
            files=tuple((n.cluster, n.path.name) for n in chosen),
            superseded=tuple((n.cluster, n.path.name) for n in older),
        )
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
    """The code list to use and any warning, in the order of docs/reference-data.md#code-lists:
    --codelists, a cluster column, the bundled illustrative list, which serves only rows that have
    a code but no cluster."""
    if path is not None:
        return read_codelists(path), None
    events = extract.events
    if not ((events["code"] != "") & (events["cluster"] == "")).any():
        return None, None
    return illustrative_codelist(), ILLUSTRATIVE_WARNING
