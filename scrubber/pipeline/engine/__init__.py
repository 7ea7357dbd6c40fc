"""Evaluators of a compiled Program: the durable-rules engine and the plain-Python reference evaluator."""
