"""Structured logs with request ids, and Prometheus metrics. Logs never carry claim content:
no names, member ids or birth dates, only ids, counts, statuses and timings."""
from __future__ import annotations

import contextvars
import json
import logging
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

REQUESTS = Counter("scrubber_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("scrubber_http_request_duration_seconds", "HTTP request duration", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
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


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request id, and `extra` fields."""

    FIELDS = ("method", "path", "status", "duration_ms", "client", "scrub_id", "claim_count", "revision")

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        rid = request_id.get()
        if rid:
            out["request_id"] = rid
        for name in self.FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request, with its id
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin set-up is noise at start-up
