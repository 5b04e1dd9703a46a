"""Find and load the rule pack for a QOF year or a reference date."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from ccrqof.dates import parse_qof_year, pped, ppsd, qof_year_containing, qof_year_name
from ccrqof.errors import RulePackError, UsageError
from ccrqof.rules.model import BUILTIN_DATES, IndicatorPack, YearInfo, YearStatus

BUNDLED = resources.files("ccrqof.rules") / "packs"


@dataclass(frozen=True)
class RuleSet:
    """The indicator packs of one QOF year, run at one reference date; after a year's packs
    retire, an earlier year's run beside them as local monitoring."""

    year: YearInfo
    reference_date: dt.date
    status: YearStatus  # the packs' status when they share one (local_monitoring: retired)
    packs: dict[str, IndicatorPack] = field(repr=False)
    folder: Path | None = None  # where the packs were read from (bundled or a --rules folder)
    statuses: dict[str, YearStatus] = field(default_factory=dict, repr=False)  # per indicator
    years: dict[str, YearInfo] = field(default_factory=dict, repr=False)  # retired packs' years
    year_folders: dict[str, Path] = field(default_factory=dict, repr=False)  # and their folders

    @property
    def pays_points(self) -> bool:
        return self.status != YearStatus.local_monitoring

    @classmethod
    def of_year(
        cls, info: YearInfo, packs: dict[str, IndicatorPack], folder: Path | None = None
    ) -> RuleSet:
        """A year folder's packs at its PPED, each with its status that year."""
        statuses = {indicator: info.status_of(indicator) for indicator in packs}
        return cls(info, info.pped, info.status_for(packs), packs, folder, statuses)

    def status_of(self, indicator: str) -> YearStatus:
        return self.statuses.get(indicator, self.status)

    def rule_years(self) -> dict[str, str]:
        """Each indicator's rules' QOF year (a retired indicator's is an earlier year's)."""
        return {indicator: pack.year for indicator, pack in self.packs.items()}

    def pays_points_for(self, indicator: str) -> bool:
        return self.status_of(indicator) != YearStatus.local_monitoring

    @property
    def note(self) -> str:
        """What the statuses mean for these results: each group's note (a year's note for its
        own indicators, the retiring year's note for those run as local monitoring)."""
        return " ".join(dict.fromkeys(n for _, _, _, n in self.groups() if n))

    def groups(self) -> list[tuple[str, YearStatus, tuple[str, ...], str]]:
        """(rules' year, status, indicators, note) for each set of indicators that share a year
        and a status, in pack order: what a header says when CS and CAN run side by side."""
        found: dict[tuple[str, YearStatus], list[str]] = {}
        for pack in self.ordered():
            found.setdefault((pack.year, self.status_of(pack.indicator)), []).append(pack.indicator)
        out = []
        for (year, status), indicators in found.items():
            info = self.years.get(year, self.year)
            out.append((year, status, tuple(indicators), info.note_for(status)))
        return out

    def described(self) -> str:
        """The rules in words for a header: 'QOF 2024-25 rules', or one part per rules' year
        and status when they differ ('QOF 2026-27 rules for CS005, CS006; QOF 2024-25 rules,
        local monitoring, for CAN001, CAN004, CAN005')."""
        groups = self.groups()
        if len(groups) == 1:
            return f"QOF {groups[0][0]} rules"
        parts = []
        for year, status, indicators, _ in groups:
            how = "" if status == YearStatus.paid else f", {status.value.replace('_', ' ')},"
            parts.append(f"QOF {year} rules{how} for {', '.join(indicators)}")
        return "; ".join(parts)

    def only(self, indicators) -> RuleSet:
        """These indicators and the registers they need (a pack's population), nothing else."""
        wanted = set(indicators)
        wanted |= {p.register for i, p in self.packs.items() if i in wanted and p.register}
        packs = {i: p for i, p in self.packs.items() if i in wanted}
        statuses = {i: s for i, s in self.statuses.items() if i in packs}
        shared = set(statuses.values())
        status = shared.pop() if len(shared) == 1 else self.status
        years = {p.year for p in packs.values()}
        chosen = replace(
            self,
            packs=packs,
            statuses=statuses,
            status=status,
            years={y: i for y, i in self.years.items() if y in years},
            year_folders={y: f for y, f in self.year_folders.items() if y in years},
        )
        if len(years) == 1 and (year := years.pop()) in self.years:  # only retired packs left
            return replace(
                chosen,
                year=self.years[year],
                folder=self.year_folders[year],
                years={},
                year_folders={},
            )
        return chosen

    def needs(self, indicator: str) -> tuple[str, ...]:
        """The patients file's columns an indicator's population reads (CS: sex, date of
        birth), its register's included."""
        pack = self.packs[indicator]
        own = pack.population_columns()
        if pack.register and pack.register in self.packs:
            own = (*own, *self.needs(pack.register))
        return tuple(dict.fromkeys(own))

    def ordered(self) -> list[IndicatorPack]:
        """Registers first, so every cascade's population is known before it runs."""
        return sorted(self.packs.values(), key=lambda p: (not p.is_register, p.indicator))

    def clusters(self) -> set[str]:
        """Every cluster a pack of the rule set reads."""
        return set().union(*(pack.clusters() for pack in self.packs.values()))

    def needs_every_patient(self) -> bool:
        """Can a cascade take a patient with no entry in its clusters (a register that selects
        on REG_DAT, a population defined over the patients file)? Then an engine must key
        every patient, not only those with entries of interest."""
        return any(pack.takes_patients_without_entries() for pack in self.packs.values())

    def reads_patient_details(self) -> bool:
        """Does a population read sex or date of birth from the patients file?"""
        return any(
            getattr(pack.population, "sex", None)
            or getattr(pack.population, "needs_birth_date", False)
            for pack in self.packs.values()
        )

    def outcome_dates(self) -> tuple[str, ...]:
        """Every pack's outcome dates in pack order (registers first), built-in dates such as
        REG_DAT last: the date columns of patient-level outcome rows."""
        names = dict.fromkeys(n for pack in self.ordered() for n in pack.outcome_dates)
        return (
            *(n for n in names if n not in BUILTIN_DATES),
            *(n for n in names if n in BUILTIN_DATES),
        )


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulePackError(f"not valid YAML ({exc.__class__.__name__})", file=str(path)) from exc
    if not isinstance(data, dict):
        raise RulePackError("expected a mapping of keys to values", file=str(path))
    return data


def _validate(model: type, path: Path):
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise RulePackError(problems, file=str(path)) from None


def load_year_folder(folder: Path) -> tuple[YearInfo, dict[str, IndicatorPack]]:
    """A year folder's packs; cached while its files are unchanged (packs are immutable), so a
    24-month series does not parse the same YAML 24 times."""
    stamp = tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(Path(folder).glob("*.yaml"))
    )
    info, packs = _load_year_folder(str(folder), stamp)
    return info, dict(packs)


@functools.lru_cache(maxsize=64)
def _load_year_folder(folder: str, stamp: tuple) -> tuple[YearInfo, dict[str, IndicatorPack]]:
    info = _validate(YearInfo, Path(folder, "year.yaml"))
    packs: dict[str, IndicatorPack] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        if path.name == "year.yaml" or path.name.endswith(".cases.yaml"):
            continue
        pack = _validate(IndicatorPack, path)
        if pack.year != info.year:
            raise RulePackError(
                f"year {pack.year} does not match the folder's year.yaml ({info.year})",
                file=str(path),
            )
        packs[pack.indicator] = pack
    named = {
        "statuses": set(info.statuses),
        "local_monitoring_indicators": set(info.local_monitoring_indicators),
    }
    for key, names in named.items():
        if unknown := names - set(packs):
            raise RulePackError(
                f"{key} names {', '.join(sorted(unknown))}, not an indicator of this year",
                file=str(Path(folder, "year.yaml")),
            )
    for indicator in info.local_monitoring_indicators:
        register = packs[indicator].register
        if register and register not in info.local_monitoring_indicators:
            raise RulePackError(
                f"local_monitoring_indicators has {indicator} but not its population {register}: "
                "a retired indicator runs with its own year's register",
                file=str(Path(folder, "year.yaml")),
            )
    for pack in packs.values():
        if pack.register and pack.register not in packs:
            raise RulePackError(
                f"population {pack.register} is not an indicator of this year",
                file=str(Path(folder, pack.indicator + ".yaml")),
            )
    return info, packs


def available_years(rules_dir: Path | None = None) -> list[str]:
    root = Path(str(rules_dir or BUNDLED))
    return sorted(p.name for p in root.iterdir() if (p / "year.yaml").is_file())


def _retired(
    folders: dict, years: list[str], reference_date: dt.date, have: set[str]
) -> dict[str, tuple[IndicatorPack, str]]:
    """For each indicator the rule set lacks: the pack of the latest earlier year that has it,
    with that year's folder name, if that year retires it by `reference_date` (local
    monitoring). An indicator a later year brought back and then dropped is not run again."""
    out: dict[str, tuple[IndicatorPack, str]] = {}
    seen = set(have)
    for name in reversed(years):
        info, packs = load_year_folder(folders[name])
        if info.pped >= reference_date:  # R's own year, or later
            continue
        live = (
            info.local_monitoring_from is not None and reference_date >= info.local_monitoring_from
        )
        for indicator, pack in packs.items():
            if indicator in seen:
                continue
            seen.add(indicator)
            if live and info.retires(indicator):
                out[indicator] = (pack, name)
    return out


def load_ruleset(
    year: str | None = None, reference_date: dt.date | None = None, rules_dir: Path | None = None
) -> RuleSet:
    """The rules for a QOF year (reference date = its PPED) or for any reference date.

    The packs of the year containing the date run beside the indicators earlier years retired
    (their last year's rules, as local monitoring, no points), as CAN004/CAN005 after 31 March
    2025; with no folder for the date's year only retired indicators run (year.yaml in
    docs/reference-rule-packs.md).
    """
    if (year is None) == (reference_date is None):
        raise UsageError("give either a QOF year or a reference date")
    if year is not None:
        try:
            reference_date = pped(parse_qof_year(year))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    assert reference_date is not None
    # A --rules folder lies on top of the bundled packs: its years replace the bundled ones,
    # and years it does not have come from the bundled packs.
    folders = {name: Path(str(BUNDLED)) / name for name in available_years()}
    if rules_dir is not None:
        folders.update({name: Path(rules_dir) / name for name in available_years(rules_dir)})
    years = sorted(folders)
    wanted = qof_year_name(qof_year_containing(reference_date))
    if wanted in folders:
        info, packs = load_year_folder(folders[wanted])
        statuses = {indicator: info.status_of(indicator) for indicator in packs}
        infos, places = {}, {}
        for indicator, (pack, name) in _retired(folders, years, reference_date, set(packs)).items():
            packs[indicator], statuses[indicator] = pack, YearStatus.local_monitoring
            infos[pack.year], places[pack.year] = load_year_folder(folders[name])[0], folders[name]
        shared = set(statuses.values())
        status = shared.pop() if len(shared) == 1 else info.status
        return RuleSet(
            info, reference_date, status, packs, folders[wanted], statuses, infos, places
        )
    retired = _retired(folders, years, reference_date, set())
    if retired:
        name = max(years.index(folder) for _, folder in retired.values())
        info, _ = load_year_folder(folders[years[name]])
        packs = {indicator: pack for indicator, (pack, _) in retired.items()}
        statuses = dict.fromkeys(packs, YearStatus.local_monitoring)
        return RuleSet(
            info, reference_date, YearStatus.local_monitoring, packs, folders[years[name]], statuses
        )
    first = ppsd(parse_qof_year(years[0])) if years else None
    raise UsageError(
        f"no rule pack covers {reference_date.isoformat()}: packs exist for "
        f"{', '.join(years)}" + (f" (from {first.isoformat()})" if first else "")
    )
