"""The reference evaluator: the same compiled Program, evaluated in plain Python.

It exists to check the engine: the differential tests run both on generated claims and rule
files and require identical findings. It follows the engine's semantics exactly (see
scrubber.ruleset.semantics.holds): a test on an absent value is false, a negated pattern holds
when no fact of its type passes it.
"""
from __future__ import annotations

from scrubber.ruleset.program import Pattern, Program
from scrubber.ruleset.semantics import holds
from scrubber.pipeline.engine import Activation


def _bind(patterns: tuple[Pattern, ...], index: int, bound: dict[str, dict], by_type: dict[str, list[dict]]):
    if index == len(patterns):
        yield dict(bound)
        return
    pattern = patterns[index]
    candidates = by_type.get(pattern.type, ())
    if pattern.negated:
        if not any(holds(pattern.test, fact) for fact in candidates):
            yield from _bind(patterns, index + 1, bound, by_type)
        return
    for fact in candidates:
        if holds(pattern.test, fact):
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


class ReferenceEvaluator:
    """The Evaluator protocol over `evaluate`, for a Scrubber that runs without the engine."""

    def __init__(self, program: Program):
        self.program = program

    def run(self, facts: list[dict]) -> list[Activation]:
        return evaluate(self.program, facts)

    def close(self) -> None:
        pass
