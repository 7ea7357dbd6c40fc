"""Payer profiles: the base rule set as each payer applies it, plus the payer's own facts.

A profile (`payers/<id>.yaml`, schema `openapi/payer-file.schema.json`) extends the base rules
(`rules/`): it appends to or replaces base value sets, disables or overrides base rules by id,
and declares payer facts that become rules in the same rule language (so they run in the same
engine, with the same lint, examples and findings):

- timely_filing        -> `<payer>-timely-filing` (category timely_filing, CO-29)
- prior_authorization  -> one rule per list (prior_auth, CO-197)
- coverage             -> one rule per LCD/NCD-style policy (medical_necessity, CO-50 + N386/N115)
- not_covered          -> one rule per list (coverage, CO-96)
- frequency            -> one rule per limit (frequency, CO-119), counted over the claim history
- rules                -> payer-specific rules as written (payer_specific or any category)

Each generated rule carries examples made from its own data (a claim that must fire, one that
must not), so `scrubber rules test` proves every list, policy and limit end to end.

A Deployment is the base rule set plus one compiled rule set per payer; claim.payer.id picks
the one a claim is scrubbed with. An unknown payer gets the base rules and a warning finding.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from scrubber.ruleset.compiler import Compiler
from scrubber.ruleset.model import RESERVED_RULE_IDS, FrequencyLimit, PayerFile, Rule, RuleFile, reserved_id_message
from scrubber.ruleset.loader import (RuleSet, RuleSetError, _check_examples, _data_path, _plain_words, load_model,
                              parse_rule_texts, read_texts, revision_of)
from scrubber.ruleset.yaml_source import Document, Problem

SHIPPED_PAYERS = Path(__file__).resolve().parents[2] / "payers"


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
    from scrubber.refdata import codesets
    from scrubber.ruleset.loader import compile_checked

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
                else list(change.replace)
    # overrides: the base rule with the settings that differ
    overrides: dict[int, list[tuple[Rule, tuple]]] = {}
    for i, override in enumerate(payer.overrides):
        rule_id = override.get("id")
        if rule_id not in base_rules:
            problems.append(doc.problem(("overrides", i, "id"), f"'{rule_id}' is not a base rule id; an override "
                                        "changes a rule of rules/ (write a payer rule under 'rules:' instead)"))
            continue
        if rule_id in disabled:
            problems.append(doc.problem(("overrides", i, "id"), f"'{rule_id}' is both disabled and overridden"))
            continue
        f, r = base_rules[rule_id]
        base_rule = checked[f][1].rules[r]
        if "when" in override and override["when"] != base_rule.when and "examples" not in override:
            problems.append(doc.problem(("overrides", i, "when"), f"this override changes when '{rule_id}' "
                                        "fires, so it needs its own 'examples' (the base rule's no longer prove it)"))
            continue
        merged = {**base_rule.model_dump(by_alias=True, exclude_unset=True), **override}
        try:
            rule = Rule.model_validate(merged)
        except ValidationError as exc:
            for err in exc.errors():
                path = ("overrides", i) + _data_path(override, err["loc"])
                problems.append(doc.problem(path, _plain_words(err, path), rule_id))
            continue
        overrides.setdefault(f, []).append((rule, ("overrides", i)))
    generated = list(_generated(payer))
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
        compiler.add_file(base_doc, [rule for _, rule in kept], value_sets[f], model.conditions, base_doc.file,
                          [("rules", r) for r, _ in kept])
        if f in overrides:
            compiler.add_file(doc, [rule for rule, _ in overrides[f]], value_sets[f], model.conditions, name,
                              [path for _, path in overrides[f]])
    compiler.add_file(doc, [rule for rule, _ in own], all_sets, {}, name, [path for _, path in own])
    problems.extend(compiler.problems)
    known = {rule_id: True for rule_id in ids}
    own_file = RuleFile(schema_version=1, rules=[rule for rule, _ in own])
    problems.extend(_check_examples(doc, own_file, known))
    if problems:
        return None
    texts = [(base_doc.file, "") for base_doc, _ in checked] + [(name, "")]
    return RuleSet("", compiler.program(), [n for n, _ in texts], "payers", {})


# ----------------------------------------------------------------------------- payer facts as rules

def _effective(effective) -> dict[str, str]:
    out = {}
    if effective.from_:
        out["from"] = effective.from_.isoformat()
    if effective.to:
        out["to"] = effective.to.isoformat()
    return out


def _example_day(effective) -> dt.date:
    """A date of service inside the range (the examples' usual 2026-01-05 when it is)."""
    day = dt.date(2026, 1, 5)
    if effective.from_ and day < effective.from_:
        day = effective.from_
    if effective.to and day > effective.to:
        day = effective.to
    return day


def _rule(data: dict[str, Any]) -> Rule:
    return Rule.model_validate({k: v for k, v in data.items() if v not in (None, [], {})})


def _generated(payer: PayerFile):
    """(Rule, path in the payer file) for each payer fact."""
    pid, pname = payer.payer.id, payer.payer.name
    tf = payer.timely_filing
    if tf is not None and (tf.days or tf.months):
        day = _example_day(tf.effective)
        if tf.months:
            test, limit = {"months_to_submission": {"gt": tf.months}}, f"{tf.months} months"
            late = _add_months(day, tf.months) + dt.timedelta(days=1)
            in_time = _add_months(day, tf.months)
            measured = "{months_to_submission} months"
        else:
            test, limit = {"days_to_submission": {"gt": tf.days}}, f"{tf.days} days"
            late, in_time = day + dt.timedelta(days=tf.days + 1), day + dt.timedelta(days=tf.days)
            measured = "{days_to_submission} days"
        rule_id = f"{pid}-timely-filing"
        yield _rule({
            "id": rule_id, "title": f"{pname}: filed after the timely filing limit ({limit})",
            "category": "timely_filing", "severity": "error", "carc": "CO-29",
            "effective": _effective(tf.effective), "when": {"line": test},
            "message": f"Line {{line_number}} ({{procedure_code}}) of {{service_date}} is submitted {measured} "
                       f"after the date of service; {pname} accepts claims up to {limit} after it",
            "field": "submission_date",
            "suggestion": "If the delay was the payer's, or eligibility was granted retroactively, submit with "
                          "the proof the payer asks for; otherwise the service can no longer be billed",
            "references": [tf.reference] if tf.reference else [],
            "examples": [
                {"name": "submitted the day after the limit", "claim": {
                    "submission_date": late.isoformat(), "lines": [{"service_date": day.isoformat()}]},
                 "expect": [rule_id]},
                {"name": "submitted on the last day", "claim": {
                    "submission_date": in_time.isoformat(), "lines": [{"service_date": day.isoformat()}]},
                 "expect": []}]}), ("timely_filing",)
    for i, pa in enumerate(payer.prior_authorization):
        day = _example_day(pa.effective)
        codes = list(pa.codes)
        yield _rule({
            "id": pa.id, "title": f"{pname}: {pa.title}", "category": "prior_auth", "severity": "error",
            "carc": "CO-197", "effective": _effective(pa.effective),
            "when": {"line": {"all": [{"procedure_code": {"in": codes}},
                                      {"claim.prior_authorization": {"present": False}}]}},
            "message": f"Line {{line_number}}: {{procedure_code}} needs a prior authorization from {pname} "
                       f"({pa.title}) and the claim has no authorization number",
            "field": "prior_authorization",
            "suggestion": "Put the authorization number on the claim (837 REF*G1, CMS-1500 box 23); if there "
                          "is none, request a retro-authorization before billing",
            "references": [pa.reference] if pa.reference else [],
            "examples": [
                {"name": f"{codes[0]} without an authorization", "claim": {
                    "lines": [{"procedure_code": codes[0], "service_date": day.isoformat()}]}, "expect": [pa.id]},
                {"name": f"{codes[0]} with an authorization", "claim": {
                    "prior_authorization": "AUTH-0001",
                    "lines": [{"procedure_code": codes[0], "service_date": day.isoformat()}]}, "expect": []}]}), \
            ("prior_authorization", i)
    for i, policy in enumerate(payer.coverage):
        day = _example_day(policy.effective)
        codes = list(policy.codes)
        covered = policy.covered_diagnoses[0].replace("*", "").replace("?", "0")
        rarc = "N386" if policy.policy.upper().startswith("NCD") else "N115"
        yield _rule({
            "id": policy.id, "title": f"{pname}: {policy.title} ({policy.policy})", "category": "medical_necessity",
            "severity": "error", "carc": "CO-50", "rarc": rarc, "effective": _effective(policy.effective),
            "when": {"claim": {"all": [{"any_line": {"procedure_code": {"in": codes}}},
                                       {"no_diagnosis": {"code": {"matches": list(policy.covered_diagnoses)}}}]}},
            "message": f"{{line.procedure_code}} is covered by {pname} only for the diagnoses listed in "
                       f"{policy.policy} ({policy.title}); none of the claim's diagnoses is one of them",
            "field": "diagnoses",
            "suggestion": "If the record documents a covered indication, code it and point the line at it; "
                          "otherwise get an Advance Beneficiary Notice (modifier GA) or expect a denial",
            "references": [policy.reference] if policy.reference else [],
            "examples": [
                {"name": f"{codes[0]} for a routine examination", "claim": {
                    "diagnoses": [{"code": "Z00.00"}],
                    "lines": [{"procedure_code": codes[0], "service_date": day.isoformat()}]},
                 "expect": [policy.id]},
                {"name": f"{codes[0]} with a covered diagnosis", "claim": {
                    "diagnoses": [{"code": covered}],
                    "lines": [{"procedure_code": codes[0], "service_date": day.isoformat()}]}, "expect": []}]}), \
            ("coverage", i)
    for i, item in enumerate(payer.not_covered):
        day = _example_day(item.effective)
        codes = list(item.codes)
        yield _rule({
            "id": item.id, "title": f"{pname}: {item.title}", "category": "coverage", "severity": "error",
            "carc": "CO-96", "effective": _effective(item.effective),
            "when": {"line": {"procedure_code": {"in": codes}}},
            "message": f"Line {{line_number}}: {pname} does not cover {{procedure_code}} ({item.reason})",
            "field": "lines[{line_number}].procedure_code",
            "suggestion": "Bill the patient if they agreed in writing beforehand, or a covered alternative",
            "examples": [
                {"name": codes[0], "claim": {"lines": [{"procedure_code": codes[0],
                                                              "service_date": day.isoformat()}]},
                 "expect": [item.id]},
                {"name": "an office visit", "claim": {"lines": [{"service_date": day.isoformat()}]}, "expect": []}]}), \
            ("not_covered", i)
    for i, limit in enumerate(payer.frequency):
        day = _example_day(limit.effective)
        code = limit.codes[0]
        earlier = day - dt.timedelta(days=min(30, (limit.per.days or 31) - 1))
        if limit.per.calendar_year:
            earlier = max(earlier, dt.date(day.year, 1, 1))
        if limit.per.days:
            outside = day - dt.timedelta(days=limit.per.days)
        elif limit.per.calendar_year:
            outside = dt.date(day.year - 1, 12, 31)
        else:
            outside = None
        history = [{"claim_id": f"EARLIER-{n + 1}", "lines": [{"procedure_code": code,
                                                               "service_date": earlier.isoformat()}]}
                   for n in range(limit.limit)]
        examples = [{"name": f"{limit.limit + 1} services of {code} within the period", "history": history,
                     "claim": {"claim_id": "NEW", "lines": [{"procedure_code": code, "service_date": day.isoformat()}]},
                     "expect": [limit.id]},
                    {"name": "the first service", "claim": {
                        "lines": [{"procedure_code": code, "service_date": day.isoformat()}]}, "expect": []}]
        if outside is not None:
            examples.append({"name": "the earlier services fall outside the period", "history": [
                {**h, "lines": [{"procedure_code": code, "service_date": outside.isoformat()}]} for h in history],
                "claim": {"claim_id": "NEW", "lines": [{"procedure_code": code, "service_date": day.isoformat()}]},
                "expect": []})
        yield _rule({
            "id": limit.id, "title": f"{pname}: {limit.title}", "category": "frequency", "severity": "error",
            "carc": "CO-119", "effective": _effective(limit.effective),
            "when": {"line": {"frequency_limit": limit.id}},
            "message": "Line {line_number}: {procedure_code} {frequency_detail}",
            "field": "lines[{line_number}].procedure_code",
            "suggestion": "Check the patient's earlier services; bill only when the frequency allows it, or "
                          "document why this one is medically necessary",
            "references": [limit.reference] if limit.reference else [],
            "examples": examples}), ("frequency", i)


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


class Current:
    """The rules in force in the service, swapped atomically by a reload. A request takes the
    router with `use()` (or `hold()` ... `release()` around a stream) and keeps it to its end; a
    replaced router closes its engines once its last request is done.

    With several worker processes, each has its own; `generation` is the number of the reload (as
    published in the shared database) whose rules it runs, None when it follows no database."""

    def __init__(self, scrubber, *, owned: bool):
        self._scrubber = scrubber
        self._owned = owned  # a router the service built (and may close); else the caller's
        self._lock = threading.Lock()
        self.generation: int | None = None
        self._updating = threading.Lock()  # one reload or catch-up at a time

    @property
    def scrubber(self):
        return self._scrubber

    @property
    def revision(self) -> str:
        return getattr(self._scrubber, "revision", None) or self._scrubber.ruleset.revision

    def sources(self) -> dict[str, str]:
        deployment = getattr(self._scrubber, "deployment", None)
        return dict(deployment.sources) if deployment is not None else dict(self._scrubber.ruleset.sources)

    def split(self, sources: dict[str, str]):
        deployment = getattr(self._scrubber, "deployment", None) or Deployment(self._scrubber.ruleset)
        return deployment.split(sources)

    def hold(self):
        """The rules in force, kept for the caller until it calls `release()` on them."""
        with self._lock:
            return self._scrubber.acquire()

    @contextlib.contextmanager
    def use(self):
        scrubber = self.hold()
        try:
            yield scrubber
        finally:
            scrubber.release()

    def replace(self, new, publish: Callable[[], int]) -> int:
        """A reload in this process: swap in `new` as the generation `publish()` records for the other
        worker processes (nothing changes if publishing fails); that generation."""
        with self._updating:
            generation = publish()
            self.swap(new)
            self.generation = generation
        return generation

    def catch_up(self, generation: int, load: Callable[[], Any]) -> bool:
        """Another process reloaded: when this one runs an older generation, swap in what `load()`
        gives (None: keep the rules in hand) and take that generation. Requests that arrive
        meanwhile wait here, so that none that saw the new generation runs on the old rules.
        False when already up to date."""
        if self.generation is None or generation <= self.generation:
            return False
        with self._updating:
            if generation <= self.generation:  # another thread caught up while this one waited
                return False
            new = load()
            if new is not None:
                self.swap(new)
            self.generation = generation
        return True

    def swap(self, new) -> None:
        with self._lock:
            old, owned = self._scrubber, self._owned
            self._scrubber, self._owned = new, True
        if owned:  # a router the service built; a caller's scrubber stays the caller's to close
            old.retire()

    def close(self) -> None:
        if self._owned:
            self._scrubber.close()
