"""Throughput of the scrubbing pipeline on one core: the engine path beside the reference evaluator.

A seeded synthetic corpus (1-12 lines, 1-12 diagnoses, values that make the shipped rules fire
often) is scrubbed with the shipped rules: normalise + enrich + evaluate + findings + result, per
claim, timed one claim at a time. Targets: >= 8,000 claims/s for the engine path, and the engine
at least 2x the reference evaluator.

    python bench/scrub.py [--claims 20000] [--seed 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scrubber.pipeline import Scrubber  # noqa: E402
from scrubber.ruleset import load_ruleset  # noqa: E402
from tests.generators import claims  # noqa: E402


def measure(scrubber: Scrubber, corpus) -> dict:
    for claim in corpus[:500]:  # warm up
        scrubber.scrub(claim.model_copy(deep=True), today=dt.date(2026, 1, 20))
    copies = [c.model_copy(deep=True) for c in corpus]
    times = []
    clock = time.perf_counter
    today = dt.date(2026, 1, 20)
    started = clock()
    for claim in copies:
        t0 = clock()
        scrubber.scrub(claim, today=today)
        times.append(clock() - t0)
    elapsed = clock() - started
    times.sort()
    return {"claims_per_s": len(corpus) / elapsed, "p50_ms": times[len(times) // 2] * 1000,
            "p99_ms": times[int(len(times) * 0.99)] * 1000, "mean_ms": statistics.fmean(times) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    corpus = claims(args.seed, args.claims)
    ruleset = load_ruleset()
    lines = sum(len(c.lines) for c in corpus) / len(corpus)
    print(f"corpus: {len(corpus)} claims, {lines:.1f} lines/claim on average; "
          f"{len(ruleset.program.rules)} shipped rules, revision {ruleset.revision}")
    results = {}
    for evaluator in ("engine", "reference"):
        scrubber = Scrubber(ruleset, evaluator=evaluator)
        results[evaluator] = measure(scrubber, corpus)
        scrubber.close()
    print(f"{'path':10s} {'claims/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, r in results.items():
        print(f"{name:10s} {r['claims_per_s']:10.0f} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f}")
    ratio = results["engine"]["claims_per_s"] / results["reference"]["claims_per_s"]
    print(f"engine / reference: {ratio:.2f}x (target >= 2x); engine target >= 8000 claims/s: "
          f"{'met' if results['engine']['claims_per_s'] >= 8000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
