"""What a test of a compiled Program means, with the engine's semantics: the reference evaluator and
enrichment (flags, counts) decide with these exactly what the durable-rules engine decides.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from scrubber.ruleset.program import AllOf, AnyOf, Ref


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
