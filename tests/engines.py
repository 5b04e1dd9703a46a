"""The engines every rule case, property and oracle comparison runs on: all registered ones,
so a new engine is tested by adding it to `ccrqof.engine.ENGINES`, never by copying tests."""

from ccrqof.engine import ENGINES

ENGINE_NAMES = tuple(ENGINES)
