"""Operations: liveness, readiness and the Prometheus metrics."""
from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from scrubber.service.auth import ANY_ROLE, Caller, require
from scrubber.service.current import rules_in_force
from scrubber.service.models import Health, Readiness
from scrubber.service.observability import metrics_payload
from scrubber.service.problems import problem, problem_responses
from scrubber.service.routes.data import data_status

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses=problem_responses(503))
def readyz(request: Request):
    """Readiness: rules and reference data loaded, database reachable. Carries the reference datasets'
    freshness as information: stale data does not make the service unready."""
    current, reference = rules_in_force(request), request.app.state.reference
    scrubber_ = current.scrubber if current is not None else None
    checks = {"rules_loaded": scrubber_ is not None and len(scrubber_.program.rules) > 0,
              "reference_data_loaded": reference is not None and bool(reference.icd10cm_years),
              "database_reachable": request.app.state.store is not None and request.app.state.store.reachable()}
    if not all(checks.values()):
        failing = ", ".join(name.replace("_", " ") for name, ok in checks.items() if not ok)
        response = problem(503, "not-ready", "Not ready", f"not ready: {failing} failed",
                           instance="/readyz")
        response.body = response.render({**json.loads(bytes(response.body)), "checks": checks})
        response.headers["content-length"] = str(len(response.body))
        return response
    return Readiness(status="ready", checks=checks, revision=scrubber_.ruleset.revision, data=data_status(reference))


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"},
                       **problem_responses(401, 403)})
def metrics(caller: Annotated[Caller, Depends(require(*ANY_ROLE))]) -> Response:
    """Prometheus metrics: requests and latency by route, scrubs by status, findings by category and rule."""
    payload, content_type = metrics_payload()
    return Response(payload, media_type=content_type)
