"""FHIR claim kinds and the dates, type of bill and units real Claims leave implicit (issue 15), as
scrubber/intake/fhir.py maps them:

* ``use`` preauthorization (a Da Vinci PAS request) or predetermination is refused at ``use``, as an
  oral, pharmacy or vision claim is refused at ``type``;
* an item without ``servicedDate`` / ``servicedPeriod`` takes the Claim's ``billablePeriod``;
* an institutional Claim's type of bill may come from ``subType`` (never over supportingInfo's);
* an item without ``quantity`` is 1 unit, as its charge (unitPrice x 1) assumed.

Built on the fixtures in tests/fixtures/fhir (SOURCES.md): the Synthea-shaped
synthea-claim-billable-period.json, the Da Vinci PAS-shaped pas-request-bundle.json, and the HL7
institutional example claim-institutional.json."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from scrubber.contract.claim import Claim
from scrubber.intake.fhir import read_fhir, read_fhir_claims
from tests.intake.fhir_results import errors, mapped, only

FIXTURES = Path(__file__).parents[1] / "fixtures" / "fhir"
TYPE_OF_BILL = "https://www.nubc.org/CodeSystem/TypeOfBill"
EX_SUBTYPE = "http://terminology.hl7.org/CodeSystem/ex-claimsubtype"
CARIN_SUBTYPE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBInstitutionalClaimSubType"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def institutional_without_type_of_bill() -> dict[str, Any]:
    """The HL7 UB-04-shaped example with its supportingInfo typeofbill taken out."""
    resource = load("claim-institutional.json")
    resource["supportingInfo"] = [info for info in resource["supportingInfo"]
                                  if info["category"]["coding"][0]["code"] != "typeofbill"]
    return resource


# use: preauthorization / predetermination ------------------------------------------------------

def test_a_da_vinci_pas_request_is_refused_at_use():
    result = only(read_fhir(load("pas-request-bundle.json")))
    assert str(result) == "preauthorization requests are not supported"
    assert errors(result) == [("use", ("is 'preauthorization', a prior authorization request (Da Vinci PAS): "
                                       "the scrubber checks claims for services given, use = claim"))]


def test_a_predetermination_is_refused_at_use():
    resource = load("synthea-claim-billable-period.json")
    resource["use"] = "predetermination"
    result = only(read_fhir(resource))
    assert str(result) == "predetermination requests are not supported"
    assert errors(result) == [("use", ("is 'predetermination', a predetermination (a request for an estimate of "
                                       "what the payer would pay): the scrubber checks claims for services given, "
                                       "use = claim"))]


def test_a_refused_request_does_not_take_its_bundle_siblings_with_it():
    bundle = load("pas-request-bundle.json")
    claim = copy.deepcopy(bundle["entry"][0])
    claim["resource"].update(id="PASClaimBilled", use="claim")
    claim["resource"]["item"][0]["servicedDate"] = "2026-03-04"
    bundle["entry"].append(claim)
    (first, refused), (second, billed) = read_fhir_claims(bundle)
    assert (first, [e.field for e in refused.errors]) == ("PASClaimRequest", ["use"])
    assert second == "PASClaimBilled" and isinstance(billed, Claim)
    assert (billed.lines[0].procedure_code, str(billed.lines[0].service_date), billed.lines[0].units) == (
        "64483", "2026-03-04", 1)


# billablePeriod as the lines' dates ------------------------------------------------------------

def test_lines_without_a_date_take_the_billable_period():
    result = mapped(load("synthea-claim-billable-period.json"))
    (line,) = result["lines"]
    assert (line["service_date"], line["service_date_end"]) == ("2026-03-10", "2026-03-10")
    assert result["diagnoses"] == [{"code": "44054006"}]  # SNOMED, kept for the rules to judge by that date


def test_a_line_keeps_its_own_date_and_only_the_undated_one_takes_the_billable_period():
    resource = load("claim-institutional.json")  # billablePeriod 2026-11-03 .. 2026-11-06
    del resource["item"][1]["servicedDate"]
    lines = mapped(resource)["lines"]
    assert [(ln["service_date"], ln["service_date_end"]) for ln in lines] == [
        ("2026-11-03", "2026-11-05"), ("2026-11-03", "2026-11-06"), ("2026-11-04", None), ("2026-11-03", None)]


def test_without_a_billable_period_an_undated_line_stays_undated():
    resource = load("synthea-claim-billable-period.json")
    del resource["billablePeriod"]
    (line,) = mapped(resource)["lines"]
    assert (line["service_date"], line["service_date_end"]) == (None, None)


def test_an_institutional_claims_statement_period_is_still_the_billable_period():
    resource = load("claim-institutional.json")
    del resource["item"][0]["servicedPeriod"]
    result = mapped(resource)
    assert (result["statement_from"], result["statement_to"]) == ("2026-11-03", "2026-11-06")
    assert (result["lines"][0]["service_date"], result["lines"][0]["service_date_end"]) == ("2026-11-03", "2026-11-06")


# subType as the type of bill -------------------------------------------------------------------

@pytest.mark.parametrize(("coding", "expected"), [
    ({"system": TYPE_OF_BILL, "code": "0131"}, ("0131", "1")),
    ({"system": "http://example.org/ub04/fl4", "code": "0117"}, ("0117", "7")),  # 4 digits, any system
    ({"code": "111"}, ("111", "1")),                                            # 3 digits, no system
    ({"system": EX_SUBTYPE, "code": "emergency"}, (None, None)),                 # the HL7 example's subtype
    ({"system": CARIN_SUBTYPE, "code": "inpatient"}, (None, None)),             # CARIN's subtype
])
def test_type_of_bill_from_sub_type(coding, expected):
    resource = institutional_without_type_of_bill()
    resource["subType"] = {"coding": [coding]}
    result = mapped(resource)
    assert (result["type_of_bill"], result["frequency_code"]) == expected


def test_the_type_of_bill_system_wins_over_another_coding_in_sub_type():
    resource = institutional_without_type_of_bill()
    resource["subType"] = {"coding": [{"system": CARIN_SUBTYPE, "code": "outpatient"}, {"code": "999"},
                                      {"system": TYPE_OF_BILL, "code": "0137"}]}
    assert mapped(resource)["type_of_bill"] == "0137"


def test_a_type_of_bill_in_supporting_info_is_not_overridden_by_sub_type():
    resource = load("claim-institutional.json")  # supportingInfo typeofbill 0111
    resource["subType"] = {"coding": [{"system": TYPE_OF_BILL, "code": "0137"}]}
    result = mapped(resource)
    assert (result["type_of_bill"], result["frequency_code"]) == ("0111", "1")


def test_a_professional_claim_has_no_type_of_bill_from_sub_type():
    resource = load("synthea-claim-billable-period.json")
    resource["subType"] = {"coding": [{"system": TYPE_OF_BILL, "code": "0131"}]}
    result = mapped(resource)
    assert (result["type_of_bill"], result["frequency_code"]) == (None, None)


def test_a_type_of_bill_the_contract_refuses_is_reported_at_sub_type():
    resource = institutional_without_type_of_bill()
    resource["subType"] = {"coding": [{"system": TYPE_OF_BILL, "code": "X" * 41}]}
    assert [field for field, _ in errors(only(read_fhir(resource)))] == ["subType"]


# quantity ---------------------------------------------------------------------------------------

def test_an_item_without_quantity_is_one_unit_as_its_charge_assumed():
    (line,) = mapped(load("synthea-claim-billable-period.json"))["lines"]
    assert (line["units"], line["charge"]) == (1, "110.00")


def test_a_quantity_without_a_value_is_one_unit_too():
    resource = load("synthea-claim-billable-period.json")
    resource["item"][0]["quantity"] = {"unit": "visit"}
    (line,) = mapped(resource)["lines"]
    assert (line["units"], line["charge"]) == (1, "110.00")


def test_a_quantity_that_is_sent_is_kept():
    resource = load("synthea-claim-billable-period.json")
    resource["item"][0]["quantity"] = {"value": 2}
    (line,) = mapped(resource)["lines"]
    assert (line["units"], line["charge"]) == (2, "220.00")
