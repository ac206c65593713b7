"""Compiled training against eager on one trial of a params file, side by side in one run, and
the verdict `train.compile: auto` reads on this CPU kind and dtype path.

A run folder is prepared once (data and split steps); then the params' first trial trains in
three fresh processes: eager, compiled with an empty inductor cache (a machine's first trial:
the compile is paid), and compiled again with that cache (every later trial: loaded). Prints
each one's training time (time to the last epoch, validation included), the compile's cost,
the cache's hits and misses, and the losses' largest relative difference from eager; the last
line is the warm compiled trial's time over eager's. Compiling pays, and is recorded as paying
for `auto`, when that ratio is below 0.95.
Run: `.venv/bin/python bench/compile.py [--params params/default.yaml] [--out /tmp/compile]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from loralab.config import load_config
from loralab.data.eda import eda_step
from loralab.data.splits import split_step
from loralab.environment import cpu_kind
from loralab.layout import RunPaths
from loralab.model.loading import resolve_precision
from loralab.train.compiled import record_verdict, verdict_key

TRIAL = """
import json, sys
from loralab.config import load_config
from loralab.layout import RunPaths
from loralab.train.loop import train_trial
from loralab.train.trials import trial_of
run = RunPaths(sys.argv[1])
cfg = load_config(run.params, [f"train.compile={sys.argv[2]}"])
result = train_trial(cfg, run, trial_of(cfg), log=lambda _: None)
print(json.dumps(result.summary | {"history": result.history.to_dict("list")}))
"""
LOSSES = ("train_loss", "val_loss", "val_label_loss")


def train_once(run: RunPaths, setting: str, cache: Path) -> dict:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", TRIAL, str(run.root), setting],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def largest_difference(a: dict, b: dict) -> float:
    pairs = [(x, y) for k in LOSSES for x, y in zip(a["history"][k], b["history"][k], strict=True)]
    return max(abs(x - y) / abs(x) for x, y in pairs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--out", type=Path, default=Path("/tmp/loralab-compile"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    run = RunPaths(args.out / "run")
    cfg = load_config(args.params)
    run.root.mkdir(parents=True)
    run.params.write_text(Path(args.params).read_text())
    eda_step(cfg, run)
    split_step(cfg, run)
    precision = resolve_precision(cfg.train.dtype, cfg.train.device)
    print(f"CPU: {cpu_kind()}; dtype path: {precision.describe()}; params {args.params}")
    cache = args.out / "inductor"
    eager = train_once(run, "false", cache)
    cold = train_once(run, "true", cache)
    warm = train_once(run, "true", cache)
    for name, s in (("eager", eager), ("compiled, empty cache", cold), ("compiled, cached", warm)):
        hits = f"fx cache {s['compile_fx_hits']} hits / {s['compile_fx_misses']} misses"
        print(
            f"{name:22s} train {s['train_time_s']:6.1f} s, compile {s['compile_seconds']:5.1f} s, "
            f"{s['train_tokens_per_s']:6.0f} tok/s, {hits}; largest loss difference from eager "
            f"{largest_difference(eager, s):.1e}"
        )
    ratio = warm["train_time_s"] / eager["train_time_s"]
    cold_ratio = cold["train_time_s"] / eager["train_time_s"]
    evidence = (
        f"bench/compile.py: a cached compiled trial took {ratio:.2f}x eager's time "
        f"({cold_ratio:.2f}x with the compile)"
    )
    record_verdict(
        verdict_key(precision.device, precision.weights, cpu_kind()), ratio < 0.95, evidence
    )
    print(f"compiled (cached) / eager training time: {ratio:.2f}x")


if __name__ == "__main__":
    main()
