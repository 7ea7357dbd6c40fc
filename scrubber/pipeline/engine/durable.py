"""Step 4 of the pipeline: the durable-rules C engine, driven directly.

The stock `durable.lang` Host is not used: its timer threads crash under a threaded server and
it delivers findings late (shared/durable-rules.md). Here each claim gets its own session: its
facts (unique ids, the gate fact last) are asserted in one batch, every fired activation is read
back synchronously, and the session is deleted in `finally`. A rule on the gate alone fires in
every session, so the engine never deletes a session in which nothing fired. The C code holds the
GIL and has no locks of its own, so one lock serialises the calls: threads add no throughput
(scale with processes), and at most one session is ever alive per ruleset.
"""
from __future__ import annotations

import itertools
import json
from typing import Mapping

import orjson
import threading

import durable_rules_engine as _engine

from scrubber.ruleset.durable_json import ALWAYS, CHUNK_SIZE, to_durable
from scrubber.ruleset.program import CompiledRule, Program, Test
from scrubber.errors import ScrubberError
from scrubber.pipeline.engine import Activation


_ruleset_names = itertools.count(1)


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


def keys_by_type(chunk: dict) -> dict[str, frozenset[str]]:
    """Per fact type a ruleset (chunk) matches, the keys its rules read, with the identity keys (id, t):
    all the engine needs of a fact (with the session id). A type no rule of the chunk matches is absent."""
    found: dict[str, set[str]] = {}
    for rule in chunk.values():
        for type_, test in _patterns(rule):
            _keys_read(test, found.setdefault(type_, {"id", "t"}))
    return {type_: frozenset(keys) for type_, keys in found.items()}


# How many facts of each type a claim usually has: a rule is grouped with the others on its most numerous type.
_TYPE_WEIGHT = {"pair": 4, "line": 3, "dx": 3, "prov": 2, "claim": 1, "gate": 0}


def grouped_chunks(program: Program) -> list[dict]:
    """The engine rulesets for a Program (`to_durable`), with the rules regrouped by the fact type
    they read: every fact is trimmed, serialised and sent once per ruleset that reads its type, so the
    rules on lines are kept together, apart from those on diagnoses (a quarter fewer facts sent for
    the shipped rules; the C engine's own work per claim is the same either way, measured).
    The rules of each type are split into as few rulesets of at most CHUNK_SIZE as they fit in
    (evenly), then these groups are packed into rulesets of at most CHUNK_SIZE rules (first fit,
    largest first): a ruleset never holds more rules than `to_durable` puts in one."""
    chunks = to_durable(program)
    always = chunks[0][ALWAYS]
    rules = {name: rule for chunk in chunks for name, rule in chunk.items() if name != ALWAYS}
    by_type: dict[str, list[str]] = {}
    for name, rule in rules.items():
        home = max((type_ for type_, _ in _patterns(rule)), key=lambda t: _TYPE_WEIGHT.get(t, 4))
        by_type.setdefault(home, []).append(name)
    groups = []
    for names in by_type.values():
        size = -(-len(names) // -(-len(names) // CHUNK_SIZE))  # the fewest rulesets, evenly filled
        groups += [names[start:start + size] for start in range(0, len(names), size)]
    packed: list[list[str]] = []
    for group in sorted(groups, key=len, reverse=True):
        room = next((names for names in packed if len(names) + len(group) <= CHUNK_SIZE), None)
        if room is None:
            packed.append(list(group))
        else:
            room.extend(group)
    return [{ALWAYS: always, **{name: rules[name] for name in names}} for names in packed] or [{ALWAYS: always}]


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


class Engine:
    """A compiled Program loaded into the C engine (one or more rulesets).

    With `claim_types` (claim type -> the fact keys a claim of that type never has), each claim type
    gets rulesets of its own, without the rules that cannot fire on it (`can_fire`: the hospital and
    I/OCE rules on a professional claim): the engine's time per claim grows with the rules of each
    ruleset it runs, as well as with the facts (shared/durable-rules.md). A claim's type is read from
    its claim fact (the first). Without `claim_types`, every claim runs every rule."""

    def __init__(self, program: Program, claim_types: Mapping[str, frozenset[str]] | None = None):
        self.program = program
        self._lock = threading.Lock()
        self._sessions = itertools.count(1)
        self._handles: list[int] = []
        self._keys: list[dict[str, tuple[str, ...]]] = []  # per handle: what its rules read of each fact type
        # claim type (None: any) -> the indexes of its handles
        self._by_type: dict[str | None, range] = {}
        try:
            if not claim_types:
                self._by_type[None] = self._load(program)
            for claim_type, absent in (claim_types or {}).items():
                rules = [rule for rule in program.rules if can_fire(rule, claim_type, absent)]
                self._by_type[claim_type] = self._load(Program(rules, program.flags, program.needs))
        except BaseException:
            self.close()
            raise

    def _load(self, program: Program) -> range:
        """Compile a Program's rulesets into the engine; the indexes of their handles."""
        first = len(self._handles)
        for chunk in grouped_chunks(program):
            self._keys.append({type_: tuple(sorted(keys)) for type_, keys in keys_by_type(chunk).items()})
            try:
                self._handles.append(_engine.create_ruleset(f"scrub{next(_ruleset_names)}", json.dumps(chunk)))
            except _engine.error as exc:
                raise EngineError(self._culprit(chunk, exc)) from None
        return range(first, len(self._handles))

    def rulesets_for(self, claim_type: str | None) -> range:
        """The indexes of the handles a claim of this type runs."""
        found = self._by_type.get(claim_type, self._by_type.get(None))
        if found is None:
            raise EngineError(f"no rules are loaded for claims of type {claim_type!r}")
        return found

    @staticmethod
    def _culprit(chunk: dict, exc: Exception) -> str:
        """Which rule the engine refused: each rule of the refused chunk is tried alone."""
        for name, rule in chunk.items():
            if name == ALWAYS:
                continue
            try:
                handle = _engine.create_ruleset(f"probe{next(_ruleset_names)}", json.dumps({name: rule}))
                _engine.delete_ruleset(handle)
            except _engine.error as alone:
                return f"the rules engine refused rule {name}: {alone}"
        return f"the rules engine refused the rule set: {exc}"

    def run(self, facts: list[dict]) -> list[Activation]:
        """Evaluate one claim's facts (unique ids, the gate fact last); what is sent carries this session's id
        (the facts given are not changed)."""
        activations: list[Activation] = []
        indexes = self.rulesets_for(facts[0].get("claim_type") if facts else None)
        with self._lock:
            if not self._handles:  # closed: running no rule would pass every claim
                raise EngineError("the rules engine was closed; a closed rule set cannot scrub")
            sid = str(next(self._sessions))
            for index in indexes:
                handle, keys = self._handles[index], self._keys[index]
                # each ruleset gets only the facts and keys its rules read: the engine's time grows with
                # the size of what it is sent (about half the keys and a third of the facts are unread)
                payload = orjson.dumps([_trimmed(fact, wanted, sid) for fact in facts
                                        if (wanted := keys.get(fact["t"])) is not None]).decode()
                try:
                    code, state = _engine.assert_facts(handle, payload)
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
            for handle in self._handles:
                _engine.delete_ruleset(handle)
            self._handles = []
