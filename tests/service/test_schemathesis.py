"""Schemathesis against the in-process app: every operation of the OpenAPI document the app serves, with
every built-in check (not_a_server_error, status_code / content_type / response_headers /
response_schema conformance, negative_data_rejection, positive_data_acceptance, missing_required_header,
unsupported_method, allow_header_conformance, ...), two checks of our own (no exception escapes the app;
a batch answers one record per claim, in order), and stateful sequences over the OpenAPI links
(POST /v1/claims/scrub -> GET /v1/scrubs/{scrub_id}).

Every call carries an admin key. Generation is derandomized (hypothesis `derandomize=True`): the same
cases on every machine and on both databases.

Known product bugs are listed in KNOWN_BUGS, each with the narrowest matcher we could write (the
operation, the failure kind and what the server did) and a strict-xfail reproduction at the end of the
file: a failure that matches is counted and reported, any other failure fails the test, and the
reproduction starts passing (so fails, being strict) on the day the bug is fixed, which is the moment to
delete its entry. NOT_APPLICABLE lists the few check results that cannot mean anything for an operation
by its contract.

`SCRUBBER_SCHEMATHESIS_EXAMPLES=N` raises the number of examples per operation for a deeper run.
"""
from __future__ import annotations

import collections
import copy
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.failures import FailureGroup

from scrubber.service.app import create_app
from scrubber.audit.store import AuditStore

MAX_EXAMPLES = int(os.environ.get("SCRUBBER_SCHEMATHESIS_EXAMPLES", "150"))
STATEFUL_SCENARIOS = max(MAX_EXAMPLES // 2, 20)
MIN_CASES = 2_000
COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# The document the app serves at /openapi.json (test_served_document_is_the_one_under_test checks that).
DOCUMENT = create_app().openapi()
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))

CASES: collections.Counter[str] = collections.Counter()  # operation label -> cases sent
STATUSES: collections.Counter[tuple[str, int]] = collections.Counter()  # (operation label, status) -> responses
STATEFUL: collections.Counter[str] = collections.Counter()  # cases sent by the stateful test
KNOWN_HITS: collections.Counter[str] = collections.Counter()  # known bug id -> failing cases matched
EXAMPLES: dict[str, str] = {}  # known bug id -> the shortest curl that showed it


# ----------------------------------------------------------------------------- the app under test


class CrashRecorder:
    """A stand-in for the ASGI server around the app: an exception that escapes the app (one the app
    logs as "unexpected error", or one after a streamed response started, which cuts that response
    short as on a real server) is recorded instead of tearing through the client."""

    def __init__(self, app):
        self.app = app
        self.crashes: list[BaseException] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # noqa: BLE001 - that is the point
            self.note(exc)

    def note(self, exc: BaseException) -> None:
        if all(exc is not seen for seen in self.crashes):
            self.crashes.append(exc)


class LoggedCrashes(logging.Handler):
    """The app answers an unexpected exception with a 500 and logs it; this hands the exception over."""

    def __init__(self, recorder: CrashRecorder):
        super().__init__(logging.ERROR)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.recorder.note(record.exc_info[1])


@dataclass
class Target:
    app: CrashRecorder
    headers: dict[str, str]

    @property
    def call_kwargs(self) -> dict[str, Any]:
        return {"app": self.app, "headers": dict(self.headers)}


@pytest.fixture(scope="module")
def target(database_url):
    store = AuditStore(database_url)
    store.delete_everything()
    _, secret = store.create_key("admin", label="schemathesis")  # before the first request (KeyCache)
    recorder = CrashRecorder(create_app(store=store))
    handler, logger = LoggedCrashes(recorder), logging.getLogger("scrubber")
    logger.addHandler(handler)
    try:
        yield Target(recorder, {"X-API-Key": secret})
    finally:
        logger.removeHandler(handler)
        store.delete_everything()
        store.close()


# ----------------------------------------------------------------------------- our own checks


class ServerCrashed(AssertionError):
    def __init__(self, crashes: list[BaseException]):
        super().__init__("unexpected exception in the app: "
                         + "; ".join(f"{type(c).__qualname__}: {c}" for c in crashes))
        self.crashes = crashes


class BatchIncomplete(AssertionError):
    pass


def batch_answers_every_claim(ctx, response, case) -> bool | None:
    """The contract: one NDJSON record per claim, in order; a claim that cannot be read gets an error
    record in its place, never an aborted batch."""
    if case.operation.label != "POST /v1/claims/scrub/batch" or response.status_code != 200:
        return None
    if not (case.media_type or "").startswith("application/json") or not isinstance(case.body, list):
        return None
    lines = [line for line in response.content.decode("utf-8").split("\n") if line.strip()]
    if len(lines) != len(case.body):
        raise BatchIncomplete(f"{len(case.body)} claims sent, {len(lines)} records answered")
    for position, line in enumerate(lines, start=1):
        record = json.loads(line)
        if "error" in record:
            if record.get("index") != position:
                raise BatchIncomplete(f"record {position} is an error record for index {record.get('index')}")
        elif not isinstance(record.get("scrub_id"), str):
            raise BatchIncomplete(f"record {position} is neither a scrub result nor an error record: {line[:200]}")
    return True


# ----------------------------------------------------------------------------- known bugs, not-applicable checks


@dataclass
class Outcome:
    case: Any
    response: Any
    crashes: list[BaseException]

    @property
    def label(self) -> str:
        return self.case.operation.label

    def query(self, name: str) -> str | None:
        value = (self.case.query or {}).get(name)
        return None if value is None else str(value)

    def problem_errors(self) -> list[dict] | None:
        try:
            body = json.loads(self.response.content)
        except ValueError:
            return None
        return body.get("errors") if isinstance(body, dict) else None

    def problem_title(self) -> str | None:
        try:
            body = json.loads(self.response.content)
        except ValueError:
            return None
        return body.get("title") if isinstance(body, dict) else None


@dataclass(frozen=True)
class Known:
    id: str
    what: str
    matches: Callable[[Outcome, AssertionError], bool]


def _kind(failure: AssertionError) -> str:
    return type(failure).__name__


def _is_crash_failure(outcome: Outcome, failure: AssertionError) -> bool:
    """The failures a crash causes: the 500 (not_a_server_error, an undocumented status), our crash check,
    and for a batch the records it never sent."""
    exception = getattr(failure, "exception", None)
    if isinstance(exception, (ServerCrashed, BatchIncomplete)):
        return True
    return _kind(failure) in ("ServerError", "UndefinedStatusCode") and outcome.response.status_code == 500


def _crashed(outcome: Outcome, failure: AssertionError, operations: set[str], test: Callable[[BaseException], bool]):
    """The case crashed the app, only in ways `test` recognises, and `failure` is a consequence."""
    return (bool(outcome.crashes) and outcome.label in operations and all(test(c) for c in outcome.crashes)
            and _is_crash_failure(outcome, failure))


SCRUBBING = {"POST /v1/claims/scrub", "POST /v1/claims/scrub/batch"}
STRICT_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
VALIDATE_NAME = re.compile(r"^[\w./-]+\.ya?ml$")
OUT_OF_SCHEMA_LIMITS = [  # (field, message) of 422s for values the OpenAPI document says are valid
    (re.compile(r"^lines\[\d+\]\.units$"), "must be a number of units with at most 3 decimal places"),
    (re.compile(r"^(lines\[\d+\]\.charge|total_charge)$"), 'must be an amount with at most 2 decimal places, such as "125.00"'),
]


def _rejects_only_undocumented_limits(outcome: Outcome) -> bool:
    errors = outcome.problem_errors()
    return bool(errors) and all(any(field.match(e.get("field", "")) and e.get("message") == message
                                    for field, message in OUT_OF_SCHEMA_LIMITS) for e in errors)


def _exc_text(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc} {getattr(exc, 'orig', '')!r}"


# Product bugs schemathesis found are fixed; each keeps its regression test at the end of this file.
# A new one goes here, with the narrowest matcher, until it is fixed.
KNOWN_BUGS: list[Known] = []

NOT_APPLICABLE = [
    Known("batch-negative-data",
          "by contract a batch answers 200 with an error record for each claim it cannot read",
          lambda o, f: o.label == "POST /v1/claims/scrub/batch" and _kind(f) == "AcceptedNegativeData"
          and o.response.status_code == 200),
    Known("validate-text-body-type",
          "a YAML/text body is a string on the wire whatever JSON type the generator negated it to",
          lambda o, f: (o.label == "POST /v1/rules/validate" and _kind(f) == "AcceptedNegativeData"
                        and bool(o.response.request.body)
                        and (o.query("name") is None or (len(o.query("name")) <= 200
                                                         and VALIDATE_NAME.match(o.query("name")) is not None)))),
    Known("x12-fhir-body-grammar",
          "an X12 interchange or a FHIR resource has a grammar no JSON schema states: a body that is not "
          "one is a 422 problem naming why (it has no claim to attach a finding to)",
          lambda o, f: (o.label in ("POST /v1/claims/scrub/x12", "POST /v1/claims/scrub/fhir")
                        and _kind(f) in ("RejectedPositiveData", "AcceptedNegativeData")
                        and o.response.status_code in (200, 422)
                        and (o.response.status_code == 200
                             or o.response.json()["type"] in ("/problems/invalid-x12", "/problems/invalid-fhir")))),
    Known("impact-candidate-content",
          "a candidate file's YAML must be a valid rule file or payer profile, which a JSON schema cannot say: "
          "a 422 lists its lint problems",
          lambda o, f: (o.label == "POST /v1/rules/impact" and _kind(f) == "RejectedPositiveData"
                        and o.response.json()["type"] == "/problems/rules-invalid")),
    Known("stats-from-after-to",
          "`from` after `to` is a 422 by design; a JSON schema cannot say so",
          lambda o, f: (o.label == "GET /v1/stats" and _kind(f) == "RejectedPositiveData"
                        and o.problem_errors() == [{"field": "to", "message": "must be on or after `from`"}])),
    Known("submissions-replaced-by",
          "`replaced_by` only with the status `replaced`, and never the claim's own id: a 422 naming the item's "
          "`replaced_by` by design; a JSON schema cannot say so",
          lambda o, f: (o.label == "POST /v1/claims/submissions" and _kind(f) == "RejectedPositiveData"
                        and bool(o.problem_errors())
                        and all(e["field"].endswith("].replaced_by") and e["message"] in (
                            "is only for the status `replaced`", "must not be the claim's own id")
                            for e in o.problem_errors()))),
]


def _explained(outcome: Outcome, failure: AssertionError) -> Known | None:
    for known in KNOWN_BUGS + NOT_APPLICABLE:
        if known.matches(outcome, failure):
            return known
    return None


# ----------------------------------------------------------------------------- one call


def call_kwargs(case, target: Target) -> dict[str, Any]:
    """The admin key on every call, but for a case that leaves out the ApiKey scheme's header on
    purpose (schemathesis negates the security requirement): that one goes without, to get its 401."""
    kwargs = target.call_kwargs
    if case.operation.schema.is_security_param_negated(case):
        kwargs["headers"] = {}
    return kwargs


def send(case, target: Target):
    CASES[case.operation.label] += 1
    target.app.crashes.clear()
    response = case.call(**call_kwargs(case, target))
    STATUSES[(case.operation.label, response.status_code)] += 1
    return response


def check(case, response, target: Target, recorder=None) -> None:
    """Every check plus ours; fail on anything KNOWN_BUGS and NOT_APPLICABLE do not explain."""
    crashes = list(target.app.crashes)

    def no_unhandled_exception(ctx, response, case) -> bool | None:
        if crashes:
            raise ServerCrashed(crashes)
        return None

    kwargs = call_kwargs(case, target)
    try:
        # ignored_auth re-sends requests over HTTP, which an in-process app cannot take; authentication
        # is checked per endpoint and role in test_auth.py instead
        case.validate_response(response, headers=kwargs["headers"], transport_kwargs=kwargs, recorder=recorder,
                               additional_checks=[no_unhandled_exception, batch_answers_every_claim],
                               excluded_checks=[schemathesis.checks.ignored_auth,
                                                schemathesis.checks.object_level_authorization])
    except FailureGroup as group:
        outcome = Outcome(case, response, crashes)
        explained = [(failure, _explained(outcome, failure)) for failure in group.exceptions]
        if any(known is None for _, known in explained):
            raise
        curl = case.as_curl_command(headers=kwargs["headers"])
        for known in {known.id: known for _, known in explained}.values():
            KNOWN_HITS[known.id] += 1
            if known.id not in EXAMPLES or len(curl) < len(EXAMPLES[known.id]):
                EXAMPLES[known.id] = curl
    finally:
        target.app.crashes.clear()


# ----------------------------------------------------------------------------- the tests


def test_served_document_is_the_one_under_test(target):
    from fastapi.testclient import TestClient

    served = TestClient(target.app.app).get("/openapi.json")  # no lifespan: the app's is schemathesis's to run
    assert served.status_code == 200
    assert served.json() == DOCUMENT


OPERATIONS = {result.ok().label for result in schema.get_all_operations()}


def test_every_operation_is_tested():
    assert OPERATIONS >= {
        "POST /v1/claims/scrub", "POST /v1/claims/scrub/batch", "GET /v1/scrubs", "GET /v1/scrubs/{scrub_id}",
        "GET /v1/stats", "GET /v1/rules", "GET /v1/rules/{rule_id}", "POST /v1/rules/validate", "GET /metrics",
        "GET /healthz", "GET /readyz", "GET /v1/codes/{system}/{code}", "POST /v1/claims/scrub/x12",
        "POST /v1/claims/scrub/fhir", "POST /v1/rules/reload", "POST /v1/rules/impact", "POST /v1/claims/submissions"}


# A reload lints and runs every example of every rule file and payer profile (about a second), and
# takes no input: a few cases are enough. The impact of a candidate re-scrubs stored claims twice.
SLOW = ["reload_rules", "rules_impact"]


@schema.exclude(operation_id=SLOW).parametrize()
@settings(max_examples=MAX_EXAMPLES, **COMMON)
def test_operation(case, target):
    check(case, send(case, target), target)


@schema.include(operation_id=SLOW).parametrize()
@settings(max_examples=max(MAX_EXAMPLES // 15, 5), **COMMON)
def test_slow_operation(case, target):
    check(case, send(case, target), target)


def _linked_operation_ids(document: dict) -> list[str]:
    """Both ends of every OpenAPI link in the document."""
    ids = set()
    for methods in document["paths"].values():
        for operation in methods.values():
            for response in operation.get("responses", {}).values():
                for link in response.get("links", {}).values():
                    ids |= {operation["operationId"], link["operationId"]}
    return sorted(ids)


LINKED = _linked_operation_ids(DOCUMENT)


# Only the linked operations: with all of them, schemathesis's own dependency analysis (which takes the
# claim's `claim_id` for a reference to a resource nothing creates) would start every sequence at
# GET /v1/stats and never at POST /v1/claims/scrub.
class Workflow(schema.include(operation_id=LINKED).as_state_machine()):
    """Sequences over the OpenAPI links: a scrub, then reading it back by its scrub_id."""

    target: Target

    def call(self, case, **kwargs):
        return send(case, self.target)

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        check(case, response, self.target, recorder=getattr(self, "recorder", None))


def test_stateful_links(target):
    assert {"scrub_claim", "get_scrub"} <= set(LINKED)
    followed = ("GET /v1/scrubs/{scrub_id}", 200)
    before, cases_before = STATUSES[followed], sum(CASES.values())
    Workflow.target = target
    Workflow.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=6, **COMMON))
    assert STATUSES[followed] > before  # the link was followed: stored scrubs read back by their scrub_id
    STATEFUL["cases"] += sum(CASES.values()) - cases_before


def test_case_count_and_known_bugs(capsys):
    """Runs last: at least MIN_CASES cases were sent, and what the known-bug matchers caught."""
    total = sum(CASES.values())
    lines = [f"schemathesis: {total} cases over {len(CASES)} operations ({STATEFUL['cases']} in stateful sequences)"]
    lines += [f"  {label}: {n}" for label, n in sorted(CASES.items())]
    for known in KNOWN_BUGS + NOT_APPLICABLE:
        if KNOWN_HITS[known.id]:
            lines.append(f"  known {known.id}: {KNOWN_HITS[known.id]} cases, e.g. {EXAMPLES[known.id][:300]}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    if set(CASES) != OPERATIONS:
        pytest.skip("run with the whole file to count cases")  # e.g. `-k` selected a few operations
    assert total >= MIN_CASES


# ----------------------------------------------------------------------------- the known bugs, reproduced
# Regression tests for the bugs schemathesis found: each asserts what the service does now.

SCRUB, BATCH, VALIDATE = "/v1/claims/scrub", "/v1/claims/scrub/batch", "/v1/rules/validate"


@pytest.fixture(scope="module")
def client(database_url):
    from fastapi.testclient import TestClient

    store = AuditStore(database_url)
    _, secret = store.create_key("admin", label="schemathesis reproductions")
    try:
        with TestClient(create_app(store=store), raise_server_exceptions=False,
                        headers={"X-API-Key": secret}) as test_client:
            yield test_client
    finally:
        store.close()


@pytest.fixture()
def on_postgres(database_url) -> bool:
    return database_url.startswith("postgresql")


def history_claim(claim_id: str, **line: Any) -> dict:
    """A claim that leaves claim-line history (claim id, member id, date and code on the line)."""
    return {"claim_type": "professional", "claim_id": claim_id, "patient": {"member_id": "1EG4TE5MK72"},
            "lines": [{"procedure_code": "99213", "service_date": "2026-11-01", **line}]}


def test_a_line_number_beyond_64_bits_is_refused_and_the_batch_goes_on(client):
    huge = {"claim_type": "professional", "claim_id": "INT64-2", "lines": [{"line_number": 2**64}]}
    ok = {"claim_type": "professional", "claim_id": "INT64-1", "lines": [{"procedure_code": "99213"}]}

    single = client.post(SCRUB, json=huge)
    batch = client.post(BATCH, json=[ok, huge, ok])

    assert single.status_code in (200, 422), single.text
    assert batch.status_code == 200 and len(batch.text.splitlines()) == 3, batch.text


def test_a_line_number_beyond_the_database_integer_is_refused(client, on_postgres, request):
    line_number = 2**31 if on_postgres else 2**63  # just past PostgreSQL's INTEGER, SQLite's 64-bit integer

    response = client.post(SCRUB, json=history_claim("INTRANGE-1", line_number=line_number))

    assert response.status_code in (200, 422), response.text


def test_nul_characters_are_refused_not_stored(client, on_postgres, request):
    stored = client.post(SCRUB, json={"claim_type": "professional", "claim_id": "NUL\x00", "lines": [{}]})
    filtered = client.get("/v1/scrubs", params={"claim_id": "NUL\x00"})
    read = client.get("/v1/scrubs/NUL%00")

    assert stored.status_code in (200, 422), stored.text
    assert filtered.status_code in (200, 422), filtered.text
    assert read.status_code in (404, 422), read.text


def test_long_modifiers_fit_the_history(client, on_postgres, request):
    response = client.post(SCRUB, json=history_claim("VARCHAR-1", modifiers=["A" * 40, "B" * 40, "C" * 40]))

    assert response.status_code in (200, 422), response.text


def test_a_control_character_in_a_rule_file_is_a_lint_problem(client):
    response = client.post(VALIDATE, content=b"\x1c", headers={"content-type": "text/plain"})

    assert response.status_code == 200, response.text
    assert response.json()["valid"] is False and response.json()["problems"][0]["line"] == 1


@pytest.mark.parametrize("query", ["/v1/scrubs?to=0", "/v1/stats?from=86400", "/v1/scrubs?from=2026-11-01T00:00:00Z"])
def test_query_dates_must_be_written_as_dates(client, query):
    response = client.get(query)

    assert response.status_code == 422, response.text


def test_validate_without_a_body_is_refused(client):
    response = client.post(VALIDATE)

    documented_required = DOCUMENT["paths"][VALIDATE]["post"]["requestBody"].get("required", False)
    assert response.status_code == 422 or not documented_required, response.text


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_validate_answer_405_allow_post(client, method):
    response = client.request(method, VALIDATE)

    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"


def test_a_body_that_is_not_utf8_is_a_422_problem(client):
    response = client.post(SCRUB, content=b'{"claim_type": "\xff"}', headers={"content-type": "application/json"})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("field", "value", "keyword"), [("units", 10**7, "maximum"), ("units", 0.0001, "multipleof"),
                                                         ("charge", 10**9, "maximum")])
def test_amount_limits_are_documented(client, field, value, keyword):
    """Either the service takes what the document allows, or the document states the limit."""
    documented = json.dumps(DOCUMENT["components"]["schemas"]["Line"]["properties"][field]).lower()

    response = client.post(SCRUB, json={"claim_type": "professional", "lines": [{field: value}]})

    assert response.status_code == 200 or keyword in documented, response.text
