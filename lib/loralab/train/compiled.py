"""Compiled training (train.compile): whether a trial compiles its training step, where the
compiled code is kept, and what compiling cost it.

The training step's time goes largely to unfused work around the matmuls (LoRA's scaling and
sum, the MLP's product, residuals: docs/benchmarks/avx2.md), which inductor fuses. Each trial is its
own process, so it would pay the compile every time; inductor's FX graph cache and AOTAutograd
cache keep the compiled code on disk, under the loralab cache folder here, so that only a
machine's first trial pays and later ones load it.

`auto` compiles on CUDA, and on a CPU only where `bench/compile.py` measured on this CPU kind
and dtype path that compiled training is faster over a trial, compile included (its verdict is
kept in the cache folder beside the compiled code); a CPU without that measurement trains eager.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import torch

from loralab.artifacts import cache_dir

CACHE_COUNTERS = {
    "fx_hits": ("inductor", "fxgraph_cache_hit"),
    "fx_misses": ("inductor", "fxgraph_cache_miss"),
    "autograd_hits": ("aot_autograd", "autograd_cache_hit"),
    "autograd_misses": ("aot_autograd", "autograd_cache_miss"),
}


def inductor_cache() -> str:
    """The folder inductor keeps compiled code in: under the loralab cache, unless the user
    set TORCHINDUCTOR_CACHE_DIR. Set before the first compile of the process."""
    folder = os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "inductor"))
    return folder


def verdict_key(device: str, dtype: torch.dtype, cpu: str) -> str:
    return f"{device}|{dtype}|{cpu}|torch {torch.__version__}"


def verdict_path():
    return cache_dir() / "compile_verdicts.json"


def read_verdicts() -> dict:
    path = verdict_path()
    return json.loads(path.read_text()) if path.is_file() else {}


def record_verdict(key: str, pays: bool, evidence: str) -> None:
    """Keep bench/compile.py's measurement for `auto` to read."""
    verdicts = read_verdicts() | {key: {"pays": pays, "evidence": evidence}}
    path = verdict_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdicts, indent=1))


def should_compile(setting: bool | str, device: str, dtype: torch.dtype, cpu: str) -> tuple:
    """(compile or not, why), for train.compile on this device, dtype path and CPU kind."""
    if setting != "auto":
        return bool(setting), f"train.compile: {str(setting).lower()}"
    if device == "cuda":
        return True, "auto: CUDA"
    found = read_verdicts().get(verdict_key(device, dtype, cpu))
    if found is None:
        return False, "auto: no measurement on this CPU kind and dtype path (bench/compile.py)"
    return bool(found["pays"]), f"auto: {found['evidence']}"


@dataclass
class CompileRecord:
    """What a trial records of compiling: whether it did and why, the cache's hits and misses
    in this process, and the first optimizer step's extra time over the later ones' median,
    which is what the compile (or the cache load) cost."""

    compiled: bool
    reason: str
    start: dict = field(default_factory=dict)
    step_seconds: list = field(default_factory=list)

    @classmethod
    def begin(cls, compiled: bool, reason: str) -> CompileRecord:
        return cls(compiled, reason, _counters())

    def timed(self, t0: float) -> None:
        self.step_seconds.append(time.perf_counter() - t0)

    def summary(self) -> dict:
        now = _counters()
        counts = {f"compile_{k}": now[k] - self.start.get(k, 0) for k in CACHE_COUNTERS}
        steps = self.step_seconds
        later = sorted(steps[1:])
        typical = later[len(later) // 2] if later else 0.0
        extra = max(0.0, steps[0] - typical) if steps else 0.0
        return {
            "compiled": self.compiled,
            "compile_reason": self.reason,
            "compile_seconds": extra if self.compiled else 0.0,
            **counts,
        }


def _counters() -> dict:
    from torch._dynamo.utils import counters

    return {k: int(counters[group][name]) for k, (group, name) in CACHE_COUNTERS.items()}
