"""The default series end to end, as `make report` runs it: wall time per step, peak memory.

Goal on a 2-core machine: <= 10 minutes and <= 4 GB for the whole series after install.
Peak memory is the largest resident set of this process or of any kernel it started.
Run: `.venv/bin/python bench/series.py [--params params/default.yaml] [--run-id ID]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from loralab.runner import run_series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--run-id", default="bench-series")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for executed/ and reports/ (default: a temporary one)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        t0 = time.perf_counter()
        index = run_series(
            args.params,
            run_id=args.run_id,
            executed_root=out / "executed",
            reports_root=out / "reports",
            log=lambda _: None,
        )
        wall = time.perf_counter() - t0
        record = json.loads((out / "executed" / args.run_id / "run.json").read_text())
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    for step in record["steps"]:
        print(f"{step['name']:<22} {step['status']:<7} {step['seconds']:7.1f} s")
    print(f"report: {index}")
    print(f"peak memory (largest process): {peak_kib / 2**20:.2f} GB")
    print(f"series wall time: {wall / 60:.1f} min ({wall:.0f} s)")


if __name__ == "__main__":
    main()
