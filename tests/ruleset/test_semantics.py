"""`predicate(test)` (a test made once into a function of the fact, which the engine's fact filter runs)
answers exactly what `holds(test, fact)` answers, the engine's semantics: every operator, comparisons
with another field, absent and None values, lists, booleans against numbers, and the any-of forms it
decides in one step (constants of one field as a set lookup, code patterns as one regular expression)."""
import itertools

import pytest

from scrubber.ruleset.compiler import code_pattern
from scrubber.ruleset.program import AllOf, AnyOf, Ref
from scrubber.ruleset.program import Test as Check  # (not "Test": pytest would collect it)
from scrubber.ruleset.semantics import holds, predicate

VALUES = [None, 0, 1, 2, 5, -3, 1.5, True, False, "", "A", "B", "0042T", "00100", "01999", "99213", "26",
          ["A"], 739617]


def _tests() -> list:
    tests = []
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        tests += [Check(op, "x", value) for value in (0, 1, 2, True, "A", 1.5)]
        tests += [Check(op, "x", Ref("y")), Check(op, "x", Ref("y", 2))]
    tests += [Check("ex", "x"), Check("nex", "x"), Check("mt", "x", code_pattern("00###")),
              Check("mt", "x", code_pattern("####T"))]
    tests += [
        AnyOf((Check("eq", "x", "A"), Check("eq", "x", "B"), Check("eq", "x", 2))),  # one field: a set lookup
        AnyOf((Check("eq", "x", True), Check("eq", "x", 5))),
        AnyOf((Check("mt", "x", code_pattern("00###")), Check("mt", "x", code_pattern("01###")))),  # one regex
        AnyOf((Check("eq", "x", "A"), Check("eq", "y", "A"))),  # two fields: tested one by one
        AnyOf((Check("nex", "x"), Check("le", "x", 0))),
        AllOf((Check("ex", "x"), Check("gt", "x", Ref("y")))),
        AllOf((AnyOf((Check("eq", "x", "26"), Check("eq", "y", "26"))), Check("ne", "y", "A"))),
        AllOf(()), AnyOf(()),
    ]
    return tests


FACTS = [{}] + [{"x": x} for x in VALUES] + [{"x": x, "y": y} for x, y in itertools.product(VALUES, VALUES)]


def _holds(test, fact):
    try:
        return holds(test, fact)
    except TypeError:
        return TypeError  # a comparison Python refuses (a string with a number): both must refuse it


def _predicate(test, fact):
    try:
        return predicate(test)(fact)
    except TypeError:
        return TypeError


@pytest.mark.parametrize("test", _tests(), ids=repr)
def test_a_predicate_answers_what_holds_answers_on_every_fact(test):
    wrong = [(fact, _predicate(test, fact), _holds(test, fact)) for fact in FACTS
             if _predicate(test, fact) != _holds(test, fact)]
    assert wrong == []


def test_the_one_field_any_ofs_decide_as_their_items_do():
    codes = AnyOf((Check("eq", "code", "A0425"), Check("eq", "code", "A0426")))
    assert [predicate(codes)({"code": c}) for c in ("A0425", "A0426", "A0427", None)] == [True, True, False, False]
    assert predicate(codes)({"code": ["A0425"]}) is False  # a list equals no code
    anesthesia = AnyOf((Check("mt", "code", code_pattern("00###")), Check("mt", "code", code_pattern("01###"))))
    assert [predicate(anesthesia)({"code": c}) for c in ("00100", "01999", "02100", "001000", 100)] == [
        True, True, False, False, False]
