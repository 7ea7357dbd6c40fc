"""Step 4 of the pipeline: the durable-rules C engine, driven directly.

The stock `durable.lang` Host is not used: its timer threads crash under a threaded server and
it delivers findings late (shared/durable-rules.md). Each rule is a ruleset of its own, and a claim
runs only the rulesets whose rule can fire on it: each of the rule's patterns (negations aside) is
passed by one of the claim's facts (scrubber.pipeline.engine.fact_filter). Each such ruleset gets a
session of the claim's own: the facts that pass one of its patterns, and the gate fact last, are
asserted in one batch, every fired activation is read back synchronously, and the session is deleted
in `finally`. A rule on the gate alone fires in every session, so the engine never deletes a session
in which nothing fired.

Why one ruleset per rule: the engine sets up a join memory of some 10 KB for every pattern of a ruleset
in every session it opens, whatever is asserted, so a session of a ruleset of 60 rules costs about
25 µs before any fact is matched; a claim that opens the sessions of its few candidate rules only
(about 3 with the shipped rules) costs a fraction of that, and sends each fact only where it can match.

The C code holds the GIL and has no locks of its own, so one lock serialises the calls: threads add no
throughput (scale with processes), and at most one session is ever alive per ruleset.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Mapping

import orjson
import threading

import durable_rules_engine as _engine

from scrubber.ruleset.durable_json import ALWAYS, rule_ruleset
from scrubber.ruleset.program import CompiledRule, Pattern, Program, Test
from scrubber.errors import ScrubberError
from scrubber.pipeline.engine import Activation
from scrubber.pipeline.engine.fact_filter import FactFilter


_ruleset_names = itertools.count(1)
GATE = "gate"  # the type of the fact asserted last, which rules with a negation wait for


def _keys_read(node: object, keys: set[str]) -> None:
    """The fact keys a durable-rules test reads: its field names and the fields it compares with ($m)."""
    if isinstance(node, list):
        for item in node:
            _keys_read(item, keys)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "$m":
                keys.add(value)
            elif not key.startswith("$"):
                keys.add(key)
            _keys_read(value, keys)


def _patterns(rule: dict) -> list[tuple[str, dict]]:
    """A durable-rules rule's patterns: (the fact type each matches, its test)."""
    found = []
    for pattern in rule["all"]:
        (test,) = pattern.values()
        first = test["$and"][0] if "$and" in test else test
        found.append((first["t"], test))
    return found


def keys_by_type(ruleset: dict) -> dict[str, frozenset[str]]:
    """Per fact type an engine ruleset matches, the keys its rules read, with the identity keys (id, t):
    all the engine needs of a fact (with the session id). A type no rule of the ruleset matches is absent."""
    found: dict[str, set[str]] = {}
    for rule in ruleset.values():
        for type_, test in _patterns(rule):
            _keys_read(test, found.setdefault(type_, {"id", "t"}))
    return {type_: frozenset(keys) for type_, keys in found.items()}


def can_fire(rule: CompiledRule, claim_type: str, absent: frozenset[str]) -> bool:
    """Whether a rule can fire on a claim of this type: not when one of its (positive) patterns
    requires the claim's type to be another one, or tests a field that facts of such a claim never
    have (`absent`; a test on an absent value is false, `nex` aside)."""
    for pattern in rule.patterns:
        if pattern.negated:
            continue
        for test in pattern.test.items:
            if not isinstance(test, Test) or test.op == "nex":
                continue
            key = test.key[7:] if test.key.startswith("claim__") else test.key
            if key == "claim_type" and test.op == "eq" and test.value != claim_type:
                return False
            if key in absent:
                return False
    return True


def _trimmed(fact: dict, wanted: tuple[str, ...], sid: str) -> dict:
    """The keys of a fact that a ruleset reads, and the session id."""
    sent = {k: fact[k] for k in wanted if k in fact}
    sent["sid"] = sid
    return sent


class EngineError(ScrubberError, RuntimeError):
    pass


@dataclass(frozen=True)
class _Ruleset:
    """The engine ruleset of one rule: its handle, what the rule reads of each fact type, the bits of its
    patterns and of those a fact must pass for the rule to fire (its patterns but negations and the gate)."""
    rule: str  # the engine's name of the rule (CompiledRule.name)
    handle: int
    keys: dict[str, tuple[str, ...]]
    patterns: int
    required: int


@dataclass
class _ClaimKind:
    """The rulesets a claim of one type runs, and which of their patterns a fact of each type passes."""
    rulesets: list[_Ruleset] = field(default_factory=list)
    filters: dict[str, FactFilter] = field(default_factory=dict)
    owner: list[int] = field(default_factory=list)  # per pattern bit, the index of its ruleset


class Engine:
    """A compiled Program loaded into the C engine, one ruleset per rule (see the module's docstring).

    With `claim_types` (claim type -> the fact keys a claim of that type never has), each claim type
    gets rulesets of its own, without the rules that cannot fire on it (`can_fire`: the hospital and
    I/OCE rules on a professional claim). A claim's type is read from its claim fact (the first).
    Without `claim_types`, every claim is a candidate for every rule."""

    def __init__(self, program: Program, claim_types: Mapping[str, frozenset[str]] | None = None):
        self.program = program
        self._lock = threading.Lock()
        self._sessions = itertools.count(1)
        self._handles: list[int] = []
        self._by_rule: dict[str, int] = {}  # rule name -> its ruleset's handle
        self._closed = False
        self._kinds: dict[str | None, _ClaimKind] = {}  # claim type (None: any) -> its rulesets
        try:
            if not claim_types:
                self._kinds[None] = self._load(program.rules)
            for claim_type, absent in (claim_types or {}).items():
                self._kinds[claim_type] = self._load([rule for rule in program.rules
                                                      if can_fire(rule, claim_type, absent)])
        except BaseException:
            self.close()
            raise

    def _load(self, rules: list[CompiledRule]) -> _ClaimKind:
        """Compile rules into the engine, a ruleset each, and index their patterns by fact type."""
        kind = _ClaimKind()
        by_type: dict[str, list[tuple[Pattern, int]]] = {}
        for rule in rules:
            ruleset = rule_ruleset(rule)
            patterns = required = 0
            for pattern in rule.patterns:
                if pattern.type == GATE:
                    continue  # the gate fact goes to every session
                bit = 1 << len(kind.owner)
                kind.owner.append(len(kind.rulesets))
                by_type.setdefault(pattern.type, []).append((pattern, bit))
                patterns |= bit
                if not pattern.negated:
                    required |= bit
            handle = self._by_rule.get(rule.name)
            if handle is None:  # a rule both claim types can fire is compiled once (a claim is of one type)
                try:
                    handle = _engine.create_ruleset(f"scrub{next(_ruleset_names)}", json.dumps(ruleset))
                except _engine.error as exc:
                    raise EngineError(f"the rules engine refused rule {rule.rule.id} ({rule.source}): {exc}") from None
                self._handles.append(handle)
                self._by_rule[rule.name] = handle
            keys = {type_: tuple(sorted(keys)) for type_, keys in keys_by_type(ruleset).items()}
            kind.rulesets.append(_Ruleset(rule.name, handle, keys, patterns, required))
        kind.filters = {type_: FactFilter(found) for type_, found in by_type.items()}
        return kind

    def candidates(self, facts: list[dict]) -> tuple[list[_Ruleset], list[tuple[dict, int]]]:
        """The rulesets whose rule can fire on one claim's facts (each of its required patterns is passed by
        a fact), in the Program's order, and the facts that pass a pattern, with the bits of those patterns."""
        kind = self._kinds.get(facts[0].get("claim_type") if facts else None, self._kinds.get(None))
        if kind is None:
            raise EngineError(f"no rules are loaded for claims of type {facts[0].get('claim_type')!r}")
        filters = kind.filters
        passing = []
        passed = 0
        for fact in facts:
            only = filters.get(fact["t"])
            if only is not None and (mask := only.mask(fact)):
                passing.append((fact, mask))
                passed |= mask
        owners = set()
        bits = passed
        while bits:
            low = bits & -bits
            owners.add(kind.owner[low.bit_length() - 1])
            bits ^= low
        rulesets = [kind.rulesets[index] for index in sorted(owners)]
        return [r for r in rulesets if r.required & passed == r.required], passing

    def run(self, facts: list[dict]) -> list[Activation]:
        """Evaluate one claim's facts (unique ids, the gate fact last); what is sent carries this session's id
        (the facts given are not changed)."""
        activations: list[Activation] = []
        rulesets, passing = self.candidates(facts)
        gates = [fact for fact in facts if fact["t"] == GATE]
        with self._lock:
            if self._closed:  # running no rule would pass every claim
                raise EngineError("the rules engine was closed; a closed rule set cannot scrub")
            sid = str(next(self._sessions))
            for ruleset in rulesets:
                handle, keys, patterns = ruleset.handle, ruleset.keys, ruleset.patterns
                sent = [_trimmed(fact, keys[fact["t"]], sid) for fact, mask in passing if mask & patterns]
                sent += [_trimmed(gate, ("id", "t"), sid) for gate in gates]
                try:
                    code, state = _engine.assert_facts(handle, orjson.dumps(sent).decode())
                    if code == 2:
                        raise EngineError("two facts of one claim had the same id")
                    result = _engine.start_action_for_state(handle, state)
                    message = result[1] if result else None
                    while message:
                        for rule_name, matched in orjson.loads(message).items():
                            if rule_name != ALWAYS:
                                activations.append((rule_name, matched))
                        message = _engine.complete_and_start_action(handle, state)
                finally:
                    _engine.delete_state(handle, sid)
        return activations

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for handle in self._handles:
                _engine.delete_ruleset(handle)
            self._handles = []
