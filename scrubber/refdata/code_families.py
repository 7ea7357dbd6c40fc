"""Families of HCPCS/CPT codes that edits treat alike, by the code ranges CMS names for them.

    evaluation and management  CPT 99202-99499 and the eye visits 92002-92014 (the PFS global-surgery
                               and multiple-procedure rules, CMS Claims Processing Manual ch. 12 §30.6)
    clinic visit               an E/M code, or G0463 (the OPPS hospital outpatient clinic visit) - the
                               visits of I/OCE edit 21 (visit on the day of a significant procedure)
"""
from __future__ import annotations

OPPS_CLINIC_VISIT = "G0463"


def is_evaluation_management(code: str) -> bool:
    """Whether a CPT code is an evaluation and management service."""
    return code.isdigit() and len(code) == 5 and ("99202" <= code <= "99499" or "92002" <= code <= "92014")


def is_clinic_visit(code: str) -> bool:
    """Whether a code bills a visit: an E/M service or the OPPS clinic visit."""
    return code == OPPS_CLINIC_VISIT or is_evaluation_management(code)
