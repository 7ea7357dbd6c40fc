"""Rule files written by the engine tests: many small rules of one shape, as YAML text."""


def generated_rule(i: int, when: str, message: str | None = None) -> str:
    """Rule `rule-000i` of category format: fires when `when` holds; its message is "rule i" unless given."""
    return f"""
  - id: rule-{i:04d}
    title: generated rule {i}
    category: format
    severity: error
    when: {when}
    message: "{message if message is not None else f'rule {i}'}"
    suggestion: fix it
    examples: [{{name: any, claim: {{}}, expect: []}}]
"""


def rule_file(rules: str, head: str = "") -> str:
    """A rule file holding the rules given (and `head`: value sets and the like)."""
    return f"schema_version: 1\n{head}rules:{rules}"
