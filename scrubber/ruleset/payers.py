"""Payer profiles: the base rule set as each payer applies it, plus the payer's own facts.

A profile (`payers/<id>.yaml`, schema `openapi/payer-file.schema.json`) extends the base rules
(`rules/`): it appends to or replaces base value sets, disables or overrides base rules by id,
and declares payer facts that become rules in the same rule language (scrubber.ruleset.payer_rules:
timely filing, prior authorization, coverage, not covered, frequency), so they run in the same
engine, with the same lint, examples and findings; `rules:` holds payer-specific rules as written.

A Deployment is the base rule set plus one compiled rule set per payer; claim.payer.id picks
the one a claim is scrubbed with. An unknown payer gets the base rules and a warning finding.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from scrubber.refdata import codesets
from scrubber.ruleset.compiler import Compiler
from scrubber.ruleset.loader import (RuleSet, RuleSetError, _check_examples, _data_path, _plain_words, compile_checked,
                                     load_model, parse_rule_texts, read_texts, revision_of)
from scrubber.ruleset.model import RESERVED_RULE_IDS, FrequencyLimit, PayerFile, Rule, RuleFile, reserved_id_message
from scrubber.ruleset.payer_rules import payer_rules
from scrubber.ruleset.yaml_source import Document, Problem



@dataclass
class PayerProfile:
    id: str
    name: str
    file: str
    model: PayerFile
    ruleset: RuleSet

    @property
    def frequency(self) -> list[FrequencyLimit]:
        return list(self.model.frequency)


@dataclass
class Deployment:
    """The rules in force: the base rule set and each payer's."""

    base: RuleSet
    payers: dict[str, PayerProfile] = field(default_factory=dict)
    revision: str = ""
    sources: dict[str, str] = field(default_factory=dict)  # every file, rules/ and payers/, as loaded
    payer_files: set[str] = field(default_factory=set)  # the names in sources that are payer profiles

    def split(self, sources: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(rule files, payer files) of these sources (default: this deployment's): a name is a payer
        profile when it was one here or starts with payers/. The order is kept (a new file last)."""
        sources = self.sources if sources is None else sources
        is_payer = [n in self.payer_files or n.startswith("payers/") for n in sources]
        items = list(sources.items())
        return ([item for item, payer in zip(items, is_payer) if not payer],
                [item for item, payer in zip(items, is_payer) if payer])

    def rulesets(self) -> list[tuple[str | None, RuleSet]]:
        return [(None, self.base)] + [(p.id, p.ruleset) for p in self.payers.values()]


# ----------------------------------------------------------------------------- loading

def load_deployment(rules_dir: str | Path, payers_dir: str | Path | None, *,
                    tables: dict[str, frozenset[str]] | None = None) -> Deployment:
    rule_texts = read_texts(rules_dir)
    if not rule_texts:
        raise RuleSetError([Problem(str(rules_dir), 1, 1, "no rule files (*.yaml) found here")])
    payer_texts = read_texts(payers_dir, "payers") if payers_dir else []
    return load_deployment_texts(rule_texts, payer_texts, tables=tables, root=str(rules_dir))


def load_deployment_texts(rule_texts: list[tuple[str, str]], payer_texts: list[tuple[str, str]], *,
                          tables: dict[str, frozenset[str]] | None = None, root: str = "rules") -> Deployment:
    """Check and compile the base rules and every payer profile; all problems of all files are
    reported together (RuleSetError) and nothing is loaded when there is one."""
    tables = codesets.tables() if tables is None else tables
    checked, problems, seen = parse_rule_texts(rule_texts)
    base = None
    try:  # the valid files are compiled even when others have problems: every problem is reported
        base = compile_checked(checked, rule_texts, tables, root)
    except RuleSetError as exc:
        problems.extend(exc.problems)
    payers: dict[str, PayerProfile] = {}
    payer_first: dict[str, str] = {}
    for name, text in payer_texts:
        loaded = load_model(name, text, PayerFile, problems)
        if loaded is None:
            continue
        doc, model = loaded
        if model.payer.id in payer_first:
            problems.append(doc.problem(("payer", "id"), f"payer '{model.payer.id}' already has a profile in "
                                        f"{payer_first[model.payer.id]}; one file per payer"))
            continue
        payer_first[model.payer.id] = name
        if base is None:
            continue  # the base rules have problems: those come first
        found: list[Problem] = []
        ruleset = _payer_ruleset(checked, seen, doc, model, name, tables, found)
        problems.extend(found)
        if ruleset is not None:
            payers[model.payer.id] = PayerProfile(model.payer.id, model.payer.name, name, model, ruleset)
    if problems or base is None:
        raise RuleSetError(sorted(problems, key=lambda p: (p.file, p.line, p.column)))
    revision = revision_of((n, t.encode()) for n, t in rule_texts + payer_texts)
    # (a base file with problems stops here, so payers are only built over a valid base)
    base.revision = revision
    for profile in payers.values():
        profile.ruleset.revision = revision
    return Deployment(base, payers, revision, dict(rule_texts + payer_texts), {n for n, _ in payer_texts})


def _family(rule: Rule, payer: PayerFile, override: dict | None = None) -> Rule:
    """A base rule as the payer's `requirements:` (or `payment_policy:`) set its family (its category): on,
    off or at a severity. An override that sets `enabled` or `severity` itself keeps its own."""
    setting = payer.requirements.setting(rule.category) or payer.payment_policy.setting(rule.category)
    if setting is None:
        return rule
    on, severity = setting
    changes: dict = {}
    if override is None or "enabled" not in override:
        changes["enabled"] = on
    if severity is not None and (override is None or "severity" not in override):
        changes["severity"] = severity
    return rule.model_copy(update=changes) if changes else rule


def _payer_ruleset(checked: list[tuple[Document, RuleFile]], seen: dict[str, Problem], doc: Document,
                   payer: PayerFile, name: str, tables, problems: list[Problem]) -> RuleSet | None:
    base_rules = {rule.id: (f, r) for f, (_, model) in enumerate(checked) for r, rule in enumerate(model.rules)}
    disabled: set[str] = set()
    for i, rule_id in enumerate(payer.disable):
        if rule_id not in base_rules:
            problems.append(doc.problem(("disable", i), f"'{rule_id}' is not a base rule id; nothing to disable"))
        disabled.add(rule_id)
    # value sets: changed copies, per base file
    value_sets = [dict(model.value_sets) for _, model in checked]
    for set_name, change in payer.value_sets.items():
        owners = [f for f, sets in enumerate(value_sets) if set_name in sets]
        if not owners:
            problems.append(doc.problem(("value_sets", set_name), f"no base rule file has a value set named "
                                        f"'{set_name}'"))
            continue
        if (change.append is None) == (change.replace is None):
            problems.append(doc.problem(("value_sets", set_name), "give either 'append' or 'replace'"))
            continue
        for f in owners:
            current = value_sets[f][set_name]
            if isinstance(current, dict):
                problems.append(doc.problem(("value_sets", set_name), f"'{set_name}' is a reference table; it "
                                            "cannot be changed here"))
                break
            value_sets[f][set_name] = (list(current) + list(change.append)) if change.append is not None \
                else list(change.replace or ())
    # overrides: the base rule with the settings that differ
    overrides: dict[int, list[tuple[Rule, tuple]]] = {}
    for i, override in enumerate(payer.overrides):
        base_id = override.get("id")
        if base_id not in base_rules:
            problems.append(doc.problem(("overrides", i, "id"), f"'{base_id}' is not a base rule id; an override "
                                        "changes a rule of rules/ (write a payer rule under 'rules:' instead)"))
            continue
        if base_id in disabled:
            problems.append(doc.problem(("overrides", i, "id"), f"'{base_id}' is both disabled and overridden"))
            continue
        f, r = base_rules[base_id]
        base_rule = checked[f][1].rules[r]
        if "when" in override and override["when"] != base_rule.when and "examples" not in override:
            problems.append(doc.problem(("overrides", i, "when"), f"this override changes when '{base_id}' "
                                        "fires, so it needs its own 'examples' (the base rule's no longer prove it)"))
            continue
        merged = {**base_rule.model_dump(by_alias=True, exclude_unset=True), **override}
        try:
            rule = Rule.model_validate(merged)
        except ValidationError as exc:
            for err in exc.errors():
                path = ("overrides", i) + _data_path(override, err["loc"])
                problems.append(doc.problem(path, _plain_words(dict(err), path), base_id))
            continue
        overrides.setdefault(f, []).append((rule, ("overrides", i)))
    generated = list(payer_rules(payer))
    all_sets = {k: v for sets in value_sets for k, v in sets.items()}
    ids = {rule_id for rule_id in base_rules if rule_id not in disabled}
    own = [(rule, ("rules", i)) for i, rule in enumerate(payer.rules)] + generated
    for rule, path in own:
        if rule.id in RESERVED_RULE_IDS:
            problems.append(doc.problem(path + ("id",) if path[0] == "rules" else path, reserved_id_message(rule.id)))
        elif rule.id in ids:
            problems.append(doc.problem(path + ("id",) if path[0] == "rules" else path,
                                        f"rule id '{rule.id}' is already used; ids must be unique across the "
                                        "base rules and this profile"))
        ids.add(rule.id)
    if problems:
        return None
    compiler = Compiler(tables)
    replaced = {rule.id for group in overrides.values() for rule, _ in group}
    for f, (base_doc, model) in enumerate(checked):
        kept = [(r, rule) for r, rule in enumerate(model.rules) if rule.id not in disabled and rule.id not in replaced]
        compiler.add_file(base_doc, [_family(rule, payer) for _, rule in kept], value_sets[f], model.conditions,
                          base_doc.file, [("rules", r) for r, _ in kept])
        if f in overrides:
            compiler.add_file(doc, [_family(rule, payer, payer.overrides[path[1]]) for rule, path in overrides[f]],
                              value_sets[f], model.conditions, name, [path for _, path in overrides[f]])
    compiler.add_file(doc, [rule for rule, _ in own], all_sets, {}, name, [path for _, path in own])
    problems.extend(compiler.problems)
    known = {rule_id: True for rule_id in ids}
    own_file = RuleFile(schema_version=1, rules=[rule for rule, _ in own])
    problems.extend(_check_examples(doc, own_file, known))
    if problems:
        return None
    texts = [(base_doc.file, "") for base_doc, _ in checked] + [(name, "")]
    return RuleSet("", compiler.program(), [n for n, _ in texts], "payers", {})
