"""The bounds on what one request may cost: sizes, depths, counts and times. Each is documented in
the README (section "Limits"); a request past one gets a clear problem or finding, never a crash."""
from __future__ import annotations

MB = 1024 * 1024

# request bodies, enforced while they are read (scrubber.service.body_limits), after authentication
MAX_CLAIM_BYTES = 4 * MB  # POST /v1/claims/scrub: one claim (999 lines fit in well under 1 MB)
MAX_NDJSON_BATCH_BYTES = 512 * MB  # POST /v1/claims/scrub/batch as NDJSON: spooled to disk as it arrives
MAX_WHOLE_BODY_BYTES = 64 * MB  # a JSON array batch, an X12 interchange, a FHIR Bundle: read whole
MAX_RULE_FILE_BYTES = 2 * MB  # POST /v1/rules/validate
MAX_IMPACT_BYTES = 16 * MB  # POST /v1/rules/impact (candidate files and an optional corpus)
MAX_SUBMISSIONS_BYTES = 4 * MB  # POST /v1/claims/submissions: 10,000 items of at most about 250 bytes
MAX_SUBMISSIONS = 10_000  # items in one POST /v1/claims/submissions
MAX_OTHER_BYTES = 64 * 1024  # any other request with a body
MAX_LINE_BYTES = 8 * MB  # one NDJSON line; longer is answered by an error record and skipped
SPOOL_MEMORY_BYTES = 4 * MB  # a batch body is kept in memory up to this, then in a temporary file

# JSON: nesting deeper than this is refused (a claim is at most 5 levels deep; FHIR about 10)
MAX_JSON_DEPTH = 64

# YAML rule and payer files (scrubber.ruleset.yaml_source)
MAX_YAML_DEPTH = 64  # nested mappings and sequences
MAX_YAML_NODES = 50_000  # scalars, mappings and sequences in one file (the largest shipped file: 1,343)
MAX_YAML_NUMBER_CHARS = 100  # one unquoted number (YAML 1.1 reads 1:00:00 as 3600: cost grows with length)

# findings: one claim reports at most this many; past it, one `findings-truncated` finding says so
MAX_FINDINGS_PER_CLAIM = 500
# pair rules: the engine gets one fact per ordered pair of lines on a date of service (999 lines on one
# day: 997,002); past this many, pair rules are not run on the claim and a `pair-rules-skipped` warning says so
MAX_LINE_PAIRS = 10_000

# time
REQUEST_HEADER_TIMEOUT_S = 10.0  # a connection must finish sending its request head in this time
BODY_CHUNK_TIMEOUT_S = 30.0  # and send each part of its body within this time of the last
KEEP_ALIVE_TIMEOUT_S = 5.0  # an idle keep-alive connection is closed after this long
IMPACT_TIMEOUT_S = 600.0  # an impact run stops after this long, or when its client goes away

# API keys: a supplied secret (SCRUBBER_BOOTSTRAP_KEY) needs this many characters, this many of them different
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT = 10
