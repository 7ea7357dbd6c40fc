"""Enrichment for what a payer requires beyond the codes: CLIA for labs, NDC for drugs, an ordering
provider for ordered services, an MBI as the Medicare member id, ambulance origin/destination.

An Enricher (scrubber.pipeline.enrich.facts) that writes, per line, which requirement families the
line falls in and what is missing or wrong, so that `rules/claim_requirements.yaml` stays plain
comparisons an analyst can read. Whether a family is checked at all, and how severely, is the payer
profile's choice (`requirements:` in payers/*.yaml, scrubber.ruleset.payers).

Reference data (scrubber.refdata.store) is used where it exists: the CLIA waived-tests list, the
CMS Order and Referring file, the ASP NDC-HCPCS crosswalk and the I/OCE's OPPS facts (lab and drug
codes). A code or NPI missing from a dataset means "not listed" only when the whole dataset is
loaded (`ReferenceData.is_complete`); the silence of a shipped excerpt decides nothing.

Anesthesia (minutes, pricing modifier) and telehealth (POS and modifiers by date of service) need
no derived field: their rules test the line's own fields.
"""
from __future__ import annotations

from typing import ClassVar

import datetime as dt
import re
from dataclasses import dataclass

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.facts import Facts
from scrubber.refdata.store import ReferenceData

# Ambulance (HCPCS A0021-A0999): origin and destination are each one letter of D (diagnostic or
# therapeutic site), E (residential facility), G (hospital-based ESRD facility), H (hospital),
# I (site of transfer between modes), J (free-standing ESRD facility), N (skilled nursing facility),
# P (physician's office), R (residence), S (scene of accident), X (intermediate stop at a physician's
# office on the way to the hospital, destination only), written together as one modifier: RH
# (Medicare Claims Processing Manual, Pub. 100-04, ch. 15, section 30.A).
AMBULANCE_CODE = re.compile(r"A0[0-9]{3}")
ORIGIN_DESTINATION = re.compile(r"[DEGHIJNPRSX]{2}")
AMBULANCE_MILEAGE = frozenset({"A0425", "A0435", "A0436"})  # ground, fixed-wing, rotary-wing miles
AMBULANCE_TRANSPORT = frozenset(f"A04{n}" for n in range(26, 35))  # A0426-A0434: the trips themselves


def origin_destination_modifier(code: str | None, modifier: str) -> bool:
    """An ambulance origin/destination modifier on an ambulance code (valid there, and only there)."""
    return code is not None and AMBULANCE_CODE.fullmatch(code) is not None \
        and ORIGIN_DESTINATION.fullmatch(modifier) is not None


# Medicare Beneficiary Identifier, per position (CMS "Understanding the MBI Format"): C 1-9, N 0-9,
# A a letter but S, L, O, I, B, Z, AN either.
_MBI_LETTERS = frozenset("ACDEFGHJKMNPQRTUVWXY")
_MBI_DIGITS = frozenset("0123456789")
_MBI_KINDS = {"C": (frozenset("123456789"), "a digit from 1 to 9"),
              "N": (_MBI_DIGITS, "a digit"),
              "A": (_MBI_LETTERS, "a capital letter other than S, L, O, I, B and Z"),
              "AN": (_MBI_LETTERS | _MBI_DIGITS, "a digit or a capital letter other than S, L, O, I, B and Z")}
MBI_POSITIONS = ("C", "A", "AN", "N", "A", "AN", "N", "A", "A", "N", "N")


def mbi_problem(member_id: str) -> str | None:
    """Why a member id is not an MBI, naming the first wrong position (never the id's characters,
    which are protected health information); None for an MBI."""
    if "-" in member_id and mbi_problem(member_id.replace("-", "")) is None:
        return "it is an MBI written with dashes, as on the card; claims carry its 11 characters without them"
    if len(member_id) != 11:
        return f"it has {len(member_id)} characters; an MBI has 11"
    for position, (char, kind) in enumerate(zip(member_id, MBI_POSITIONS), start=1):
        allowed, words = _MBI_KINDS[kind]
        if char not in allowed:
            return f"position {position} must be {words}"
    return None


# CLIA: a clinical laboratory test (CPT 80047-89398, PLA ####U, MAAA ####M, or a HCPCS Level II code the
# I/OCE data marks as a lab test).
def _lab_test(code: str, facts_lab: bool) -> str | None:
    if code.isdigit() and "80047" <= code <= "89398":
        return "CPT 80047-89398"
    if code[:4].isdigit() and code[4:] in ("U", "M"):
        return "a CPT PLA or MAAA laboratory code"
    return "a HCPCS laboratory code" if facts_lab else None


# Medicare's ordering/referring edits (CR 6417/6421/6696/6856, MLN SE1305: denial from 2014-01-06)
# cover clinical laboratories, imaging (CPT radiology 70010-79999), DMEPOS suppliers and Part A home
# health agencies. DMEPOS here is HCPCS E (equipment), K (temporary DME codes), L (orthotics and
# prosthetics) and A4000-A9999 (medical and surgical supplies); K0800-K0899 are power mobility devices,
# which the Order and Referring file's PMD column governs. Home health is an institutional claim with
# type of bill 32x, 33x or 34x.
HOME_HEALTH_BILL_CLASSES = frozenset({"32", "33", "34"})
_BENEFIT_COLUMN = {"lab": ("partb", "Part B"), "imaging": ("partb", "Part B"), "DMEPOS": ("dme", "DME"),
                   "power mobility device": ("pmd", "PMD"), "home health": ("hha", "HHA")}


def _benefit(code: str, lab: bool) -> str | None:
    if lab:
        return "lab"
    if code.isdigit() and "70010" <= code <= "79999":
        return "imaging"
    letter, digits = code[:1], code[1:]
    if len(code) != 5 or not digits.isdigit():
        return None
    if letter == "K" and digits.startswith("08"):
        return "power mobility device"
    if letter in ("E", "K", "L") or (letter == "A" and digits[0] in "456789"):
        return "DMEPOS"
    return None


NDC_UNITS = frozenset({"F2", "GR", "ME", "ML", "UN"})


def ndc_problem(ndc: str) -> str | None:
    """Why a normalised NDC (scrubber.pipeline.normalise.ndc_11) is not 11 digits in 5-4-2 form."""
    if len(ndc) == 11 and ndc.isdigit():
        return None
    if len(ndc) == 10 and ndc.isdigit():
        return ("it has 10 digits without hyphens, so which part lacks its leading zero cannot be told; "
                "send it as 11 digits (5-4-2) or hyphenated as on the package (4-4-2, 5-3-2 or 5-4-1)")
    return f"it is not an NDC: {len(ndc)} characters where 11 digits (5-4-2) are expected"


class ClaimRequirements:
    """The claim-requirements enricher (CLIA, NDC, ordering provider, MBI, ambulance)."""

    provides: ClassVar[frozenset[str]] = frozenset({
        "member_id_not_mbi",  # claim
        "lab_test", "clia_waived_test", "drug_line", "ndc_problem", "ndc_not_listed", "ordering_benefit",
        "ordering_npi", "ordering_not_eligible", "origin_destination", "mileage_without_transport"})

    def __init__(self, reference: ReferenceData | None = None):
        self.ref = reference
        complete = reference.is_complete if reference is not None else (lambda _name: False)
        self.order_referring_complete = complete("order-referring")
        self.crosswalk_complete = complete("ndc-hcpcs")
        self._codes: dict[tuple[str, int | None], _CodeFacts] = {}  # what a code is on a day: codes come back

    def _code(self, code: str, dos: int | None) -> "_CodeFacts":
        """What the reference data says of a code on a day of service (cached per code and day)."""
        key = (code, dos)
        found = self._codes.get(key)
        if found is not None:
            return found
        ref = self.ref
        day = dt.date.fromordinal(dos) if dos is not None else None
        opps = ref.hcpcs_facts(code, day) if ref is not None and day is not None else None
        lab = _lab_test(code, opps is not None and opps.lab)
        waived = ref.clia_waived(code, day) if lab and ref is not None and day is not None else None
        listed = ref.ndcs_for_hcpcs(code) if ref is not None and code[:1] in "JQS" else frozenset()
        drug = opps is not None and opps.drug
        drug_line = ("a J code" if code[:1] == "J" and code[1:].isdigit() else
                     "a drug code in the HCPCS data" if code[:1] in "QS" and drug else
                     "a code of the NDC-HCPCS crosswalk" if code[:1] in "QS" and listed else None)
        found = _CodeFacts(lab, (waived.test_name or "a CLIA-waived test") if waived is not None and waived.needs_qw
                           else None, drug_line, listed, _benefit(code, lab is not None),
                           AMBULANCE_CODE.fullmatch(code) is not None)
        if len(self._codes) >= 50_000:
            self._codes.clear()
        self._codes[key] = found
        return found

    def enrich(self, claim: Claim, facts: Facts) -> None:
        patient = claim.patient
        if patient is not None and patient.member_id:
            problem = mbi_problem(patient.member_id)
            if problem is not None:
                facts.claim["member_id_not_mbi"] = problem
        if facts.lines:
            self._lines(claim, facts.lines)

    def _lines(self, claim: Claim, lines: list[dict]) -> None:
        home_health = claim.claim_type == "institutional" and _bill_class(claim.type_of_bill) in HOME_HEALTH_BILL_CLASSES
        claim_orderer = next((p.npi for p in (claim.ordering_provider, claim.referring_provider)
                              if p is not None and p.npi), None)
        if home_health and claim_orderer is None and claim.attending_provider is not None:
            claim_orderer = claim.attending_provider.npi  # 837I: the physician who certified the plan of care
        transport_days: set[int] = set()
        mileage: list[dict] = []
        for fact in lines:
            code = fact.get("procedure_code")
            dos = fact.get("service_date")
            if not code:
                continue
            known = self._code(code, dos)
            if known.lab:
                fact["lab_test"] = known.lab
                if known.waived_test:
                    fact["clia_waived_test"] = known.waived_test
            if known.drug_line:
                fact["drug_line"] = known.drug_line
            if "ndc" in fact:
                self._ndc(fact, fact["ndc"], known.listed)
            benefit = "home health" if home_health else known.benefit
            if benefit:
                fact["ordering_benefit"] = benefit
                npi = fact.get("ordering_provider_npi") or claim_orderer
                if npi:
                    fact["ordering_npi"] = npi
                    self._eligible(fact, npi, benefit)
            if known.ambulance:
                for slot in ("mod1", "mod2", "mod3", "mod4"):
                    if ORIGIN_DESTINATION.fullmatch(fact[slot]):
                        fact["origin_destination"] = fact[slot]
                        break
                if code in AMBULANCE_TRANSPORT and dos is not None:
                    transport_days.add(dos)
                elif code in AMBULANCE_MILEAGE:
                    mileage.append(fact)
        for fact in mileage:
            fact["mileage_without_transport"] = fact.get("service_date") not in transport_days

    def _ndc(self, fact: dict, ndc: str, listed: frozenset[str]) -> None:
        """The line's NDC against its form and the crosswalk's NDCs for the line's code (`listed`)."""
        problem = ndc_problem(ndc)
        if problem is not None:
            fact["ndc_problem"] = problem
        elif self.crosswalk_complete and listed and ndc not in listed:
            shown = sorted(listed)
            fact["ndc_not_listed"] = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")

    def _eligible(self, fact: dict, npi: str, benefit: str) -> None:
        if self.ref is None or not self.order_referring_complete:
            return  # an excerpt's silence says nothing about an NPI
        row = self.ref.order_referring(npi)
        if row is None:
            fact["ordering_not_eligible"] = ("it is not on the CMS Order and Referring file (not enrolled in PECOS "
                                             "as a practitioner who may order or refer)")
            return
        column, words = _BENEFIT_COLUMN[benefit]
        if not getattr(row, column):
            fact["ordering_not_eligible"] = f"the CMS Order and Referring file has {words} = N for it"


@dataclass(frozen=True)
class _CodeFacts:
    """What the reference data says of a procedure code on a day of service, for these checks."""
    lab: str | None  # why it is a lab test (None: it is not)
    waived_test: str | None  # a CLIA-waived test that needs QW: its name
    drug_line: str | None  # why it is a drug line
    listed: frozenset[str]  # the NDCs the crosswalk lists for it
    benefit: str | None  # the benefit that needs an ordering or referring provider (not home health)
    ambulance: bool  # an ambulance code (A0nnn)


def _bill_class(type_of_bill: str | None) -> str | None:
    digits = (type_of_bill or "").lstrip("0")
    return digits[:2] if len(digits) >= 2 else None
