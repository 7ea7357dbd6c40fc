"""The rules: list and read the rules in force (base and per payer), lint a rule file, reload the rule
and payer files, and measure what a change would do before it is deployed."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from scrubber import limits
from scrubber.contract.claim import PRINTABLE
from scrubber.pipeline.routing import PayerRouter
from scrubber.ruleset.loader import RuleSetError
from scrubber.ruleset.payers import load_deployment, load_deployment_texts
from scrubber.ruleset.yaml_source import YamlError, load_document
from scrubber.service.auth import COMPLIANCE, RULE_READERS, Caller, require
from scrubber.service.current import Current, rules_in_force
from scrubber.service.models import Impact, ImpactRequest, LintProblem, Reloaded, RuleDetail, RuleList, Validation
from scrubber.service.problems import ApiError, problem_responses
from scrubber.service.rule_catalogue import (UnknownPayer, all_rules, find_rule, payer_profile_id, payer_versions,
                                             rules_for_payer, times_fired)
from scrubber.settings import settings
from scrubber.workflows.examples import run_examples
from scrubber.workflows.impact import ImpactStopped, measure

log = logging.getLogger("scrubber.service.app")  # the service's logger: its name is in every log line
router = APIRouter(tags=["rules"])

CLIENT_GONE = "the client went away"
POLL_S = 0.5  # how often a long request looks whether its client is still there
PAYER_FILTER = "a payer id (as on a claim): the rules in force for that payer's claims"
PayerFilter = Annotated[str | None, Query(max_length=40, pattern=PRINTABLE, description=PAYER_FILTER)]
FIRED_DAYS = 30  # `fired_30d`: the findings of the last 30 days (UTC), today included


def fired_counts(request: Request) -> dict[tuple[str, str | None], int]:
    """The findings of the last FIRED_DAYS days by (rule id, claim payer id), from the audit store."""
    since = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=FIRED_DAYS - 1)
    return request.app.state.store.rule_counts(since=since)


def unknown_payer(exc: UnknownPayer) -> ApiError:
    return ApiError(404, "not-found", "No such payer", str(exc))


@router.get("/v1/rules", response_model=RuleList, operation_id="list_rules",
            responses=problem_responses(401, 403, 404))
def list_rules(request: Request, caller: Annotated[Caller, Depends(require(*RULE_READERS))],
               payer: PayerFilter = None) -> RuleList:
    """Every rule that can produce a finding, with its source file, the payer it belongs to (null: a
    base rule, in force for every payer unless its profile disables or overrides it) and the rule set
    revision: the base rules once, then each payer's own and changed rules. With `payer`: the rules in
    force for that payer, each marked with the payer, or null when it is a base rule inherited unchanged."""
    current = rules_in_force(request)
    ruleset, deployment = current.scrubber.ruleset, current.deployment
    try:
        rules = all_rules(ruleset, deployment) if payer is None else rules_for_payer(ruleset, deployment, payer)
    except UnknownPayer as exc:
        raise unknown_payer(exc) from None
    counts = fired_counts(request)
    versions = payer_versions(rules)
    pid = payer_profile_id(deployment, payer) if payer is not None else None
    return RuleList(revision=ruleset.revision,
                    rules=[{**rule.summary(ruleset.revision), "fired_30d": times_fired(rule, counts, versions, pid)}
                           for rule in rules])


def lint_rule_text(current: Current, name: str, text: str) -> Validation:
    """Lint one rule file or payer profile (`text`, as `name`) with the rules in force; loads nothing.
    CPU-bound: call it off the event loop. A file the YAML loader refuses (an alias, nesting too deep,
    too many values: see scrubber.ruleset.yaml_source) is answered by that problem alone, at once."""
    try:
        load_document(text, name)
    except YamlError as exc:
        return Validation(valid=False, rules=0, problems=[LintProblem(**exc.problem.as_dict())])
    sources = {n: t for n, t in current.sources().items() if n != name}
    sources[name] = text
    try:
        checked = load_deployment_texts(*current.split(sources))
    except RuleSetError as exc:
        return Validation(valid=False, rules=0, problems=[LintProblem(**p.as_dict()) for p in exc.problems])
    rules = len({c.rule.id for _, ruleset in checked.rulesets() for c in ruleset.program.rules if c.source == name})
    return Validation(valid=True, rules=rules, problems=[])


@router.post("/v1/rules/validate", response_model=Validation, operation_id="validate_rules",
             responses=problem_responses(401, 403, 413, 422),
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/yaml": {"schema": {"type": "string", "minLength": 1}},
                 "text/plain": {"schema": {"type": "string", "minLength": 1}}}}})
async def validate_rules(request: Request, caller: Annotated[Caller, Depends(require(*COMPLIANCE))],
                         name: Annotated[str, Query(max_length=200, pattern=r"^[\w./-]+\.ya?ml$")] = "rules/new.yaml"
                         ) -> Validation:
    """Lint a rule file (YAML in the body) together with the rules in force, as `name` (a file of
    the same name is replaced): every problem with file:line:column. Nothing is loaded."""
    raw = await request.body()
    if len(raw) > limits.MAX_RULE_FILE_BYTES:
        raise ApiError(413, "too-large", "Rule file too large",
                       f"a rule file is at most {limits.MAX_RULE_FILE_BYTES // limits.MB} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Validation(valid=False, rules=0, problems=[LintProblem(
            file=name, line=1, column=1, message="the file is not UTF-8 text", rule_id=None)])
    if not text.strip(" \t\r\n"):
        raise ApiError(422, "invalid-request", "The request is not valid",
                       "the body is empty: send the YAML text of a rule file",
                       [{"field": "(body)", "message": "must be the YAML text of a rule file"}])
    current = await run_in_threadpool(rules_in_force, request)
    return await run_in_threadpool(lint_rule_text, current, name, text)


@router.post("/v1/rules/reload", response_model=Reloaded, operation_id="reload_rules",
             responses=problem_responses(401, 403, 409, 422))
def reload_rules(request: Request, caller: Annotated[Caller, Depends(require("admin"))]) -> Reloaded:
    """Load the rule and payer files again, off to the side: lint them, run every example, and
    only then swap them in, atomically. Requests in flight finish on the rule set they started
    with; a set with a problem or a failing example never replaces the running one, and the
    reply says why."""
    if not request.app.state.reload_lock.acquire(blocking=False):
        raise ApiError(409, "reload-running", "A reload is already running", "try again when it has finished")
    try:
        current = request.app.state.current
        previous = current.revision
        try:
            deployment = load_deployment(settings().rules_dir, settings().payers_dir)
        except RuleSetError as exc:
            raise ApiError(422, "rules-invalid", "The rule files have problems",
                           f"{len(exc.problems)} problem(s); the running rule set {previous} stays in force",
                           [{"field": f"{p.file}:{p.line}:{p.column}", "message": p.message}
                            for p in exc.problems[:200]]) from None
        results = run_examples(deployment, request.app.state.reference)
        failed = [r for r in results if not r.passed]
        if failed:
            raise ApiError(422, "examples-failed", "Rule examples fail",
                           f"{len(failed)} of {len(results)} example(s) fail; the running rule set "
                           f"{previous} stays in force",
                           [{"field": r.where, "message": f"{r.rule_id}: example '{r.name}': {r.why}"}
                            for r in failed[:200]]) from None
        router = PayerRouter(deployment, request.app.state.reference, request.app.state.store)
        # the other worker processes catch up with the generation published here
        generation = current.replace(router, lambda: request.app.state.store.publish_rules(deployment.revision))
        log.info("rules reloaded", extra={"revision": deployment.revision, "previous_revision": previous,
                                          "generation": generation})
        return Reloaded(revision=deployment.revision, previous_revision=previous,
                        rules=len(deployment.base.program.rules), payers=sorted(deployment.payers),
                        examples_passed=len(results))
    finally:
        request.app.state.reload_lock.release()


@router.post("/v1/rules/impact", response_model=Impact, operation_id="rules_impact",
             responses={**problem_responses(401, 403, 413, 422),
                        503: {**problem_responses(503)[503],
                              "description": "the run took longer than its time limit (impact-timeout); the "
                                             "detail says how many claims were measured"}})
async def rules_impact(request: Request, body: ImpactRequest,
                       caller: Annotated[Caller, Depends(require(*COMPLIANCE))]):
    """What a change would do before it is deployed: the candidate files (added to, or replacing
    files of the same name in, the rules and payers in force) and the running set re-scrub the
    stored claims (the newest scrub of each claim id, since a date) or the claims given, and
    the reply counts, rule by rule, the claims that would newly be reported or no longer be.
    The run stops when its client goes away, and after a time limit with a 503."""
    cancel, corpus_size = threading.Event(), [0]

    def run() -> Impact:
        current = rules_in_force(request)
        sources = current.sources()
        for f in body.files:
            sources[f.name] = f.text
        try:
            candidate = load_deployment_texts(*current.split(sources))
        except RuleSetError as exc:
            raise ApiError(422, "rules-invalid", "The candidate files have problems",
                           f"{len(exc.problems)} problem(s)",
                           [{"field": f"{p.file}:{p.line}:{p.column}", "message": p.message}
                            for p in exc.problems[:200]]) from None
        if body.claims:
            corpus = [(c.claim_id or f"#{i + 1}", c) for i, c in enumerate(body.claims)]
        else:
            corpus = [(c.claim_id or sid, c) for sid, c in request.app.state.store.stored_claims(
                since=body.since, limit=body.limit)]
        corpus_size[0] = len(corpus)
        with current.use() as running:
            deployment = getattr(running, "deployment", None)
            if deployment is None:
                deployment = load_deployment_texts(*current.split(current.sources()))
            report = measure(deployment, candidate, corpus, reference=request.app.state.reference,
                             history=request.app.state.store, cancel=cancel)
        return Impact(**report.as_dict())

    worker = asyncio.ensure_future(run_in_threadpool(run))
    reason = await _watch(request, worker, cancel, limits.IMPACT_TIMEOUT_S)
    try:
        return await worker
    except ImpactStopped as stopped:
        log.info(f"impact run stopped: {reason}; {stopped.claims} of {corpus_size[0]} claims measured")
        if reason == CLIENT_GONE:
            return Response(status_code=499)  # nobody is listening: nginx's "client closed request"
        raise ApiError(503, "impact-timeout", "The impact run took too long",
                       f"the run stopped after {limits.IMPACT_TIMEOUT_S:g} s, when {stopped.claims} of "
                       f"{corpus_size[0]} claims had been measured; measure fewer claims (a later `since`, "
                       f"a smaller `limit`, or a smaller `claims` corpus)", headers={"Retry-After": "60"}) from None


async def _watch(request: Request, worker: asyncio.Future, cancel: threading.Event, limit_s: float) -> str | None:
    """Wait for `worker` (a thread's work), looking every POLL_S whether the client went away or
    `limit_s` has passed; then set `cancel`, so that the work stops at its next step, and say why.
    None: the work finished by itself."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    try:
        while True:
            done, _ = await asyncio.wait({worker}, timeout=POLL_S)
            if done:
                return None
            if await request.is_disconnected():
                cancel.set()
                return CLIENT_GONE
            if loop.time() >= deadline:
                cancel.set()
                return f"it ran past its time limit of {limit_s:g} s"
    except BaseException:  # this request is cancelled (the server stops): the work stops too
        cancel.set()
        raise


# after /v1/rules/validate, so that other methods on that path answer 405 Allow: POST
@router.get("/v1/rules/{rule_id}", response_model=RuleDetail, operation_id="get_rule",
            responses=problem_responses(401, 403, 404, 405))
def get_rule(request: Request,
             rule_id: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")],
             caller: Annotated[Caller, Depends(require(*RULE_READERS))],
             payer: PayerFilter = None) -> RuleDetail:
    """One rule as written, with its examples, and the payer it belongs to: without `payer`, the base
    rule of that id, else the first payer rule of that id; with `payer`, the version in force for that
    payer's claims."""
    if rule_id == "validate":  # the path of POST /v1/rules/validate, not a rule
        raise ApiError(405, "method-not-allowed", "Method Not Allowed", "/v1/rules/validate takes POST",
                       headers={"Allow": "POST"})
    current = rules_in_force(request)
    ruleset, deployment = current.scrubber.ruleset, current.deployment
    try:
        found = find_rule(ruleset, deployment, rule_id, payer)
    except UnknownPayer as exc:
        raise unknown_payer(exc) from None
    if found is None:
        raise ApiError(404, "not-found", "No such rule", f"no rule in force has the id {rule_id!r}"
                       + (f" for the payer {payer!r}" if payer is not None else ""))
    definition = found.written()
    pid = payer_profile_id(deployment, payer) if payer is not None else None
    fired = times_fired(found, fired_counts(request), payer_versions(all_rules(ruleset, deployment)), pid)
    return RuleDetail(**found.summary(ruleset.revision), fired_30d=fired, definition=definition,
                      examples=list(definition.get("examples") or []),
                      yaml=yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=100))
