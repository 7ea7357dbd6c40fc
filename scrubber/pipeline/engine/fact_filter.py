"""Which of a claim's facts can take part in a match of which rule, decided before the engine is sent any.

A durable-rules pattern tests one fact at a time (a compiled Program's tests compare a fact's fields
with constants or with its own other fields; the facts of one claim are joined only through their
session), so a fact that passes none of a rule's patterns can be bound by none of them, and, passing
none, it cannot be what makes a negated pattern ("no line ...") false either: it changes nothing the
rule answers. Sending it still costs the engine its parsing, storing and alpha-network walk, and most
of a claim's facts are of this kind (with the shipped rules, a professional claim's sessions are sent
about 4 of its 17 facts: a diagnosis is read by rules on deleted or sex-conflicting codes, a line by
rules on units over the MUE, ...). And a rule one of whose patterns (negations aside) no fact passes
cannot fire at all: the engine (scrubber.pipeline.engine.durable) does not run it.

The patterns are decided with the engine's semantics (scrubber.ruleset.semantics, which the differential
tests hold the engine to). A pattern that requires a field to equal a constant is looked up by that
field's value, so a fact is tested whole only against the patterns whose constant it has, the patterns
on a field it has (or lacks) that they require, and the patterns without such a test.
"""
from __future__ import annotations

from typing import Callable, Iterable

from scrubber.ruleset.program import AllOf, AnyOf, Pattern, Test
from scrubber.ruleset.semantics import predicate

# Claim fields copied onto every line, and the claim type: the same on every fact of a claim, so they
# tell its facts apart less well than a field of the fact itself.
_SHARED_PREFIX = "claim__"

Predicate = Callable[[dict], bool]


def _shared(key: str) -> bool:
    return key.startswith(_SHARED_PREFIX) or key == "claim_type"


def _constant_eq(node: object) -> bool:
    return isinstance(node, Test) and node.op == "eq" and isinstance(node.value, (str, int, float))


def _equalities(node: object) -> list[tuple[str, object]]:
    """The (field, constant) pairs of which a fact must have one to pass `node`: a constant equality,
    or an any-of constant equalities (codes listed inline, a modifier in any of its four places)."""
    if _constant_eq(node):
        assert isinstance(node, Test)
        return [(node.key, node.value)]
    if isinstance(node, AnyOf) and node.items and all(_constant_eq(item) for item in node.items):
        return [(item.key, item.value) for item in node.items]
    return []


def _index_test(test: AllOf) -> tuple[str, object] | None:
    """The top-level test of a pattern that the filter looks facts up by: constant equalities first (the
    fact's own fields before those copied from the claim), then a field that must have a value, then one
    that must have none: ("eq", node), ("ex", key) or ("nex", key)."""
    def rank(node: object) -> tuple[bool, int]:
        if _equalities(node):
            return (any(_shared(key) for key, _ in _equalities(node)), 0)
        if isinstance(node, Test) and node.op in ("ex", "nex"):
            return (_shared(node.key), 1 if node.op == "ex" else 2)
        return (True, 3)
    best = min(test.items, key=rank, default=None)
    if best is None or rank(best)[1] == 3:
        return None
    if rank(best)[1] == 0:
        return ("eq", best)
    assert isinstance(best, Test)
    return (best.op, best.key)


class FactFilter:
    """Which of some patterns on one fact type (those of the rules a claim type runs) a fact passes, as a
    bit mask: each pattern is given with its bit (an int with one bit set)."""

    def __init__(self, patterns: Iterable[tuple[Pattern, int]]):
        by_value: dict[str, dict[object, list[tuple[Predicate, int]]]] = {}
        by_presence: dict[tuple[str, str], list[tuple[Predicate, int]]] = {}
        self.unindexed: list[tuple[Predicate, int]] = []  # patterns tested whole on every fact
        for pattern, bit in patterns:
            index = _index_test(pattern.test)
            if index is None:
                self.unindexed.append((predicate(pattern.test), bit))
                continue
            kind, what = index
            rest = predicate(AllOf(tuple(t for t in pattern.test.items if t is not what)))
            if kind == "eq":
                for key, value in _equalities(what):
                    by_value.setdefault(key, {}).setdefault(value, []).append((rest, bit))
            else:
                by_presence.setdefault((kind, str(what)), []).append((rest, bit))
        # a dict lookup decides `value == constant` as the engine does (equal numbers hash alike)
        self.by_value = [(key, {value: tuple(rests) for value, rests in values.items()})
                         for key, values in by_value.items()]
        self.present = [(key, tuple(rests)) for (kind, key), rests in by_presence.items() if kind == "ex"]
        self.absent = [(key, tuple(rests)) for (kind, key), rests in by_presence.items() if kind == "nex"]

    def mask(self, fact: dict) -> int:
        """The bits of the patterns this fact passes (0: none)."""
        get = fact.get
        found = 0
        for key, by_value in self.by_value:
            value = get(key)
            if value is None:
                continue
            try:
                rests = by_value.get(value)
            except TypeError:  # an unhashable value (a list) equals no constant
                continue
            if rests is not None:
                for rest, bit in rests:
                    if rest(fact):
                        found |= bit
        for key, rests in self.present:
            if get(key) is not None:
                for rest, bit in rests:
                    if rest(fact):
                        found |= bit
        for key, rests in self.absent:
            if get(key) is None:
                for rest, bit in rests:
                    if rest(fact):
                        found |= bit
        for whole, bit in self.unindexed:
            if whole(fact):
                found |= bit
        return found
