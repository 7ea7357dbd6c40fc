"""Structured logs with request ids, and Prometheus metrics. Logs never carry claim content:
no names, member ids or birth dates, only ids, counts, statuses and timings."""
from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import os
import secrets
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

from scrubber.service.problems import problem

log = logging.getLogger("scrubber.service.app")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REQUESTS = Counter("scrubber_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("scrubber_http_request_duration_seconds", "HTTP request duration", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
# label values come from fixed sets, whatever a client sends: a method outside these is "other",
# a route is its template (or "unmatched"), a status its numeric code
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
SCRUBS = Counter("scrubber_scrubs_total", "Claims scrubbed, by result status", ["status"])
FINDINGS = Counter("scrubber_findings_total", "Findings, by category and rule", ["category", "rule_id"])


def metrics_payload() -> tuple[bytes, str]:
    """The Prometheus exposition; with several worker processes, the sum over all of them."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def count_result(result) -> None:
    SCRUBS.labels(result.status).inc()
    for finding in result.findings:
        FINDINGS.labels(finding.category, finding.rule_id).inc()


def metric_method(method: str) -> str:
    """The `method` label: the HTTP method when it is a standard one, else "other"."""
    return method if method in METHODS else "other"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, process id, message, the request id, and
    `extra` fields."""

    FIELDS = ("method", "path", "status", "duration_ms", "client", "key_id", "scrub_id", "claim_count",
              "revision", "previous_revision", "generation")

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "pid": record.process,
               "msg": record.getMessage()}
        rid = request_id.get()
        if rid:
            out["request_id"] = rid
        for name in self.FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out)


def log_config(level: str = "INFO") -> dict:
    """The logging set-up (`logging.config.dictConfig`): JSON lines on stderr for every logger. uvicorn
    applies it in each worker process (its `log_config`), and `configure_logging` in this one."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "scrubber.service.observability.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # our middleware logs each request, with its id: no access log
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            "alembic": {"level": "WARNING"},  # its plugin set-up is noise at start-up
        },
    }


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(log_config(level))


class RequestContext:
    """Pure ASGI middleware: a request id on every request and response, one structured log line
    and the HTTP metrics per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        rid = given if given and given.isprintable() else secrets.token_hex(8)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # here, not in an app-level handler, so that the log line and the 500 keep the request id
            log.exception("unexpected error")
            if status.get("started"):
                raise
            response = problem(500, "internal-error", "Internal error",
                               "the scrubber could not finish this request; it has been logged",
                               instance=scope.get("path"))
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = metric_method(scope["method"])
            REQUESTS.labels(method, path, str(status["code"])).inc()
            LATENCY.labels(method, path).observe(elapsed)
            log.info("request", extra={"method": scope["method"][:20], "path": path, "status": status["code"],
                                       "duration_ms": round(elapsed * 1000, 2), **request_facts(scope)})
            request_id.reset(token)


def request_facts(scope) -> dict:
    """What the app noted about a request, for its log line: the client's address, the caller's key
    id (`state["caller"]`, set by authentication), the scrub id of a single-claim scrub, the claim
    count of a batch. Ids and counts only, never claim content."""
    facts = {}
    client = scope.get("client")
    if client:
        facts["client"] = client[0]
    state = scope.get("state")
    state = state if isinstance(state, dict) else {}
    key_id = getattr(state.get("caller"), "key_id", None)
    if key_id:
        facts["key_id"] = key_id
    for name in ("scrub_id", "claim_count"):
        if state.get(name) is not None:
            facts[name] = state[name]
    return facts
