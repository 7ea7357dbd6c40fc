"""The rule compiler: checked rule files in, a Program out.

A Program (scrubber.ruleset.program) is a small intermediate form (patterns of tests over flat
facts, in negation normal form) that both evaluators run: the durable-rules engine (through
scrubber.ruleset.durable_json) and the plain Python reference evaluator. Everything the engine
cannot do safely is decided here:

- `not` is pushed down to the tests (a test on an absent value is false, as in the engine);
- value sets larger than INLINE_SET_LIMIT and negated code patterns become flags that
  enrichment computes before the engine runs (the engine hangs on long `in` lists and has no
  negated regex);
- every pattern stays within the engine's expression and regex limits (MAX_EXPRESSION_COST,
  MAX_PATTERN_LENGTH), and durable_json makes each rule an engine ruleset of its own;
- quantifiers over lines and diagnoses become joins (any, count) or gated negations (no, all).
"""
from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, cast

from scrubber.ruleset.fields import CATALOGUES, DOS_KEY, FACT_TYPE, ORDERED_TYPES, Field, Scope
from scrubber.ruleset.model import OPERATORS, QUANTIFIERS, Rule
from scrubber.ruleset.program import (AllOf, AnyOf, CompiledRule, Flag, Pattern, Program, Ref, Test, template_field,
                                      template_fields, tests_in)
from scrubber.ruleset.yaml_source import Document, Path_, Problem
from scrubber.errors import ScrubberError

INLINE_SET_LIMIT = 16
MAX_TESTS_PER_RULE = 200
MAX_RULES = 3000
MAX_PATTERNS_PER_RULE = 8
MAX_EXPRESSION_COST = 30  # the engine's limit is 31 per pattern
MAX_PATTERN_LENGTH = 24  # the engine's regex automaton has a fixed number of states

_NEGATED_OP = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le",
               "in": "not_in", "not_in": "in", "matches": "not_matches", "not_matches": "matches",
               "contains": "not_contains", "not_contains": "contains"}
_OP_ALIAS = {"before": "lt", "after": "gt", "on_or_before": "le", "on_or_after": "ge"}


# ----------------------------------------------------------------------------- code patterns


def code_pattern(pattern: str) -> tuple[str, str]:
    """An analyst's code pattern as (durable-rules dialect, Python regex).

    # a digit, @ a capital letter, ? any one character, * any characters, [A-V] one of a class;
    every other character stands for itself.
    """
    durable: list[str] = []
    python: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "#":
            piece = "%d", "[0-9]"
        elif ch == "@":
            piece = "[A-Z]", "[A-Z]"
        elif ch == "?":
            piece = ".", "."
        elif ch == "*":
            piece = ".*", ".*"
        elif ch == "[":
            end = pattern.find("]", i)
            body = pattern[i + 1:end] if end > i else ""
            if end < 0 or not body or not re.fullmatch(r"[A-Za-z0-9-]+", body) or body.startswith("-"):
                raise ValueError(f"'[' at position {i + 1} must start a class such as [A-V] or [0-9] closed by ']'")
            piece = f"[{body}]", f"[{body}]"
            i = end
        elif ch.isalnum() and ch.isascii():
            piece = ch, ch
        elif ch in " .-_/:":
            piece = "%" + ch, re.escape(ch)
        else:
            raise ValueError(f"the character {ch!r} cannot be used in a code pattern")
        durable.append(piece[0])
        python.append(piece[1])
        i += 1
    return "".join(durable), "".join(python)


# ----------------------------------------------------------------------------- compiling


class _Fail(ScrubberError):  # one condition cannot be compiled: a lint problem at its path
    def __init__(self, path: Path_, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass
class _Quantified:
    patterns: list[Pattern]
    line_aliases: list[str]
    diagnosis_alias: str | None = None


class Compiler:
    """Compiles the rules of one or more checked rule files into one Program."""

    def __init__(self, tables: dict[str, frozenset[str]] | None = None):
        self.tables = tables or {}
        self.problems: list[Problem] = []
        self.rules: list[CompiledRule] = []
        self.flags: dict[str, Flag] = {}
        self.needs: dict[str, set[str]] = {}
        self._compiled = 0

    # -- per file

    def add_file(self, doc: Document, rules: list[Rule], value_sets: dict[str, Any],
                 conditions: dict[str, Any], source: str, rule_paths: list[Path_]) -> None:
        sets = {}
        for name, members in value_sets.items():
            if isinstance(members, dict):
                table = members.get("table")
                if table not in self.tables:
                    known = ", ".join(sorted(self.tables)) or "none"
                    self.problems.append(doc.problem(("value_sets", name, "table"),
                                                     f"value set '{name}' names an unknown reference table "
                                                     f"'{table}' (known: {known})"))
                    continue
                sets[name] = self.tables[table]
            else:
                sets[name] = frozenset(members)
        ctx = _FileContext(doc, sets, conditions, source)
        for rule, path in zip(rules, rule_paths):
            try:
                compiled = self._compile_rule(ctx, rule, path)  # a disabled rule is checked all the same
            except _Fail as fail:
                self.problems.append(doc.problem(fail.path, fail.message, rule.id))
                continue
            if rule.enabled:
                self.rules.append(compiled)

    def program(self) -> Program:
        if len(self.rules) > MAX_RULES:
            self.problems.append(Problem("rules", 1, 1, f"{len(self.rules)} rules are loaded; the limit is "
                                         f"{MAX_RULES}. Move long code lists into value sets instead of one "
                                         "rule per code"))
        return Program(self.rules, list(self.flags.values()), self.needs)

    # -- per rule

    def _compile_rule(self, ctx: _FileContext, rule: Rule, path: Path_) -> CompiledRule:
        scope = cast(Scope, next(iter(rule.when)))
        condition = rule.when[scope]
        fact_type = FACT_TYPE[scope]
        primary = {"claim": "c", "line": "l", "diagnosis": "d", "provider": "p", "pair": "q"}[scope]
        state = _RuleState(ctx, scope, fact_type, path + ("when", scope))
        test, quantified = self._condition(state, condition, path + ("when", scope), negate=False, top=True)
        tests = list(_flat(AllOf, [test]).items)
        if rule.effective.from_ is not None:
            tests.append(Test("ge", DOS_KEY, rule.effective.from_.toordinal()))
        if rule.effective.to is not None:
            tests.append(Test("le", DOS_KEY, rule.effective.to.toordinal()))
        if rule.effective.from_ and rule.effective.to and rule.effective.to < rule.effective.from_:
            raise _Fail(path + ("effective",), "the rule ends ('to') before it starts ('from')")
        count = sum(_count_tests(t) for t in tests) + sum(_count_tests(p.test) for p in quantified.patterns)
        if count > MAX_TESTS_PER_RULE:
            raise _Fail(path + ("when",), f"this rule has {count} tests; the limit is {MAX_TESTS_PER_RULE}. "
                        "Put long code lists in a value set")
        if len(quantified.patterns) > MAX_PATTERNS_PER_RULE:
            raise _Fail(path + ("when",), "this rule joins too many lines and diagnoses; split it in two")
        self._need(fact_type, tests)
        # A rule with a negation waits for the gate fact, asserted last, so that it is decided once
        # every fact is in; other rules need no gate, and matching them alone is cheaper. Negations
        # come straight after the claim: after a positive pattern of the same type the engine misses
        # a negated fact that is also the one bound (measured with durable-rules 2.0.28).
        negations = [p for p in quantified.patterns if p.negated]
        patterns = [Pattern("g", "gate", AllOf(()))] if negations else []
        patterns += [Pattern(primary, fact_type, AllOf(tuple(tests))), *negations]
        patterns += [p for p in quantified.patterns if not p.negated]
        worst = max(expression_cost(p.test.items) for p in patterns)
        if worst > MAX_EXPRESSION_COST:
            raise _Fail(path + ("when",), f"this condition is too deeply grouped for the rules engine ({worst} "
                        f"expression slots, the limit is {MAX_EXPRESSION_COST}): every all/any group and every "
                        "comparison with another field takes slots. Split it into two rules, or put codes in a "
                        "value set")
        name = f"r{self._compiled}"
        self._compiled += 1
        compiled = CompiledRule(name, rule, ctx.source, scope, tuple(patterns), primary,
                                tuple(quantified.line_aliases), quantified.diagnosis_alias,
                                tuple(ctx.doc.where(path + ("examples", i))[0] for i in range(len(rule.examples))),
                                _listed_lines(scope, tests))
        shown = _check_template(state, rule.message, path + ("message",), compiled)
        if rule.field is not None:
            shown += _check_template(state, rule.field, path + ("field",), compiled)
        for alias, fld in shown:  # what a message shows is computed like what a test reads
            type_ = {"l1": "line", "d1": "dx"}.get(alias, fact_type)
            self.needs.setdefault(type_, set()).update(fld.slots or (fld.key,))
        return compiled

    def _need(self, fact_type: str, tests: Iterable[Any]) -> None:
        keys = self.needs.setdefault(fact_type, set())
        for test in tests:
            for t in tests_in(test):
                keys.add(t.key)
                if isinstance(t.value, Ref):
                    keys.add(t.value.key)

    # -- conditions

    def _condition(self, st: _RuleState, node: Any, path: Path_, negate: bool, top: bool):
        """Compile a condition node: returns (tests on the rule's own fact, quantified patterns)."""
        if not isinstance(node, dict) or not node:
            raise _Fail(path, "a condition must be a block of field tests or one of all / any / not / "
                              "condition" + (" / a quantifier such as any_line" if st.scope == "claim" else ""))
        special = [k for k in node if k in ("all", "any", "not", "condition", *QUANTIFIERS)]
        if special and len(node) > 1:
            raise _Fail(path + (special[0],), f"'{special[0]}' must stand alone in its block; put the other "
                                               f"tests inside an 'all' list")
        empty = _Quantified([], [])
        if special:
            key = special[0]
            value = node[key]
            here = path + (key,)
            if key in ("all", "any"):
                if not isinstance(value, list) or not value:
                    raise _Fail(here, f"'{key}' takes a list of conditions")
                conjunctive = (key == "all") != negate
                parts, quantified = [], _Quantified([], [])
                for index, item in enumerate(value):
                    test, q = self._condition(st, item, here + (index,), negate, top and conjunctive)
                    parts.append(test)
                    _merge(quantified, q)
                return _flat(AllOf if conjunctive else AnyOf, parts), quantified
            if key == "not":
                return self._condition(st, value, here, not negate, top)
            if key == "condition":
                return self._named(st, value, here, negate, top)
            return self._quantifier(st, key, value, here, negate, top)
        tests = []
        for name, spec in node.items():
            tests.extend(self._field_tests(st, str(name), spec, path + (name,), negate))
        return _flat(AnyOf if negate else AllOf, tests), empty

    def _named(self, st: _RuleState, name: Any, path: Path_, negate: bool, top: bool):
        named = st.ctx.conditions.get(name) if isinstance(name, str) else None
        if named is None:
            known = ", ".join(sorted(st.ctx.conditions)) or "none in this file"
            raise _Fail(path, f"there is no named condition '{name}' (known: {known})")
        if named.scope != st.scope:
            raise _Fail(path, f"condition '{name}' is written for {named.scope} scope but is used in a "
                              f"{st.scope} rule")
        if name in st.expanding:
            raise _Fail(path, f"condition '{name}' refers to itself")
        st.expanding.append(name)
        try:
            return self._condition(st, named.when, path, negate, top)
        except _Fail as fail:
            line, column = st.ctx.doc.where(("conditions", name, "when"))
            raise _Fail(path, f"in condition '{name}' (line {line}, column {column}): {fail.message}") from None
        finally:
            st.expanding.pop()

    def _quantifier(self, st: _RuleState, key: str, value: Any, path: Path_, negate: bool, top: bool):
        """any/no/all over lines or diagnoses, and count_lines. Returns (test on the claim, patterns).

        The engine joins the claim with at most one line and one diagnosis: joins of two facts of the
        same type crash it or lose matches (measured with durable-rules 2.0.28). So `count_lines` is
        a count that enrichment computes with the same test semantics, tested on the claim, plus one
        line pattern that names the matching lines in the finding."""
        if st.scope != "claim":
            raise _Fail(path, f"'{key}' can only be used in a claim rule; this rule looks at one {st.scope}")
        if not top:
            raise _Fail(path, f"'{key}' cannot be inside 'any' (or inside 'not' of 'all'); write two rules "
                              "instead")
        claim_test: Any = AllOf(())
        if key == "count_lines":
            if negate:
                raise _Fail(path, "'count_lines' cannot be negated; count the opposite condition instead")
            if not isinstance(value, dict) or set(value) != {"where", "at_least"}:
                raise _Fail(path, "'count_lines' needs 'where' (a line condition) and 'at_least' (a number)")
            n = value["at_least"]
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 999:
                raise _Fail(path + ("at_least",), "at_least must be a whole number from 1 to 999")
            kind: Scope = "line"
            where, positive, inner_negate = value["where"], True, False
        else:
            kind = "line" if "line" in key else "diagnosis"
            word = key.split("_")[0]  # any / no / all
            where = value
            # all X = no (not X); a surrounding not turns any into no and back
            positive = negate if word == "all" else (word == "any") != negate
            inner_negate = word == "all"
        sub = _RuleState(st.ctx, kind, FACT_TYPE[kind], path)
        sub.expanding = st.expanding
        test, nested = self._condition(sub, where, path + (("where",) if key == "count_lines" else ()),
                                       inner_negate, top=False)
        if nested.patterns:
            raise _Fail(path, "quantifiers cannot be nested")
        fact_type = FACT_TYPE[kind]
        self._need(fact_type, [test])
        base = _flat(AllOf, [test])
        if not positive:
            st.neg_count += 1
            pattern = Pattern(f"n{st.neg_count}", fact_type, base, negated=True)
            return claim_test, _Quantified([pattern], [])
        if st.positive.get(fact_type):
            raise _Fail(path, f"only one 'any_{kind}', 'all_{kind}s' or 'count_lines' is allowed per rule; "
                              "combine their conditions inside one")
        st.positive[fact_type] = True
        if key == "count_lines":
            count_key = self._flag(st, "count", (), path, test=base, positive=True).key
            self.needs.setdefault("claim", set()).add(count_key)
            claim_test = Test("ge", count_key, value["at_least"])
        alias = "l1" if kind == "line" else "d1"
        pattern = Pattern(alias, fact_type, base)
        if kind == "line":
            return claim_test, _Quantified([pattern], [alias])
        return claim_test, _Quantified([pattern], [], alias)

    # -- field tests

    def _field_tests(self, st: _RuleState, name: str, spec: Any, path: Path_, negate: bool) -> list[Any]:
        catalogue = CATALOGUES[st.scope]
        fld = catalogue.get(name)
        if fld is None:
            raise _Fail(path, _unknown_field(name, st.scope))
        if not isinstance(spec, dict):
            spec = {"eq": spec}
            spec_path = path
        else:
            spec_path = None
        if not spec:
            raise _Fail(path, f"'{name}' needs a test such as eq, in or present")
        out = []
        for raw_op, value in spec.items():
            here = spec_path or path + (raw_op,)
            op = _OP_ALIAS.get(raw_op, raw_op)
            if op not in _NEGATED_OP and op != "present":
                raise _Fail(here, f"'{raw_op}' is not a test; use one of: {', '.join(OPERATORS)}")
            if negate:
                if op == "present":
                    value = _as_bool(value, here, "present")
                    value = not value
                else:
                    op = _NEGATED_OP[op]
            out.append(self._field_test(st, fld, op, raw_op, value, here))
        return out

    def _field_test(self, st: _RuleState, fld: Field, op: str, raw_op: str, value: Any, path: Path_) -> Any:
        if op == "present":
            present = _as_bool(value, path, "present")
            if fld.slots:
                return Test("ne" if present else "eq", fld.slots[0], "")
            return Test("ex" if present else "nex", fld.key, 1)
        if fld.slots:
            if op not in ("contains", "not_contains"):
                raise _Fail(path, f"'{fld.name}' is a list: test it with contains / not_contains / present")
            values = self._values(st, fld, value, path, allow_single=True)
            return self._membership(st, fld, values, op == "contains", path)
        if op in ("contains", "not_contains"):
            raise _Fail(path, f"'{raw_op}' is for lists such as modifiers; for '{fld.name}' use eq or in")
        if op in ("in", "not_in"):
            values = self._values(st, fld, value, path, allow_single=False)
            return self._membership(st, fld, values, op == "in", path)
        if op in ("matches", "not_matches"):
            if fld.type != "text":
                raise _Fail(path, f"'{raw_op}' compares code shapes; '{fld.name}' is a {fld.type}")
            patterns = value if isinstance(value, list) else [value]
            if not patterns or not all(isinstance(p, str) and p for p in patterns):
                raise _Fail(path, f"'{raw_op}' takes a code pattern in quotes, such as \"@##.#\", or a list of them")
            compiled = []
            for p in patterns:
                if len(p) > MAX_PATTERN_LENGTH or p.count("*") > 2:
                    raise _Fail(path, f"code pattern {p!r} is too long for the rules engine (at most "
                                      f"{MAX_PATTERN_LENGTH} characters and two '*'); use a value set of codes")
                try:
                    compiled.append(code_pattern(p))
                except ValueError as exc:
                    raise _Fail(path, f"code pattern {p!r}: {exc}") from None
            if op == "matches":
                tests = tuple(Test("mt", fld.key, c) for c in compiled)
                return tests[0] if len(tests) == 1 else AnyOf(tests)
            regex = "|".join(f"(?:{c[1]})" for c in compiled)
            return self._flag(st, "match", (fld.key,), path, regex=regex, positive=False)
        if op in ("lt", "le", "gt", "ge") and fld.type not in ORDERED_TYPES:
            raise _Fail(path, f"'{raw_op}' needs a date, amount or number; '{fld.name}' is {fld.type}")
        if isinstance(value, dict):
            ref = self._ref(st, fld, value, path)
            # the engine treats a comparison with an absent field as true: require it present
            return AllOf((Test("ex", ref.key, 1), Test(op, fld.key, ref)))
        return Test(op, fld.key, _literal(fld, value, path))

    def _ref(self, st: _RuleState, fld: Field, value: dict, path: Path_) -> Ref:
        if set(value) - {"field", "plus"} or "field" not in value:
            raise _Fail(path, "compare with another field as {field: name} or {field: name, plus: N}")
        other = CATALOGUES[st.scope].get(str(value["field"]))
        if other is None:
            raise _Fail(path + ("field",), _unknown_field(str(value["field"]), st.scope))
        numeric = {"number", "integer"}
        if not (other.type == fld.type or (other.type in numeric and fld.type in numeric)) or other.slots:
            raise _Fail(path + ("field",), f"'{fld.name}' ({fld.type}) cannot be compared with "
                                           f"'{other.name}' ({other.type})")
        plus = value.get("plus", 0)
        if isinstance(plus, bool) or not isinstance(plus, (int, float)):
            raise _Fail(path + ("plus",), "plus must be a number (days for dates)")
        if plus and fld.type not in ORDERED_TYPES:
            raise _Fail(path + ("plus",), f"plus only applies to dates and numbers, not {fld.type}")
        if fld.type == "money":
            plus = int(round(plus * 100))
        elif fld.type in ("date", "integer"):
            if plus != int(plus):
                raise _Fail(path + ("plus",), "plus must be a whole number of days")
            plus = int(plus)
        return Ref(other.key, plus)

    def _values(self, st: _RuleState, fld: Field, value: Any, path: Path_, allow_single: bool) -> frozenset:
        if isinstance(value, str) and value.startswith("$"):
            members = st.ctx.sets.get(value[1:])
            if members is None:
                known = ", ".join("$" + s for s in sorted(st.ctx.sets)) or "none in this file"
                raise _Fail(path, f"there is no value set '{value}' (known: {known})")
            return frozenset(_literal(fld, m, path) for m in members)
        if isinstance(value, list):
            if not value:
                raise _Fail(path, "the list is empty")
            return frozenset(_literal(fld, m, path + (i,)) for i, m in enumerate(value))
        if allow_single:
            return frozenset([_literal(fld, value, path)])
        raise _Fail(path, "give a list such as [\"26\", \"TC\"] or a value set name such as $bilateral")

    def _membership(self, st: _RuleState, fld: Field, values: frozenset, positive: bool, path: Path_) -> Any:
        keys = fld.slots or (fld.key,)
        if len(values) * len(keys) > INLINE_SET_LIMIT:
            return self._flag(st, "in", keys, path, values=values, positive=positive)
        ordered = sorted(values, key=str)
        if positive:
            tests = tuple(Test("eq", k, v) for k in keys for v in ordered)
            return tests[0] if len(tests) == 1 else AnyOf(tests)
        tests = tuple(Test("ne", k, v) for k in keys for v in ordered)
        return tests[0] if len(tests) == 1 else AllOf(tests)

    def _flag(self, st: _RuleState, kind: str, sources: tuple[str, ...], path: Path_, *,
              values: frozenset | None = None, regex: str | None = None, test: Any = None,
              positive: bool) -> Test:
        fact_type = "claim" if kind == "count" else st.fact_type
        digest = hashlib.sha1(repr((kind, fact_type, sources, sorted(map(str, values or ())), regex, test))
                              .encode()).hexdigest()[:10]
        key = f"f_{digest}"
        if key not in self.flags:
            self.flags[key] = Flag(key, fact_type, kind, sources, values, regex, test)
            self.needs.setdefault(fact_type, set()).update(sources)
        return Test("eq", key, positive)


@dataclass
class _FileContext:
    doc: Document
    sets: dict[str, frozenset]
    conditions: dict[str, Any]
    source: str


@dataclass
class _RuleState:
    ctx: _FileContext
    scope: Scope
    fact_type: str
    path: Path_
    positive: dict[str, bool] = field(default_factory=dict)
    expanding: list[str] = field(default_factory=list)
    neg_count: int = 0


def _flat(kind: type[AllOf] | type[AnyOf], items: Iterable[Any]) -> Any:
    """AllOf/AnyOf with nested groups of the same kind merged and single items unwrapped: fewer
    groups means fewer engine expressions (see expression_cost)."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, kind) or (isinstance(item, (AllOf, AnyOf)) and len(item.items) == 1):
            out.extend(item.items)
        else:
            out.append(item)
    return out[0] if len(out) == 1 and kind is AnyOf else kind(tuple(out))


def expression_cost(pattern_tests: Iterable[Any]) -> int:
    """How many slots of the engine's per-pattern expression sequence a pattern takes: 2 for each
    $and/$or group (its own and the pattern's), 1 for each comparison with another field. The engine
    refuses a ruleset (error 113) when a pattern reaches MAX_SEQUENCE_EXPRESSIONS (32)."""
    def cost(node: Any) -> int:
        if isinstance(node, (AllOf, AnyOf)):
            return 2 + sum(cost(i) for i in node.items)
        return 1 if isinstance(node.value, Ref) else 0
    return 2 + sum(cost(t) for t in pattern_tests)


def _merge(into: _Quantified, other: _Quantified) -> None:
    into.patterns.extend(other.patterns)
    into.line_aliases.extend(other.line_aliases)
    into.diagnosis_alias = into.diagnosis_alias or other.diagnosis_alias


def _listed_lines(scope: Scope, tests: list[Any]) -> tuple[str, ...]:
    """The line-list fields (fields.Field.line_list) a line rule tests."""
    if scope != "line":
        return ()
    catalogue = CATALOGUES["line"].fields
    keys = {t.key for test in tests for t in tests_in(test)}
    return tuple(sorted(f.key for f in catalogue.values() if f.line_list and f.key in keys))


def _count_tests(node: Any) -> int:
    return sum(1 for _ in tests_in(node))


def _as_bool(value: Any, path: Path_, what: str) -> bool:
    if not isinstance(value, bool):
        raise _Fail(path, f"'{what}' takes true or false")
    return value


def _unknown_field(name: str, scope: str) -> str:
    names = list(CATALOGUES[scope].fields)  # type: ignore[index]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else \
        f"; fields of a {scope} rule are: {', '.join(n for n in names if not n.startswith(('claim.', 'a.', 'b.')))}"
    return f"there is no field '{name}' in a {scope} rule{hint}"


def _literal(fld: Field, value: Any, path: Path_) -> Any:
    """A literal from YAML as it is stored on facts: dates as day numbers, money as cents."""
    kind = fld.type
    if kind == "text":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise _Fail(path, f"write {value!r} in quotes: codes are text, and YAML reads 02 as the number 2")
        raise _Fail(path, f"'{fld.name}' is text: write the value in quotes")
    if kind == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.toordinal()
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value).toordinal()
            except ValueError:
                pass
        raise _Fail(path, f"'{fld.name}' is a date: write it as YYYY-MM-DD")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise _Fail(path, f"'{fld.name}' is true or false")
    if isinstance(value, bool):
        raise _Fail(path, f"'{fld.name}' is a {'amount' if kind == 'money' else 'number'}, not true/false")
    if kind == "money":
        try:
            cents = Decimal(str(value)) * 100
        except InvalidOperation:
            raise _Fail(path, f"'{fld.name}' is an amount such as 125.00") from None
        if cents != cents.to_integral_value():
            raise _Fail(path, "amounts have at most 2 decimal places")
        return int(cents)
    if kind == "integer":
        if isinstance(value, int):
            return value
        raise _Fail(path, f"'{fld.name}' is a whole number")
    if isinstance(value, (int, float)):
        return value
    raise _Fail(path, f"'{fld.name}' is a number")


def _check_template(st: _RuleState, template: str, path: Path_, rule: CompiledRule) -> list[tuple[str, Field]]:
    """The (alias, field) of every {name} in a message, or a problem for a name that cannot be shown."""
    shown = []
    for name in template_fields(template):
        found = template_field(rule, name)
        if found is not None:
            shown.append(found)
        if found is not None and found[1].phi:
            raise _Fail(path, f"{{{name}}} is protected health information: a rule may test it, but a message "
                              "(which is stored and shown to billers) must not contain it")
        if found is None:
            raise _Fail(path, f"{{{name}}} names no field this rule can show; "
                              + _unknown_field(name.removeprefix("line.").removeprefix("diagnosis."),
                                               "line" if name.startswith("line.") else
                                               "diagnosis" if name.startswith("diagnosis.") else st.scope))
    return shown
