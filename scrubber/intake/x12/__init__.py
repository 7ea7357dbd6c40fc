"""X12 837P/837I: a streaming reader of interchanges into the contract's claim JSON, one claim at a time.

Supports 837P (005010X222A1/A2, professional) and 837I (005010X223A2/A3, institutional).
The text is read in chunks, never whole, so memory stays flat however many claims a file holds.

Loops walked (what is mapped to the contract claim is named; everything else is skipped)::

    ISA  interchange: separators (element = char 4, repetition = ISA11, component = ISA16,
         segment terminator = the character after ISA16; CR/LF after a terminator are ignored)
     GS  functional group: GS06 control number, GS08 version
      ST transaction set: ST02 control number, ST03 version -> claim_type (X222 / X223)
      BHT  BHT04 creation date -> submission_date
       1000A/1000B  NM1*41 submitter, NM1*40 receiver                          (skipped)
       2000A HL*..*20 billing provider: PRV*BI taxonomy
        2010AA NM1*85 NPI, N3, N4, REF*EI (or REF*SY) tax id
       2000B HL*..*22 subscriber: SBR (SBR01 payer responsibility), PAT (death date)
        2010BA NM1*IL member id and name, DMG birth date and sex
        2010BB NM1*PR payer id and name
       2000C HL*..*23 patient (optional): PAT, 2010CA NM1*QC name, DMG
        2300 CLM claim: CLM01 claim_id, CLM02 total_charge, CLM05 place of service / facility
             type + frequency (837I: CLM05-1 + CLM05-3 = type_of_bill); DTP*435 admission
             (and its hour when DT), DTP*096 discharge, DTP*434 statement period; CL1 admission
             type, source, patient status; REF*G1 prior authorization, REF*X4 CLIA;
             HI diagnoses (ABK/BK principal, ABF/BF other, 837I also ABN/BN external cause),
             procedures (BBR/BR principal, BBQ/BQ), 837I BG/BH/BI/BE UB-04 codes
         2310x NM1 (+PRV) 82 rendering, DN referring, DK ordering, DQ supervising, 71 attending,
               72 operating, 77 service facility, with NM103/NM104 names (others skipped)
         2320  SBR other subscriber; 2330A NM1*IL and 2330B NM1*PR required in it (checked only)
         2400  LX line_number; SV1 (837P; SV103 MJ: SV104 minutes) or SV2 (837I); DTP*472
               service date(s); REF*6R, REF*X4
          2410 LIN*..*N4 NDC, CTP04 quantity, CTP05-1 unit
          2420x NM1 (+PRV) 82 line rendering, DK line ordering; 2430 SVD adjudication (skipped)
      SE
     GE
    IEA

Mapping choices: submission_date is BHT04 (the day the file was created). The patient is the
2000C patient when there is one, with the subscriber's member id. discharge_date is DTP*096
when that is sent as a date; when it is only the discharge hour (TM), discharge_date is the
DTP*434 statement 'through' date. Diagnoses are the principal first, then the others in order
(837I: then the external cause codes). Admitting and reason-for-visit codes are checked but not
mapped, since the contract has no fields for them; nor does it have one for REF*6R, which goes in
``control``, or for a line's CLIA number (REF*X4 in 2400), which goes in ``control`` too and onto
the claim when 2300 has none. The contract 1.1 fields are added to the claim only when the 837
carries them, so a 1.0 claim reads exactly as before (README, "Claim fields (contract 1.1)"). A
component separator that ISA16 does not declare, such as '>' where ISA16 is ':', gets a
``format`` error for each element that uses it. A payer's translator would reject the claim
for it. The element is still split on that separator, so that the rest of the claim is checked
too.

A claim is complete at the next CLM, HL or SE (or at GE, IEA, ISA, ST or the end of the
stream when a trailer is missing). Structural problems never raise: they become contract
findings (rule_id ``x12-...``, CARC CO-16) on the claim they belong to; problems in an HL
level (a bad DMG date, a missing NM1*PR) go on every claim under it; problems in the envelope
go on every claim of the interchange or transaction set; a segment outside any claim goes on
the next claim. Some findings no claim can take: a transaction set without a CLM, segments
after the last claim, a later interchange whose ISA is unreadable, a trailer's (SE, GE, IEA)
control number or count (:mod:`~scrubber.intake.x12.structure`), a transaction set that is not
an 837 professional or institutional claim (one finding; nothing in it is read). They come out
as a result of their own, whose ``claim`` is None, at the end of their transaction set, group,
interchange or of the stream. A UTF-8 byte-order mark before the first ISA is skipped.

:func:`iter_claims` raises :class:`X12Error` (one, with the reason) only when nothing at all
can be read: the stream does not begin with an ISA segment, or its ISA is too short or too
garbled to give the separators.

The modules, each one concern, each importing only those above it:

- ``segments``: the ISA's separators (one reading, shared with ``chunking``), the Segment, the
  streaming tokenizer (:func:`read_segments`), :class:`X12Error`;
- ``values``: element values (dates, amounts, units, blanks), findings and their positions;
- ``state``: what the walk knows at one point (HL levels, the claim being built, findings
  waiting for a claim) and what it gives out (:class:`X12Claim`);
- ``structure``: the envelope and structure checks (control numbers and counts, HL and LX
  numbering, repeated claim ids, loop and segment repeats past the guides' maximums, segment
  order, required segments, the submission date's notice);
- ``lines``: the service line handlers (LX, SV1, SV2, LIN, SVD), closing a line;
- ``claim``: the HL levels' and the claim's handlers (CLM, DTP, HI, NM1, REF, SBR, DMG, PAT,
  PRV), closing a claim (CLM05, diagnoses, code set, length limits);
- ``walker``: the envelope and the hierarchy (ISA..IEA, BHT, HL), the dispatch of segments to
  their handlers, :func:`iter_claims`;
- ``chunking``: the batch cutter, files into chunks of whole transaction sets that read as the
  whole file does (it needs only ``segments``).
"""
from scrubber.intake.x12.segments import CHUNK_SIZE, Segment, Separators, X12Error, read_segments
from scrubber.intake.x12.state import X12Claim
from scrubber.intake.x12.walker import iter_claims

__all__ = ["CHUNK_SIZE", "Segment", "Separators", "X12Claim", "X12Error", "iter_claims", "read_segments"]
