"""Reading YAML rule and payer files safely, remembering where every value was written.

Only the safe loader is used (no tags, no Python objects). Each value's line and column are
kept by path so that every mistake can be reported as file:line:column.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

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


class YamlError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


class _DuplicateKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping (YAML would keep the last)."""


def load_document(text: str, file: str) -> Document:
    try:
        loader = _DuplicateKeyLoader(text)  # the reader refuses control characters already here
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
