"""Enrichment: a normalised claim into engine facts, with derived fields from reference data and history."""
