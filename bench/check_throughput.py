"""`scrubber check` claims/s on one core, for this tree and (optionally) another checkout of the project,
on the same seeded corpus: how much a change costs end to end (reading NDJSON, scrubbing with the
shipped rules and payer profiles, writing results).

    git archive HEAD | tar -x -C /tmp/before      # the revision to compare with
    python bench/check_throughput.py [--before /tmp/before] [--claims 20000] [--seed 7] [--runs 3]
                                     [--corpus professional|institutional]

--corpus institutional: hospital claims (tests.generators.realistic_institutional_claims: outpatient
13x and inpatient 11x bills with revenue codes and some typical defects) instead of the professional
ones (the default).

Each tree runs with its own package, rules, payers and data directory (built on its first run, not
timed), pinned to CPU 0 with taskset when available; the figure is the best of --runs runs, read
from the summary that `check --out` writes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from tests.generators import realistic_claims, realistic_institutional_claims  # noqa: E402

CORPORA = {"professional": realistic_claims, "institutional": realistic_institutional_claims}


def corpus(path: Path, seed: int, count: int, kind: str = "professional") -> None:
    with path.open("w") as out:
        for claim in CORPORA[kind](seed, count):
            out.write(json.dumps(claim.model_dump(mode="json", exclude_none=True, by_alias=True)) + "\n")


def run(tree: Path, data_dir: Path, corpus_file: Path, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "SCRUBBER_DATA_DIR": str(data_dir),
           "SCRUBBER_RULES_DIR": str(tree / "rules"), "SCRUBBER_PAYERS_DIR": str(tree / "payers")}
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    cmd = [*pin, sys.executable, "-c", "import sys; from scrubber.cli import main; sys.exit(main())",
           "check", str(corpus_file), "--out", str(out)]
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    text = done.stdout + done.stderr + out.read_text()[-4000:]
    found = re.findall(r"([0-9]+) claims/s", text) or re.findall(r'"claims_per_second": ?([0-9.]+)', text)
    if not found:
        raise SystemExit(f"no claims/s in the output of {tree}:\n{text[-2000:]}")
    return float(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, help="another checkout to measure on the same corpus")
    parser.add_argument("--claims", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="professional")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="check-throughput-"))
    corpus_file = work / "corpus.ndjson"
    corpus(corpus_file, args.seed, args.claims, args.corpus)
    trees = [("before", args.before)] if args.before else []
    trees.append(("after", HERE))
    for name, tree in trees:
        data_dir = work / f"data-{name}"
        run(tree, data_dir, corpus_file, work / "warmup.ndjson")  # builds the data directory
        best = max(run(tree, data_dir, corpus_file, work / f"{name}.ndjson") for _ in range(args.runs))
        print(f"{name}: {best:,.0f} claims/s ({args.claims} {args.corpus} claims, seed {args.seed}, {tree})")


if __name__ == "__main__":
    main()
