"""The engine's fact filter (scrubber.pipeline.engine.fact_filter) answers, per fact, exactly the patterns
the fact passes (the bits of those `holds` says it passes), however it looks the patterns up: by a constant
a field must equal, by an any-of such constants, by a field that must have a value or none, or whole."""
import itertools

from scrubber.pipeline.engine.fact_filter import FactFilter
from scrubber.ruleset.compiler import code_pattern
from scrubber.ruleset.program import AllOf, AnyOf, Pattern, Ref
from scrubber.ruleset.program import Test as Check  # (not "Test": pytest would collect it)
from scrubber.ruleset.semantics import holds

MODIFIER_26 = AnyOf(tuple(Check("eq", f"mod{i}", "26") for i in range(1, 5)))
TESTS = [
    AllOf((Check("eq", "status", "deleted"),)),                                   # 0: by a constant
    AllOf((Check("eq", "claim__claim_type", "professional"), Check("eq", "pointers", 0))),  # 1: by its own field
    AllOf((MODIFIER_26, Check("eq", "component", True))),                          # 2: by an any-of
    AllOf((Check("ex", "bad_pointer"),)),                                          # 3: has a value
    AllOf((Check("nex", "charge"),)),                                              # 4: has none
    AllOf((Check("ex", "submitted"), Check("gt", "service_date", Ref("submitted")))),  # 5: value, then compared
    AllOf((AnyOf((Check("mt", "code", code_pattern("00###")), Check("mt", "code", code_pattern("01###")))),
           Check("nex", "minutes"))),                                              # 6
    AllOf((Check("lt", "charge", 0),)),                                            # 7: whole
    AllOf((AnyOf((Check("nex", "units"), Check("le", "units", 0))),)),             # 8: whole
    AllOf(()),                                                                     # 9: every fact
]
FILTER = FactFilter((Pattern(f"p{i}", "line", test), 1 << i) for i, test in enumerate(TESTS))

FIELDS = {
    "status": [None, "deleted", "valid"], "claim__claim_type": ["professional", "institutional"],
    "pointers": [0, 1, False], "mod1": [None, "26", "TC"], "mod3": [None, "26"], "component": [True, 1, False],
    "bad_pointer": [None, 5], "charge": [None, -100, 0, 2500], "submitted": [None, 739600],
    "service_date": [739500, 739700], "code": [None, "00100", "99213", ["00100"]], "minutes": [None, 30],
    "units": [None, 0, 2],
}


def _facts():
    keys = list(FIELDS)
    # every value of each field with the others at their first value, and every pair of two fields' values
    base = {key: values[0] for key, values in FIELDS.items()}
    for a, b in itertools.combinations(keys, 2):
        for x, y in itertools.product(FIELDS[a], FIELDS[b]):
            yield {key: value for key, value in {**base, a: x, b: y}.items() if value is not None}


def test_the_mask_has_the_bit_of_every_pattern_the_fact_passes_and_no_other():
    checked = 0
    for fact in _facts():
        expected = sum(1 << i for i, test in enumerate(TESTS) if holds(test, fact))
        assert FILTER.mask(fact) == expected, fact
        checked += 1
    assert checked > 500


def test_how_each_pattern_is_looked_up():
    assert {key: sorted(map(str, values)) for key, values in FILTER.by_value} == {
        "status": ["deleted"], "pointers": ["0"], "mod1": ["26"], "mod2": ["26"], "mod3": ["26"], "mod4": ["26"]}
    assert [key for key, _ in FILTER.present] == ["bad_pointer", "submitted"]
    assert [key for key, _ in FILTER.absent] == ["charge", "minutes"]
    assert len(FILTER.unindexed) == 3  # charge < 0, units missing or not positive, the empty test


def test_a_modifier_26_in_any_place_passes_its_pattern_once():
    fact = {"mod3": "26", "mod4": "26", "component": True, "charge": 100, "units": 1}
    assert FILTER.mask(fact) == (1 << 2) | (1 << 9)
    assert FILTER.mask({"mod2": ["26"], "component": True, "charge": 100, "units": 1}) == 1 << 9  # a list is no "26"
