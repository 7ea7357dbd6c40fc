"""The bounds on what one request may cost: sizes, depths, counts and times. Each is documented in
the README (section "Limits"); a request past one gets a clear problem or finding, never a crash."""
from __future__ import annotations

MB = 1024 * 1024

# request bodies, enforced while they are read (scrubber.service guards), after authentication
MAX_CLAIM_BYTES = 4 * MB  # POST /v1/claims/scrub: one claim (999 lines fit in well under 1 MB)
MAX_NDJSON_BATCH_BYTES = 512 * MB  # POST /v1/claims/scrub/batch as NDJSON: spooled to disk as it arrives
MAX_WHOLE_BODY_BYTES = 64 * MB  # a JSON array batch, an X12 interchange, a FHIR Bundle: read whole
MAX_RULE_FILE_BYTES = 2 * MB  # POST /v1/rules/validate
MAX_IMPACT_BYTES = 16 * MB  # POST /v1/rules/impact (candidate files and an optional corpus)
MAX_OTHER_BYTES = 64 * 1024  # any other request with a body
MAX_LINE_BYTES = 8 * MB  # one NDJSON line; longer is answered by an error record and skipped

# JSON: nesting deeper than this is refused (a claim is at most 5 levels deep; FHIR about 10)
MAX_JSON_DEPTH = 64

# YAML rule and payer files (scrubber.yamlsource)
MAX_YAML_DEPTH = 64  # nested mappings and sequences
MAX_YAML_NODES = 200_000  # scalars, mappings and sequences in one file (shipped files: < 20,000)

# findings: one claim reports at most this many; past it, one `findings-truncated` finding says so
MAX_FINDINGS_PER_CLAIM = 500

# time
REQUEST_HEADER_TIMEOUT_S = 10.0  # a connection must finish sending its request head in this time
BODY_CHUNK_TIMEOUT_S = 30.0  # and send each part of its body within this time of the last
IMPACT_TIMEOUT_S = 600.0  # an impact run stops after this long, or when its client goes away
