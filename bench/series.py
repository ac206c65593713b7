"""The default series end to end, as `make report` runs it: wall time per step, peak memory,
the dtype path it took and how many paired test items the headline comparison rests on.

Goals on a 2-core machine, within 4 GB: <= 10 min on a CPU with native bf16, <= 20 min on one
without (AVX2 only: the float32 path; `LORALAB_NATIVE_BF16=0` takes it on any CPU).
Peak memory is the largest resident set of this process or of any kernel it started.
Run: `.venv/bin/python bench/series.py [--params params/default.yaml] [--set k=v] [--out DIR]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from loralab.config import load_config
from loralab.environment import cpu_kind
from loralab.model.loading import resolve_precision
from loralab.run.cli import params_options
from loralab.run.runner import run_series


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--run-id", default="bench-series")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for executed/ and reports/ (default: a temporary one)",
    )
    args = parser.parse_args()
    cfg = load_config(args.params, args.set)
    precision = resolve_precision(cfg.train.dtype, cfg.train.device)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        t0 = time.perf_counter()
        index = run_series(
            args.params,
            args.set,
            run_id=args.run_id,
            executed_root=out / "executed",
            reports_root=out / "reports",
            log=lambda _: None,
        )
        wall = time.perf_counter() - t0
        run = out / "executed" / args.run_id
        record = json.loads((run / "run.json").read_text())
        results = pd.read_csv(run / "eval" / "results.csv")
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    for step in record["steps"]:
        print(f"{step['name']:<28} {step['status']:<7} {step['seconds']:7.1f} s")
    print(f"report: {index}")
    cpu = cpu_kind()
    print(f"CPU: {cpu}; dtype path: {precision.describe()}")
    repeats = f" x {cfg.split.repeats} repeats" if cfg.split.repeats > 1 else ""
    print(
        f"paired test items: {int(results['n_test'].iloc[0])} ({cfg.split.folds} fold(s){repeats})"
    )
    print(f"peak memory (largest process): {peak_kib / 2**20:.2f} GB")
    print(f"series wall time: {wall / 60:.1f} min ({wall:.0f} s)")


if __name__ == "__main__":
    main()
