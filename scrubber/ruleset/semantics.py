"""What a test of a compiled Program means, with the engine's semantics: the reference evaluator and
enrichment (flags, counts) decide with these exactly what the durable-rules engine decides.
"""
from __future__ import annotations

import operator
import re
from functools import lru_cache
from typing import Any, Callable

from scrubber.ruleset.program import AllOf, AnyOf, Ref, Test


@lru_cache(maxsize=4096)
def regex(python_pattern: str) -> re.Pattern:
    """A rule's `matches` pattern, compiled once per process (the engine, the reference evaluator and
    enrichment share this cache)."""
    return re.compile(python_pattern)


def holds(node: Any, fact: dict) -> bool:
    """Whether a fact passes a test, with the engine's semantics: a test on an absent value is false
    (`ne` included). The reference evaluator and enrichment's counts both use this."""
    if isinstance(node, AllOf):
        return all(holds(item, fact) for item in node.items)
    if isinstance(node, AnyOf):
        return any(holds(item, fact) for item in node.items)
    value = fact.get(node.key)
    op = node.op
    if op == "nex":
        return value is None
    if value is None:
        return False
    if op == "ex":
        return True
    if op == "mt":
        return isinstance(value, str) and regex(node.value[1]).fullmatch(value) is not None
    target = node.value
    if isinstance(target, Ref):
        other = fact.get(target.key)
        if other is None:
            return False
        target = other + target.plus if target.plus else other
    if op == "eq":
        return value == target
    if op == "ne":
        return value != target
    if op == "lt":
        return value < target
    if op == "le":
        return value <= target
    if op == "gt":
        return value > target
    return value >= target


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


def _always(fact: dict) -> bool:
    return True


def predicate(node: Any) -> Callable[[dict], bool]:
    """`holds` for one test, made once into a function of the fact: the same answer on every fact
    (tests/ruleset/test_semantics.py), several times faster where a test is decided on many facts."""
    if isinstance(node, AnyOf) and len(node.items) > 1:
        same = _one_field_any_of(node)
        if same is not None:
            return same
    if isinstance(node, (AllOf, AnyOf)):
        parts = tuple(predicate(item) for item in node.items)
        if isinstance(node, AllOf):
            if not parts:
                return _always
            if len(parts) == 1:
                return parts[0]

            def all_of(fact: dict) -> bool:
                for part in parts:
                    if not part(fact):
                        return False
                return True
            return all_of

        def any_of(fact: dict) -> bool:
            for part in parts:
                if part(fact):
                    return True
            return False
        return any_of
    key, op, target = node.key, node.op, node.value
    if op == "nex":
        return lambda fact: fact.get(key) is None
    if op == "ex":
        return lambda fact: fact.get(key) is not None
    if op == "mt":
        fullmatch = regex(target[1]).fullmatch
        return lambda fact: isinstance(value := fact.get(key), str) and fullmatch(value) is not None
    compare = _COMPARE[op]
    if isinstance(target, Ref):
        other_key, plus = target.key, target.plus

        def against_field(fact: dict) -> bool:
            value = fact.get(key)
            other = fact.get(other_key)
            if value is None or other is None:
                return False
            return compare(value, other + plus if plus else other)
        return against_field
    return lambda fact: (value := fact.get(key)) is not None and compare(value, target)


def _one_field_any_of(node: AnyOf) -> Callable[[dict], bool] | None:
    """An any-of over one field, as one test: of constant equalities, a set lookup (a value equals one of
    them); of patterns, one regular expression of the alternatives (a full match of any of them)."""
    items = node.items
    if not all(isinstance(item, Test) for item in items) or len({item.key for item in items}) != 1:
        return None
    key = items[0].key
    if all(item.op == "eq" and not isinstance(item.value, Ref) for item in items):
        try:
            members = frozenset(item.value for item in items)
        except TypeError:
            return None

        def equals_one(fact: dict) -> bool:
            value = fact.get(key)
            try:
                return value is not None and value in members
            except TypeError:  # an unhashable value (a list) equals no constant
                return False
        return equals_one
    if all(item.op == "mt" for item in items):
        fullmatch = regex("|".join(f"(?:{item.value[1]})" for item in items)).fullmatch
        return lambda fact: isinstance(value := fact.get(key), str) and fullmatch(value) is not None
    return None
