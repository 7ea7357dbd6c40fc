"""The scrubbing pipeline: normalise -> enrich -> engine -> findings, for one claim at a time."""
