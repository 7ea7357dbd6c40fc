"""Reading YAML rule and payer files safely, remembering where every value was written.

Only the safe loader is used (no tags, no Python objects). Each value's line and column are
kept by path so that every mistake can be reported as file:line:column.

The cost of reading a file is bounded by its size: anchors, aliases and merge keys are refused
where they are written (an alias makes a few bytes stand for any number of values: the "billion
laughs"), and nesting depth, the number of values and the length of a number are checked while the
file is composed, before anything is built from it (limits.MAX_YAML_DEPTH, MAX_YAML_NODES,
MAX_YAML_NUMBER_CHARS). Every refusal is a Problem at the line and column where it is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from scrubber import limits
from scrubber.errors import ScrubberError

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: int
    message: str
    rule_id: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "message": self.message,
                "rule_id": self.rule_id}


@dataclass
class Document:
    """A parsed YAML document with the position of every value."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_) -> tuple[int, int]:
        """Line and column of the value at `path`, or of its nearest enclosing value."""
        path = tuple(path)
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (1, 1))

    def problem(self, path: Path_, message: str, rule_id: str | None = None) -> Problem:
        line, column = self.where(path)
        return Problem(self.file, line, column, message, rule_id)


class YamlError(ScrubberError):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


_MERGE = "tag:yaml.org,2002:merge"
_KINDS = {"tag:yaml.org,2002:int": "whole number", "tag:yaml.org,2002:float": "number",
          "tag:yaml.org,2002:timestamp": "date"}
_NUMBERS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class _RuleFileLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, composing a rule or payer file at a cost bounded by its size.

    Each node is checked as the composer is about to build it: an alias, a node past
    limits.MAX_YAML_NODES, a list or block nested deeper than limits.MAX_YAML_DEPTH and a number
    longer than limits.MAX_YAML_NUMBER_CHARS are refused at once; a merge key when its block is
    complete; an anchor (harmless alone, but only useful for aliases) when the document is."""

    def __init__(self, text: str, file: str):
        super().__init__(text)  # the reader refuses control characters already here
        self.file = file
        self.depth = 0
        self.nodes = 0
        self.first_anchor: tuple[str, yaml.Mark] | None = None

    def refuse(self, mark: Any, message: str) -> YamlError:  # a yaml Mark (pure-Python or libyaml), or None
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return YamlError(Problem(self.file, line, column, message))

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if self.first_anchor:
            name, mark = self.first_anchor
            raise self.refuse(mark, f"anchors (&{name}) are not allowed in rule files; write the values "
                                    f"out or use a value set")
        return node

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise self.refuse(event.start_mark, f"aliases (*{event.anchor}) are not allowed in rule files; "
                                                f"write the values out or use a value set")
        self.nodes += 1
        if self.nodes > limits.MAX_YAML_NODES:
            raise self.refuse(event.start_mark, f"the file holds more than {limits.MAX_YAML_NODES} values "
                                                f"(texts, numbers, lists and blocks); split it into smaller files")
        if event.anchor is not None and self.first_anchor is None:
            self.first_anchor = (event.anchor, event.start_mark)
        if isinstance(event, yaml.ScalarEvent):
            node = super().compose_node(parent, index)
            if node is not None and node.tag in _NUMBERS and len(node.value) > limits.MAX_YAML_NUMBER_CHARS:
                raise self.refuse(node.start_mark, f"a number of more than {limits.MAX_YAML_NUMBER_CHARS} "
                                                   f"characters; write it in quotes if it is text")
            return node
        self.depth += 1
        if self.depth > limits.MAX_YAML_DEPTH:
            raise self.refuse(event.start_mark, f"lists and blocks are nested more than {limits.MAX_YAML_DEPTH} "
                                                f"levels deep here; a rule file needs about 10")
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    raise self.refuse(key_node.start_mark, "merge keys (<<) are not allowed in rule files; "
                                                           "write the values out")
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value YAML recognises but cannot convert (2026-02-30, !!int x) is a problem at that value."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, AttributeError, TypeError) as exc:
            value = node.value[:60] if isinstance(node, yaml.ScalarNode) else "this"
            raise self.refuse(node.start_mark, f"{value} is not a valid {_KINDS.get(node.tag, 'value')}: "
                                               f"{str(exc)[:200]}") from None


def load_document(text: str, file: str) -> Document:
    """The document of one rule or payer file; YamlError with its first problem if it cannot be read."""
    try:
        loader = _RuleFileLoader(text, file)
    except yaml.YAMLError as exc:
        raise YamlError(Problem(file, 1, 1, f"this is not valid YAML: {exc}")) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(file, None)
        positions: dict[Path_, tuple[int, int]] = {}
        _check_and_record(node, (), positions, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "not valid YAML"
        raise YamlError(Problem(file, line, column, f"this is not valid YAML: {reason}")) from None
    except yaml.YAMLError as exc:
        raise YamlError(Problem(file, 1, 1, f"this is not valid YAML: {exc}")) from None
    finally:
        loader.dispose()
    return Document(file, data, positions)


def _check_and_record(node: yaml.Node, path: Path_, positions: dict, file: str) -> None:
    """Record where each value was written: for a mapping entry, where its key is (that is where an
    analyst looks for `severity:` or a misspelt field name); for a list item, the item itself."""
    positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in seen:
                raise YamlError(Problem(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                        f"'{key}' is written twice in the same block (first on line "
                                        f"{seen[key]}); YAML would silently keep only the last one"))
            seen[key] = key_node.start_mark.line + 1
            positions[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _check_and_record(value_node, path + (key,), positions, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_and_record(item, path + (index,), positions, file)
