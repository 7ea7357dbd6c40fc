"""Reference code sets shipped with the scrubber (see data/SOURCES.md), behind one interface.

Rule files reach them as value sets (`{table: place_of_service}`); the compiler turns those
into enrichment flags, since code lists are far too long for the engine itself.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def place_of_service() -> dict[str, str]:
    with resources.files("scrubber.data").joinpath("place_of_service_2026.csv").open(encoding="utf-8-sig") as f:
        return {row["code"]: row["description"] for row in csv.DictReader(f)}


def tables() -> dict[str, frozenset[str]]:
    """The reference tables a rule file's value set can name."""
    return {"place_of_service": frozenset(place_of_service())}
