"""Claims sent to a payer, as the payer-profile tests (payment policy, claim requirements) write them."""
from __future__ import annotations

from typing import Any

from scrubber.contract.claim import Claim
from scrubber.ruleset.examples import complete_claim


def claim_for(payer: str | None, partial: dict[str, Any], member_id: str | None = None) -> Claim:
    """A complete claim from `partial`, sent to `payer` (its id and name; None: no payer), with the patient's
    member id `member_id` unless `partial` names one."""
    data = complete_claim(partial)
    if member_id is not None:
        data["patient"]["member_id"] = partial.get("patient", {}).get("member_id", member_id)
    if payer is None:
        data.pop("payer")
    else:
        data["payer"] = {"id": payer, "name": payer}
    return Claim.model_validate(data)
