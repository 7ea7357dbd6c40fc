"""Evaluators of a compiled Program: the durable-rules engine (`durable.Engine`, what the service runs)
and the plain-Python reference evaluator (`reference.ReferenceEvaluator`, which the differential tests
hold the engine to). Both take one claim's facts and answer the rules that fired, with the facts each
bound (`Activation`)."""
from __future__ import annotations

from typing import Protocol

Activation = tuple[str, dict[str, dict]]  # (engine rule name, {alias: matched fact})


class Evaluator(Protocol):
    def run(self, facts: list[dict]) -> list[Activation]:
        """The rules that fire on one claim's facts (the gate fact last), with what each bound."""
        ...

    def close(self) -> None:
        """Release what the evaluator holds (the engine's ruleset handle)."""
        ...
