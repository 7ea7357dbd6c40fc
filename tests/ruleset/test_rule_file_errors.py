"""Mistakes in rule files are reported to the analyst as file:line:column with plain words
(scrubber/ruleset/loader.py, scrubber/ruleset/compiler.py, scrubber/ruleset/yaml_source.py), and nothing is loaded.
A problem with a mapping entry points at the entry's key (where `severity:` or a misspelt field
name starts); a problem with a list item points at the item.

Every test starts from VALID and changes one thing. Its layout, by line number:

     1  schema_version: 1
     2  rules:
     3    - id: pos-home
     4      title: Home place of service
     5      category: place_of_service
     6      severity: warning
     7      when:
     8        claim: {place_of_service: "12"}
     9      message: "Place of service {place_of_service} is home"
    10      suggestion: Check the place of service
    11      examples:
    12        - name: home
    13          claim: {place_of_service: "12"}
    14          expect: [pos-home]
    15        - name: office
    16          claim: {place_of_service: "11"}
    17          expect: []
"""
from __future__ import annotations

import re
import textwrap

import pytest

from scrubber.ruleset.loader import RuleSet, RuleSetError, load_texts
from scrubber.ruleset.yaml_source import Problem

VALID = textwrap.dedent("""\
    schema_version: 1
    rules:
      - id: pos-home
        title: Home place of service
        category: place_of_service
        severity: warning
        when:
          claim: {place_of_service: "12"}
        message: "Place of service {place_of_service} is home"
        suggestion: Check the place of service
        examples:
          - name: home
            claim: {place_of_service: "12"}
            expect: [pos-home]
          - name: office
            claim: {place_of_service: "11"}
            expect: []
    """)
WHEN = '    when:\n      claim: {place_of_service: "12"}\n'


def changed(old: str, new: str, text: str = VALID) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


def with_when(when: str) -> str:
    """VALID with lines 7-8 (the `when:` block) replaced by `when` (indented as a rule setting)."""
    return changed(WHEN, textwrap.indent(textwrap.dedent(when), "    "))


def problems(*texts: str | tuple[str, str]) -> list[Problem]:
    files = [t if isinstance(t, tuple) else ("rules/a.yaml", t) for t in texts]
    with pytest.raises(RuleSetError) as caught:
        load_texts(files)
    return caught.value.problems


def only_problem(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# ----------------------------------------------------------------------------- a valid file


def test_valid_file_loads_with_a_twelve_hex_digit_revision():
    ruleset = load_texts([("rules/a.yaml", VALID)])

    assert isinstance(ruleset, RuleSet)
    assert [r.id for r in ruleset.rules] == ["pos-home"]
    assert re.fullmatch(r"[0-9a-f]{12}", ruleset.revision)


def test_revision_is_stable_for_the_same_text_and_changes_with_the_text():
    first = load_texts([("rules/a.yaml", VALID)]).revision
    again = load_texts([("rules/a.yaml", VALID)]).revision
    retitled = load_texts([("rules/a.yaml", changed("title: Home place of service",
                                                     "title: Home place of service (POS 12)"))]).revision

    assert first == again
    assert retitled != first


# ----------------------------------------------------------------------------- conditions


def test_unknown_field_in_a_condition_suggests_the_closest_field():
    problem = only_problem(with_when("""\
        when:
          claim: {place_of_servce: "12"}
        """))

    assert (problem.file, problem.line, problem.column) == ("rules/a.yaml", 8, 15)
    assert problem.message == ("there is no field 'place_of_servce' in a claim rule; "
                               "did you mean 'place_of_service'?")
    assert problem.rule_id == "pos-home"


@pytest.mark.parametrize("when, named", [
    ("when:\n  not: {claim: {place_of_service: \"12\"}}\n", "'not'"),
    ("when:\n  claim: {place_of_service: \"12\"}\n  line: {units: 2}\n", "'claim', 'line'"),
    ("when: {}\n", "nothing")])
def test_when_that_does_not_name_exactly_one_scope_is_a_problem_not_a_crash(when, named):
    problem = only_problem(with_when(when))

    assert (problem.file, problem.line, problem.column) == ("rules/a.yaml", 7, 5)
    assert problem.message == ("'when': Value error, 'when' must name exactly one scope (claim, line, diagnosis, "
                               f"provider, pair) holding the condition, not {named}; write for example "
                               "when: {claim: {not: ...}}")


def test_unknown_operator_lists_the_tests_there_are():
    problem = only_problem(with_when("""\
        when:
          claim: {place_of_service: {equals: "12"}}
        """))

    assert (problem.line, problem.column) == (8, 34)
    assert problem.message.startswith("'equals' is not a test; use one of: eq, ne, ")


def test_text_value_written_as_a_number_must_be_quoted():
    problem = only_problem(with_when("""\
        when:
          claim: {place_of_service: 11}
        """))

    assert (problem.line, problem.column) == (8, 15)
    assert problem.message == "write 11 in quotes: codes are text, and YAML reads 02 as the number 2"


def test_text_value_written_as_a_number_in_a_list_is_reported_at_that_item():
    problem = only_problem(with_when("""\
        when:
          claim: {place_of_service: {in: ["12", 13]}}
        """))

    assert (problem.line, problem.column) == (8, 45)
    assert problem.message.startswith("write 13 in quotes")


def test_unknown_value_set_is_named_with_the_known_ones():
    problem = only_problem(with_when("""\
        when:
          claim: {place_of_service: {in: $nope}}
        """))

    assert (problem.line, problem.column) == (8, 34)
    assert problem.message == "there is no value set '$nope' (known: none in this file)"


def test_unknown_named_condition_is_refused():
    problem = only_problem(with_when("""\
        when:
          claim: {condition: at_home}
        """))

    assert (problem.line, problem.column) == (8, 15)
    assert problem.message == "there is no named condition 'at_home' (known: none in this file)"


def test_named_condition_used_in_the_wrong_scope_is_refused():
    text = changed("rules:\n", textwrap.dedent("""\
        conditions:
          line_at_home:
            scope: line
            when: {place_of_service: "12"}
        rules:
        """), with_when("""\
        when:
          claim: {condition: line_at_home}
        """))

    problem = only_problem(text)

    assert (problem.line, problem.column) == (12, 15)
    assert problem.message == ("condition 'line_at_home' is written for line scope but is used in a "
                               "claim rule")


def test_ordered_comparison_on_a_text_field_is_refused():
    problem = only_problem(with_when("""\
        when:
          claim: {place_of_service: {gt: "12"}}
        """))

    assert (problem.line, problem.column) == (8, 34)
    assert problem.message == "'gt' needs a date, amount or number; 'place_of_service' is text"


@pytest.mark.parametrize("at_least", [0, 1000])
def test_count_lines_at_least_outside_one_to_999_is_refused(at_least):
    problem = only_problem(with_when(f"""\
        when:
          claim:
            count_lines:
              where: {{procedure_code: "99213"}}
              at_least: {at_least}
        """))

    assert (problem.line, problem.column) == (11, 11)
    assert problem.message.startswith("at_least must be a whole number from 1 to 999")


def test_count_lines_at_least_four_is_accepted():
    ruleset = load_texts([("rules/a.yaml", with_when("""\
        when:
          claim:
            count_lines:
              where: {procedure_code: "99213"}
              at_least: 4
        """))])

    assert [r.id for r in ruleset.rules] == ["pos-home"]


def test_quantifier_in_a_line_rule_is_refused():
    problem = only_problem(with_when("""\
        when:
          line:
            any_line: {procedure_code: "99213"}
        """))

    assert (problem.line, problem.column) == (9, 9)
    assert problem.message == "'any_line' can only be used in a claim rule; this rule looks at one line"


# ----------------------------------------------------------------------------- rule settings


def test_category_outside_the_vocabulary_is_refused():
    problem = only_problem(changed("category: place_of_service", "category: pos"))

    assert (problem.line, problem.column) == (5, 5)
    assert problem.message.startswith("'pos' is not a category; use 'required_field', 'format', ")


def test_carc_without_group_code_is_refused():
    problem = only_problem(changed("    severity: warning\n", "    severity: warning\n    carc: CO16\n"))

    assert (problem.line, problem.column) == (7, 5)
    assert problem.message == ("'CO16' is not a valid carc: write the CARC with its group code, "
                               "such as CO-16")


def test_rule_without_examples_is_refused():
    problem = only_problem(VALID.split("    examples:\n")[0])

    assert (problem.line, problem.column) == (3, 5)
    assert problem.message == "'examples' is required here"


def test_rule_with_an_empty_examples_list_is_refused():
    problem = only_problem(VALID.split("    examples:\n")[0] + "    examples: []\n")

    assert (problem.line, problem.column) == (11, 5)
    assert problem.message.startswith("every rule needs at least one example claim")


def test_unknown_rule_setting_suggests_the_closest_one():
    problem = only_problem(changed("    severity: warning\n", "    severity: warning\n    sevrity: error\n"))

    assert (problem.line, problem.column) == (7, 5)
    assert problem.message == "'sevrity' is not a setting here; did you mean 'severity'?"


def test_message_placeholder_that_names_no_field_is_refused():
    problem = only_problem(changed("{place_of_service} is home", "{nonexistent} is home"))

    assert (problem.line, problem.column) == (9, 5)
    assert problem.message.startswith("{nonexistent} names no field this rule can show; "
                                      "there is no field 'nonexistent' in a claim rule")


def test_effective_range_ending_before_it_starts_is_refused():
    problem = only_problem(changed("    severity: warning\n", "    severity: warning\n"
                                   "    effective: {from: 2026-01-01, to: 2025-12-31}\n"))

    assert (problem.line, problem.column) == (7, 5)
    assert problem.message == "the rule ends ('to') before it starts ('from')"


def test_example_expecting_an_unknown_rule_id_is_refused():
    problem = only_problem(changed("expect: [pos-home]", "expect: [pos-away]"))

    assert (problem.line, problem.column) == (14, 18)
    assert problem.message == "example 'home' expects 'pos-away', which is not a rule id"


# ----------------------------------------------------------------------------- across files, YAML


def test_duplicate_rule_id_across_files_names_the_first_file():
    found = problems(("rules/a.yaml", VALID), ("rules/b.yaml", VALID))

    assert found == [Problem("rules/b.yaml", 3, 5, "rule id 'pos-home' is already used in rules/a.yaml "
                                                  "line 3; ids must be unique", "pos-home")]


def test_duplicate_yaml_key_is_refused_instead_of_keeping_the_last():
    problem = only_problem(changed("    severity: warning\n", "    severity: warning\n    severity: error\n"))

    assert (problem.line, problem.column) == (7, 5)
    assert problem.message == ("'severity' is written twice in the same block (first on line 6); "
                               "YAML would silently keep only the last one")


def test_invalid_yaml_syntax_is_reported_where_the_parser_stopped():
    problem = only_problem(changed("title: Home place of service", "title: Home: place of service"))

    assert (problem.line, problem.column) == (4, 16)
    assert problem.message == "this is not valid YAML: mapping values are not allowed here"


def test_every_file_is_checked_and_problems_are_sorted_by_file_and_line():
    found = problems(("rules/b.yaml", changed("category: place_of_service", "category: pos")),
                     ("rules/a.yaml", changed("expect: [pos-home]", "expect: [pos-away]")))

    assert [(p.file, p.line, p.column) for p in found] == [("rules/a.yaml", 14, 18), ("rules/b.yaml", 5, 5)]


# ----------------------------------------------------------------------------- fixed bugs (kept as regression tests)


def test_mistake_in_a_disabled_rule_is_still_reported():
    text = changed("    severity: warning\n", "    severity: warning\n    enabled: false\n",
                   changed('claim: {place_of_service: "12"}\n    message',
                           'claim: {place_of_servce: "12"}\n    message'))

    problem = only_problem(text)

    assert problem.line == 9
    assert problem.message.startswith("there is no field 'place_of_servce'")
