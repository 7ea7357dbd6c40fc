"""Step 3 of the pipeline: turn a normalised claim into facts and put derived fields on them.

Facts are flat dictionaries keyed as in scrubber.fields: dates are day numbers (so the engine can
compare and add days), money is cents, absent values are left out. Enrichers put derived fields
onto these facts through one small interface; reference-data lookups (code sets, NCCI, MUE) plug
in the same way. FactBuilder then keeps only what the compiled rules read, adds the values the
compiler asked for (large value-set membership, negated code patterns, line counts) and the gate
fact, last.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Protocol

from scrubber.claim import Claim
from scrubber.compiler import Flag, Program, holds

_NPI_SHAPE = re.compile(r"[0-9]{10}")
PROVIDER_ROLES = ("billing", "rendering", "referring")


@dataclass
class Facts:
    """One claim's facts. `pairs` are (i, j) indexes of lines on the same date of service, i != j."""

    claim: dict
    lines: list[dict]
    diagnoses: list[dict]
    providers: list[dict]
    pairs: list[tuple[int, int]] = field(default_factory=list)


class Enricher(Protocol):
    """Puts derived fields onto a claim's facts (reads the claim, writes the facts)."""

    def enrich(self, claim: Claim, facts: Facts) -> None: ...


def npi_check_digit_ok(npi: str) -> bool:
    """Luhn check over '80840' + the first 9 digits, compared with the 10th (CMS NPI standard)."""
    total = 0
    for position, char in enumerate(reversed("80840" + npi[:9])):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


def _day(value: dt.date | None) -> int | None:
    return value.toordinal() if value is not None else None


def _cents(value) -> int | None:
    return int(value * 100) if value is not None else None


def age_on(birth: dt.date | None, day: dt.date | None) -> int | None:
    if birth is None or day is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _compact(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def base_facts(claim: Claim) -> Facts:
    """The claim's own values as facts, with the derived fields every rule set may use."""
    patient, payer = claim.patient, claim.payer
    birth = patient.birth_date if patient else None
    submission = claim.submission_date
    dates = [line.service_date for line in claim.lines if line.service_date is not None]
    ends = dates + [line.service_date_end for line in claim.lines if line.service_date_end is not None]
    first = min(dates) if dates else None
    n_dx = len(claim.diagnoses)
    charges = [line.charge for line in claim.lines if line.charge is not None]
    providers = {"billing": claim.billing_provider, "rendering": claim.rendering_provider,
                 "referring": claim.referring_provider}
    c = _compact({
        "id": "c", "t": "claim", "dos": _day(first),
        "claim_id": claim.claim_id, "claim_type": claim.claim_type, "frequency_code": claim.frequency_code,
        "submission_date": _day(submission),
        "payer_id": payer.id if payer else None, "payer_name": payer.name if payer else None,
        "patient_member_id": patient.member_id if patient else None,
        "patient_first_name": patient.first_name if patient else None,
        "patient_last_name": patient.last_name if patient else None,
        "patient_birth_date": _day(birth), "patient_death_date": _day(patient.death_date) if patient else None,
        "patient_sex": patient.sex if patient else None,
        "patient_age": age_on(birth, first),
        "place_of_service": claim.place_of_service, "prior_authorization": claim.prior_authorization,
        "type_of_bill": claim.type_of_bill, "admission_date": _day(claim.admission_date),
        "discharge_date": _day(claim.discharge_date), "total_charge": _cents(claim.total_charge),
        "line_charge_total": _cents(sum(charges)) if charges else 0,
        "line_count": len(claim.lines), "diagnosis_count": n_dx,
        "first_service_date": _day(first), "last_service_date": _day(max(ends)) if ends else None,
        "days_to_submission": (submission - first).days if submission and first else None,
    })
    for role, provider in providers.items():
        if provider is not None:
            for attr in ("npi", "taxonomy", "tax_id"):
                if getattr(provider, attr) is not None:
                    c[f"{role}_provider_{attr}"] = getattr(provider, attr)

    lines, pointed_by = [], [[] for _ in range(n_dx)]
    for index, line in enumerate(claim.lines):
        mods = line.modifiers
        pointers = line.diagnosis_pointers
        bad = next((p for p in pointers if not (isinstance(p, int) and 1 <= p <= n_dx)), None)
        seen, repeated = set(), None
        for p in pointers:
            if isinstance(p, int):
                if 1 <= p <= n_dx:
                    pointed_by[p - 1].append(line.line_number)
                if p in seen and repeated is None:
                    repeated = p
                seen.add(p)
        dos = line.service_date
        lines.append(_compact({
            "id": f"l{index}", "t": "line", "dos": _day(dos),
            "line_number": line.line_number, "procedure_code": line.procedure_code,
            "mod1": mods[0] if len(mods) > 0 else "", "mod2": mods[1] if len(mods) > 1 else "",
            "mod3": mods[2] if len(mods) > 2 else "", "mod4": mods[3] if len(mods) > 3 else "",
            "modifier_count": len(mods),
            "units": _number(line.units), "charge": _cents(line.charge),
            "service_date": _day(dos), "service_date_end": _day(line.service_date_end),
            "place_of_service": line.place_of_service,
            "effective_place_of_service": line.place_of_service or claim.place_of_service,
            "ndc": line.ndc, "revenue_code": line.revenue_code,
            "pointer_count": len(pointers), "bad_pointer": None if bad is None else str(bad),
            "repeated_pointer": repeated,
            "patient_age": age_on(birth, dos),
            "days_to_submission": (submission - dos).days if submission and dos else None,
            "service_days": (line.service_date_end - dos).days if dos and line.service_date_end else None,
        }))
    diagnoses = [_compact({"id": f"d{i}", "t": "dx", "dos": c.get("dos"), "position": i + 1,
                           "code": d.code, "pointed_to": bool(pointed_by[i]), "_lines": pointed_by[i]})
                 for i, d in enumerate(claim.diagnoses)]
    provider_facts = []
    for role, provider in providers.items():
        if provider is None:
            continue
        npi = provider.npi
        provider_facts.append(_compact({
            "id": f"p{len(provider_facts)}", "t": "prov", "dos": c.get("dos"), "role": role, "npi": npi,
            "npi_check_digit_ok": npi_check_digit_ok(npi) if npi and _NPI_SHAPE.fullmatch(npi) else None,
            "taxonomy": provider.taxonomy, "tax_id": provider.tax_id}))
    facts = Facts(c, lines, diagnoses, provider_facts)
    by_day: dict[int, list[int]] = {}
    for index, line in enumerate(lines):
        if "service_date" in line:
            by_day.setdefault(line["service_date"], []).append(index)
    facts.pairs = [(i, j) for group in by_day.values() for i in group for j in group if i != j]
    return facts


def _number(units):
    if units is None:
        return None
    return int(units) if units == units.to_integral_value() else float(units)


def _same_modifiers(a: dict, b: dict) -> bool:
    return sorted((a["mod1"], a["mod2"], a["mod3"], a["mod4"])) == sorted((b["mod1"], b["mod2"], b["mod3"], b["mod4"]))


def enrich(claim: Claim, enrichers: tuple[Enricher, ...] = ()) -> Facts:
    facts = base_facts(claim)
    for enricher in enrichers:
        enricher.enrich(claim, facts)
    return facts


class FactBuilder:
    """Builds the engine's facts for one Program: only the keys its tests read, plus its flags."""

    def __init__(self, program: Program):
        needs = program.needs
        self.line_keys = sorted(k for k in needs.get("line", ()) if "__" not in k)
        self.line_claim = sorted(k[7:] for k in needs.get("line", ()) if k.startswith("claim__"))
        self.claim_keys = sorted(needs.get("claim", ()))
        self.dx_keys = sorted(k for k in needs.get("dx", ()) if "__" not in k)
        self.dx_claim = sorted(k[7:] for k in needs.get("dx", ()) if k.startswith("claim__"))
        self.prov_keys = sorted(k for k in needs.get("prov", ()) if "__" not in k)
        self.prov_claim = sorted(k[7:] for k in needs.get("prov", ()) if k.startswith("claim__"))
        pair = needs.get("pair", set())
        self.want_pairs = "pair" in needs
        self.pair_a = sorted(k[3:] for k in pair if k.startswith("a__"))
        self.pair_b = sorted(k[3:] for k in pair if k.startswith("b__"))
        self.pair_claim = sorted(k[7:] for k in pair if k.startswith("claim__"))
        self.pair_same_mods = "same_modifiers" in pair
        self.flags: dict[str, list[Flag]] = {}
        for flag in program.flags:
            self.flags.setdefault(flag.fact_type, []).append(flag)
        self.counts = [flag for flag in program.flags if flag.kind == "count"]

    def build(self, facts: Facts) -> list[dict]:
        claim = facts.claim
        out = [_pick(claim, self.claim_keys, "c", "claim")]
        out += [_pick(d, self.dx_keys, d["id"], "dx", claim, self.dx_claim) for d in facts.diagnoses]
        out += [_pick(p, self.prov_keys, p["id"], "prov", claim, self.prov_claim) for p in facts.providers]
        out += [_pick(line, self.line_keys, line["id"], "line", claim, self.line_claim) for line in facts.lines]
        if self.want_pairs:
            lines = facts.lines
            for i, j in facts.pairs:
                a, b = lines[i], lines[j]
                fact = {"id": f"q{i}_{j}", "t": "pair", "dos": a["service_date"]}
                for k in self.pair_a:
                    if k in a:
                        fact["a__" + k] = a[k]
                for k in self.pair_b:
                    if k in b:
                        fact["b__" + k] = b[k]
                for k in self.pair_claim:
                    if k in claim:
                        fact["claim__" + k] = claim[k]
                if self.pair_same_mods:
                    fact["same_modifiers"] = _same_modifiers(a, b)
                out.append(fact)
        if self.flags:
            for fact in out:
                for flag in self.flags.get(fact["t"], ()):
                    if flag.kind != "count":
                        _set_flag(fact, flag)
            for flag in self.counts:  # after the lines' own flags, which a count may test
                out[0][flag.key] = sum(1 for fact in out if fact["t"] == "line" and holds(flag.test, fact))
        out.append({"id": "g", "t": "gate"})
        return out


def _pick(source: dict, keys: list[str], id_: str, type_: str, claim: dict | None = None,
          claim_keys: list[str] = ()) -> dict:
    fact = {"id": id_, "t": type_}
    for k in keys:
        if k in source:
            fact[k] = source[k]
    for k in claim_keys:
        if k in claim:
            fact["claim__" + k] = claim[k]
    return fact


_compiled: dict[str, re.Pattern] = {}


def _set_flag(fact: dict, flag: Flag) -> None:
    if flag.kind == "in":
        values = [fact.get(k) for k in flag.sources]
        if len(flag.sources) == 1 and values[0] is None:
            return  # absent stays absent, so every test on it is false
        fact[flag.key] = any(v in flag.values for v in values if v is not None)
        return
    value = fact.get(flag.sources[0])
    if value is None:
        return
    regex = _compiled.get(flag.regex) or _compiled.setdefault(flag.regex, re.compile(flag.regex))
    fact[flag.key] = regex.fullmatch(value) is not None
