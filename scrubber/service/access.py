"""Who may read what of a stored scrub: by owner and by role.

    submitter   only the scrubs its own key sent (others are as if absent), PHI masked
    compliance  every scrub, PHI masked
    coder       every scrub, PHI shown
    admin       every scrub, PHI shown (so is a loopback caller while no key exists)

PHI is every claim field flagged `phi` in the field catalogue (`scrubber.ruleset.fields`): a masked value
reads "***". The key a scrub was sent with (`api_key_id`) is shown to admin, and to the key itself.
"""
from __future__ import annotations

import copy
from typing import Any

from scrubber.service.auth import Caller
from scrubber.ruleset.fields import CLAIM_FIELDS

MASK = "***"
PHI_READERS = frozenset({"coder", "admin"})
OWN_SCRUBS_ONLY = frozenset({"submitter"})
PHI_PATHS: tuple[tuple[str, ...], ...] = tuple(tuple(f.name.split(".")) for f in CLAIM_FIELDS if f.phi)


def owner_filter(caller: Caller) -> str | None:
    """The key whose scrubs are all this caller may see; None: every scrub."""
    return caller.key_id if caller.role in OWN_SCRUBS_ONLY else None


def may_see(caller: Caller, stored: dict[str, Any]) -> bool:
    """Whether the caller may read this stored scrub at all."""
    return caller.role not in OWN_SCRUBS_ONLY or (caller.key_id is not None and stored["api_key_id"] == caller.key_id)


def shown(caller: Caller, stored: dict[str, Any]) -> dict[str, Any]:
    """The stored scrub as this caller may see it: PHI masked unless its role reads PHI, the sender's
    key id only to admin or to that key."""
    out = dict(stored)
    if not (caller.role == "admin" or (caller.key_id is not None and stored["api_key_id"] == caller.key_id)):
        out["api_key_id"] = None
    if caller.role not in PHI_READERS:
        out["claim"] = masked(stored["claim"])
    return out


def masked(claim: dict[str, Any]) -> dict[str, Any]:
    """A copy of a claim (as JSON) with every PHI value present replaced by MASK."""
    claim = copy.deepcopy(claim)
    for path in PHI_PATHS:
        parent: Any = claim
        for name in path[:-1]:
            parent = parent.get(name) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(path[-1]) is not None:
            parent[path[-1]] = MASK
    return claim
