"""Facts and derived fields (scrubber/pipeline/enrich/facts.py): NPI check digits, ages, base_facts, FactBuilder."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.facts import FactBuilder, age_on, base_facts, npi_check_digit_ok
from scrubber.ruleset.examples import complete_claim
from scrubber.pipeline.normalise import normalise
from scrubber.ruleset.loader import load_ruleset, load_texts

TODAY = dt.date(2026, 1, 15)
TWO_DX = [{"code": "I10"}, {"code": "E11.9"}]


def day(text: str) -> int:
    return dt.date.fromisoformat(text).toordinal()


def claim_of(partial: dict[str, Any]) -> Claim:
    return normalise(Claim.model_validate(complete_claim(partial)), today=TODAY)


def facts_of(partial: dict[str, Any]):
    return base_facts(claim_of(partial))


@pytest.fixture(scope="module")
def shipped_program():
    return load_ruleset().program


# ----------------------------------------------------------------------------- NPI check digit


@pytest.mark.parametrize("npi", ["1234567893", "1912301953", "1003000126"])
def test_npi_check_digit_ok_accepts_valid_npis(npi):
    assert npi_check_digit_ok(npi) is True


@pytest.mark.parametrize("npi", ["1234567890", "1912301952", "1003000127", "1234567839"])
def test_npi_check_digit_ok_rejects_a_wrong_or_transposed_digit(npi):
    assert npi_check_digit_ok(npi) is False


def test_provider_facts_carry_the_check_digit_result_per_role():
    facts = facts_of({"billing_provider": {"npi": "1912301953"}, "rendering_provider": {"npi": "1234567890"},
                      "referring_provider": {"npi": "12345"}})

    assert [(p["role"], p.get("npi"), p.get("npi_check_digit_ok")) for p in facts.providers] == [
        ("billing", "1912301953", True), ("rendering", "1234567890", False), ("referring", "12345", None)]


def test_provider_fact_without_npi_has_no_check_digit_field():
    facts = facts_of({"rendering_provider": {"npi": None, "taxonomy": "207Q00000X"}})

    rendering = facts.providers[1]
    assert rendering == {"id": "p1", "t": "prov", "dos": day("2026-01-05"), "role": "rendering",
                         "who": "rendering provider", "npi_field": "rendering_provider.npi", "taxonomy": "207Q00000X"}


def test_provider_npi_with_letters_has_no_check_digit_field():
    facts = facts_of({"billing_provider": {"npi": "12345678AB"}})

    assert "npi_check_digit_ok" not in facts.providers[0]
    assert facts.providers[0]["npi"] == "12345678AB"


# ----------------------------------------------------------------------------- ages


@pytest.mark.parametrize("on, age", [
    (dt.date(2026, 3, 13), 75),  # the day before the birthday
    (dt.date(2026, 3, 14), 76),  # the birthday
    (dt.date(2026, 3, 15), 76),
    (dt.date(2025, 12, 31), 75),
])
def test_age_on_counts_whole_years_across_a_birthday(on, age):
    assert age_on(dt.date(1950, 3, 14), on) == age


def test_age_on_is_zero_on_the_day_of_birth():
    assert age_on(dt.date(2026, 1, 5), dt.date(2026, 1, 5)) == 0


@pytest.mark.parametrize("birth, on", [(None, dt.date(2026, 1, 5)), (dt.date(1950, 1, 1), None)])
def test_age_on_is_none_without_both_dates(birth, on):
    assert age_on(birth, on) is None


def test_patient_age_is_computed_on_each_lines_own_date_of_service():
    facts = facts_of({"patient": {"birth_date": "1970-01-05"},
                      "lines": [{"service_date": "2026-01-05"},
                                {"service_date": "2026-01-04", "procedure_code": "36415"}]})

    assert [line["patient_age"] for line in facts.lines] == [56, 55]
    assert facts.claim["patient_age"] == 55  # on the first (earliest) date of service


def test_line_without_birth_date_has_no_patient_age():
    facts = facts_of({"patient": {"birth_date": None}})

    assert "patient_age" not in facts.lines[0]
    assert "patient_age" not in facts.claim


# ----------------------------------------------------------------------------- dates and days


def test_days_to_submission_per_line_and_for_the_claim_from_its_first_date():
    facts = facts_of({"submission_date": "2026-01-15",
                      "lines": [{"service_date": "2026-01-05"},
                                {"service_date": "2026-01-01", "procedure_code": "36415"}]})

    assert [line["days_to_submission"] for line in facts.lines] == [10, 14]
    assert facts.claim["days_to_submission"] == 14
    assert facts.claim["first_service_date"] == day("2026-01-01")
    assert facts.claim["submission_date"] == day("2026-01-15")


def test_dates_are_day_ordinals_and_last_service_date_includes_range_ends():
    facts = facts_of({"lines": [{"service_date": "2026-01-01", "service_date_end": "2026-01-10"},
                                {"service_date": "2026-01-05", "procedure_code": "36415"}]})

    line = facts.lines[0]
    assert (line["service_date"], line["service_date_end"], line["service_days"], line["dos"]) == (
        day("2026-01-01"), day("2026-01-10"), 9, day("2026-01-01"))
    assert facts.claim["last_service_date"] == day("2026-01-10")
    assert facts.claim["dos"] == day("2026-01-01")


def test_missing_submission_date_is_the_scrub_day_after_normalising():
    facts = facts_of({"submission_date": None})

    assert facts.claim["submission_date"] == TODAY.toordinal()
    assert facts.lines[0]["days_to_submission"] == 10


# ----------------------------------------------------------------------------- pointers


@pytest.mark.parametrize("pointers, bad", [
    ([0], "0"),
    ([13], "13"),
    ([1, 3], "3"),
    (["1.00"], "1.00"),
    (["M"], "M"),
    ([5, 0], "5"),  # the first bad pointer
])
def test_bad_pointer_is_the_first_pointer_not_naming_a_diagnosis(pointers, bad):
    facts = facts_of({"diagnoses": TWO_DX, "lines": [{"diagnosis_pointers": pointers}]})

    assert facts.lines[0]["bad_pointer"] == bad


@pytest.mark.parametrize("pointers", [[1, 2], ["b", "a"], ["B"], ["2", 1]])
def test_letter_and_digit_pointers_are_valid_after_normalising(pointers):
    facts = facts_of({"diagnoses": TWO_DX, "lines": [{"diagnosis_pointers": pointers}]})

    assert "bad_pointer" not in facts.lines[0]
    assert facts.lines[0]["pointer_count"] == len(pointers)


def test_letter_pointers_record_which_lines_point_at_each_diagnosis():
    facts = facts_of({"diagnoses": TWO_DX + [{"code": "E78.5"}],
                      "lines": [{"diagnosis_pointers": ["b"]},
                                {"diagnosis_pointers": ["A", "b"], "procedure_code": "36415"}]})

    assert facts.pointed_by == [[2], [1, 2], []]
    assert [d["pointed_to"] for d in facts.diagnoses] == [True, True, False]


@pytest.mark.parametrize("pointers, repeated", [([1, 1], 1), ([2, 1, 2], 2), ([2, 2, 1, 1], 2), (["a", 1], 1)])
def test_repeated_pointer_is_the_first_pointer_listed_twice(pointers, repeated):
    facts = facts_of({"diagnoses": TWO_DX, "lines": [{"diagnosis_pointers": pointers}]})

    assert facts.lines[0]["repeated_pointer"] == repeated
    assert "bad_pointer" not in facts.lines[0]


def test_line_without_repeats_has_no_repeated_pointer_and_counts_its_pointers():
    facts = facts_of({"diagnoses": TWO_DX, "lines": [{"diagnosis_pointers": [1, 2]}]})

    assert "repeated_pointer" not in facts.lines[0]
    assert facts.lines[0]["pointer_count"] == 2


# ----------------------------------------------------------------------------- modifiers, money, place of service


@pytest.mark.parametrize("modifiers, slots", [
    ([], ("", "", "", "")),
    (["26"], ("26", "", "", "")),
    (["rt", "lt"], ("RT", "LT", "", "")),
    (["GT", "59", "RT", "GA"], ("GT", "59", "RT", "GA")),
    (["GT", "59", "RT", "GA", "Q5"], ("GT", "59", "RT", "GA")),
])
def test_modifiers_fill_four_slots_with_empty_text_for_unused_ones(modifiers, slots):
    line = facts_of({"lines": [{"modifiers": modifiers}]}).lines[0]

    assert (line["mod1"], line["mod2"], line["mod3"], line["mod4"]) == slots
    assert line["modifier_count"] == len(modifiers)


def test_charges_are_cents_and_line_charge_total_sums_them():
    facts = facts_of({"total_charge": "150.10",
                      "lines": [{"charge": "100.00"}, {"charge": "40.55", "procedure_code": "36415"},
                                {"charge": "0.05", "procedure_code": "81002"}]})

    assert [line["charge"] for line in facts.lines] == [10000, 4055, 5]
    assert facts.claim["line_charge_total"] == 14060
    assert facts.claim["total_charge"] == 15010


def test_line_charge_total_skips_lines_without_a_charge():
    facts = facts_of({"total_charge": "100.00",
                      "lines": [{"charge": "100.00"}, {"charge": None, "procedure_code": "36415"}]})

    assert "charge" not in facts.lines[1]
    assert facts.claim["line_charge_total"] == 10000


def test_line_charge_total_is_zero_when_no_line_has_a_charge():
    facts = facts_of({"total_charge": None, "lines": [{"charge": None}]})

    assert facts.claim["line_charge_total"] == 0
    assert "total_charge" not in facts.claim


def test_units_are_whole_numbers_or_fractions():
    facts = facts_of({"lines": [{"units": 2}, {"units": 1.5, "procedure_code": "J1100"}]})

    assert [(line["units"], type(line["units"])) for line in facts.lines] == [(2, int), (1.5, float)]


@pytest.mark.parametrize("claim_pos, line_pos, expected", [
    ("11", None, {"effective_place_of_service": "11"}),
    ("11", "22", {"place_of_service": "22", "effective_place_of_service": "22"}),
    (None, "02", {"place_of_service": "02", "effective_place_of_service": "02"}),
    (None, None, {}),
])
def test_effective_place_of_service_falls_back_to_the_claims(claim_pos, line_pos, expected):
    line = facts_of({"place_of_service": claim_pos, "lines": [{"place_of_service": line_pos}]}).lines[0]

    assert {k: line[k] for k in ("place_of_service", "effective_place_of_service") if k in line} == expected


def test_absent_values_are_left_out_of_the_facts():
    facts = facts_of({"claim_id": None, "patient": {"member_id": None}, "lines": [{"service_date_end": None}]})

    assert "claim_id" not in facts.claim
    assert "patient_member_id" not in facts.claim
    assert "service_date_end" not in facts.lines[0]
    assert "service_days" not in facts.lines[0]


# ----------------------------------------------------------------------------- FactBuilder: pairs and gate


def _lines(*specs: dict) -> list[dict]:
    return [{"procedure_code": "71046", **spec} for spec in specs]


# duplicate-line was a pair rule like this one until it became a line rule on `duplicate_lines`
# (one finding per group of identical lines, not per pair); pair rules are still part of the language.
_SAME_SERVICE_PAIR_RULE = """
schema_version: 1
rules:
  - id: same-service-pair
    title: Two identical lines on the same date of service
    category: duplicate
    severity: error
    when:
      pair:
        all:
          - a.line_number: {lt: {field: b.line_number}}
          - a.procedure_code: {eq: {field: b.procedure_code}}
          - same_modifiers: true
          - a.units: {eq: {field: b.units}}
    message: "Lines {a.line_number} and {b.line_number} both bill {a.procedure_code} on {a.service_date}"
    field: "lines[{b.line_number}]"
    suggestion: Merge them
    examples:
      - name: the same line twice
        claim: {lines: [{procedure_code: "71046"}, {procedure_code: "71046"}]}
        expect: [same-service-pair]
"""


@pytest.fixture(scope="module")
def pair_program():
    return load_texts([("rules/pair.yaml", _SAME_SERVICE_PAIR_RULE)]).program


def test_no_shipped_rule_joins_pairs(shipped_program):
    assert shipped_program.pair_keys == []
    assert FactBuilder(shipped_program).build(claim_of({"lines": _lines({}, {})})).pairs == []


def test_pair_rule_joins_pairs_on_procedure_code_and_units(pair_program):
    assert pair_program.pair_keys == [("procedure_code", "units")]


def test_pair_rule_builds_pairs_only_for_lines_with_equal_procedure_code_and_units(pair_program):
    claim = claim_of({"lines": _lines({}, {"procedure_code": "71047"}, {}, {"units": 2, "charge": "200.00"})})

    facts = FactBuilder(pair_program).build(claim)

    assert [p["id"] for p in facts.pairs] == ["q0_2", "q2_0"]


def test_pair_rule_pairs_both_orders_with_the_fields_the_rule_reads_and_shows(pair_program):
    claim = claim_of({"lines": _lines({}, {"modifiers": ["76"]})})

    facts = FactBuilder(pair_program).build(claim)

    dos = day("2026-01-05")
    assert facts.pairs == [
        {"id": "q0_1", "t": "pair", "dos": dos, "a__line_number": 1, "a__procedure_code": "71046", "a__units": 1,
         "a__service_date": dos, "b__line_number": 2, "b__procedure_code": "71046", "b__units": 1, "same_modifiers": False},
        {"id": "q1_0", "t": "pair", "dos": dos, "a__line_number": 2, "a__procedure_code": "71046", "a__units": 1,
         "a__service_date": dos, "b__line_number": 1, "b__procedure_code": "71046", "b__units": 1, "same_modifiers": False},
    ]


def test_pairs_compare_modifiers_as_sets(pair_program):
    claim = claim_of({"lines": _lines({"modifiers": ["LT", "59"]}, {"modifiers": ["59", "lt"]})})

    facts = FactBuilder(pair_program).build(claim)

    assert [p["same_modifiers"] for p in facts.pairs] == [True, True]


def test_pair_rule_builds_no_pairs_for_lines_on_different_dates_or_without_a_date(pair_program):
    claim = claim_of({"lines": _lines({"service_date": "2026-01-05"}, {"service_date": "2026-01-06"},
                                      {"service_date": None})})

    assert FactBuilder(pair_program).build(claim).pairs == []


ANY_PAIR_RULE = """
schema_version: 1
rules:
  - id: any-pair
    title: Any two lines on one day
    category: duplicate
    severity: info
    when:
      pair: {a.line_number: {lt: {field: b.line_number}}}
    message: "Lines {a.line_number} and {b.line_number}"
    suggestion: nothing to do
    examples:
      - name: two lines
        claim: {lines: [{}, {procedure_code: "36415"}]}
        expect: [any-pair]
"""


def test_without_join_keys_every_ordered_pair_on_the_same_date_is_built():
    program = load_texts([("rules/pair.yaml", ANY_PAIR_RULE)]).program
    claim = claim_of({"lines": [{"procedure_code": "99213"}, {"procedure_code": "36415"},
                                {"procedure_code": "81002", "service_date": "2026-01-06"},
                                {"procedure_code": "85025"}]})

    facts = FactBuilder(program).build(claim)

    assert program.pair_keys is None
    assert [p["id"] for p in facts.pairs] == ["q0_1", "q0_3", "q1_0", "q1_3", "q3_0", "q3_1"]
    assert [(p["a__line_number"], p["b__line_number"]) for p in facts.pairs] == [
        (1, 2), (1, 4), (2, 1), (2, 4), (4, 1), (4, 2)]


def test_no_pairs_are_built_when_no_rule_reads_pairs():
    program = load_texts([("rules/dx.yaml", """
schema_version: 1
rules:
  - id: units-over-ten
    title: More than ten units
    category: mue
    severity: warning
    when:
      line: {units: {gt: 10}}
    message: "Line {line_number} has {units} units"
    suggestion: check the units
    examples:
      - name: eleven
        claim: {lines: [{units: 11, charge: "1100.00"}]}
        expect: [units-over-ten]
""")]).program
    claim = claim_of({"lines": _lines({}, {})})

    facts = FactBuilder(program).build(claim)

    assert facts.pairs == []
    assert facts.providers == []


def test_gate_fact_is_last_for_the_engine(shipped_program):
    claim = claim_of({"rendering_provider": {"npi": "1234567893"}, "lines": _lines({}, {})})

    facts = FactBuilder(shipped_program).build(claim)
    order = [f["t"] for f in facts.for_engine()]

    gate = facts.for_engine()[-1]
    assert gate == {"id": "g", "t": "gate"}
    assert facts.for_engine()[-1] is not gate  # a new gate per call: sessions never share one
    assert order == ["claim", "dx", "prov", "prov", "line", "line", "gate"]


def test_pair_facts_come_after_the_lines_and_before_the_gate(pair_program):
    facts = FactBuilder(pair_program).build(claim_of({"lines": _lines({}, {})}))

    assert [f["t"] for f in facts.for_engine()] == ["claim", "line", "line", "pair", "pair", "gate"]


def test_line_facts_carry_the_claim_fields_line_rules_read_or_show(shipped_program):
    claim = claim_of({})

    line = FactBuilder(shipped_program).build(claim).lines[0]

    assert {k: v for k, v in line.items() if k.startswith("claim__")} == {
        "claim__claim_type": "professional", "claim__patient_birth_date": day("1970-01-01"),
        "claim__submission_date": day("2026-01-15"), "claim__diagnosis_count": 1}


def test_fact_ids_are_unique_across_the_claim(shipped_program):
    claim = claim_of({"rendering_provider": {"npi": "1234567893"}, "diagnoses": TWO_DX,
                      "lines": _lines({}, {}, {})})

    ids = [f["id"] for f in FactBuilder(shipped_program).build(claim).for_engine()]

    assert len(ids) == len(set(ids))
