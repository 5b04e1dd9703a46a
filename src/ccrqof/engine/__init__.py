"""The rules engine: pure functions from prepared arrays and a rule set to outcome rows."""

from ccrqof.engine.cascade import OUTCOME_COLUMNS, Evaluation, evaluate
from ccrqof.engine.prepare import Prepared, prepare

__all__ = ["OUTCOME_COLUMNS", "Evaluation", "Prepared", "evaluate", "prepare"]
