"""The compiled Program: patterns of tests over flat facts, in negation normal form, that both
evaluators run (the durable-rules engine through scrubber.ruleset.durable_json, and the plain
Python reference evaluator), with the flags enrichment computes for them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from scrubber.ruleset.fields import CATALOGUES, Field, Scope
from scrubber.ruleset.model import Rule


@dataclass(frozen=True)
class Ref:
    """The value of another field of the same fact, plus an offset (days for dates)."""

    key: str
    plus: int | float = 0


@dataclass(frozen=True)
class Test:
    op: str  # eq ne lt le gt ge mt ex nex
    key: str
    value: Any = None  # a literal, a Ref, or for mt a (durable pattern, python regex) pair


@dataclass(frozen=True)
class AnyOf:
    items: tuple


@dataclass(frozen=True)
class AllOf:
    items: tuple


@dataclass(frozen=True)
class Pattern:
    alias: str
    type: str
    test: AllOf
    negated: bool = False


@dataclass(frozen=True)
class Flag:
    """A value that enrichment puts on a fact for the engine to test: membership in a large set, a code
    pattern, or the number of lines that pass a test."""

    key: str
    fact_type: str
    kind: str  # "in" | "match" | "count" (lines of the claim that pass `test`)
    sources: tuple[str, ...]  # one key, or the slots of a list field (any slot counts)
    values: frozenset | None = None
    regex: str | None = None
    test: Any = None


@dataclass
class CompiledRule:
    name: str
    rule: Rule
    source: str
    scope: Scope
    patterns: tuple[Pattern, ...]
    primary: str
    line_aliases: tuple[str, ...]
    diagnosis_alias: str | None
    example_lines: tuple[int, ...] = ()  # where each example starts in the file
    listed_lines: tuple[str, ...] = ()  # line-list fields a line rule tests: its finding names those lines too


@dataclass
class Program:
    rules: list[CompiledRule]
    flags: list[Flag]
    needs: dict[str, set[str]]  # fact type -> keys the tests read
    by_name: dict[str, CompiledRule] = field(default_factory=dict)
    # per pair rule, the line fields it requires equal on both lines (None: some rule requires none)
    pair_keys: list[tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        self.by_name = {r.name: r for r in self.rules}
        pair_rules = [r for r in self.rules if r.scope == "pair"]
        keys = [_pair_join_keys(next(p.test for p in r.patterns if p.alias == r.primary)) for r in pair_rules]
        self.pair_keys = keys if all(keys) else None


def _pair_join_keys(test: "AllOf") -> tuple[str, ...]:
    """Line fields a pair rule requires equal on both lines (a.X eq b.X among its top-level tests)."""
    keys = set()
    for t in test.items:
        if isinstance(t, Test) and t.op == "eq" and isinstance(t.value, Ref) and not t.value.plus:
            left, right = t.key, t.value.key
            if {left[:3], right[:3]} == {"a__", "b__"} and left[3:] == right[3:]:
                keys.add(left[3:])
    return tuple(sorted(keys))


def tests_in(node: Any) -> Iterator[Test]:
    """The Tests of a test tree (AllOf, AnyOf, Test), depth first."""
    if isinstance(node, Test):
        yield node
    elif isinstance(node, (AnyOf, AllOf)):
        for item in node.items:
            yield from tests_in(item)


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def template_fields(template: str) -> list[str]:
    """The {name}s of a message template, in order."""
    return _PLACEHOLDER.findall(template)


def template_field(rule: CompiledRule, name: str) -> tuple[str, Field] | None:
    """Which matched fact (alias) and field a {name} in a message refers to."""
    if name.startswith("line.") and rule.line_aliases:
        fld = CATALOGUES["line"].get(name[5:])
        return (rule.line_aliases[0], fld) if fld else None
    if name.startswith("diagnosis.") and rule.diagnosis_alias:
        fld = CATALOGUES["diagnosis"].get(name[10:])
        return (rule.diagnosis_alias, fld) if fld else None
    fld = CATALOGUES[rule.scope].get(name)
    return (rule.primary, fld) if fld else None
