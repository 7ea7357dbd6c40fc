"""Payer routing and normalisation (scrubber.pipeline.routing, scrubber.pipeline.normalise): the payer id is
matched the way it is normalised, before routing, and scrubbing never changes the claim it is given."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.history import MemoryHistory
from scrubber.pipeline.normalise import normalise
from scrubber.pipeline.routing import UNKNOWN_PAYER_RULE, PayerRouter
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.payers import load_deployment

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 1, 15)


@pytest.fixture(scope="module")
def router(reference):
    r = PayerRouter(load_deployment(ROOT / "rules", ROOT / "payers"), reference, MemoryHistory())
    yield r
    r.close()


def medicare_claim(payer_id: str, **changes) -> Claim:
    """A Medicare claim submitted 13 months after its date of service: only Medicare's timely-filing
    rule (12 months) fires on it."""
    return Claim.model_validate(complete_claim({
        "payer": {"id": payer_id, "name": "Medicare"}, "submission_date": "2026-03-11",
        "lines": [{"service_date": "2025-03-10"}], **changes}))


@pytest.mark.parametrize("payer_id", ["medicare", "Medicare", " MEDICARE "])
def test_a_payer_id_in_any_case_or_padding_is_routed_to_its_profile(router, payer_id):
    judged = router.judge(medicare_claim(payer_id), today=TODAY)

    assert [f.rule_id for f in judged.result.findings] == ["medicare-timely-filing"]
    assert UNKNOWN_PAYER_RULE not in {f.rule_id for f in judged.result.findings}
    assert judged.claim.payer.id == "medicare"  # what is stored is what was routed on


def test_an_unknown_payer_id_is_still_unknown_after_normalising(router):
    judged = router.judge(medicare_claim("Nobody"), today=TODAY)

    assert [(f.rule_id, f.field) for f in judged.result.findings] == [(UNKNOWN_PAYER_RULE, "payer.id")]
    assert "'nobody'" in judged.result.findings[0].message


def test_scrubbing_never_changes_the_claim_it_is_given(router):
    claim = medicare_claim("Medicare", diagnoses=[{"code": "e119"}],
                           lines=[{"service_date": "2025-03-10", "procedure_code": "99213",
                                   "modifiers": ["25 "], "diagnosis_pointers": ["A"]}])
    before = claim.model_dump()

    judged = router.judge(claim, today=TODAY)

    assert claim.model_dump() == before
    assert judged.claim is not claim
    assert (judged.claim.payer.id, judged.claim.diagnoses[0].code, judged.claim.lines[0].modifiers,
            judged.claim.lines[0].diagnosis_pointers) == ("medicare", "E11.9", ["25"], [1])


def test_normalise_returns_a_new_claim_and_shares_what_needs_no_change():
    claim = Claim.model_validate(complete_claim({"diagnoses": [{"code": "E11.9"}, {"code": "i10"}]}))
    before = claim.model_dump()

    canonical = normalise(claim, today=TODAY)

    assert claim.model_dump() == before
    assert canonical.diagnoses[1].code == "I10" and canonical.diagnoses[0] is claim.diagnoses[0]
