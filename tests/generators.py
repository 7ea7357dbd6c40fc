"""Seeded generators of synthetic claims and rule files, for the differential tests and bench/.

Claims draw from small pools of values on purpose (valid and invalid codes, NPIs, pointers,
dates on both sides of each other), so that rules fire often and every branch is exercised.
Rule files are random but valid programs of the rule language, over every scope, operator,
quantifier, value-set size and field reference the compiler supports.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import yaml

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.facts import npi_check_digit_ok
from scrubber.ruleset.fields import CATALOGUES, ORDERED_TYPES, SCOPES

PROCEDURES = ["99213", "99214", "71046", "36415", "G0439", "3074F", "0001U", "9921", "W1234", "73560", "J1100",
              # codes the coding edits know about: NCCI pairs, MUEs, an add-on, HCPCS
              "0030U", "0001A", "36591", "0009U", "99417", "99215", "A9990", "J9271", "82306", "99396",
              # add-on codes of NCCI edit types 2 (15777) and 3 (64727; 64721 is a listed primary), and HCPCS
              # codes with dates: A2026 added 2024-04-01, A9155 ended 2025-03-31 (scrubber/data/SOURCES.md)
              "15777", "64727", "64721", "A2026", "A9155",
              # what payers require beyond the codes (rules/claim_requirements.yaml): a lab panel (CLIA), a
              # CLIA-waived test that needs QW (87880), anesthesia (00142), a ground ambulance trip and its
              # mileage (A0429, A0425), a walker (DMEPOS: ordering provider)
              "80053", "87880", "00142", "A0429", "A0425", "E0143",
              # Medicare PFS payment policy (rules/payment_policy.yaml): minor (10060, 11451) and major (27447,
              # 22633, 22836, 33945) procedures with their assistant, co-surgeon and team indicators, a bilateral
              # indicator 2 code (77067), a PC-only code (93010), status B, P, M, C and T codes
              "10060", "27447", "27447", "77067", "22633", "22836", "33945", "11451", "93010", "99288", "A4556",
              "G8400", "17999", "G0117"]
MODIFIERS = ["25", "26", "TC", "LT", "RT", "50", "59", "XS", "XE", "76", "91", "GT", "JG", "ZZ",
             "QW", "RH", "AA", "95",  # CLIA waiver, ambulance residence-to-hospital, anesthesia, telehealth
             "80", "62", "66", "51", "57", "24"]  # assistant, co-surgeon, team, multiple procedure, E/M modifiers
DIAGNOSES = ["E11.9", "I10", "E78.5", "J45.909", "K21.9", "M54.50", "Z00.00", "R05.9", "e119", "XYZ",
             # header, unknown, added or deleted on 2025-10-01, MCE lists, Excludes1
             "E11", "E11.99", "E11.A", "S30.1XXA", "E30.1", "C61", "N94.0", "F02.80", "O09.01", "E10.9"]
EDGE_DAYS = [dt.date(2022, 1, 1), dt.date(2023, 12, 31), dt.date(2025, 9, 30), dt.date(2025, 10, 1),
             dt.date(2024, 3, 31), dt.date(2025, 4, 1)]  # the days before A2026 began and after A9155 ended
POS = ["11", "22", "21", "02", "10", "30", "99", "1", "27"]
SEXES = ["F", "M", "U", "X"]
POINTERS: list[Any] = [1, 1, 2, 3, 4, 0, 13, "A", "B", "1.00"]
BASE_DAY = dt.date(2026, 1, 1)
# NDCs: 11 digits (5-4-2), 4-4-2 with hyphens (padded to 11), 10 digits without hyphens (ambiguous), not an NDC
NDCS = ["00641036721", "0641-0367-21", "0641036721", "12345"]
NDC_UNITS = ["ML", "UN", "ME", "MG"]  # MG is not an NDC unit (ME is milligrams)
CLIA_NUMBERS = ["05D0642827", "0500642827"]  # well-formed; a zero where the D belongs


def _npi(rng: random.Random) -> str:
    head = rng.choice("12") + "".join(rng.choice("0123456789") for _ in range(8))
    valid = next(head + d for d in "0123456789" if npi_check_digit_ok(head + d))
    return rng.choice([valid, valid, valid, head + str((int(valid[-1]) + 1) % 10), "123456789", "3234567893"])


def _day(rng: random.Random, spread: int = 60) -> dt.date:
    return BASE_DAY + dt.timedelta(days=rng.randint(-spread, spread))


def _maybe(rng: random.Random, value: Any, p: float = 0.9) -> Any:
    return value if rng.random() < p else None


def _member_id(rng: random.Random) -> str:
    """One of 400 members: most with a Medicare Beneficiary Identifier, every fourth with an id that is
    not one (a commercial or Medicaid id, or a Medicare claim that gets `member-id-not-mbi`)."""
    n = rng.randint(1, 400)
    return f"M{n:06d}" if n % 4 == 0 else f"{1 + n // 100}EG4TE5MK{n % 100:02d}"


def claim_dict(rng: random.Random, index: int = 0) -> dict[str, Any]:
    n_dx = rng.choice([0, 13]) if rng.random() < 0.04 else rng.randint(1, 12)
    n_lines = rng.randint(1, 12)
    days = [_day(rng, 20) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.15:  # code set and edit-table boundaries
        days = [rng.choice(EDGE_DAYS)]
    lines = []
    for i in range(n_lines):
        start = rng.choice(days)
        lines.append({
            "line_number": i + 1 if rng.random() > 0.03 else max(1, i),
            "procedure_code": _maybe(rng, rng.choice(PROCEDURES), 0.97),
            "modifiers": rng.sample(MODIFIERS, k=rng.choice([0, 0, 1, 1, 2, 3, 5])),
            "units": rng.choice([1, 1, 1, 2, 3, 0, 1.5, None]),
            "charge": rng.choice(["100.00", "40.00", "125.50", "0.00", "-10.00", None]),
            "service_date": _maybe(rng, start.isoformat(), 0.97),
            "service_date_end": (start + dt.timedelta(days=rng.choice([-1, 0, 3]))).isoformat()
            if rng.random() < 0.15 else None,
            "diagnosis_pointers": rng.sample(POINTERS, k=rng.choice([0, 1, 1, 2, 3, 4, 5])),
            "place_of_service": rng.choice([None, None, None] + POS),
            "ndc": rng.choice([None, None, None] + NDCS),
            "ndc_quantity": rng.choice([None, 1, 2.5]),
            "ndc_unit": rng.choice([None] + NDC_UNITS),
            "anesthesia_minutes": rng.choice([None, None, 45]),
            "ordering_provider": _maybe(rng, {"npi": _npi(rng)}, 0.1),
        })
    charges = [Decimal(line["charge"]) for line in lines if line["charge"] is not None]
    total = sum(charges) if charges else Decimal(0)
    birth = rng.choice([dt.date(1950, 3, 14), dt.date(1988, 7, 1), dt.date(2025, 12, 20), dt.date(2026, 2, 1)])
    return {
        "claim_id": _maybe(rng, f"GEN-{index}", 0.97),
        "claim_type": rng.choice(["professional", "professional", "professional", "institutional"]),
        "frequency_code": rng.choice(["1", "1", "7", "8", "2", None]),
        "submission_date": (BASE_DAY + dt.timedelta(days=rng.randint(-5, 40))).isoformat(),
        "payer": {"id": rng.choice(["medicare", "acme", "state-medicaid"]), "name": "Payer"},
        "patient": {"member_id": _maybe(rng, _member_id(rng), 0.95), "first_name": _maybe(rng, "Ann", 0.97),
                    "last_name": "Lee", "birth_date": _maybe(rng, birth.isoformat(), 0.95),
                    "death_date": _day(rng, 30).isoformat() if rng.random() < 0.05 else None,
                    "sex": _maybe(rng, rng.choice(SEXES), 0.95)},
        "billing_provider": _maybe(rng, {"npi": _maybe(rng, _npi(rng), 0.95), "taxonomy": "207Q00000X"}, 0.97),
        "rendering_provider": _maybe(rng, {"npi": _npi(rng)}, 0.5),
        "referring_provider": _maybe(rng, {"npi": _npi(rng)}, 0.2),
        "place_of_service": _maybe(rng, rng.choice(POS), 0.9),
        "prior_authorization": _maybe(rng, "PA-1", 0.2),
        "type_of_bill": _maybe(rng, "0131", 0.5),
        "diagnoses": [{"code": rng.choice(DIAGNOSES)} for _ in range(n_dx)],
        "lines": lines,
        "admission_date": _maybe(rng, days[0].isoformat(), 0.3),
        "discharge_date": _maybe(rng, (days[0] + dt.timedelta(days=rng.choice([-2, 0, 4]))).isoformat(), 0.3),
        "total_charge": _maybe(rng, str(rng.choice([total, total, total, total + 1])), 0.97),
        "clia_number": _maybe(rng, rng.choice(CLIA_NUMBERS), 0.3),
        "ordering_provider": _maybe(rng, {"npi": _npi(rng)}, 0.1),
    }


def claims(seed: int, count: int) -> list[Claim]:
    rng = random.Random(seed)
    return [Claim.model_validate(claim_dict(rng, i)) for i in range(count)]


# ----------------------------------------------------------------------------- rule files

_TEXT_POOLS = {
    "procedure_code": PROCEDURES, "modifiers": MODIFIERS, "code": ["E11.9", "I10", "E78.5", "XYZ", "J45.909"],
    "patient.sex": SEXES, "place_of_service": POS, "effective_place_of_service": POS,
    "claim_type": ["professional", "institutional"], "npi": ["1234567893", "123456789"],
    "role": ["billing", "rendering", "referring"], "frequency_code": ["1", "7", "8", "2"],
    "payer.id": ["medicare", "acme"], "bad_pointer": ["0", "13", "1.00"],
}
_PATTERNS = ["#####", "####F", "[A-V]####", "@##.#", "@##*", "E11*", "9921?", "[12]#########", "99*"]


def _base_name(name: str) -> str:
    for prefix in ("claim.", "a.", "b."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _literal(rng: random.Random, fld) -> Any:
    if fld.type == "text":
        return rng.choice(_TEXT_POOLS.get(_base_name(fld.name), ["A", "1", "X1", "0131", "PA-1"]))
    if fld.type == "date":
        return rng.choice([_day(rng, 45), dt.date(1950, 3, 14), dt.date(2025, 12, 20)])
    if fld.type == "money":
        return rng.choice([0, 40, 100, 125.5, -10, 140])
    if fld.type == "boolean":
        return rng.choice([True, False])
    if fld.type == "number":
        return rng.choice([0, 1, 2, 1.5, 3])
    return rng.randint(0, 13)


class RuleFileGenerator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.line_alias = False

    def field_test(self, scope: str) -> dict:
        rng = self.rng
        fields = list(CATALOGUES[scope].fields.values())
        fld = rng.choice(fields)
        if fld.slots:
            op = rng.choice(["contains", "not_contains", "present"])
            if op == "present":
                return {fld.name: {"present": rng.choice([True, False])}}
            value = rng.choice([rng.choice(MODIFIERS), rng.sample(MODIFIERS, 3), "$mods_small", "$mods_large"])
            return {fld.name: {op: value}}
        ops = ["eq", "ne", "in", "not_in", "present"]
        if fld.type in ORDERED_TYPES:
            ops += ["lt", "le", "gt", "ge", "before", "after"]
        if fld.type == "text":
            ops += ["matches", "not_matches"]
        op = rng.choice(ops)
        if op == "present":
            return {fld.name: {"present": rng.choice([True, False])}}
        if op in ("matches", "not_matches"):
            return {fld.name: {op: rng.choice([rng.choice(_PATTERNS), rng.sample(_PATTERNS, 2)])}}
        if op in ("in", "not_in"):
            if fld.type == "text" and _base_name(fld.name) == "procedure_code" and rng.random() < 0.4:
                return {fld.name: {op: "$codes_large"}}
            return {fld.name: {op: [_literal(rng, fld) for _ in range(rng.randint(1, 4))]}}
        if rng.random() < 0.3:
            same = [f for f in fields if not f.slots and f is not fld and (
                f.type == fld.type or {f.type, fld.type} <= {"number", "integer"})]
            if same:
                ref: dict[str, Any] = {"field": rng.choice(same).name}
                if fld.type in ("date", "integer") and rng.random() < 0.5:
                    ref["plus"] = rng.randint(-30, 30)
                return {fld.name: {op: ref}}
        if op == "eq" and rng.random() < 0.3:
            return {fld.name: _literal(rng, fld)}
        return {fld.name: {op: _literal(rng, fld)}}

    def condition(self, scope: str, depth: int = 0, quantifiers: bool = False) -> dict:
        rng = self.rng
        roll = rng.random()
        if depth < 2 and roll < 0.25:
            return {"all": [self.condition(scope, depth + 1) for _ in range(rng.randint(1, 3))]}
        if depth < 2 and roll < 0.45:
            return {"any": [self.condition(scope, depth + 1) for _ in range(rng.randint(1, 3))]}
        if depth < 2 and roll < 0.55:
            return {"not": self.condition(scope, depth + 1)}
        if depth < 2 and roll < 0.65:
            return {"condition": f"named_{scope}"}
        if len_tests := rng.randint(1, 2):
            out: dict = {}
            for _ in range(len_tests):
                out.update(self.field_test(scope))
            return out
        return self.field_test(scope)  # pragma: no cover

    def claim_condition(self) -> dict:
        rng = self.rng
        parts = [self.condition("claim")]
        kinds = rng.sample(["any_line", "no_line", "all_lines", "count_lines", "any_diagnosis", "no_diagnosis",
                            "all_diagnoses", "no_line"], k=rng.randint(0, 2))
        if "any_line" in kinds and "count_lines" in kinds:
            kinds.remove("count_lines")
        self.line_alias = "any_line" in kinds or "count_lines" in kinds
        for kind in kinds:
            inner_scope = "line" if "line" in kind else "diagnosis"
            inner = self.condition(inner_scope, depth=1)
            if kind == "count_lines":
                parts.append({"count_lines": {"where": inner, "at_least": rng.randint(1, 3)}})
            else:
                parts.append({kind: inner})
            if kind in ("no_line", "no_diagnosis") and rng.random() < 0.3:
                parts[-1] = {"not": {"any_line" if "line" in kind else "any_diagnosis": inner}}
        rng.shuffle(parts)
        return parts[0] if len(parts) == 1 else {"all": parts}

    def message(self, scope: str, condition: dict) -> str:
        names = [n for n, f in CATALOGUES[scope].fields.items() if not f.phi]
        chosen = self.rng.sample(names, k=2)
        text = "values " + " ".join("{" + n + "}" for n in chosen)
        if scope == "claim" and self.line_alias:
            text += " line {line.line_number} {line.procedure_code}"
        return text

    def rule_file(self, n_rules: int | None = None) -> str:
        rng = self.rng
        rules = []
        for i in range(n_rules or rng.randint(1, 12)):
            scope = rng.choice(SCOPES)
            condition = self.claim_condition() if scope == "claim" else self.condition(scope)
            rule: dict[str, Any] = {
                "id": f"gen-{i}", "title": f"generated rule {i}", "category": rng.choice(["format", "date", "npi"]),
                "severity": rng.choice(["error", "warning", "info"]), "when": {scope: condition},
                "message": self.message(scope, condition), "suggestion": "generated",
                "examples": [{"name": "empty", "claim": {}, "expect": []}],
            }
            if rng.random() < 0.2:
                rule["effective"] = {"from": _day(rng, 30)}
                if rng.random() < 0.5:
                    rule["effective"]["to"] = rule["effective"]["from"] + dt.timedelta(days=rng.randint(0, 40))
            rules.append(rule)
        document = {
            "schema_version": 1,
            "value_sets": {"mods_small": ["26", "TC"], "mods_large": MODIFIERS,
                           "codes_large": PROCEDURES + [f"{n:05d}" for n in range(99200, 99215)]},
            "conditions": {f"named_{scope}": {"scope": scope, "when": self.field_test(scope)} for scope in SCOPES},
            "rules": rules,
        }
        return yaml.safe_dump(document, sort_keys=False)


# ----------------------------------------------------------------------------- realistic traffic

CLEAN_PROCEDURES = ["99213", "99214", "99203", "71046", "36415", "80053", "85025", "93000", "G0439", "J1100",
                    "97110", "97140", "20610", "11042", "73560", "3074F"]
CLEAN_DIAGNOSES = ["E11.9", "I10", "E78.5", "J45.909", "K21.9", "M54.50", "Z00.00", "R05.9", "N39.0", "F41.9",
                   "G47.00", "M17.11"]
VALID_NPIS = ["1234567893", "1912301953", "1003000126", "1497758544", "1588667638"]


def _practice_member(index: int) -> str:
    """One of a practice's 1,000 patients (an MBI: the 7th, 10th and 11th characters are digits), so that
    a large corpus has a few claims per patient, as billing systems send them."""
    return f"1EG4TE{index // 100 % 10}MK{index % 100:02d}"


def realistic_claim_dict(rng: random.Random, index: int = 0, defect_rate: float = 0.15) -> dict[str, Any]:
    """A claim as billing systems send most of them: clean, 1-12 lines and 1-12 diagnoses; a
    `defect_rate` share carries one typical mistake (bad NPI, pointer, date, total, modifiers)."""
    n_dx, n_lines = rng.randint(1, 12), rng.randint(1, 12)
    day = BASE_DAY + dt.timedelta(days=rng.randint(0, 20))
    lines = []
    for i in range(n_lines):
        lines.append({
            "line_number": i + 1, "procedure_code": rng.choice(CLEAN_PROCEDURES),
            "modifiers": rng.choice([[], [], [], ["25"], ["59"], ["RT"], ["26"]]),
            "units": rng.choice([1, 1, 1, 2]), "charge": rng.choice(["100.00", "40.00", "125.50", "310.00"]),
            "service_date": (day + dt.timedelta(days=rng.choice([0, 0, 0, 1]))).isoformat(),
            "diagnosis_pointers": sorted(rng.sample(range(1, n_dx + 1), k=rng.randint(1, min(4, n_dx)))),
        })
    claim = {
        "claim_id": f"PCN-{index}", "claim_type": "professional", "frequency_code": "1",
        "submission_date": (day + dt.timedelta(days=rng.randint(2, 30))).isoformat(),
        "payer": {"id": rng.choice(["medicare", "acme", "state-medicaid"]), "name": "Payer"},
        "patient": {"member_id": _practice_member(index), "first_name": "Ann", "last_name": "Lee",
                    "birth_date": rng.choice(["1950-03-14", "1988-07-01", "2012-05-30"]),
                    "sex": rng.choice(["F", "M"])},
        "billing_provider": {"npi": rng.choice(VALID_NPIS), "taxonomy": "207Q00000X", "tax_id": "587654321"},
        "rendering_provider": {"npi": rng.choice(VALID_NPIS)},
        "place_of_service": rng.choice(["11", "11", "22", "02"]),
        "diagnoses": [{"code": c} for c in rng.sample(CLEAN_DIAGNOSES, k=n_dx)],
        "lines": lines,
    }
    # identical lines on one day are a real defect; keep the clean ones distinct
    seen = set()
    for line in lines:
        key = (line["procedure_code"], tuple(line["modifiers"]), line["units"], line["service_date"])
        if key in seen:
            line["modifiers"] = ["76"]
        seen.add(key)
    if rng.random() < defect_rate:
        defect = rng.randrange(6)
        line = rng.choice(lines)
        if defect == 0:
            claim["billing_provider"]["npi"] = claim["billing_provider"]["npi"][:9] + "0"
        elif defect == 1:
            line["diagnosis_pointers"] = [n_dx + 1]
        elif defect == 2:
            line["service_date"] = "2027-01-01"
        elif defect == 3:
            line["modifiers"] = ["26", "TC"]
        elif defect == 4:
            claim["place_of_service"] = "30"
        else:
            claim["total_charge"] = "1.00"
    if "total_charge" not in claim:
        claim["total_charge"] = str(sum(Decimal(line["charge"]) for line in lines))
    return claim


def realistic_claims(seed: int, count: int) -> list[Claim]:
    rng = random.Random(seed)
    return [Claim.model_validate(realistic_claim_dict(rng, i)) for i in range(count)]


# Hospital (UB-04) claims, picked from the shipped data (scrubber/data/baseline/hcpcs_opps_2026q2.tsv.gz for
# the OPPS status indicators, revenue_codes_2026q2.tsv.gz, icd10pcs_fy2026.tsv.gz): each service is
# (revenue code, HCPCS or None, modifiers). Clean outpatient claims keep to what the I/OCE pays: no SI B
# or C code, a HCPCS on every revenue code that needs one, modifier 25 on a visit with a T/S/J1 procedure.
_ER_VISIT = [("0450", "99283", ["25"]), ("0450", "99284", ["25"]), ("0450", "99285", ["25"])]  # J2
_CLINIC_VISIT = [("0510", "G0463", [])]  # J2: the OPPS clinic visit
_LAB = [("0300", "80053", []), ("0300", "85025", []), ("0300", "36415", []), ("0301", "84443", []),
        ("0300", "81001", [])]  # Q4
_IMAGING = [("0324", "71046", []), ("0350", "70450", []), ("0352", "74177", []), ("0320", "73560", ["RT"]),
            ("0730", "93005", [])]  # Q3, Q1
_INFUSION = [("0260", "96374", []), ("0260", "96360", [])]  # S
_DRUGS = [("0636", "J1100", []), ("0636", "J2405", []), ("0250", None, [])]  # N; pharmacy needs no HCPCS
_SURGERY = [("0360", "45378", []), ("0360", "43239", []), ("0360", "29881", ["RT"]), ("0360", "66984", ["LT"]),
            ("0360", "64483", [])]  # T, J1
_SURGERY_EXTRAS = [("0370", None, []), ("0710", None, []), ("0278", None, []), ("0250", None, [])]  # SI N
INSTITUTIONAL_DIAGNOSES = ["J18.9", "K35.80", "N39.0", "I21.4", "J44.1", "I50.9", "A41.9", "R07.9", "R10.9",
                           "M17.11", "K80.20"]
INPATIENT_PROCEDURES = ["0DTJ4ZZ", "0SRC0JZ", "0SRD0JZ", "02703ZZ", "0FT44ZZ", "3E0336Z", "30233N1", "BW28ZZZ"]
HOSPITAL_CHARGES = ["85.00", "240.00", "410.50", "1200.00", "2875.00"]


def _outpatient_services(rng: random.Random) -> list[tuple[str, str | None, list[str]]]:
    kind = rng.choice(["emergency", "clinic", "surgery", "surgery"])
    if kind == "emergency":
        services = [rng.choice(_ER_VISIT), *rng.sample(_LAB, k=rng.randint(1, 3)),
                    *rng.sample(_IMAGING, k=rng.randint(0, 2)), *rng.sample(_INFUSION, k=rng.randint(0, 1)),
                    *rng.sample(_DRUGS, k=rng.randint(0, 2))]
    elif kind == "clinic":
        services = [rng.choice(_CLINIC_VISIT), *rng.sample(_LAB, k=rng.randint(0, 2)),
                    *rng.sample(_IMAGING, k=rng.randint(0, 1))]
    else:
        services = [rng.choice(_SURGERY), *rng.sample(_SURGERY_EXTRAS, k=rng.randint(1, 4)),
                    *rng.sample(_LAB, k=rng.randint(0, 2))]
        if rng.random() < 0.2:  # a pre-procedure visit, rightly with 25
            services.append(("0510", "G0463", ["25"]))
    return services


def realistic_institutional_claim_dict(rng: random.Random, index: int = 0,
                                       defect_rate: float = 0.15) -> dict[str, Any]:
    """A hospital claim as billing systems send most of them: three in four outpatient (type of bill 0131,
    one day, an emergency, clinic or surgery visit with its labs, imaging and drugs), one in four
    inpatient (0111, a stay of 1-6 days: room and board, ICD-10-PCS procedures, admission type, point of
    origin and discharge status). A `defect_rate` share carries one typical mistake: an invalid type of
    bill or revenue code, an office visit code (OPPS SI B), an inpatient-only procedure on the outpatient
    bill, a line after the statement period, a revenue code without its HCPCS, a visit without 25 on the
    day of a procedure, a missing admission type."""
    day = BASE_DAY + dt.timedelta(days=rng.randint(0, 20))
    inpatient = rng.random() < 0.25
    claim: dict[str, Any] = {
        "claim_id": f"ICN-{index}", "claim_type": "institutional",
        "submission_date": (day + dt.timedelta(days=rng.randint(8, 30))).isoformat(),
        "payer": {"id": rng.choice(["medicare", "medicare", "acme-health"]), "name": "Payer"},
        "patient": {"member_id": "1EG4TE5MK72", "first_name": "Ann", "last_name": "Lee",
                    "birth_date": rng.choice(["1942-11-02", "1950-03-14", "1961-08-23", "1988-07-01"]),
                    "sex": rng.choice(["F", "M"])},
        "billing_provider": {"npi": rng.choice(VALID_NPIS), "taxonomy": "282N00000X", "tax_id": "587654321"},
        "attending_provider": {"npi": rng.choice(VALID_NPIS)},
        "ordering_provider": {"npi": rng.choice(VALID_NPIS)},  # labs and imaging need one (NM1*DK)
        "prior_authorization": f"PA{index:07d}",  # acme-health authorizes CT and MRI
        "diagnoses": [{"code": c} for c in rng.sample(INSTITUTIONAL_DIAGNOSES, k=rng.randint(1, 5))],
    }
    lines: list[dict[str, Any]] = []

    def add(revenue: str, code: str | None, modifiers: list[str], on: dt.date, units: int = 1,
            until: dt.date | None = None) -> None:
        line = {"line_number": len(lines) + 1, "revenue_code": revenue, "procedure_code": code,
                "modifiers": list(modifiers), "units": units, "charge": rng.choice(HOSPITAL_CHARGES),
                "service_date": on.isoformat()}
        if until is not None:
            line["service_date_end"] = until.isoformat()
        lines.append(line)

    if inpatient:
        stay = rng.randint(1, 6)
        discharge = day + dt.timedelta(days=stay)
        claim.update(type_of_bill="0111", frequency_code="1", admission_date=day.isoformat(),
                     discharge_date=discharge.isoformat(), statement_from=day.isoformat(),
                     statement_to=discharge.isoformat(), admission_type=rng.choice(["1", "1", "2", "3"]),
                     admission_source=rng.choice(["1", "1", "2", "4"]), admission_hour=f"{rng.randint(0, 23):02d}",
                     patient_status=rng.choice(["01", "01", "01", "06", "03"]),
                     value_codes=[{"code": "80", "amount": f"{stay}.00"}])
        add("0120", None, [], day, units=stay, until=discharge - dt.timedelta(days=1))
        for revenue, code, modifiers in [*rng.sample(_LAB, k=rng.randint(1, 4)), *rng.sample(_IMAGING, k=rng.randint(0, 2)),
                                         ("0250", None, [])]:
            add(revenue, code, modifiers, day + dt.timedelta(days=rng.randint(0, stay)))
        if rng.random() < 0.6:
            codes = rng.sample(INPATIENT_PROCEDURES, k=rng.randint(1, 2))
            claim["procedures"] = [{"code": c, "date": (day + dt.timedelta(days=1)).isoformat()} for c in codes]
            claim["operating_provider"] = {"npi": rng.choice(VALID_NPIS)}
            add("0360", None, [], day + dt.timedelta(days=1))
    else:
        claim.update(type_of_bill="0131", frequency_code="1", statement_from=day.isoformat(),
                     statement_to=day.isoformat())
        for revenue, code, modifiers in _outpatient_services(rng):
            add(revenue, code, modifiers, day, units=rng.choice([1, 1, 1, 2]) if revenue == "0636" else 1)
    if rng.random() < defect_rate:
        defect = rng.randrange(8)
        line = rng.choice(lines)
        if defect == 0:
            claim["type_of_bill"] = rng.choice(["0999", "0136"])
        elif defect == 1:
            line["revenue_code"] = "9999"
        elif defect == 2:
            add("0510", "99213", [], day)  # an office visit code: OPPS status indicator B (edit 62)
        elif defect == 3 and not inpatient:
            add("0360", "44140", [], day)  # inpatient-only (SI C) on the outpatient bill (edit 18)
        elif defect == 4:
            line["service_date"] = (day + dt.timedelta(days=9)).isoformat()
            line.pop("service_date_end", None)
        elif defect == 5 and not inpatient:
            add("0360", None, [], day)  # operating room without its HCPCS (edit 48)
        elif defect == 6 and not inpatient:
            add("0510", "G0463", [], day)  # a visit without 25; edit 21 when a T/S/J1 line shares the day
            add("0360", "45378", [], day)
        elif inpatient:
            claim.pop("admission_type")
    claim["lines"] = lines
    claim["total_charge"] = str(sum(Decimal(line["charge"]) for line in lines))
    return claim


def realistic_institutional_claims(seed: int, count: int) -> list[Claim]:
    rng = random.Random(seed)
    return [Claim.model_validate(realistic_institutional_claim_dict(rng, i)) for i in range(count)]
