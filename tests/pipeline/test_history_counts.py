"""What counts as claim history in MemoryHistory (scrubber/pipeline/enrich/history.py): only claims that
could have been submitted (latest scrub pass or warn, or said submitted), never voided or replaced ones;
`replaces_claim_id`; `member_lines` for the global-surgery edits. The same rule as the database history
(tests/service/test_claim_history.py); here also through the engine (duplicate and frequency rules)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.history import (
    HistoryLine, MemoryHistory, SubmissionChange, counts, member_hash,
)
from scrubber.pipeline.normalise import normalise
from scrubber.pipeline.routing import PayerRouter
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.payers import load_deployment

ROOT = Path(__file__).resolve().parents[2]
MEMBER = "1EG4TE5MK73"
TODAY = dt.date(2026, 3, 1)


def claim(claim_id: str, *, member: str = MEMBER, **parts: Any) -> Claim:
    """A clean claim (99213 on 2026-01-05, the example base line) for `member`, with `parts` over it,
    normalised (lines numbered) as the pipeline remembers it."""
    return normalise(Claim.model_validate(complete_claim({"claim_id": claim_id, "patient": {"member_id": member},
                                                          **parts})), today=TODAY)


def prior(history: MemoryHistory, claim_id: str = "NEW") -> dict[int, str]:
    """Line number -> the claim id it repeats, for a new clean claim of the member."""
    return {n: p.claim_id for n, p in history.prior_lines(claim(claim_id)).items()}


def test_counts_rule_said_status_first_then_latest_scrub():
    assert [counts(s, None) for s in ("pass", "warn", "fail", None)] == [True, True, False, True]
    assert [counts("fail", said) for said in ("submitted", "voided", "replaced")] == [True, False, False]
    assert [counts("pass", said) for said in ("submitted", "voided", "replaced")] == [True, False, False]


@pytest.mark.parametrize("status, found", [("pass", {1: "OLD"}), ("warn", {1: "OLD"}), ("fail", {}),
                                           (None, {1: "OLD"})])
def test_a_claim_counts_only_when_its_latest_scrub_passed_or_warned(status, found):
    history = MemoryHistory()
    history.remember(claim("OLD"), status)
    assert prior(history) == found


def test_a_failed_claim_counts_once_a_rescrub_passes_and_stops_when_a_later_one_fails():
    history = MemoryHistory()
    history.remember(claim("OLD"), "fail")
    assert prior(history) == {}
    history.remember(claim("OLD"), "pass")
    assert prior(history) == {1: "OLD"}
    history.remember(claim("OLD"), "fail")
    assert prior(history) == {}


def test_44_failed_claims_do_not_make_the_clean_45th_a_duplicate():
    history = MemoryHistory()
    for n in range(1, 45):
        history.remember(claim(f"TRY-{n}"), "fail")
    assert prior(history, "TRY-45") == {}
    history.remember(claim("TRY-45"), "pass")
    assert prior(history, "TRY-46") == {1: "TRY-45"}


def test_said_submitted_counts_even_when_its_scrub_failed_and_the_claim_field_says_it_too():
    history = MemoryHistory()
    history.remember(claim("SENT"), "fail")
    assert history.mark(SubmissionChange("SENT", "submitted")) is True
    assert prior(history) == {1: "SENT"}
    history.remember(claim("SENT"), "fail")  # a re-scrub does not undo what the billing system said
    assert prior(history) == {1: "SENT"}

    by_field = MemoryHistory()
    by_field.remember(claim("FIELD", submission_status="submitted"), "fail")
    assert prior(by_field) == {1: "FIELD"}


@pytest.mark.parametrize("change", [SubmissionChange("OLD", "voided"), SubmissionChange("OLD", "replaced", "NEWER"),
                                    SubmissionChange("OLD", "replaced")])
def test_voided_or_replaced_claims_stop_counting(change):
    history = MemoryHistory()
    history.remember(claim("OLD"), "pass")
    assert history.mark(change) is True
    assert prior(history) == {}
    history.remember(claim("OLD"), "pass")  # still voided or replaced after a re-scrub
    assert prior(history) == {}


def test_marking_an_unknown_claim_id_says_so_and_changes_nothing():
    history = MemoryHistory()
    history.remember(claim("OLD"), "pass")
    assert history.mark(SubmissionChange("NEVER-SCRUBBED", "voided")) is False
    assert prior(history) == {1: "OLD"}


def test_replaces_claim_id_takes_the_earlier_claim_out_once_the_replacement_counts():
    history = MemoryHistory()
    history.remember(claim("ORIG"), "pass")
    fixed = claim("FIXED", replaces_claim_id="ORIG", lines=[{"service_date": "2026-01-06"}])
    history.remember(fixed, "fail")  # the replacement does not count yet: the original still does
    assert prior(history) == {1: "ORIG"}
    history.remember(fixed, "pass")
    assert prior(history) == {}
    assert prior(history, "X") == {}  # (the new claim bills 2026-01-05; FIXED bills 2026-01-06)
    assert {n: p.claim_id for n, p in history.prior_lines(
        claim("X", lines=[{"service_date": "2026-01-06"}])).items()} == {1: "FIXED"}


def test_member_lines_are_the_members_counting_lines_on_other_claims_in_the_window():
    history = MemoryHistory()
    history.remember(claim("SURGERY", billing_provider={"npi": "1234567893"},
                           lines=[{"procedure_code": "27447", "modifiers": ["RT", "AS"], "service_date": "2026-01-10"},
                                  {"procedure_code": "20610", "service_date": "2026-01-12"}]), "pass")
    history.remember(claim("FAILED", lines=[{"procedure_code": "99214", "service_date": "2026-01-11"}]), "fail")
    history.remember(claim("OTHER-MEMBER", member="1EG4TE5MK74",
                           lines=[{"procedure_code": "99214", "service_date": "2026-01-11"}]), "pass")
    history.remember(claim("LATER", lines=[{"procedure_code": "99215", "service_date": "2026-06-01"}]), "pass")
    visit = claim("VISIT", lines=[{"procedure_code": "99213", "service_date": "2026-02-15"}])
    history.remember(visit, "pass")

    lines = history.member_lines(visit, dt.date(2026, 1, 10), dt.date(2026, 2, 15))
    assert lines == [
        HistoryLine(claim_id="SURGERY", member_hash=member_hash(MEMBER), payer_id="medicare", line_number=1,
                    service_date=dt.date(2026, 1, 10), procedure_code="27447", modifiers="AS RT", units="1",
                    billing_npi="1234567893"),
        HistoryLine(claim_id="SURGERY", member_hash=member_hash(MEMBER), payer_id="medicare", line_number=2,
                    service_date=dt.date(2026, 1, 12), procedure_code="20610", modifiers="", units="1",
                    billing_npi="1234567893")]
    assert history.member_lines(visit, dt.date(2026, 1, 11), dt.date(2026, 1, 11)) == []
    history.mark(SubmissionChange("SURGERY", "voided"))
    assert history.member_lines(visit, dt.date(2026, 1, 1), dt.date(2026, 12, 31))[0].claim_id == "LATER"


# ----------------------------------------------------------------------------- through the engine


@pytest.fixture(scope="module")
def deployment():
    return load_deployment(ROOT / "rules", ROOT / "payers")


def _scrub_and_remember(router: PayerRouter, history: MemoryHistory, c: Claim):
    result = router.scrub(c, today=TODAY)
    history.remember(c, result.status)
    return result


def test_through_the_engine_a_corrected_copy_of_a_failed_claim_is_not_a_duplicate(reference, deployment):
    history = MemoryHistory()
    router = PayerRouter(deployment, reference, history)
    try:
        failed = _scrub_and_remember(router, history, claim("DX-BAD", diagnoses=[{"code": "ZZZ99"}]))
        assert (failed.status, sorted(f.rule_id for f in failed.findings)) == ("fail", ["dx-code-unknown"])
        corrected = _scrub_and_remember(router, history, claim("DX-GOOD"))
        assert (corrected.status, corrected.findings) == ("pass", [])
        again = router.scrub(claim("DX-AGAIN"), today=TODAY)
        assert [(f.rule_id, f.lines) for f in again.findings] == [("duplicate-of-earlier-claim", [1])]
    finally:
        router.close()


def test_through_the_engine_a_failed_visit_does_not_use_up_a_lifetime_frequency_limit(reference, deployment):
    history = MemoryHistory()
    router = PayerRouter(deployment, reference, history)
    awv = {"lines": [{"procedure_code": "G0438", "service_date": "2026-01-05"}]}
    try:
        failed = _scrub_and_remember(router, history, claim("AWV-1", diagnoses=[{"code": "ZZZ99"}], **awv))
        assert failed.status == "fail" and "frequency-limit" not in {f.rule_id for f in failed.findings}
        later = router.scrub(claim("AWV-2", lines=[{"procedure_code": "G0438", "service_date": "2026-02-05"}]),
                             today=TODAY)
        assert [f.category for f in later.findings if f.category == "frequency"] == []
        history.mark(SubmissionChange("AWV-1", "submitted"))  # it was sent all the same: it counts
        later = router.scrub(claim("AWV-2", lines=[{"procedure_code": "G0438", "service_date": "2026-02-05"}]),
                             today=TODAY)
        assert [(f.category, f.lines) for f in later.findings if f.category == "frequency"] == [("frequency", [1])]
    finally:
        router.close()
