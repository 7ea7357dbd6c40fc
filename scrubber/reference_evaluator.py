"""The reference evaluator: the same compiled Program, evaluated in plain Python.

It exists to check the engine: the differential tests run both on generated claims and rule
files and require identical findings. It follows the engine's semantics exactly: a test on an
absent value is false (`ne` included), a negated pattern holds when no fact matches it.
"""
from __future__ import annotations

import re
from functools import lru_cache

from scrubber.compiler import AllOf, AnyOf, Pattern, Program, Ref, Test
from scrubber.engine import Activation


@lru_cache(maxsize=4096)
def _regex(python_pattern: str) -> re.Pattern:
    return re.compile(python_pattern)


def _holds(node, fact: dict, bound: dict[str, dict]) -> bool:
    if isinstance(node, AllOf):
        return all(_holds(item, fact, bound) for item in node.items)
    if isinstance(node, AnyOf):
        return any(_holds(item, fact, bound) for item in node.items)
    test: Test = node
    value = fact.get(test.key)
    if test.op == "nex":
        return value is None
    if value is None:
        return False
    if test.op == "ex":
        return True
    if test.op == "mt":
        return isinstance(value, str) and _regex(test.value[1]).fullmatch(value) is not None
    target = test.value
    if isinstance(target, Ref):
        other = (fact if target.alias is None else bound[target.alias]).get(target.key)
        if other is None:
            return False
        target = other + target.plus
    if test.op == "eq":
        return value == target
    if test.op == "ne":
        return value != target
    if test.op == "lt":
        return value < target
    if test.op == "le":
        return value <= target
    if test.op == "gt":
        return value > target
    return value >= target


def _bind(patterns: tuple[Pattern, ...], index: int, bound: dict[str, dict], by_type: dict[str, list[dict]]):
    if index == len(patterns):
        yield dict(bound)
        return
    pattern = patterns[index]
    candidates = by_type.get(pattern.type, ())
    if pattern.negated:
        if not any(_holds(pattern.test, fact, bound) for fact in candidates):
            yield from _bind(patterns, index + 1, bound, by_type)
        return
    for fact in candidates:
        if _holds(pattern.test, fact, bound):
            bound[pattern.alias] = fact
            yield from _bind(patterns, index + 1, bound, by_type)
            del bound[pattern.alias]


def evaluate(program: Program, facts: list[dict]) -> list[Activation]:
    by_type: dict[str, list[dict]] = {}
    for fact in facts:
        by_type.setdefault(fact["t"], []).append(fact)
    activations: list[Activation] = []
    for rule in program.rules:
        for bound in _bind(rule.patterns, 0, {}, by_type):
            activations.append((rule.name, bound))
    return activations
