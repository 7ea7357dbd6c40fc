"""Loading a rule set: every rule file of a directory, checked, compiled, with its revision.

Nothing is loaded when any file has a mistake: all problems are collected and reported as
file:line:column with words an analyst understands.
"""
from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ValidationError

from scrubber.settings import shipped
from scrubber.refdata import codesets
from scrubber.contract.claim import Claim
from scrubber.ruleset.compiler import Compiler
from scrubber.ruleset.program import Program
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.model import (RESERVED_RULE_IDS, CoveragePolicy, Effective, Example, FrequencyLimit, NamedCondition,
                              NotCovered, PayerInfo, Per, PriorAuthList, Rule, RuleFile, TimelyFiling,
                              reserved_id_message)
from scrubber.ruleset.yaml_source import Document, Problem, YamlError, load_document
from scrubber.errors import ScrubberError

SHIPPED_RULES = shipped("rules")


@dataclass
class RuleSet:
    revision: str
    program: Program
    files: list[str]
    root: str
    sources: dict[str, str] = field(default_factory=dict)  # file name -> text, as loaded

    @property
    def rules(self) -> list[Rule]:
        return [r.rule for r in self.program.rules]


class RuleSetError(ScrubberError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def rule_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def revision_of(files: Iterable[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:12]


def _display_name(path: Path, root: Path) -> str:
    try:
        return f"{root.name}/{path.relative_to(root).as_posix()}" if root.is_dir() else path.name
    except ValueError:
        return path.as_posix()


def parse_rule_texts(texts: list[tuple[str, str]]) -> tuple[list[tuple[Document, RuleFile]], list[Problem],
                                                            dict[str, Problem]]:
    """Parse and validate rule files given as (display name, text): the files that are valid, the
    problems found, and where each rule id is first defined."""
    problems: list[Problem] = []
    seen_ids: dict[str, Problem] = {}
    checked: list[tuple[Document, RuleFile]] = []
    for name, text in texts:
        loaded = load_model(name, text, RuleFile, problems)
        if loaded is None:
            continue
        doc, model = loaded
        checked.append((doc, model))
        for index, rule in enumerate(model.rules):
            where = doc.problem(("rules", index, "id"), "", rule.id)
            if rule.id in RESERVED_RULE_IDS:
                problems.append(doc.problem(("rules", index, "id"), reserved_id_message(rule.id), rule.id))
            elif rule.id in seen_ids:
                first = seen_ids[rule.id]
                problems.append(doc.problem(("rules", index, "id"),
                                            f"rule id '{rule.id}' is already used in {first.file} line "
                                            f"{first.line}; ids must be unique", rule.id))
            else:
                seen_ids[rule.id] = where
    return checked, problems, seen_ids


def compile_checked(checked: list[tuple[Document, RuleFile]], texts: list[tuple[str, str]],
                    tables: dict[str, frozenset[str]], root: str) -> RuleSet:
    """Compile validated rule files into one rule set. Raises RuleSetError."""
    compiler = Compiler(tables)
    known = {rule.id: True for _, model in checked for rule in model.rules}  # every id, even of a bad file
    for doc, model in checked:
        compiler.add_file(doc, model.rules, model.value_sets, model.conditions, doc.file,
                          [("rules", i) for i in range(len(model.rules))])
    problems = list(compiler.problems)
    for doc, model in checked:
        problems.extend(_check_examples(doc, model, known))
    if problems:
        raise RuleSetError(sorted(problems, key=lambda p: (p.file, p.line, p.column)))
    revision = revision_of((name, text.encode()) for name, text in texts)
    return RuleSet(revision, compiler.program(), [name for name, _ in texts], root, dict(texts))


def load_texts(texts: list[tuple[str, str]], *, tables: dict[str, frozenset[str]] | None = None,
               root: str = "rules") -> RuleSet:
    """Check and compile rule files given as (display name, text). Raises RuleSetError."""
    tables = codesets.tables() if tables is None else tables
    checked, problems, _ = parse_rule_texts(texts)
    try:
        ruleset = compile_checked(checked, texts, tables, root)
    except RuleSetError as exc:
        problems += exc.problems
    if problems:
        raise RuleSetError(sorted(problems, key=lambda p: (p.file, p.line, p.column)))
    return ruleset


def read_texts(path: str | Path, root_name: str | None = None) -> list[tuple[str, str]]:
    """(display name, text) of each YAML file under path: `<dir name>/<relative path>`, or
    `root_name/<relative path>` (a single file: its name). Unreadable files raise RuleSetError."""
    root = Path(path)
    texts = []
    for file in rule_files(root) if root.exists() else []:
        name = _display_name(file, root)
        if root_name and root.is_dir():
            name = f"{root_name}/{file.relative_to(root).as_posix()}"
        try:
            texts.append((name, file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleSetError([Problem(str(file), 1, 1, f"cannot read this file: {exc}")]) from None
    return texts


def load_ruleset(path: str | Path = SHIPPED_RULES, *, tables: dict[str, frozenset[str]] | None = None) -> RuleSet:
    texts = read_texts(path)
    if not texts:
        raise RuleSetError([Problem(str(path), 1, 1, "no rule files (*.yaml) found here")])
    return load_texts(texts, tables=tables, root=str(path))


def _check_examples(doc: Document, model: RuleFile, known_ids: dict[str, Any]) -> list[Problem]:
    problems = []
    for r, rule in enumerate(model.rules):
        for e, example in enumerate(rule.examples):
            path = ("rules", r, "examples", e)
            for what, partial, at in [("claim", example.claim, path + ("claim",))] + [
                    ("earlier claim", h, path + ("history", i)) for i, h in enumerate(example.history)]:
                try:
                    Claim.model_validate(complete_claim(partial))
                except ValidationError as exc:
                    for err in exc.errors():
                        where = ".".join(str(p) for p in err["loc"])
                        problems.append(doc.problem(at, f"example '{example.name}': the {what} is "
                                                    f"not valid: {where}: {err['msg']}", rule.id))
            for i, expected in enumerate(example.expect):
                if expected not in known_ids:
                    problems.append(doc.problem(path + ("expect", i), f"example '{example.name}' expects "
                                                f"'{expected}', which is not a rule id", rule.id))
    return problems


# ----------------------------------------------------------------------------- schema errors in plain words

_MODELS: dict[str, type[BaseModel]] = {"rules": Rule, "examples": Example, "conditions": NamedCondition,
                                       "effective": Effective, "payer": PayerInfo, "timely_filing": TimelyFiling,
                                       "prior_authorization": PriorAuthList, "coverage": CoveragePolicy,
                                       "not_covered": NotCovered, "frequency": FrequencyLimit, "per": Per}
_HINTS = {
    "id": "rule ids are lower-case words joined by '-', such as npi-check-digit",
    "carc": "write the CARC with its group code, such as CO-16",
    "rarc": "write the RARC code, such as M51 or N386",
}


def load_model(name: str, text: str, model: type[BaseModel], problems: list[Problem]):
    """(document, validated model) of one YAML file, or None with its problems added."""
    try:
        doc = load_document(text, name)
    except YamlError as exc:
        problems.append(exc.problem)
        return None
    validated = _validate(doc, model, problems)
    return None if validated is None else (doc, validated)


def _validate(doc: Document, model: type[BaseModel], problems: list[Problem]):
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "a rule file starts with 'schema_version: 1' and a 'rules:' list"))
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors():
            path = _data_path(doc.data, err["loc"])
            problems.append(doc.problem(path, _plain_words(err, path, model), _rule_id(doc.data, path)))
        return None


def _data_path(data: Any, loc: tuple) -> tuple:
    """The part of a pydantic location that exists in the data (drops union-member names)."""
    path, node = [], data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part in ("from_",) and "from" in node:
            node = node["from"]
            path.append("from")
    return tuple(path)


def _rule_id(data: Any, path: tuple) -> str | None:
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rule = data["rules"][path[1]]
        return rule.get("id") if isinstance(rule, dict) else None
    return None


def _plain_words(err: Mapping[str, Any], path: tuple, top: type[BaseModel] = RuleFile) -> str:
    kind, loc = err["type"], err["loc"]
    name = str(loc[-1]) if loc else "file"
    if kind == "missing":
        return f"'{name}' is required here"
    if kind == "extra_forbidden":
        parent = next((str(p) for p in reversed(path[:-1]) if isinstance(p, str)), "")
        model = _MODELS.get(parent) or (Rule if parent in ("", "rules", "overrides") and len(path) > 2 else top)
        fields = [f.alias or n for n, f in model.model_fields.items()]
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; allowed here: {', '.join(fields)}"
        return f"'{name}' is not a setting here{hint}"
    if kind == "string_type":
        return f"'{name}' must be text: write it in quotes"
    if kind == "string_pattern_mismatch" and name in _HINTS:
        return f"'{err['input']}' is not a valid {name}: {_HINTS[name]}"
    if kind == "literal_error" and name == "category":
        return f"'{err['input']}' is not a category; {err['msg'].replace('Input should be', 'use')}"
    if kind == "literal_error":
        return f"'{name}': {err['msg'].replace('Input should be', 'use')}"
    if kind == "too_short" and name == "examples":
        return "every rule needs at least one example claim (and one that must not fire is better)"
    return f"'{name}': {err['msg']}"
