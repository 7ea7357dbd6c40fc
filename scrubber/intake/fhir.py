"""FHIR R4 Claim resources (and Bundles of them) in, the contract's claim JSON out.

:func:`read_fhir` takes a ``Claim`` or a ``Bundle`` (any ``Bundle.type``: transaction, batch,
collection, searchset, message...) and returns one ``(label, claim dict or ClaimError)`` per
Claim, in the order the Bundle lists them. The label is the Claim's ``id``; a Claim without
one is labelled ``entry[3]`` (its place in the Bundle) or ``Claim`` (a Claim sent alone).

Resources are read with the R4B models of ``fhir.resources`` (FHIR 4.3.0; R4B did not change
the R4 4.0.1 Claim, Patient, Coverage, Organization or Practitioner). That validation is
FHIR's, not the scrubber's, so it is strict where FHIR is: a Claim must have its ``status``,
``use``, ``type``, ``patient``, ``created``, ``provider``, ``priority`` and ``insurance``, and
an element FHIR does not define is refused. A Claim that fails it becomes a ClaimError listing
each bad element by its FHIR path (``item[0].quantity.value``), relative to the Claim; a
Patient, Coverage, Organization... entry of the Bundle that the Claim refers to and that
fails it is reported on that Claim as ``entry[2].resource.birthDate``. fhir.resources checks
required primitive elements (``status``, ``use``, ``created``, ``sequence``) and choice
elements (``servicedDate`` or ``servicedPeriod``) only once every other element is well formed,
so those may be reported on a second try. It is lax where pydantic is: ``"2"`` is accepted for
a decimal and ``"1"`` for a positiveInt. Speed is no concern: about 1 ms a Claim.

What is not a Claim:

* Other resources in a Bundle (Patient, Coverage, Organization, Practitioner, a message's
  MessageHeader...) are not results: they are only there to be referred to. An entry without
  a resource (a DELETE in a transaction) is skipped too. An entry that is not a JSON object, or
  whose resource has no resourceType, gets an error result of its own (it may have been a
  Claim). A Bundle with no Claim at all raises :class:`FhirError`.
* Invalid JSON, a body that is neither a Claim nor a Bundle, or a Bundle whose own elements
  (``type``...) are not valid FHIR raise :class:`FhirError` (a ``ValueError``; the API answers
  422).

The mapping (FHIR element -> contract field). Codes are taken from the coding in the expected
code system; when there is none, from the first coding with a code, whatever its system (so
the rules report a SNOMED diagnosis as an invalid ICD-10-CM code rather than lose it).

* ``identifier[0].value`` (else ``id``) -> ``claim_id``.
* ``type.coding`` (http://terminology.hl7.org/CodeSystem/claim-type): ``professional`` or
  ``institutional`` -> ``claim_type``; ``oral``, ``pharmacy``, ``vision`` or anything else is
  a ClaimError (the scrubber checks 837P/837I claims only).
* ``use``: only ``claim`` is scrubbed. A ``preauthorization`` (a Da Vinci PAS prior authorization
  request) or a ``predetermination`` asks what the payer would cover, before the service: it is a
  ClaimError at ``use``, as an unsupported claim type is (it has no charges or dates to check).
* ``created`` -> ``submission_date`` (the date part of a dateTime).
* ``insurer`` -> ``payer``; when the Claim has no insurer, the first ``payor`` of the
  Coverage. ``payer.id`` is the Organization's identifier typed ``payerid`` (CARIN) or
  ``NIIP`` (v2-0203), else its first identifier, else the Reference's own ``identifier``;
  ``payer.name`` is ``Organization.name``, else the Reference's ``display``. The FHIR resource
  id is never used as a payer id.
* ``patient`` -> ``patient``: ``name`` (the ``official`` one, else ``usual``, else the first):
  ``given[0]`` -> ``first_name``, ``family`` -> ``last_name``; ``birthDate`` -> ``birth_date``;
  ``deceasedDateTime`` -> ``death_date``; ``gender`` male/female/other/unknown -> M/F/U/U
  (another value is kept as sent, for the rules). ``member_id`` is the ``subscriberId`` of the
  focal insurance's Coverage (``insurance`` with ``focal`` true, else the first), as in an 837
  the member id is the subscriber's; else the Patient identifier typed ``MB`` (v2-0203), else
  its first identifier not typed ``MR`` (a medical record number is never a member id).
* ``provider`` -> ``billing_provider``; the careTeam member whose ``role`` is ``rendering`` or
  ``performing`` (CARIN, newer THO), else ``primary`` (R4 claimcareteamrole) ->
  ``rendering_provider``; the one whose role is ``referring`` -> ``referring_provider``
  (R4's claimcareteamrole has no referring code; ``Claim.referral`` points at a
  ServiceRequest and is not followed). For each: ``npi`` is the identifier with system
  http://hl7.org/fhir/sid/us-npi, ``tax_id`` the one with system urn:oid:2.16.840.1.113883.4.4
  (IRS EIN) or typed ``TAX``, ``taxonomy`` a code in http://nucc.org/provider-taxonomy from the
  careTeam ``qualification``, else ``Practitioner.qualification``, else
  ``PractitionerRole.specialty`` (only NUCC codes: a qualification is often a degree). A
  PractitionerRole's identifiers are followed by its practitioner's and organization's. A
  logical Reference (``identifier`` only, nothing to resolve) still gives its identifier.
* ``diagnosis[]`` -> ``diagnoses``: the ones whose ``type`` is ``principal`` first, then the
  others by ``sequence``. A diagnosis typed only ``admitting`` or ``patientreasonforvisit`` is
  left out (the contract has no field for them; the X12 reader leaves them out too). The code
  is the ICD-10-CM coding (http://hl7.org/fhir/sid/icd-10-cm) of
  ``diagnosisCodeableConcept``, or of the Condition ``diagnosisReference`` points at; without
  one, an ICD-9-CM coding (http://hl7.org/fhir/sid/icd-9-cm); ``code_system`` says which (``icd10cm`` or
  ``icd9cm``; scrubber.pipeline.code_sets: an ICD-9-CM code is not checked against ICD-10-CM, and a code
  of the other revision than the claim's date is reported). A code in another system has no ``code_system``.
* ``item[]`` -> ``lines``, in order: ``sequence`` -> ``line_number``; ``productOrService``
  (CPT http://www.ama-assn.org/go/cpt or HCPCS
  https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets; never an NDC) ->
  ``procedure_code``; each ``modifier[]`` -> ``modifiers``; ``quantity.value`` -> ``units``;
  ``net``, else ``unitPrice`` x ``quantity`` (1 when absent) x ``factor`` (1 when absent) ->
  ``charge``; an item without ``quantity`` (or its value) is 1 unit, as the charge assumed;
  ``servicedDate``, or ``servicedPeriod.start`` / ``.end`` -> ``service_date`` /
  ``service_date_end``; an item with neither takes the Claim's ``billablePeriod.start`` / ``.end``
  (so its codes, and the diagnoses, are judged by the code set of the claim's dates);
  ``diagnosisSequence`` -> ``diagnosis_pointers``, each FHIR sequence number turned into the 1-based position of that diagnosis in ``diagnoses`` (a sequence that
  names no diagnosis there, or one left out, becomes the text ``#7``, which the rules report as
  a bad pointer);
  ``locationCodeableConcept`` (CMS place of service,
  https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set) ->
  ``place_of_service``; ``revenue`` (https://www.nubc.org/CodeSystem/RevenueCodes) ->
  ``revenue_code``; an NDC coding (http://hl7.org/fhir/sid/ndc) in ``productOrService`` or in
  a ``detail[].productOrService`` -> ``ndc``.
* ``place_of_service`` (claim) is the first item's; as in an 837P, a line keeps its own only
  when it differs from the claim's. FHIR has no claim-level place of service.
* ``total`` -> ``total_charge``. Money is written as a string with 2 decimals; an amount with
  more decimals (or a product that has them) or a currency other than USD is a ClaimError.
* ``insurance[].preAuthRef[0]`` (the focal insurance's, else the first one that has one) ->
  ``prior_authorization``. There is no standard supportingInfo category for a prior
  authorization number, so supportingInfo is not searched for one.
* Institutional claims only, from ``supportingInfo`` (by category code, any system):
  ``typeofbill`` (CARIN / Da Vinci PCT; code in https://www.nubc.org/CodeSystem/TypeOfBill) ->
  ``type_of_bill``, whose last digit -> ``frequency_code``; when no supportingInfo carries one,
  ``subType`` (as the HL7 UB-04 examples send it) when its coding is in the TypeOfBill system or is
  a 3-4 digit code (CARIN's ``inpatient`` / ``outpatient`` and ex-claimsubtype codes are not one);
  ``admissionperiod`` (CARIN) or
  ``hospitalized`` (claiminformationcategory) ``timingPeriod.start`` / ``.end`` (or
  ``timingDate``) -> ``admission_date`` / ``discharge_date``, and the start's hour, when it is a
  dateTime, -> ``admission_hour``; ``admtype``, ``pointoforigin``, ``discharge-status`` (CARIN)
  ``code`` -> ``admission_type``, ``admission_source``, ``patient_status``. ``billablePeriod`` is
  the statement period (UB-04 FL 6), not the stay: -> ``statement_from`` / ``statement_to``, never
  the admission (that would invent one on every outpatient bill). A professional claim has no
  frequency code in FHIR. Condition, occurrence and value codes are not read from FHIR (no R4 or
  CARIN element carries them).
* Contract 1.1, added only when present (the table in README, "Claim fields (contract 1.1)"):
  careTeam roles ``ordering``/``DK``, ``supervisor``/``supervising``/``DQ``, ``attending``/``71``,
  ``operating``/``72`` -> the claim's providers; ``facility`` -> ``service_facility``; the CLIA
  number from ``supportingInfo`` (code ``CLIA``) or a CLIA-system identifier; ``procedure[]`` ->
  ``procedures``; per item, the NDC's quantity and unit, minutes (``min``) -> ``anesthesia_minutes``,
  and the ordering / rendering members of its ``careTeamSequence``. Providers get their names.
* Not mapped (the contract has no field): ``accident``, ``related``, ``status``; ``subType`` other
  than a type of bill.

Missing data is left out (None) for the rules to report: a Claim without diagnoses, units or
a payer is still a claim. A partial FHIR date (``1950`` or ``1950-03``) cannot be a contract
date and is left out the same way. Only a Claim that cannot be represented at all is a
ClaimError: invalid FHIR, an unsupported claim type, no ``item``, money as above, or a value
the contract model refuses (a code over 40 characters...), reported at the FHIR element it
came from. Every claim dict returned passes :meth:`scrubber.contract.claim.Claim.model_validate`.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim as FhirClaim
from fhir.resources.R4B.claim import ClaimItem
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.money import Money
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from scrubber.contract.claim import Claim
from scrubber.intake.parse import ClaimError, FieldError, field_errors, field_path, loads

from scrubber.errors import ScrubberError

__all__ = ["FhirError", "read_fhir", "read_fhir_claims"]

CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
ICD10CM = ("http://hl7.org/fhir/sid/icd-10-cm",)
ICD9CM = ("http://hl7.org/fhir/sid/icd-9-cm",)
PROCEDURE = ("http://www.ama-assn.org/go/cpt", "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
             "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets")
POS = ("https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
       "http://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set")
REVENUE = ("https://www.nubc.org/CodeSystem/RevenueCodes",)
TYPE_OF_BILL = ("https://www.nubc.org/CodeSystem/TypeOfBill",)
NDC = "http://hl7.org/fhir/sid/ndc"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
NPI = "http://hl7.org/fhir/sid/us-npi"
NUCC = ("http://nucc.org/provider-taxonomy",)
EIN = "urn:oid:2.16.840.1.113883.4.4"
CLIA = "urn:oid:2.16.840.1.113883.4.7"  # the CLIA number's identifier system (HL7 OID registry)
ICD10PCS = ("http://www.cms.gov/Medicare/Coding/ICD10", "http://hl7.org/fhir/sid/icd-10-pcs")
UCUM = "http://unitsofmeasure.org"
# UCUM units of a drug quantity as the NCPDP units of the contract (837 CTP05-1); others are kept as sent
NDC_UNITS = {"mL": "ML", "ml": "ML", "g": "GR", "mg": "ME", "[iU]": "F2", "[IU]": "F2", "{unit}": "UN",
             "{each}": "UN", "1": "UN"}

SUPPORTED = ("professional", "institutional")
UNSUPPORTED = ("oral", "pharmacy", "vision")
# Claim.use values that are requests about a future service, not a bill (R4 claim-use)
NOT_CLAIMS = {"preauthorization": "a prior authorization request (Da Vinci PAS)",
              "predetermination": "a predetermination (a request for an estimate of what the payer would pay)"}
SEX = {"male": "M", "female": "F", "other": "U", "unknown": "U"}
RENDERING_ROLES = (("rendering", "performing", "82"), ("primary",))
# careTeam.role codes, any system: R4 claimcareteamrole / CARIN C4BB names, and the X12 NM101 entity
# codes some senders use (Da Vinci PAS); contract 1.1
CARE_TEAM_ROLES = {"ordering_provider": ("ordering", "DK"), "supervising_provider": ("supervisor", "supervising", "DQ"),
                   "attending_provider": ("attending", "71"), "operating_provider": ("operating", "72")}
LINE_ROLES = {"ordering_provider": ("ordering", "DK"), "rendering_provider": ("rendering", "performing", "82")}
LEFT_OUT_DIAGNOSES = frozenset({"admitting", "patientreasonforvisit"})
PROVIDERS = ("Practitioner", "PractitionerRole", "Organization")

Result = tuple[str, dict[str, Any] | ClaimError]
Mapped = tuple[dict[str, Any], Claim]  # the contract claim dict and the Claim it validated as (once)
_TAIL = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_SPEC_REGEX = re.compile(r"(\w+) value string does not match spec regex")
_INSTANCE = re.compile(r"Value is expected from the instance of (\w+), but got type <class '(\w+)'>")
_ONE_OF = re.compile(r"from this list \[([^\]]*)\]")
_JSON_KIND = {"list": "an array", "str": "a string", "int": "a number", "float": "a number", "Decimal": "a number",
              "bool": "true/false", "NoneType": "null", "dict": "an object"}
_LAST_STEP = re.compile(r"(\.[^.\[]+|\[\d+\])$")
_CENT = Decimal("0.01")


class FhirError(ScrubberError, ValueError):
    """Nothing can be read: not JSON, neither a FHIR Claim nor a Bundle, or a Bundle that is not valid FHIR."""

    def __init__(self, message: str, errors: list[FieldError] | None = None):
        super().__init__(message)
        self.errors = errors or []


def read_fhir(data: bytes | str | dict[str, Any]) -> list[Result]:
    """One (label, contract claim dict or ClaimError) per FHIR Claim in `data`, in order."""
    return [(label, mapped if isinstance(mapped, ClaimError) else mapped[0]) for label, mapped in _read(data)]


def read_fhir_claims(data: bytes | str | dict[str, Any]) -> list[tuple[str, Claim | ClaimError]]:
    """One (label, contract Claim or ClaimError) per FHIR Claim in `data`, in order: each Claim validated
    once, while it was mapped."""
    return [(label, mapped if isinstance(mapped, ClaimError) else mapped[1]) for label, mapped in _read(data)]


def _read(data: bytes | str | dict[str, Any]) -> list[tuple[str, Mapped | ClaimError]]:
    resource = _load(data)
    kind = resource.get("resourceType")
    if kind == "Claim":
        return [(_label(resource, "Claim"), _read_claim(resource, None))]
    if kind == "Bundle":
        return _read_bundle(resource)
    if isinstance(kind, str) and kind:
        raise FhirError(f"a FHIR {kind} was sent: send a Claim, or a Bundle of Claims",
                        [FieldError("resourceType", "must be Claim or Bundle")])
    raise FhirError("the body has no resourceType: send a FHIR Claim, or a Bundle of Claims",
                    [FieldError("resourceType", "is required: Claim or Bundle")])


def _load(data: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FhirError(f"the body is not UTF-8 text: {exc}") from None
    try:
        resource = loads(data)  # at most limits.MAX_JSON_DEPTH levels deep
    except json.JSONDecodeError as exc:
        raise FhirError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(resource, dict):
        raise FhirError("the body must be a JSON object: a FHIR Claim or Bundle resource")
    return resource


def _label(resource: dict[str, Any], default: str) -> str:
    rid = resource.get("id")
    return rid if isinstance(rid, str) and rid.strip() else default


def _read_bundle(bundle: dict[str, Any]) -> list[tuple[str, Mapped | ClaimError]]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise FhirError("Bundle.entry must be a JSON array", [FieldError("entry", "must be a JSON array")])
    try:  # the Bundle's own elements; each entry's resource is read on its own below
        Bundle.model_validate({key: value for key, value in bundle.items() if key != "entry"})
    except ValidationError as exc:
        errors = _fhir_errors(exc.errors(), "")
        raise FhirError("the Bundle is not valid FHIR R4: " + "; ".join(f"{e.field} {e.message}" for e in errors),
                        errors) from None
    index = _BundleIndex(entries)
    out: list[tuple[str, Mapped | ClaimError]] = []
    for i, entry in enumerate(entries):
        where = f"entry[{i}]"
        if not isinstance(entry, dict):
            out.append((where, ClaimError(f"{where} is not a Bundle entry",
                                          [FieldError(where, "must be a JSON object")])))
            continue
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            out.append((where, ClaimError(f"{where}.resource is not a FHIR resource", [FieldError(
                f"{where}.resource", "must be a FHIR resource: a JSON object with a resourceType")])))
        elif resource["resourceType"] == "Claim":
            out.append((_label(resource, where), _read_claim(resource, index)))
    if not out:
        raise FhirError("the Bundle holds no Claim resource: nothing to scrub")
    return out


def _read_claim(raw: dict[str, Any], bundle: _BundleIndex | None) -> Mapped | ClaimError:
    """The contract claim (as a dict and as the Claim it validated as), or the reason there is none; never
    raises, so siblings survive."""
    try:
        claim = _validate(FhirClaim, raw, "")
        return _Mapper(claim, bundle).claim()
    except ClaimError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a Claim nothing expected must not lose its Bundle siblings
        return ClaimError(f"the Claim could not be read: {type(exc).__name__}: {exc}")


def _validate(model: type[FHIRAbstractModel], raw: dict[str, Any], where: str) -> Any:
    """`raw` as a fhir.resources model, or a ClaimError with every bad element as a FHIR path."""
    kind = raw.get("resourceType", model.get_resource_type())
    errors = []
    contained = raw.get("contained")
    for i, item in enumerate(contained if isinstance(contained, list) else []):
        name = item.get("resourceType") if isinstance(item, dict) else None
        if isinstance(name, str) and not _known(name):  # fhir.resources raises a KeyError for these
            errors.append(FieldError(_join(where, f"contained[{i}].resourceType"),
                                     f"{name!r} is not a FHIR R4 resource type"))
    if not errors:
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            errors = _fhir_errors(exc.errors(), where)
        except Exception as exc:  # noqa: BLE001 - fhir.resources raises more than ValidationError
            errors = [FieldError(where or "(resource)", f"cannot be read by fhir.resources: {exc}")]
    many = len(errors) != 1
    raise ClaimError(f"{len(errors)} element{'s' if many else ''} of the FHIR {kind} "
                     f"{'are' if many else 'is'} invalid", errors)


def _known(name: str) -> bool:
    try:
        get_fhir_model_class(name)
    except ValueError:
        return False
    return True


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if path == "(body)":
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def _fhir_errors(errors: Sequence[Any], where: str) -> list[FieldError]:
    """fhir.resources (pydantic) errors as one FieldError per bad element, in words."""
    out: dict[tuple[str, str], FieldError] = {}
    for err in errors:
        loc = tuple(p for p in err["loc"] if p != "root" and not str(p).startswith("function-"))
        error = FieldError(_join(where, field_path(loc)), _fhir_message(err))
        out[(error.field, error.message)] = error
    return list(out.values())


def _fhir_message(err: Any) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind in ("missing", "model_field_validation.missing"):
        return "is required by FHIR"
    if kind == "extra_forbidden":
        return "is not a FHIR R4 element here"
    if kind == "list_type" and msg.startswith("None is not allowed"):
        return "must not hold null"
    if kind == "list_type":
        return "must be a JSON array"
    match = _INSTANCE.search(msg)
    if match:
        return f"must be a JSON object (a FHIR {match[1]}), not {_JSON_KIND.get(match[2], match[2])}"
    if kind in ("model_type", "dict_type"):
        return "must be a JSON object" + (f" (a FHIR {msg.rsplit(' ', 1)[-1]})" if "instance of" in msg else "")
    msg = msg.removeprefix("Value error, ")
    match = _SPEC_REGEX.search(msg)
    if match:
        return {"Decimal": "must be a number", "Date": "must be a FHIR date: YYYY, YYYY-MM or YYYY-MM-DD",
                "DateTime": "must be a FHIR dateTime, such as 2026-11-02 or 2026-11-02T10:00:00-05:00"
                }.get(match[1], f"is not a valid FHIR {match[1][0].lower() + match[1][1:]}")
    match = _ONE_OF.search(msg)
    if match:
        names = " and ".join(n.strip(" '") for n in match[1].split(","))
        return (f"has more than one of {names}: FHIR allows one" if "multiple" in msg
                else f"needs one of {names}")
    return msg.replace("Input should be", "must be")


class _BundleIndex:
    """The Bundle's resources by fullUrl and by Type/id, read with fhir.resources when referred to."""

    def __init__(self, entries: list[Any]):
        self.raw: dict[str, tuple[int, dict[str, Any]]] = {}
        self.models: dict[int, Any] = {}
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            if isinstance(entry.get("fullUrl"), str):
                self.raw.setdefault(entry["fullUrl"], (i, resource))
            kind, rid = resource.get("resourceType"), resource.get("id")
            if isinstance(kind, str) and isinstance(rid, str):
                self.raw.setdefault(f"{kind}/{rid}", (i, resource))

    def find(self, reference: str, kinds: Collection[str]) -> Resource | None:
        """The resource `reference` names, of one of `kinds`; raises ClaimError when it is not valid FHIR."""
        hit = self.raw.get(reference)
        if hit is None and (match := _TAIL.search(reference)):
            hit = self.raw.get(f"{match[1]}/{match[2]}")
        if hit is None or hit[1].get("resourceType") not in kinds:
            return None
        i, raw = hit
        if i not in self.models:
            try:
                self.models[i] = _validate(get_fhir_model_class(raw["resourceType"]), raw, f"entry[{i}].resource")
            except ClaimError as exc:
                self.models[i] = exc
        found = self.models[i]
        if isinstance(found, ClaimError):
            raise found
        return found


class _Mapper:
    """One validated FHIR Claim into the contract claim dict. `src` remembers, for each contract
    field set, the FHIR element it came from, so a value the contract refuses is reported there."""

    def __init__(self, claim: FhirClaim, bundle: _BundleIndex | None):
        self.c = claim
        self.bundle = bundle
        self.errors: list[FieldError] = []
        self.src: dict[str, str] = {}

    def claim(self) -> Mapped:
        c = self.c
        self._use()
        claim_type = self._claim_type()
        if not c.item:
            raise ClaimError("the Claim has no item", [FieldError(
                "item", "is required: the scrubber checks a claim's service lines, and this Claim has none")])
        insurance, where = self._focal_insurance()
        coverage = self._resolve(insurance.coverage, ("Coverage",)) if insurance else None
        diagnoses, positions = self._diagnoses()
        lines = [self._line(i, item, positions) for i, item in enumerate(c.item)]
        out: dict[str, Any] = {
            "claim_id": self._claim_id(),
            "claim_type": claim_type,
            "frequency_code": None,
            "submission_date": self._set("submission_date", _day(c.created), "created"),
            "payer": self._payer(coverage, where),
            "patient": self._patient(coverage, where),
            "billing_provider": self._provider("billing_provider", c.provider, "provider"),
            "rendering_provider": self._care_team("rendering_provider", RENDERING_ROLES),
            "referring_provider": self._care_team("referring_provider", (("referring", "DN"),)),
            "place_of_service": self._place_of_service(lines),
            "prior_authorization": self._prior_authorization(insurance, where),
            "type_of_bill": None,
            "admission_date": None,
            "discharge_date": None,
            "diagnoses": diagnoses,
            "lines": lines,
            "total_charge": self._set("total_charge", self._money(c.total, "total"), "total"),
        }
        if claim_type == "institutional":
            self._institutional(out)
        self._contract_11(out)
        return self._checked(out)

    def _contract_11(self, out: dict[str, Any]) -> None:
        """The 1.1 fields, each added only when the Claim carries it (a 1.0 Claim maps exactly as before)."""
        found: dict[str, Any] = {key: self._care_team(key, (roles,)) for key, roles in CARE_TEAM_ROLES.items()}
        found["service_facility"] = self._provider("service_facility", self.c.facility, "facility",
                                                   kinds=("Location", "Organization"))
        found["clia_number"] = self._clia()
        found["procedures"] = self._procedures()
        out.update((key, value) for key, value in found.items() if value)

    # -- claim level

    def _use(self) -> None:
        """Refuse a Claim whose ``use`` is preauthorization or predetermination: not a claim to scrub."""
        use = self.c.use
        if use in NOT_CLAIMS:
            raise ClaimError(f"{use} requests are not supported", [FieldError(
                "use", f"is {use!r}, {NOT_CLAIMS[use]}: the scrubber checks claims for services given, "
                       "use = claim")])

    def _claim_type(self) -> str:
        codes = [(cd.system, cd.code) for cd in self.c.type.coding or [] if cd.code]
        code = next((code for system, code in codes if system == CLAIM_TYPE), None) or \
            next((code for _, code in codes if code in SUPPORTED + UNSUPPORTED), None)
        if code in SUPPORTED:
            return code
        if code in UNSUPPORTED:
            raise ClaimError(f"{code} claims are not supported", [FieldError(
                "type", f"{code} claims are not supported: the scrubber checks professional (837P) and "
                        "institutional (837I) claims")])
        sent = code or next((code for _, code in codes), None)
        shown = f", not {sent!r}" if sent else ""
        raise ClaimError("the Claim's type is not professional or institutional", [FieldError(
            "type.coding", f"must hold the {CLAIM_TYPE} code professional or institutional{shown}")])

    def _claim_id(self) -> str | None:
        first = self.c.identifier[0] if self.c.identifier else None
        if first is not None and first.value:
            return self._set("claim_id", first.value, "identifier[0].value")
        return self._set("claim_id", self.c.id, "id")

    def _focal_insurance(self) -> tuple[Any, str]:
        listed = list(enumerate(self.c.insurance or []))
        for i, insurance in listed:
            if insurance.focal:
                return insurance, f"insurance[{i}]"
        return (listed[0][1], "insurance[0]") if listed else (None, "insurance")

    def _payer(self, coverage: Any, where: str) -> dict[str, Any] | None:
        ref, source = self.c.insurer, "insurer"
        if ref is None and coverage is not None and coverage.payor:
            ref, source = coverage.payor[0], f"{where}.coverage"
        if ref is None:
            return None
        org = self._resolve(ref, ("Organization",))
        identifiers = list(org.identifier or []) if org else []
        chosen = next((i for i in identifiers if i.value and _typed(i, ("payerid", "NIIP"))), None) or \
            next((i for i in identifiers if i.value), None) or ref.identifier
        payer_id = chosen.value if chosen is not None else None
        name = org.name if org is not None and org.name else ref.display
        return self._group("payer", {"id": payer_id, "name": name}, source)

    def _patient(self, coverage: Any, where: str) -> dict[str, Any] | None:
        patient = self._resolve(self.c.patient, ("Patient",))
        member = coverage.subscriberId if coverage is not None else None
        self.src["patient.member_id"] = f"{where}.coverage"
        out: dict[str, Any] = {"member_id": member, "first_name": None, "last_name": None,
                               "birth_date": None, "death_date": None, "sex": None}
        if patient is not None:
            if not member:
                ids = [i for i in patient.identifier or [] if i.value]
                chosen = next((i for i in ids if _typed(i, ("MB",))), None) or \
                    next((i for i in ids if not _typed(i, ("MR",))), None)
                out["member_id"] = chosen.value if chosen else None
                self.src["patient.member_id"] = "patient"
            name = _name(patient.name or [])
            if name is not None:
                out["first_name"] = name.given[0] if name.given else None
                out["last_name"] = name.family
            out["birth_date"] = _day(patient.birthDate)
            out["death_date"] = _day(patient.deceasedDateTime)
            out["sex"] = SEX.get(patient.gender, patient.gender) if patient.gender else None
        return self._group("patient", out, "patient")

    def _care_team(self, field: str, roles: tuple[tuple[str, ...], ...]) -> dict[str, Any] | None:
        team = list(enumerate(self.c.careTeam or []))
        for wanted in roles:
            for i, member in team:
                codes = {cd.code for cd in (member.role.coding or [] if member.role else [])}
                if codes & set(wanted):
                    return self._provider(field, member.provider, f"careTeam[{i}].provider", member.qualification)
        return None

    def _provider(self, field: str, ref: Reference | None, where: str,
                  qualification: CodeableConcept | None = None,
                  kinds: tuple[str, ...] = PROVIDERS) -> dict[str, Any] | None:
        if ref is None:
            return None
        found = self._resolve(ref, kinds)
        resources = [found] if found is not None else []
        if found is not None and found.get_resource_type() == "PractitionerRole":
            resources += [r for r in (self._resolve(found.practitioner, ("Practitioner",)),
                                      self._resolve(found.organization, ("Organization",))) if r is not None]
        identifiers = ([ref.identifier] if ref.identifier else []) + \
            [i for r in resources for i in r.identifier or []]
        npi = next((i.value for i in identifiers if i.system == NPI and i.value), None)
        tax_id = next((i.value for i in identifiers if i.value and (i.system == EIN or _typed(i, ("TAX",)))), None)
        concepts = [qualification] if qualification else []
        for r in resources:
            kind = r.get_resource_type()
            if kind == "Practitioner":
                concepts += [q.code for q in r.qualification or []]
            elif kind == "PractitionerRole":
                concepts += list(r.specialty or [])
        taxonomy = next((code for cc in concepts if (code := _code(cc, NUCC, fallback=False))), None)
        values: dict[str, Any] = {"npi": npi, "taxonomy": taxonomy, "tax_id": tax_id}
        values.update(_provider_name(resources))
        return self._group(field, values, where)

    def _clia(self) -> str | None:
        """The CLIA number: a supportingInfo whose code is ``CLIA`` (any system; category ``info`` in
        practice) with a valueString, or whose valueReference is an identifier in the CLIA system;
        else an identifier in the CLIA system on the facility (Location) or the billing Organization."""
        for i, info in enumerate(self.c.supportingInfo or []):
            coded = info.code is not None and any(cd.code == "CLIA" for cd in info.code.coding or [])
            ident = info.valueReference.identifier if info.valueReference is not None else None
            if coded and info.valueString:
                return self._set("clia_number", info.valueString, f"supportingInfo[{i}].valueString")
            if ident is not None and ident.system == CLIA and ident.value:
                return self._set("clia_number", ident.value, f"supportingInfo[{i}].valueReference.identifier")
        for ref, where in ((self.c.facility, "facility"), (self.c.provider, "provider")):
            found = self._resolve(ref, ("Location", "Organization"))
            identifiers = ([ref.identifier] if ref is not None and ref.identifier else []) + \
                list(found.identifier or [] if found is not None else [])
            value = next((i.value for i in identifiers if i.system == CLIA and i.value), None)
            if value:
                return self._set("clia_number", value, where)
        return None

    def _procedures(self) -> list[dict[str, Any]]:
        """Claim.procedure (ICD-10-PCS): those typed principal (CARIN) or primary first, then by sequence."""
        found = []
        for i, proc in enumerate(self.c.procedure or []):
            types = {cd.code for t in proc.type or [] for cd in t.coding or []}
            if proc.procedureCodeableConcept is not None:
                code = _code(proc.procedureCodeableConcept, ICD10PCS)
            else:
                resource = self._resolve(proc.procedureReference, ("Procedure",))
                code = _code(resource.code if resource is not None else None, ICD10PCS)
            first = 0 if types & {"principal", "primary"} else 1
            found.append((first, proc.sequence or 0, i, {"code": code, "date": _day(proc.date)}))
        found.sort(key=lambda p: p[:3])
        for position, (_, _, i, _) in enumerate(found):
            self.src[f"procedures[{position}]"] = f"procedure[{i}]"
        self.src["procedures"] = "procedure"
        return [p[3] for p in found]

    def _prior_authorization(self, focal: Any, where: str) -> str | None:
        candidates = [(focal, where)] if focal is not None else []
        candidates += [(ins, f"insurance[{i}]") for i, ins in enumerate(self.c.insurance or [])]
        for insurance, at in candidates:
            refs = [r for r in insurance.preAuthRef or [] if r]
            if refs:
                return self._set("prior_authorization", refs[0], f"{at}.preAuthRef[0]")
        return None

    def _institutional(self, out: dict[str, Any]) -> None:
        for i, info in enumerate(self.c.supportingInfo or []):
            categories = {cd.code for cd in info.category.coding or []}
            where = f"supportingInfo[{i}]"
            if "typeofbill" in categories and out["type_of_bill"] is None:
                bill = self._set("type_of_bill", _code(info.code, TYPE_OF_BILL), f"{where}.code")
                out["type_of_bill"] = bill
                if bill and bill.isdigit() and len(bill) in (3, 4):
                    out["frequency_code"] = self._set("frequency_code", bill[-1], f"{where}.code")
            if categories & {"admissionperiod", "hospitalized"} and out["admission_date"] is None:
                period = info.timingPeriod
                start = period.start if period is not None else info.timingDate
                out["admission_date"] = self._set("admission_date", _day(start), f"{where}.timing")
                out["discharge_date"] = self._set("discharge_date", _day(period.end) if period else None,
                                                  f"{where}.timingPeriod.end")
                if isinstance(start, dt.datetime):  # a dateTime with its time: the admission hour (UB-04 FL 13)
                    out["admission_hour"] = self._set("admission_hour", f"{start.hour:02d}", f"{where}.timing")
            for category, key in (("admtype", "admission_type"), ("pointoforigin", "admission_source"),
                                  ("discharge-status", "patient_status")):
                if category in categories and key not in out and (code := _code(info.code, ())):
                    out[key] = self._set(key, code, f"{where}.code")
        if out["type_of_bill"] is None and (bill := self._subtype_bill()):
            out["type_of_bill"] = self._set("type_of_bill", bill, "subType")
            if bill.isdigit() and len(bill) in (3, 4):
                out["frequency_code"] = self._set("frequency_code", bill[-1], "subType")
        period = self.c.billablePeriod  # the statement period (UB-04 FL 6)
        if period is not None:
            for key, value in (("statement_from", _day(period.start)), ("statement_to", _day(period.end))):
                if value:
                    out[key] = self._set(key, value, "billablePeriod")

    def _subtype_bill(self) -> str | None:
        """A type of bill sent in ``subType``: a coding in the NUBC TypeOfBill system, else a coding whose
        code is 3 or 4 digits (whatever its system); None for other subtypes (inpatient, emergency...)."""
        codings = [cd for cd in (self.c.subType.coding or [] if self.c.subType else []) if cd.code]
        chosen = next((cd for cd in codings if cd.system in TYPE_OF_BILL), None) or \
            next((cd for cd in codings if cd.code and cd.code.isdigit() and len(cd.code) in (3, 4)), None)
        return chosen.code if chosen is not None else None

    # -- diagnoses and lines

    def _diagnoses(self) -> tuple[list[dict[str, Any]], dict[int, int]]:
        found = []
        for i, dx in enumerate(self.c.diagnosis or []):
            types = {cd.code for t in dx.type or [] for cd in t.coding or []}
            if types and types <= LEFT_OUT_DIAGNOSES:
                continue
            if dx.diagnosisCodeableConcept is not None:
                (code, system), where = _dx_code(dx.diagnosisCodeableConcept), f"diagnosis[{i}].diagnosisCodeableConcept"
            else:
                condition = self._resolve(dx.diagnosisReference, ("Condition",))
                code, system = _dx_code(condition.code if condition is not None else None)
                where = f"diagnosis[{i}].diagnosisReference"
            found.append((0 if "principal" in types else 1, dx.sequence or 0, code, system, where))
        found.sort(key=lambda d: (d[0], d[1]))
        positions: dict[int, int] = {}
        diagnoses = []
        for position, (_, sequence, code, system, where) in enumerate(found, start=1):
            positions.setdefault(sequence, position)
            diagnoses.append({"code": code, "code_system": system} if system else {"code": code})
            self.src[f"diagnoses[{position - 1}]"] = where
        self.src["diagnoses"] = "diagnosis"
        return diagnoses, positions

    def _line(self, i: int, item: ClaimItem, positions: dict[int, int]) -> dict[str, Any]:
        at, to = f"item[{i}]", f"lines[{i}]"
        start = end = None
        quantity = item.quantity.value if item.quantity is not None else None
        if item.servicedDate is not None:
            start = _day(item.servicedDate)
        elif item.servicedPeriod is not None:
            start, end = _day(item.servicedPeriod.start), _day(item.servicedPeriod.end)
        elif self.c.billablePeriod is not None:  # no date of its own: the claim's dates
            start, end = _day(self.c.billablePeriod.start), _day(self.c.billablePeriod.end)
        modifiers = [code for m in item.modifier or [] if (code := _code(m, PROCEDURE))]
        ndc = _code(item.productOrService, (NDC,), fallback=False)
        drug, drug_at = (item.quantity, f"{at}.quantity") if ndc else (None, "")
        for j, detail in enumerate(item.detail or []):
            if ndc is None and (ndc := _code(detail.productOrService, (NDC,), fallback=False)):
                drug, drug_at = detail.quantity, f"{at}.detail[{j}].quantity"
        pointers: list[int | str] = [positions.get(s, f"#{s}"[:8]) for s in item.diagnosisSequence or [] if s]
        line = {
            "line_number": item.sequence,
            "procedure_code": _code(item.productOrService, PROCEDURE, skip=(NDC,)),
            "modifiers": modifiers,
            "units": _number(quantity) if quantity is not None else 1,  # absent: 1, as the charge assumed
            "charge": self._charge(item, at),
            "service_date": start,
            "service_date_end": end,
            "diagnosis_pointers": pointers,
            "place_of_service": _code(item.locationCodeableConcept, POS),
            "ndc": ndc,
            "revenue_code": _code(item.revenue, REVENUE),
        }
        self._line_11(i, item, line, drug, drug_at)
        serviced = f"{at}.servicedDate" if item.servicedDate is not None else f"{at}.servicedPeriod"
        if item.servicedDate is None and item.servicedPeriod is None and self.c.billablePeriod is not None:
            serviced = "billablePeriod"
        for key, source in (("line_number", "sequence"), ("procedure_code", "productOrService"),
                            ("modifiers", "modifier"), ("units", "quantity.value"), ("charge", "net"),
                            ("diagnosis_pointers", "diagnosisSequence"),
                            ("place_of_service", "locationCodeableConcept"), ("ndc", "productOrService"),
                            ("revenue_code", "revenue")):
            self.src[f"{to}.{key}"] = f"{at}.{source}"
        self.src[f"{to}.service_date"] = self.src[f"{to}.service_date_end"] = serviced
        self.src[to] = at
        return line

    def _line_11(self, i: int, item: ClaimItem, line: dict[str, Any], drug: Any, drug_at: str) -> None:
        """A line's 1.1 fields, added only when present: the NDC's quantity and unit (the item's quantity
        for an NDC item, the detail's for an NDC detail), anesthesia minutes (an item quantity in
        ``min``), the ordering and rendering providers among the item's careTeamSequence."""
        at, to = f"item[{i}]", f"lines[{i}]"
        if drug is not None and drug.value is not None:
            line["ndc_quantity"] = self._set(f"{to}.ndc_quantity", _number(drug.value), f"{drug_at}.value")
        if drug is not None and (unit := drug.code or drug.unit):
            unit = NDC_UNITS.get(unit, unit) if drug.system in (UCUM, None) else unit
            line["ndc_unit"] = self._set(f"{to}.ndc_unit", unit, f"{drug_at}.code")
        quantity = item.quantity
        if quantity is not None and quantity.value is not None and "min" in (quantity.code, quantity.unit):
            line["anesthesia_minutes"] = self._set(f"{to}.anesthesia_minutes", _number(quantity.value),
                                                   f"{at}.quantity.value")
        sequences = set(item.careTeamSequence or [])
        team = [(k, member) for k, member in enumerate(self.c.careTeam or []) if member.sequence in sequences]
        for key, roles in LINE_ROLES.items():
            for k, member in team:
                codes = {cd.code for cd in (member.role.coding or [] if member.role else [])}
                if codes & set(roles) and (found := self._provider(f"{to}.{key}", member.provider,
                                                                   f"careTeam[{k}].provider", member.qualification)):
                    line[key] = found
                    break

    def _charge(self, item: ClaimItem, at: str) -> str | None:
        if item.net is not None and item.net.value is not None:
            return self._money(item.net, f"{at}.net")
        if item.unitPrice is None or item.unitPrice.value is None:
            return None
        if not self._usd(item.unitPrice, f"{at}.unitPrice"):
            return None
        quantity = item.quantity.value if item.quantity is not None and item.quantity.value is not None else 1
        factor = item.factor if item.factor is not None else 1
        return self._amount(item.unitPrice.value * quantity * factor, f"{at}.unitPrice",
                            "unitPrice x quantity x factor")

    def _place_of_service(self, lines: list[dict[str, Any]]) -> str | None:
        """The first line's place of service is the claim's; the lines keep only one that differs."""
        first = next((i for i, line in enumerate(lines) if line["place_of_service"]), None)
        if first is None:
            return None
        claim_pos = lines[first]["place_of_service"]
        for line in lines:
            if line["place_of_service"] == claim_pos:
                line["place_of_service"] = None
        return self._set("place_of_service", claim_pos, f"item[{first}].locationCodeableConcept")

    # -- helpers

    def _money(self, money: Money | None, at: str) -> str | None:
        if money is None or money.value is None or not self._usd(money, at):
            return None
        return self._amount(money.value, f"{at}.value")

    def _usd(self, money: Money, at: str) -> bool:
        if money.currency in (None, "USD"):
            return True
        self.errors.append(FieldError(f"{at}.currency", f"must be USD, not {money.currency!r}: the scrubber "
                                                        "checks US claims"))
        return False

    def _amount(self, value: Decimal, at: str, what: str = "") -> str | None:
        try:
            cents = value.quantize(_CENT)
        except InvalidOperation:
            cents = None
        if cents is not None and cents == value:
            return f"{cents:.2f}"
        if cents is None:
            message = "is too large an amount"
        else:
            shown = f"{what} is {value}, which" if what else "it"
            message = f"must be an amount in dollars and cents: {shown} has more than 2 decimal places"
        self.errors.append(FieldError(at, message))
        return None

    def _resolve(self, ref: Reference | None, kinds: tuple[str, ...]) -> Any:
        """The resource `ref` points at: contained (#id) or in the Bundle; None when it is not there."""
        if ref is None or not ref.reference:
            return None
        if ref.reference.startswith("#"):
            return next((r for r in self.c.contained or []
                         if r.id == ref.reference[1:] and r.get_resource_type() in kinds), None)
        if self.bundle is None:
            return None
        try:
            return self.bundle.find(ref.reference, kinds)
        except ClaimError as exc:
            self.errors.extend(exc.errors)
            return None

    def _set(self, field: str, value: Any, source: str) -> Any:
        self.src[field] = source
        return value

    def _group(self, field: str, values: dict[str, Any], source: str) -> dict[str, Any] | None:
        self.src[field] = source
        for key in values:
            self.src.setdefault(f"{field}.{key}", source)
        return values if any(v is not None for v in values.values()) else None

    def _source(self, path: str) -> str:
        """The FHIR element a contract field path came from (or the nearest enclosing one)."""
        probe = path
        while probe not in self.src:
            shorter = _LAST_STEP.sub("", probe)
            if not shorter or shorter == probe:
                return path
            probe = shorter
        return self.src[probe]

    def _checked(self, out: dict[str, Any]) -> Mapped:
        """`out` and its Claim if the contract model takes it; else a ClaimError at the FHIR elements it
        came from."""
        errors = list(self.errors)
        if not errors:
            try:
                return out, Claim.model_validate(out)
            except ValidationError as exc:
                errors = [FieldError(self._source(e.field), f"{e.message} (contract field {e.field})")
                          for e in field_errors(exc.errors())]
        unique = list({(e.field, e.message): e for e in errors}.values())
        many = len(unique) != 1
        raise ClaimError(f"{len(unique)} element{'s' if many else ''} of the FHIR Claim cannot be mapped to "
                         "a claim", unique)


def _dx_code(concept: CodeableConcept | None) -> tuple[str | None, str | None]:
    """A diagnosis's code and contract code_system: the ICD-10-CM coding's code ("icd10cm"), else the
    ICD-9-CM coding's ("icd9cm"), else the first coding with a code, whatever its system (no code_system)."""
    if (code := _code(concept, ICD10CM, fallback=False)) is not None:
        return code, "icd10cm"
    if (code := _code(concept, ICD9CM, fallback=False)) is not None:
        return code, "icd9cm"
    return _code(concept, ()), None


def _code(concept: CodeableConcept | None, systems: Sequence[str], *, fallback: bool = True,
          skip: Sequence[str] = ()) -> str | None:
    """The code of the first coding in `systems`; else (`fallback`) of the first coding with a
    code whose system is not in `skip` (nor data-absent-reason: ``not-applicable`` is no code)."""
    if concept is None:
        return None
    codings = [cd for cd in concept.coding or [] if cd.code]
    chosen = next((cd for cd in codings if cd.system in systems), None)
    if chosen is None and fallback:
        chosen = next((cd for cd in codings if cd.system not in skip and cd.system != DATA_ABSENT), None)
    return chosen.code if chosen is not None else None


def _provider_name(resources: list[Any]) -> dict[str, str]:
    """last_name / first_name of the first resource that has a name: a Practitioner's (official, else
    usual, else first) family and given[0]; an Organization's or Location's name as last_name."""
    for r in resources:
        if r.get_resource_type() == "Practitioner" and (name := _name(r.name or [])) is not None:
            names = {"last_name": name.family, "first_name": name.given[0] if name.given else None}
            return {key: value for key, value in names.items() if value}
        if r.get_resource_type() in ("Organization", "Location") and r.name:
            return {"last_name": r.name}
    return {}


def _typed(identifier: Identifier, codes: Sequence[str]) -> bool:
    return identifier.type is not None and any(cd.code in codes for cd in identifier.type.coding or [])


def _name(names: list[Any]) -> Any:
    for use in ("official", "usual"):
        for name in names:
            if name.use == use:
                return name
    return names[0] if names else None


def _day(value: Any) -> str | None:
    """A FHIR date or dateTime as YYYY-MM-DD (its own day, whatever the zone); None when partial or absent."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return None


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)
