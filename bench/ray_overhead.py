"""What Ray costs per trial: the training stage of a sweep on a local Ray instance against the
local backend with `--jobs 2`, on the same machine, one after the other in one run.

Both train the same trials from the same prepared run folder (data and split steps done once),
so the difference is Ray's: starting an instance, shipping each task its files, starting a
kernel in a worker, returning the trial's folder. Printed: wall time of each, the overhead per
trial as seconds and as a ratio, and whether both trained the same (validation loss per trial).
Run: `.venv/bin/python bench/ray_overhead.py [--params params/sweep-smoke.yaml] [--set k=v]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from loralab.config import load_config
from loralab.environment import cpu_kind
from loralab.layout import RunPaths
from loralab.model.loading import resolve_precision
from loralab.run.cli import params_options
from loralab.run.ray_backend import RayOptions
from loralab.run.runner import run_series


def train_stage(params: str, sets: list[str], run: RunPaths, **backend) -> float:
    t0 = time.perf_counter()
    run_series(
        params,
        sets,
        run_id=run.run_id,
        executed_root=run.root.parent,
        reports_root=run.root.parent.parent / "reports",
        only=["03_train"],
        log=lambda _: None,
        **backend,
    )
    return time.perf_counter() - t0


def val_losses(run: RunPaths) -> dict[str, float]:
    return {
        trial: json.loads(run.train_summary(trial).read_text())["val_loss"]
        for trial in run.trained_trials()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/sweep-smoke.yaml")
    args = parser.parse_args()
    cfg = load_config(args.params, args.set)
    precision = resolve_precision(cfg.train.dtype, cfg.train.device)
    threads = max(1, (os.cpu_count() or 2) // 2)
    sets = [*args.set, f"train.cpus_per_trial={threads}"]  # both backends: 2 trials at a time
    with tempfile.TemporaryDirectory() as tmp:
        prepared = RunPaths(Path(tmp) / "prepared" / "executed" / "bench")
        run_series(
            args.params,
            sets,
            run_id="bench",
            executed_root=prepared.root.parent,
            reports_root=Path(tmp) / "prepared" / "reports",
            only=["01_eda", "02_split"],
            log=lambda _: None,
        )
        runs = {}
        for name in ("local", "ray"):
            runs[name] = RunPaths(Path(tmp) / name / "executed" / "bench")
            shutil.copytree(prepared.root, runs[name].root)
        local = train_stage(args.params, sets, runs["local"], jobs=2)
        ray = train_stage(args.params, sets, runs["ray"], backend="ray", ray=RayOptions())
        trials = len(runs["local"].trained_trials())
        same = val_losses(runs["local"]) == val_losses(runs["ray"])
    print(
        f"{dt.date.today()} · {cpu_kind()} · {precision.describe()} · {os.cpu_count()} cores · "
        f"{args.params} {' '.join(args.set)}"
    )
    print(f"{trials} trials, 2 at a time ({threads} thread(s) each)")
    print(f"local --jobs 2   {local:7.1f} s")
    print(f"ray (local inst.) {ray:7.1f} s  (Ray's start included)")
    print(
        f"overhead per trial: {(ray - local) / trials:+.1f} s; Ray / local = {ray / local:.2f}x; "
        f"same validation loss in every trial: {same}"
    )


if __name__ == "__main__":
    main()
