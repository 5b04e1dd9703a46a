"""Rule packs: one YAML file per indicator per QOF year, validated by pydantic models."""

from ccrqof.rules.loader import RuleSet, available_years, load_ruleset, load_year_folder
from ccrqof.rules.model import IndicatorPack, Rule, RuleKind, YearInfo, YearStatus

__all__ = [
    "IndicatorPack",
    "Rule",
    "RuleKind",
    "RuleSet",
    "YearInfo",
    "YearStatus",
    "available_years",
    "load_ruleset",
    "load_year_folder",
]
