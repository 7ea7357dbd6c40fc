"""Payer profiles (scrubber.ruleset.payers, payers/*.yaml): what each payer fact does to a claim on both
sides of its dates, how a profile changes the base rules, what lint says about a bad profile,
reload without a failed request, and what-if impact."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber.pipeline.enrich.history import MemoryHistory
from scrubber.contract.claim import Claim
from scrubber.ruleset.examples import complete_claim
from scrubber.pipeline.routing import UNKNOWN_PAYER_RULE, PayerRouter
from scrubber.ruleset.payers import load_deployment, load_deployment_texts
from scrubber.ruleset.loader import RuleSetError

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 1, 15)


@pytest.fixture(scope="module")
def deployment():
    return load_deployment(ROOT / "rules", ROOT / "payers")


@pytest.fixture(scope="module")
def router(deployment, reference):
    history = MemoryHistory()
    r = PayerRouter(deployment, reference, history)
    r.history = history
    yield r
    r.close()


def scrub(router, payer: str, partial: dict[str, Any], *, today: dt.date = TODAY, as_of=None):
    claim = Claim.model_validate(complete_claim({**partial, "payer": {"id": payer, "name": payer}}))
    return router.scrub(claim, today=today, as_of=as_of)


def fired(result) -> list[tuple[str, str, str, list[int]]]:
    return [(f.rule_id, f.category, f.severity, f.lines) for f in result.findings]


# ------------------------------------------------------------------------------ selection

def test_the_shipped_profiles_load_with_their_generated_rules(deployment):
    assert sorted(deployment.payers) == ["acme-health", "medicare", "northwind", "state-medicaid"]
    medicare = {c.rule.id for c in deployment.payers["medicare"].ruleset.program.rules}
    assert {"medicare-timely-filing", "medicare-routine-physical", "medicare-vitamin-d-testing",
            "medicare-awv-initial-once", "medicare-screening-colonoscopy"} <= medicare
    assert all(p.model.example_profile for p in deployment.payers.values() if p.id != "medicare")


def test_an_unknown_payer_gets_the_base_rules_and_a_warning(router):
    result = scrub(router, "no-such-payer", {})

    assert [(f.rule_id, f.category, f.severity, f.field, f.message) for f in result.findings] == [
        (UNKNOWN_PAYER_RULE, "payer_specific", "warning", "payer.id",
         "No payer profile for payer id 'no-such-payer': only the base rules were applied")]
    assert result.status == "warn"
    assert scrub(router, "medicare", {}).findings == []


# ------------------------------------------------------------------------------ payer facts

@pytest.mark.parametrize("submitted, expected", [
    ("2026-03-10", []),  # 12 months to the day
    ("2026-03-11", [("medicare-timely-filing", "timely_filing", "error", [1])]),
])
def test_medicare_timely_filing_is_12_months_after_the_date_of_service(router, submitted, expected):
    result = scrub(router, "medicare", {"submission_date": submitted, "lines": [{"service_date": "2025-03-10"}]},
                   today=dt.date.fromisoformat(submitted))

    assert [f for f in fired(result) if f[1] == "timely_filing"] == expected
    if expected:
        assert result.findings[0].message == (
            "Line 1 (99213) of 2025-03-10 is submitted 13 months after the date of service; Medicare Part B "
            "accepts claims up to 12 months after it")
        assert result.findings[0].carc == "CO-29"


@pytest.mark.parametrize("days, expected", [(90, []), (91, ["acme-health-timely-filing"])])
def test_a_commercial_payer_counts_days(router, days, expected):
    dos = dt.date(2025, 10, 1)
    submitted = dos + dt.timedelta(days=days)
    result = scrub(router, "acme-health", {"submission_date": submitted.isoformat(),
                                           "lines": [{"service_date": dos.isoformat()}]}, today=submitted)

    assert [f.rule_id for f in result.findings if f.category == "timely_filing"] == expected


@pytest.mark.parametrize("day, expected", [
    ("2025-12-31", []),  # 95810 is not on the 2025 list
    ("2026-01-01", ["acme-imaging-2026"]),
])
def test_prior_authorization_lists_are_effective_dated(router, day, expected):
    result = scrub(router, "acme-health", {"submission_date": "2026-01-10",
                                           "lines": [{"procedure_code": "95810", "service_date": day}]},
                   today=dt.date(2026, 1, 10))

    assert [f.rule_id for f in result.findings if f.category == "prior_auth"] == expected


def test_prior_authorization_finding_and_its_number(router):
    without = scrub(router, "acme-health", {"lines": [{"procedure_code": "72148"}]})
    with_number = scrub(router, "acme-health", {"prior_authorization": "PA-778", "lines": [{"procedure_code": "72148"}]})

    assert [(f.rule_id, f.carc, f.lines, f.message) for f in without.findings] == [(
        "acme-imaging-2026", "CO-197", [1],
        "Line 1: 72148 needs a prior authorization from Acme Health (example commercial) (CT, MRI and sleep "
        "studies need prior authorization (2026 list)) and the claim has no authorization number")]
    assert with_number.findings == []


def test_vitamin_d_testing_is_covered_only_for_listed_indications(router):
    lab = {"clia_number": "05D0642827", "referring_provider": {"npi": "1234567893"}}  # what Medicare requires of a lab claim
    screening = scrub(router, "medicare", {**lab, "diagnoses": [{"code": "Z13.21"}],
                                           "lines": [{"procedure_code": "82306"}]})
    deficiency = scrub(router, "medicare", {**lab, "diagnoses": [{"code": "E55.9"}],
                                            "lines": [{"procedure_code": "82306"}]})
    other_payer = scrub(router, "acme-health", {"diagnoses": [{"code": "Z13.21"}],
                                                "lines": [{"procedure_code": "82306"}]})

    assert [(f.rule_id, f.category, f.carc, f.rarc, f.lines) for f in screening.findings] == [
        ("medicare-vitamin-d-testing", "medical_necessity", "CO-50", "N115", [1])]
    assert "LCD L36692" in screening.findings[0].message
    assert deficiency.findings == []
    assert other_payer.findings == []


def test_routine_physicals_are_not_covered_by_medicare(router):
    result = scrub(router, "medicare", {"lines": [{"procedure_code": "99396"}]})

    # and the PFS gives 99396 status N (rules/payment_policy.yaml, on for Medicare): the same denial, from the file
    assert fired(result) == [("fee-status-non-covered", "fee_schedule", "error", [1]),
                             ("medicare-routine-physical", "coverage", "error", [1])]
    assert [f.carc for f in result.findings] == ["CO-96", "CO-96"]


def test_frequency_counts_earlier_claims_and_lines_of_this_claim(router):
    history = router.history
    history.clear()
    history.remember(Claim.model_validate(complete_claim(
        {"claim_id": "AWV-2025", "lines": [{"procedure_code": "G0439", "service_date": "2025-03-01"}]})))

    within = scrub(router, "medicare", {"claim_id": "AWV-NEW", "lines": [{"procedure_code": "G0439",
                                                                          "service_date": "2026-01-05"}]})
    later = scrub(router, "medicare", {"claim_id": "AWV-NEW", "submission_date": "2026-03-15",
                                       "lines": [{"procedure_code": "G0439", "service_date": "2026-03-01"}]},
                  today=dt.date(2026, 3, 15))
    twice_here = scrub(router, "medicare", {"claim_id": "AWV-TWO", "lines": [
        {"procedure_code": "G0438", "service_date": "2026-01-02"},
        {"procedure_code": "G0438", "service_date": "2026-01-05"}]})
    history.clear()

    assert [(f.rule_id, f.category, f.carc, f.lines, f.message) for f in within.findings] == [(
        "medicare-awv-subsequent-yearly", "frequency", "CO-119", [1],
        "Line 1: G0439 would be service 2 of 'Subsequent annual wellness visit (G0439)' within 365 days; "
        "Medicare Part B allows 1 (earlier: 2025-03-01 (G0439, claim AWV-2025))")]
    assert later.findings == []  # 365 days after 2025-03-01
    assert [(f.rule_id, f.lines) for f in twice_here.findings] == [("medicare-awv-initial-once", [2])]


# ------------------------------------------------------------------------------ changes to base rules

def test_an_override_changes_a_base_rule_for_that_payer_only(router):
    repeated = {"lines": [{"diagnosis_pointers": [1, 1]}]}

    assert [(f.rule_id, f.severity) for f in scrub(router, "acme-health", repeated).findings] == [
        ("pointer-repeated", "error")]
    assert [(f.rule_id, f.severity) for f in scrub(router, "medicare", repeated).findings] == [
        ("pointer-repeated", "warning")]


def test_a_disabled_base_rule_does_not_run_for_that_payer(router):
    both = {"lines": [{"procedure_code": "64483", "modifiers": ["50", "LT"]}]}

    assert "modifier-50-with-side" not in [f.rule_id for f in scrub(router, "acme-health", both).findings]
    assert "modifier-50-with-side" in [f.rule_id for f in scrub(router, "medicare", both).findings]


def test_a_value_set_append_applies_to_that_payer_only(router):
    eyelid = {"prior_authorization": "PA-1", "lines": [{"procedure_code": "15823", "modifiers": ["50", "E1"]}]}

    assert "modifier-50-with-side" in [f.rule_id for f in scrub(router, "northwind", eyelid).findings]
    assert "modifier-50-with-side" not in [f.rule_id for f in scrub(router, "medicare", eyelid).findings]


def test_a_payer_specific_rule_in_the_rule_language(router):
    result = scrub(router, "northwind", {})

    assert fired(result) == [("northwind-rendering-npi-required", "payer_specific", "error", [])]


# ------------------------------------------------------------------------------ as_of

def test_as_of_scrubs_by_the_payer_policy_in_force_on_that_day(router):
    claim = {"submission_date": "2026-01-10", "lines": [{"procedure_code": "95810", "service_date": "2025-12-15"}]}

    on_dos = scrub(router, "acme-health", claim, today=dt.date(2026, 1, 10))
    as_of = scrub(router, "acme-health", claim, today=dt.date(2026, 1, 10), as_of=dt.date(2026, 1, 2))

    assert [f.rule_id for f in on_dos.findings] == []
    assert [f.rule_id for f in as_of.findings] == ["acme-imaging-2026"]
    assert as_of.ruleset.effective_date == dt.date(2026, 1, 2)
    assert on_dos.ruleset.effective_date == dt.date(2025, 12, 15)


# ------------------------------------------------------------------------------ lint

BASE = [(f"rules/{p.name}", p.read_text()) for p in sorted((ROOT / "rules").glob("*.yaml"))]


def lint(text: str, name: str = "payers/bad.yaml") -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_deployment_texts(BASE, [(name, text)])
    return [str(p) for p in caught.value.problems]


def test_lint_names_an_unknown_override_target_and_disable_target_with_their_lines():
    problems = lint("""\
schema_version: 1
payer: {id: bad, name: Bad}
disable: [no-such-rule]
overrides:
  - id: pointer-repeatd
    severity: error
""")
    assert problems == [
        "payers/bad.yaml:3:11: 'no-such-rule' is not a base rule id; nothing to disable",
        "payers/bad.yaml:5:5: 'pointer-repeatd' is not a base rule id; an override changes a rule of rules/ "
        "(write a payer rule under 'rules:' instead)"]


def test_lint_wants_examples_when_an_override_changes_the_condition():
    problems = lint("""\
schema_version: 1
payer: {id: bad, name: Bad}
overrides:
  - id: pointer-repeated
    when:
      line: {repeated_pointer: {gt: 2}}
""")
    assert problems == ["payers/bad.yaml:5:5: this override changes when 'pointer-repeated' fires, so it "
                        "needs its own 'examples' (the base rule's no longer prove it)"]


def test_lint_explains_schema_mistakes_and_duplicates_in_plain_words():
    problems = lint("""\
schema_version: 1
payer: {id: bad, name: Bad}
timely_filing: {dayz: 90}
prior_authorization:
  - id: npi-check-digit
    title: Clashes with a base rule id
    codes: ["70551"]
value_sets:
  no_such_set: {append: ["X"]}
""")
    assert problems[0].startswith("payers/bad.yaml:3:17: 'dayz' is not a setting here; did you mean 'days'?")
    assert len(problems) == 1  # the file is refused before its content is checked


def test_lint_refuses_a_base_id_reused_and_an_unknown_value_set():
    problems = lint("""\
schema_version: 1
payer: {id: bad, name: Bad}
prior_authorization:
  - id: npi-check-digit
    title: Clashes with a base rule id
    codes: ["70551"]
value_sets:
  no_such_set: {append: ["X"]}
""")
    assert problems == [
        "payers/bad.yaml:4:5: rule id 'npi-check-digit' is already used; ids must be unique across the base "
        "rules and this profile",
        "payers/bad.yaml:8:3: no base rule file has a value set named 'no_such_set'"]


def test_two_profiles_for_one_payer_are_refused():
    text = "schema_version: 1\npayer: {id: twice, name: Twice}\n"
    with pytest.raises(RuleSetError) as caught:
        load_deployment_texts(BASE, [("payers/a.yaml", text), ("payers/b.yaml", text)])
    assert [str(p) for p in caught.value.problems] == [
        "payers/b.yaml:2:9: payer 'twice' already has a profile in payers/a.yaml; one file per payer"]


# ------------------------------------------------------------------------------ reload and impact (service)

@pytest.fixture()
def editable(tmp_path, monkeypatch):
    """The shipped rules and payers copied where a test may change them, and the service's
    configuration pointing there."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "payers", tmp_path / "payers")
    monkeypatch.setenv("SCRUBBER_RULES_DIR", str(tmp_path / "rules"))
    monkeypatch.setenv("SCRUBBER_PAYERS_DIR", str(tmp_path / "payers"))
    return tmp_path


def _claim(claim_id: str, code: str = "95810") -> dict:
    return complete_claim({"claim_id": claim_id, "payer": {"id": "acme-health", "name": "Acme"},
                           "patient": {"member_id": f"M-{claim_id}"}, "submission_date": "2026-01-15",
                           "lines": [{"procedure_code": code}]})


def test_reload_swaps_in_a_changed_profile_and_refuses_a_broken_one(editable, store):
    from scrubber.service.app import create_app

    with TestClient(create_app(store=store)) as client:
        before = client.post("/v1/claims/scrub", json=_claim("R-1", "97530")).json()
        profile = editable / "payers" / "acme-commercial.yaml"
        profile.write_text(profile.read_text().replace('"95810", "95811"]', '"95810", "95811", "97530"]'))

        reloaded = client.post("/v1/rules/reload")
        after = client.post("/v1/claims/scrub", json=_claim("R-2", "97530")).json()

        assert reloaded.status_code == 200, reloaded.text
        body = reloaded.json()
        assert body["previous_revision"] == before["ruleset"]["revision"] != body["revision"]
        assert body["payers"] == ["acme-health", "medicare", "northwind", "state-medicaid"]
        assert [f["rule_id"] for f in before["findings"]] == []
        assert [f["rule_id"] for f in after["findings"]] == ["acme-imaging-2026"]
        assert after["ruleset"]["revision"] == body["revision"]

        profile.write_text(profile.read_text().replace("limit: 20", "limit: twenty"))
        refused = client.post("/v1/rules/reload")
        still = client.post("/v1/claims/scrub", json=_claim("R-3", "97530")).json()

        assert refused.status_code == 422
        problem = refused.json()
        assert problem["type"] == "/problems/rules-invalid"
        assert problem["errors"][0]["field"].startswith("payers/acme-commercial.yaml:")
        assert still["ruleset"]["revision"] == body["revision"]


def test_reload_refuses_a_set_whose_examples_fail(editable, store):
    from scrubber.service.app import create_app

    rule_file = editable / "rules" / "modifiers.yaml"
    with TestClient(create_app(store=store)) as client:
        running = client.get("/readyz").json()["revision"]
        rule_file.write_text(rule_file.read_text().replace(
            'claim: {lines: [{procedure_code: "71046", modifiers: ["26"]}]}\n        expect: []',
            'claim: {lines: [{procedure_code: "71046", modifiers: ["26"]}]}\n        expect: [modifier-26-with-tc]'))

        refused = client.post("/v1/rules/reload")

        assert refused.status_code == 422
        assert refused.json()["type"] == "/problems/examples-failed"
        assert "modifier-26-with-tc" in refused.json()["errors"][0]["message"]
        assert client.get("/readyz").json()["revision"] == running


def test_reload_under_concurrent_load_fails_no_request(editable, store):
    from scrubber.service.app import create_app

    profile = editable / "payers" / "acme-commercial.yaml"
    original = profile.read_text()
    failures: list[str] = []
    revisions: set[str] = set()
    stop = threading.Event()
    with TestClient(create_app(store=store)) as client:
        def load(worker: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                response = client.post("/v1/claims/scrub", json=_claim(f"L{worker}-{n}", "99213"))
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    revisions.add(response.json()["ruleset"]["revision"])
                batch = client.post("/v1/claims/scrub/batch", content=b"".join(
                    json.dumps(_claim(f"B{worker}-{n}-{i}", "99213")).encode() + b"\n" for i in range(5)),
                    headers={"content-type": "application/x-ndjson"})
                if batch.status_code != 200 or len(batch.text.splitlines()) != 5:
                    failures.append(f"batch {batch.status_code}")

        threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        reloads = []
        for i in range(4):
            profile.write_text(original.replace("days: 90", f"days: {91 + i}"))
            reloads.append(client.post("/v1/rules/reload").status_code)
        stop.set()
        for t in threads:
            t.join()

    assert reloads == [200, 200, 200, 200]
    assert failures == []
    assert len(revisions) >= 2


def test_impact_counts_the_stored_claims_a_candidate_would_change(editable, store):
    from scrubber.service.app import create_app

    with TestClient(create_app(store=store)) as client:
        for claim_id, code in [("I-1", "97530"), ("I-2", "97530"), ("I-3", "99213")]:
            assert client.post("/v1/claims/scrub", json=_claim(claim_id, code)).status_code == 200
        profile = (editable / "payers" / "acme-commercial.yaml").read_text()
        candidate = profile.replace('"95810", "95811"]', '"95810", "95811", "97530"]')

        response = client.post("/v1/rules/impact", json={
            "files": [{"name": "payers/acme-commercial.yaml", "text": candidate}]})

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["claims"], report["changed_claims"], report["newly_failing"], report["newly_passing"]) == (3, 2, 2, 0)
    assert report["status_changes"] == {"pass->fail": 2}
    assert report["rules"] == [{"rule_id": "acme-imaging-2026", "newly_fired": 2, "no_longer_fired": 0,
                                "example_claims_fired": ["I-2", "I-1"], "example_claims_cleared": []}]
    assert report["current_revision"] != report["candidate_revision"]


def test_impact_of_a_broken_candidate_is_a_422_with_the_problems(editable, store):
    from scrubber.service.app import create_app

    with TestClient(create_app(store=store)) as client:
        response = client.post("/v1/rules/impact", json={
            "files": [{"name": "payers/acme-commercial.yaml", "text": "schema_version: 1\npayer: {id: acme-health}\n"}]})

    assert response.status_code == 422
    assert response.json()["errors"][0] == {"field": "payers/acme-commercial.yaml:2:1",
                                            "message": "'name' is required here"}


def test_impact_on_the_command_line_with_a_corpus(tmp_path, capsys):
    from scrubber.cli import main

    (tmp_path / "candidate").mkdir()
    shutil.copytree(ROOT / "payers", tmp_path / "candidate" / "payers")
    acme = tmp_path / "candidate" / "payers" / "acme-commercial.yaml"
    acme.write_text(acme.read_text().replace('"95810", "95811"]', '"95810", "95811", "99213"]'))
    corpus = tmp_path / "corpus.ndjson"
    corpus.write_text("".join(json.dumps(complete_claim({"claim_id": f"C{i}", "payer": {
        "id": "acme-health" if i % 2 else "medicare", "name": "P"}})) + "\n" for i in range(6)))

    code = main(["rules", "impact", "--candidate", str(tmp_path / "candidate"), "--corpus", str(corpus), "--json"])

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["claims"], report["newly_failing"], report["status_changes"]) == (6, 3, {"pass->fail": 3})
    assert [(r["rule_id"], r["newly_fired"], r["example_claims_fired"]) for r in report["rules"]] == [
        ("acme-imaging-2026", 3, ["C1", "C3", "C5"])]


def test_impact_needs_a_candidate_that_holds_rules_or_payers(tmp_path, capsys):
    from scrubber.cli import main

    assert main(["rules", "impact", "--candidate", str(tmp_path)]) == 2
    assert "holds neither rules/ nor payers/" in capsys.readouterr().err
