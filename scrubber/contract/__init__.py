"""The public contract: the claim and scrub-result models (shared/contract.md). Imports nothing of the scrubber."""
