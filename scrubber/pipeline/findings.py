"""Step 5 of the pipeline: fired rules (activations) in, the contract's findings out.

Both evaluators return activations in their own order; this step makes the result canonical:
a claim rule gives at most one finding (naming every line that made it fire), a pair rule one
finding per pair of lines whichever way round it matched, the others one per line, diagnosis or
provider (a line rule that tests a line-list field, such as duplicate_lines, names those lines
too). Messages are filled in from the full facts, dates and amounts written as a biller reads
them. Last, `cap` bounds what one claim reports (limits.MAX_FINDINGS_PER_CLAIM).
"""
from __future__ import annotations

import datetime as dt

from scrubber.contract.claim import Finding
from scrubber.ruleset.program import CompiledRule, Program, template_field, template_fields
from scrubber.pipeline.enrich.facts import Facts
from scrubber.pipeline.engine.durable import Activation
from scrubber.ruleset.fields import Field, parse_line_ranges
from scrubber.limits import MAX_FINDINGS_PER_CLAIM, MAX_LINE_PAIRS
from scrubber.ruleset.model import FINDINGS_TRUNCATED, PAIR_RULES_SKIPPED

_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def _full_fact(facts: Facts, fact_id: str) -> dict:
    kind, rest = fact_id[0], fact_id[1:]
    if kind == "c":
        return facts.claim
    if kind == "l":
        return facts.lines[int(rest)]
    if kind == "d":
        return facts.diagnoses[int(rest)]
    if kind == "p":
        return facts.providers[int(rest)]
    i, j = rest.split("_")
    return {"_pair": (facts.lines[int(i)], facts.lines[int(j)])}


def _raw_value(facts: Facts, fact: dict, fld: Field):
    key = fld.key
    if "_pair" in fact:
        a, b = fact["_pair"]
        if key.startswith("a__"):
            return _slots(a, fld) if fld.slots else a.get(key[3:])
        if key.startswith("b__"):
            return _slots(b, fld) if fld.slots else b.get(key[3:])
        if key == "same_modifiers":
            return sorted(_slots(a, fld)) == sorted(_slots(b, fld))
    if key.startswith("claim__"):
        return facts.claim.get(key[7:])
    return _slots(fact, fld) if fld.slots else fact.get(key)


def _slots(fact: dict, fld: Field) -> list[str]:
    return [fact[s.split("__")[-1]] for s in fld.slots if fact.get(s.split("__")[-1])]


def show(value, fld: Field) -> str:
    """A value as a biller reads it."""
    if value is None or value == []:
        return "(none)"
    if isinstance(value, list):
        return " ".join(value)
    if fld.type == "date":
        return dt.date.fromordinal(value).isoformat()
    if fld.type == "money":
        return f"{value / 100:.2f}"
    if fld.type == "boolean":
        return "yes" if value else "no"
    return str(value)


# What a message template shows: per distinct {name}, in order, the placeholder, the alias of the
# matched fact it reads and the field.
Plan = tuple[tuple[str, str, Field], ...]


def plan(template: str, rule: CompiledRule) -> Plan:
    """Which matched fact and field each {name} of a rule's template shows (read once per rule)."""
    found = []
    for name in dict.fromkeys(template_fields(template)):
        where = template_field(rule, name)
        assert where is not None, f"{{{name}}}: the loader checks every field a message names"
        found.append(("{" + name + "}", *where))
    return tuple(found)


def render(template: str, shown: Plan, bound: dict[str, dict], facts: Facts) -> str:
    out = template
    for placeholder, alias, fld in shown:
        fact = _full_fact(facts, bound[alias]["id"])
        out = out.replace(placeholder, show(_raw_value(facts, fact, fld), fld))
    return out


def _lines(rule: CompiledRule, bound: dict[str, dict], facts: Facts) -> list[int]:
    primary = _full_fact(facts, bound[rule.primary]["id"])
    if rule.scope == "line":
        if not rule.listed_lines:
            return [primary["line_number"]]
        numbers = {primary["line_number"]}
        for key in rule.listed_lines:
            if key in primary:
                numbers.update(parse_line_ranges(primary[key]))
        return sorted(numbers)
    if rule.scope == "pair":
        a, b = primary["_pair"]
        return sorted({a["line_number"], b["line_number"]})
    if rule.scope == "diagnosis":
        return list(facts.pointed_by[int(primary["id"][1:])])
    if rule.scope == "claim":
        return sorted({_full_fact(facts, bound[alias]["id"])["line_number"] for alias in rule.line_aliases})
    return []


Plans = dict[str, tuple[Plan, Plan]]  # rule name -> the plans of its message and of its field


def plans_of(program: Program) -> Plans:
    """What each rule's message and field show (a Scrubber reads them once for its Program)."""
    return {rule.name: (plan(rule.rule.message, rule), plan(rule.rule.field, rule) if rule.rule.field else ())
            for rule in program.rules}


def build_findings(program: Program, activations: list[Activation], facts: Facts,
                   plans: Plans | None = None) -> list[Finding]:
    """The findings of one claim's activations; `plans`: `plans_of(program)`, when already read."""
    plans = plans if plans is not None else plans_of(program)
    grouped: dict[tuple, list] = {}
    for name, bound in activations:
        rule = program.by_name[name]
        lines = _lines(rule, bound, facts)
        key: tuple[str] | tuple[str, tuple[int, ...]] | tuple[str, str]
        if rule.scope == "claim":
            key = (name,)
        elif rule.scope == "pair":
            key = (name, tuple(lines))
        else:
            key = (name, bound[rule.primary]["id"])
        # the activation a message is written from: the one naming the earliest lines
        order = tuple(sorted(b["id"] for b in bound.values()))
        grouped.setdefault(key, []).append((lines, order, bound))
    findings = []
    for key, matches in grouped.items():
        rule = program.by_name[key[0]]
        matches.sort(key=lambda m: (m[0], m[1]))
        lines, _, bound = matches[0]
        if rule.scope == "claim":
            lines = sorted({n for m in matches for n in m[0]})
        meta = rule.rule
        message_plan, field_plan = plans[key[0]]
        findings.append(Finding(
            rule_id=meta.id, category=meta.category, severity=meta.severity,
            message=render(meta.message, message_plan, bound, facts), lines=lines,
            field=render(meta.field, field_plan, bound, facts) if meta.field else None,
            carc=meta.carc, rarc=meta.rarc, suggestion=meta.suggestion, source=rule.source))
    findings.sort(key=lambda f: (_SEVERITY_RANK[f.severity], f.lines, f.rule_id, f.message))
    return findings


def pair_rules_skipped(program: Program) -> Finding:
    """The warning for a claim whose lines make too many pairs for the pair rules to be run."""
    ids = ", ".join(sorted({r.rule.id for r in program.rules if r.scope == "pair"}))
    return Finding(
        rule_id=PAIR_RULES_SKIPPED, category="format", severity="warning",
        message=f"The rules on pairs of lines ({ids}) were not run: this claim's lines make more than "
                f"{MAX_LINE_PAIRS:,} pairs on the same date of service",
        lines=[], field="lines", carc=None, rarc=None,
        suggestion="Split the claim into smaller claims, or merge repeated lines", source="scrubber")


def cap(findings: list[Finding], limit: int = MAX_FINDINGS_PER_CLAIM) -> list[Finding]:
    """At most `limit` findings: past it, the `limit - 1` most severe (errors, then warnings, then
    infos; within a severity the first ones), still in their usual order, then one finding that
    says how many more there were: an error if an error was left out, else a warning."""
    if len(findings) <= limit:
        return findings
    ranked = sorted(range(len(findings)), key=lambda i: (_SEVERITY_RANK[findings[i].severity], i))
    kept = sorted(ranked[:limit - 1])
    dropped = [findings[i] for i in ranked[limit - 1:]]
    severity = "error" if any(f.severity == "error" for f in dropped) else "warning"
    return [findings[i] for i in kept] + [Finding(
        rule_id=FINDINGS_TRUNCATED, category="format", severity=severity,
        message=f"{len(dropped)} more findings were not reported: fix the ones above and scrub again",
        lines=[], field=None, carc=None, rarc=None,
        suggestion="Fix the findings listed, then scrub the claim again to see the rest", source="scrubber")]


def status(findings: list[Finding]) -> str:
    severities = {f.severity for f in findings}
    return "fail" if "error" in severities else "warn" if "warning" in severities else "pass"
