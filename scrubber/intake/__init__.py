"""Intake: bytes in every accepted format (JSON, NDJSON, X12 837, FHIR) to contract claims, one at a time."""
