"""Compiled training: when it compiles, that it trains as eager does within rounding, and that a
second process loads the compiled code from the cache instead of compiling again."""

import json
import os
import subprocess
import sys

import pytest
import torch

from loralab.config import config_to_yaml
from loralab.data.splits import read_split
from loralab.model.loading import load_base
from loralab.train.compiled import record_verdict, should_compile, verdict_key
from loralab.train.loop import train_lora
from loralab.train.trials import trial_of


def test_auto_compiles_on_cuda_and_on_a_cpu_only_where_it_was_measured_to_pay(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("LORALAB_CACHE", str(tmp_path))
    assert should_compile(True, "cpu", torch.float32, "x")[0]
    assert not should_compile(False, "cuda", torch.bfloat16, "x")[0]
    assert should_compile("auto", "cuda", torch.bfloat16, "x")[0]
    compiled, why = should_compile("auto", "cpu", torch.float32, "AVX2")
    assert not compiled and "no measurement" in why
    record_verdict(verdict_key("cpu", torch.float32, "AVX2"), True, "1.4x faster")
    assert should_compile("auto", "cpu", torch.float32, "AVX2") == (True, "auto: 1.4x faster")
    assert not should_compile("auto", "cpu", torch.bfloat16, "AVX2")[0]  # another dtype path


# float32: inductor reorders and fuses float32 arithmetic (a few ulps per op); bf16 compute
# rounds each fused or unfused intermediate to 8 bits of mantissa, so the two paths' losses
# agree to about 1e-2 relative there
TOLERANCE = {"float32": 1e-4, "bfloat16": 2e-2}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_compiled_training_matches_eager_within_rounding(prepared_run, tmp_path, dtype):
    histories = {}
    for setting in (False, True):
        cfg, run = prepared_run(
            f"c{setting}", **{"train.compile": setting, "train.dtype": dtype, "train.epochs": 1}
        )
        base = load_base(cfg)
        train, val = read_split(run, "train", 0), read_split(run, "val", 0)
        result = train_lora(base, train, val, cfg, trial_of(cfg), log=lambda _: None)
        histories[setting] = result.history.iloc[0]
        assert result.summary["compiled"] is setting
    for column in ("train_loss", "val_loss", "val_label_loss"):
        eager, compiled = histories[False][column], histories[True][column]
        assert compiled == pytest.approx(eager, rel=TOLERANCE[dtype]), column


@pytest.mark.slow
def test_a_second_process_loads_the_compiled_step_from_the_cache(prepared_run, tmp_path):
    cfg, run = prepared_run(**{"train.compile": True, "train.epochs": 1})
    run.params.write_text(config_to_yaml(cfg))
    script = (
        "import json, sys\n"
        "from loralab.config import load_config\n"
        "from loralab.layout import RunPaths\n"
        "from loralab.train.loop import train_trial\n"
        "from loralab.train.trials import trial_of\n"
        "run = RunPaths(sys.argv[1]); cfg = load_config(run.params)\n"
        "r = train_trial(cfg, run, trial_of(cfg), log=lambda _: None)\n"
        "print(json.dumps(r.summary))\n"
    )
    env = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    summaries = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", script, str(run.root)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=True,
        )
        summaries.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = summaries
    assert first["compiled"] and first["compile_fx_misses"] > 0
    assert second["compile_fx_hits"] > 0 and second["compile_fx_misses"] == 0
    assert second["compile_seconds"] < first["compile_seconds"]
