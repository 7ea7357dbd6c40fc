"""X12 837 reading speed and memory, read only (no scrubbing): claims/s of `iter_claims` over the
100,000-claim 837P corpus of bench/batch.py (generated once into bench/out, 500 claims per
transaction set), and with --memory the peak memory traced while reading it (tracemalloc makes the
reading several times slower, so the speed is measured in runs without it).

    python bench/x12_read.py [--claims 100000] [--runs 3] [--memory]

Prints one JSON line: claims, seconds (best run), claims/s, whether the reader ran compiled (mypyc,
setup.py; SCRUBBER_COMPILE=0 pip install -e . for plain Python), findings by rule, peak MiB traced.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.batch import x12_corpus
from scrubber.intake.x12 import iter_claims, segments


def read(path: Path) -> tuple[int, Counter[str], float]:
    """(results read, findings by rule, seconds) for one pass over the file."""
    rules: Counter[str] = Counter()
    started = time.perf_counter()
    n = 0
    with open(path, encoding="utf-8", newline="") as stream:
        for result in iter_claims(stream):
            n += 1
            rules.update(f["rule_id"] for f in result.findings)
    return n, rules, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also one run under tracemalloc: peak MiB")
    args = parser.parse_args()
    path = x12_corpus(args.claims)
    best = float("inf")
    n, rules = 0, Counter[str]()
    for _ in range(args.runs):
        n, rules, seconds = read(path)
        best = min(best, seconds)
    report = {"claims": args.claims, "results": n, "seconds": round(best, 2),
              "claims_per_s": round(args.claims / best),
              "compiled": not segments.__file__.endswith(".py"), "findings": dict(rules)}
    if args.memory:
        tracemalloc.start()
        read(path)
        report["peak_mib_traced"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        tracemalloc.stop()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
