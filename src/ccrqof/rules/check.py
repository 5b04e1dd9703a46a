"""Check a folder of rule packs the way the project checks its own: every file validates, every
case passes, every rule is reachable. Problems are collected, not raised, so one run reports all
of them (``ccrqof rules check``)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from ccrqof.errors import RulePackError
from ccrqof.rules.loader import RuleSet, _validate
from ccrqof.rules.model import IndicatorPack, YearInfo
from ccrqof.testing import load_case_file, run_cases


@dataclass(frozen=True)
class Problem:
    """One failed check: the file, and for a case the case, patient and field compared."""

    file: str
    message: str
    case: str | None = None
    patient: str | None = None
    field: str | None = None
    expected: str | None = None
    actual: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.case:
            where += f": case {self.case}"
        if self.patient:
            where += f", patient {self.patient}"
        if self.field:
            return f"{where}: {self.field} expected {self.expected}, got {self.actual}"
        return f"{where}: {self.message}"


@dataclass
class PackResult:
    year: str
    indicator: str
    file: str
    rules: int = 0
    cases: int = 0
    cases_failed: int = 0


@dataclass
class CheckReport:
    root: str
    years: list[str] = field(default_factory=list)
    packs: list[PackResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def cases(self) -> int:
        return sum(p.cases for p in self.packs)

    def as_dict(self) -> dict:
        return {
            "root": self.root,
            "passed": self.passed,
            "years": self.years,
            "packs": [asdict(p) for p in self.packs],
            "cases": self.cases,
            "problems": [{**asdict(p), "text": str(p)} for p in self.problems],
        }


def year_folders(root: Path) -> list[Path]:
    """The year folders under ``root`` (or ``root`` itself when it is one)."""
    root = Path(root)
    if (root / "year.yaml").is_file():
        return [root]
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and ((p / "year.yaml").is_file() or any(p.glob("*.yaml")))
    )


def pack_files(folder: Path) -> list[Path]:
    """year.yaml and the indicator packs of a year folder (not the case files)."""
    return sorted(p for p in Path(folder).glob("*.yaml") if not p.name.endswith(".cases.yaml"))


def folder_sha256(folder: Path) -> str:
    """A hash of a year folder's pack files (names and bytes), to record which rules ran."""
    digest = hashlib.sha256()
    for path in pack_files(folder):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _show(value: object) -> str:
    return "(blank)" if value is None else str(value)


def _check_folder(folder: Path, root: Path, report: CheckReport, engine=None) -> None:
    def rel(path: Path) -> str:
        try:
            return str(path.relative_to(root.parent if root == folder else root))
        except ValueError:
            return str(path)

    def problem(path: Path, message: str, **where) -> None:
        report.problems.append(Problem(rel(path), message, **where))

    info = None
    if not (folder / "year.yaml").is_file():
        problem(folder / "year.yaml", "missing: every year folder needs a year.yaml")
    else:
        try:
            info = _validate(YearInfo, folder / "year.yaml")
        except RulePackError as exc:
            problem(folder / "year.yaml", exc.message)
    if info is not None:
        report.years.append(info.year)
        if info.year != folder.name:
            problem(folder / "year.yaml", f"year {info.year} does not match the folder name")

    packs: dict[str, IndicatorPack] = {}
    files: dict[str, Path] = {}
    for path in pack_files(folder):
        if path.name == "year.yaml":
            continue
        try:
            pack = _validate(IndicatorPack, path)
        except RulePackError as exc:
            problem(path, exc.message)
            continue
        if info is not None and pack.year != info.year:
            problem(path, f"year {pack.year} does not match the folder's year.yaml ({info.year})")
            continue
        if path.stem != pack.indicator:
            problem(path, f"the file holds {pack.indicator}; name it {pack.indicator}.yaml")
        packs[pack.indicator] = pack
        files[pack.indicator] = path
    known = known_clusters()
    for indicator, pack in packs.items():
        for cluster in sorted(pack.clusters() - known):
            problem(
                files[indicator],
                f"cluster {cluster} is not a PCD cluster id (a typo? the "
                "known ids are in ccrqof/data/pcd_cluster_ids.txt)",
            )
        if unused := sorted(set(pack.words) - pack.clusters() - set(pack.dates)):
            problem(
                files[indicator],
                f"words for {', '.join(unused)}, which the pack neither reads nor defines",
            )
        if pack.register and pack.register not in packs:
            problem(
                files[indicator], f"population {pack.register} is not an indicator of this year"
            )
    stems = {p.stem for p in pack_files(folder)}
    for path in sorted(folder.glob("*.cases.yaml")):
        if path.name.split(".")[0] not in stems:
            problem(path, "no pack of that name beside this case file")
    if info is None:
        return

    ruleset = RuleSet.of_year(info, packs)
    runs = []  # (result, pack, cases file, cases) of each pack whose cases can run
    for indicator, pack in sorted(packs.items()):
        result = PackResult(info.year, indicator, rel(files[indicator]), rules=len(pack.rules))
        report.packs.append(result)
        cases_path = folder / f"{indicator}.cases.yaml"
        if not cases_path.is_file():
            problem(
                cases_path,
                "missing: every pack needs cases (each rule must decide at least one)",
            )
            continue
        try:
            cases = load_case_file(cases_path)
        except RulePackError as exc:
            problem(cases_path, exc.message)
            continue
        except Exception as exc:  # YAML syntax, not a mapping
            problem(cases_path, f"cannot be read: {exc.__class__.__name__}: {exc}")
            continue
        if cases.indicator != indicator or cases.year != info.year:
            problem(
                cases_path,
                f"the file says {cases.indicator} {cases.year}; expected {indicator} {info.year}",
            )
            continue
        if unused := sorted(set(pack.words) - pack.clusters() - set(pack.dates)):
            problem(
                files[indicator],
                f"words for {', '.join(unused)}, which the pack neither reads nor defines",
            )
        if pack.register and pack.register not in packs:
            continue  # already reported: the register is missing, nothing can run
        names = Counter(case.name for case in cases.cases)
        for name in sorted(n for n, k in names.items() if k > 1):
            problem(cases_path, "two cases have this name", case=name)
        runs.append((result, pack, cases_path, cases.cases))
    # every case of the folder in one batch: one prepare, an evaluation per reference date
    items = [(case, pack, ruleset, path) for _, pack, path, cases in runs for case in cases]
    outcomes = iter(run_cases(items, engine))
    for result, pack, cases_path, cases in runs:
        deciding: Counter[str] = Counter()
        for case in cases:
            result.cases += 1
            outcome = next(outcomes)
            if isinstance(outcome, Exception):  # a bad drawn table or date in the case itself
                result.cases_failed += 1
                problem(cases_path, f"cannot run: {outcome}", case=case.name)
                continue
            if not outcome.passed:
                result.cases_failed += 1
            for patient, what, want, got in outcome.mismatches:
                problem(
                    cases_path,
                    "mismatch",
                    case=case.name,
                    patient=patient,
                    field=what,
                    expected=_show(want),
                    actual=_show(got),
                )
            deciding.update(outcome.deciding.values())
        for rule in pack.rules:
            if rule.shadowed_by and deciding[rule.rule]:
                problem(
                    cases_path,
                    f"{rule.rule} is declared shadowed_by {rule.shadowed_by} but decides "
                    f"{deciding[rule.rule]} patient(s)",
                )
            elif not rule.shadowed_by and not deciding[rule.rule]:
                problem(
                    cases_path,
                    f"{rule.rule} is not reachable: no case is decided by it ({rule.says}); "
                    "add a case, or mark it shadowed_by the rule that always fires first",
                )


def check_packs(root: Path, engine=None) -> CheckReport:
    """Validate every year folder under ``root`` and run all its cases on `engine` (a name or
    an engine; the default engine when None)."""
    root = Path(root)
    report = CheckReport(str(root))
    folders = year_folders(root)
    if not folders:
        report.problems.append(
            Problem(str(root), "no year folders (a folder such as 2023-24 with a year.yaml)")
        )
    for folder in folders:
        _check_folder(folder, root, report, engine)
    return report


def known_clusters() -> set[str]:
    text = (resources.files("ccrqof.data") / "pcd_cluster_ids.txt").read_text(encoding="utf-8")
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
