"""The package's layers (issue 10): no import cycle anywhere, every layer importing only downward
(import-linter's contracts in pyproject.toml), and an import inside a function only with its reason."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import grimp

import scrubber
from scrubber.errors import ScrubberError

PACKAGE = Path(__file__).resolve().parent.parent / "scrubber"


def test_import_linter_contracts_are_kept():
    run = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], capture_output=True, text=True,
                         cwd=PACKAGE.parent)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "broken" in run.stdout and " 0 broken" in run.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), imports inside functions included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_of_the_package_takes_part_in_an_import_cycle():
    assert _cycles(grimp.build_graph("scrubber")) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")

    assert _cycles(graph) == [["p.a", "p.b"]]


def _explained(lines: list[str], at: int) -> bool:
    """A comment on the import's line, or on the line just above the block of imports it belongs to."""
    if "#" in lines[at]:
        return True
    while at > 0 and lines[at - 1].strip().startswith(("from ", "import ")):
        at -= 1
    return at > 0 and lines[at - 1].strip().startswith("#")


def test_every_import_inside_a_function_says_why():
    """Imports belong at the top of a module; one inside a function (an optional heavy dependency, start-up
    time) carries a comment with its reason, on its line or the line before."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not _explained(lines, node.lineno - 1):
                    unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert unexplained == []


def test_every_error_the_scrubber_raises_on_purpose_derives_from_scrubber_error():
    """One base (scrubber.errors.ScrubberError), so that a caller tells "the input or the data is wrong" from
    a bug. Two classes must be something else to work: TooDeep is a json.JSONDecodeError (every JSON reader
    already catches those) and BodyRefused a Starlette HTTPException (answered by the framework)."""
    outside = {"scrubber.intake.parse.TooDeep", "scrubber.service.body_limits.BodyRefused"}
    found, stray = 0, []
    for info in pkgutil.walk_packages(scrubber.__path__, "scrubber."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == info.name:
                found += 1
                name = f"{info.name}.{value.__qualname__}"
                if not issubclass(value, ScrubberError) and name not in outside:
                    stray.append(name)
    assert found >= 15 and stray == []
