"""Every kind of rule-model node has a handler in every engine and words in every wording: a
new condition, date or population kind cannot be half added (issue 12, item 5)."""

from __future__ import annotations

import typing

import pytest

from ccrqof import explanation
from ccrqof.engine import ENGINES, get_engine
from ccrqof.rules import describe
from ccrqof.rules.model import (
    CONDITION_KINDS,
    DATE_KINDS,
    POPULATION_KINDS,
    Condition,
    DateDefinition,
    Population,
)

KINDS = {
    "condition": CONDITION_KINDS,
    "condition measures": CONDITION_KINDS,
    "date": DATE_KINDS,
    "population": POPULATION_KINDS,
}


def _missing(dispatcher, kinds) -> list[str]:
    fallback = dispatcher.registry[object]
    return [kind.__name__ for kind in kinds if dispatcher.dispatch(kind) is fallback]


def test_the_kind_lists_are_the_models_unions():
    """The *_KINDS tuples the registries are checked against are exactly what a pack can hold."""
    assert set(typing.get_args(Condition)) == set(CONDITION_KINDS)
    assert set(typing.get_args(DateDefinition)) == set(DATE_KINDS)
    assert set(typing.get_args(Population)) == set(POPULATION_KINDS)


@pytest.mark.parametrize("engine", list(ENGINES))  # Spark too: making one starts nothing
def test_every_node_kind_has_a_handler_in_every_engine(engine):
    dispatchers = get_engine(engine).dispatchers
    assert set(dispatchers) == set(KINDS)
    for role, kinds in KINDS.items():
        assert not _missing(dispatchers[role], kinds), f"{engine} {role}"


def test_every_node_kind_has_words():
    for role in ("condition", "date", "population"):
        assert not _missing(describe.DISPATCHERS[role], KINDS[role]), f"rules show: {role}"
    assert not _missing(explanation.why, CONDITION_KINDS), "explain"


def test_the_meta_test_notices_a_missing_handler():
    """A kind no handler knows is reported, so the tests above can fail."""

    class Unknown:
        pass

    assert _missing(describe.condition_words, (*CONDITION_KINDS, Unknown)) == ["Unknown"]
