"""Intake: bytes in every accepted format (JSON, NDJSON, X12 837, FHIR) to contract claims, one at a time.

The X12 reader (scrubber/intake/x12) is compiled with mypyc when the package is installed (setup.py).
"""
