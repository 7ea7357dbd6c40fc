"""Reference data: each dataset's release, source, age and whether it is stale."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from scrubber.refdata import coverage, freshness
from scrubber.refdata.store import ReferenceData
from scrubber.service.auth import ANY_ROLE, Caller, require
from scrubber.service.models import DatasetFreshness, DataStatus
from scrubber.service.problems import problem_responses

router = APIRouter(tags=["data"])


def data_status(reference: ReferenceData) -> DataStatus:
    """The freshness of every dataset of the reference data in use (also shown by /readyz)."""
    loaded = reference.datasets()
    found = freshness.report(reference.path.parent, loaded)
    dates = coverage.spans(loaded, coverage.hcpcs_history_start(reference.hcpcs_earliest_termination()))
    none = coverage.Span(None, None)
    return DataStatus(datasets=[DatasetFreshness(**{**f.__dict__, "urls": list(f.urls)},
                                                 covers_from=dates.get(f.name, none).first,
                                                 covers_to=dates.get(f.name, none).last) for f in found],
                      stale=[f.name for f in found if f.stale])


@router.get("/v1/data", response_model=DataStatus, operation_id="data_status", responses=problem_responses(401, 403))
def get_data_status(request: Request, caller: Annotated[Caller, Depends(require(*ANY_ROLE))]) -> DataStatus:
    """Each reference dataset: its release, source (the shipped baseline, an import, or an update with
    the URLs it came from), load time, age in days since the release began, and whether it is stale
    (older than its publication cycle: NCCI, MUE, add-on codes and HCPCS quarterly; ICD-10-CM and MCE
    yearly from October 1; place of service yearly). Code sets also say which dates of service they judge
    (`covers_from`, `covers_to`): each ICD-10-CM / ICD-10-PCS fiscal year, each MCE version, and the HCPCS
    quarters held; no ICD-9-CM code set is held (dates before 2015-10-01)."""
    return data_status(request.app.state.reference)
