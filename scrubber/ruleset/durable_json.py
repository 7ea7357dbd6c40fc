"""A compiled Program as durable-rules JSON: the engine's rulesets, one per rule, far inside the engine's
capacity limits (256 rules per first pattern, 65 activations per fact), each with the ALWAYS rule that
fires once in every session.
"""
from __future__ import annotations

from typing import Any

from scrubber.ruleset.program import AllOf, AnyOf, CompiledRule, Pattern, Program, Ref, tests_in

_DURABLE_OP = {"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


def _durable_value(value: Any) -> Any:
    if isinstance(value, Ref):
        ref: Any = {"$m": value.key}
        if value.plus:
            ref = {"$add": {"$l": ref, "$r": value.plus}}
        return ref
    return value


def _durable_test(node: Any) -> dict:
    if isinstance(node, AllOf):
        return {"$and": [_durable_test(i) for i in node.items]}
    if isinstance(node, AnyOf):
        return {"$or": [_durable_test(i) for i in node.items]}
    if node.op == "eq":
        return {node.key: _durable_value(node.value)}
    if node.op == "mt":
        return {"$mt": {node.key: node.value[0]}}
    if node.op == "ex":
        return {"$ex": {node.key: 1}}
    if node.op == "nex":
        return {"$nex": {node.key: 1}}
    return {_DURABLE_OP[node.op]: {node.key: _durable_value(node.value)}}


def _has_ref(node: Any) -> bool:
    return any(isinstance(t.value, Ref) for t in tests_in(node))


def _durable_pattern(pattern: Pattern) -> dict:
    # tests of a fact against constants first: the engine filters on them cheaply, before it
    # evaluates comparisons between two fields of the fact
    ordered = sorted(pattern.test.items, key=_has_ref)
    tests = [{"t": pattern.type}] + [_durable_test(t) for t in ordered]
    alias = f"{pattern.alias}$not" if pattern.negated else pattern.alias
    return {alias: {"$and": tests} if len(tests) > 1 else tests[0]}


ALWAYS = "always"


def rule_ruleset(rule: CompiledRule) -> dict:
    """The engine ruleset of one rule: the rule, and a rule that fires once in every session (so no session
    is deleted without a fired rule). A session's cost grows with the patterns of its ruleset (the engine
    sets up a join memory for each), so a claim pays only for the rules it runs
    (scrubber.pipeline.engine.durable)."""
    return {ALWAYS: {"all": [{"g": {"t": "gate"}}]}, rule.name: {"all": [_durable_pattern(p) for p in rule.patterns]}}


def to_durable(program: Program) -> list[dict]:
    """The engine rulesets for a Program, one per rule, in the Program's order."""
    return [rule_ruleset(rule) for rule in program.rules]
