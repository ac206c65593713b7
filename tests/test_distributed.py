import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from loralab.config import load_config, save_config
from loralab.data.eda import eda_step
from loralab.data.splits import split_step
from loralab.errors import ConfigError
from loralab.layout import RunPaths
from loralab.run.cli import main
from loralab.run.runner import _job_env
from loralab.train.launch import launch_command, share_of_batches
from loralab.train.trials import Trial


def groups_of_one_process(batches, grad_accum):
    return [batches[i : i + grad_accum] for i in range(0, len(batches), grad_accum)]


@pytest.mark.parametrize("n_batches", [8, 9, 13])
@pytest.mark.parametrize(("world", "grad_accum"), [(2, 2), (2, 4), (4, 8), (3, 3)])
def test_each_update_of_many_processes_sees_the_batches_one_process_accumulates(
    n_batches, world, grad_accum
):
    batches = [np.array([i]) for i in range(n_batches)]
    shares = [share_of_batches(batches, world, p) for p in range(world)]
    assert len({len(s) for s in shares}) == 1  # same number of steps, nobody waits forever
    per_process = grad_accum // world
    updates = [
        sorted(int(b[0]) for s in shares for b in s[u : u + per_process])
        for u in range(0, len(shares[0]), per_process)
    ]
    every_item = sorted(int(b[0]) for s in shares for b in s)
    assert set(every_item) == set(range(n_batches))  # nothing dropped
    if n_batches % world == 0:
        expected = [
            sorted(int(b[0]) for b in g) for g in groups_of_one_process(batches, grad_accum)
        ]
        assert updates == expected
    else:  # the short process repeats the first batches, as accelerate's even_batches does
        assert len(every_item) == n_batches + (-n_batches % world)


def test_accumulation_must_split_evenly_over_processes(repo):
    with pytest.raises(ConfigError) as err:
        load_config(repo / "params" / "default.yaml", {"train.processes": 4})
    assert "train.grad_accum=2" in str(err.value) and "set train.grad_accum=4" in str(err.value)
    assert (
        load_config(repo / "params" / "default.yaml", {"train.processes": 2}).train.processes == 2
    )


def test_the_launch_runs_loralab_train_in_n_processes(tmp_path):
    trial = Trial(fold=1, rank=8, seed=7, lr=1e-3)
    cmd = launch_command(tmp_path / "run", trial, 4, threads=2)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "4"
    assert cmd[cmd.index("--num_cpu_threads_per_process") + 1] == "2"
    assert cmd[-6:] == ["-m", "loralab", "train", str(tmp_path / "run"), "--trial", "r8-f1-s7"]


def test_each_parallel_job_gets_its_own_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    seen = [_job_env(slot, 2, 4)["CUDA_VISIBLE_DEVICES"] for slot in (0, 1)]
    assert seen == ["0,1,2,3", "4,5,6,7"]
    assert _job_env(1, 2, 1)["CUDA_VISIBLE_DEVICES"] == "1"


def test_train_outside_a_run_folder_says_what_to_run_first(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nowhere"), "--trial", "r8-f0-s42"]) == 1
    err = capsys.readouterr().err
    assert "no params.yaml" in err and "--only 01_eda,02_split" in err


def smoke_run(repo, folder, **overrides):
    # 4 micro-batches of 2 items and grad_accum 2: two optimizer steps per epoch
    fields = {"train.batch_size": 2, "train.epochs": 2, "train.patience": 2, **overrides}
    cfg = load_config(repo / "params" / "smoke.yaml", fields)
    run = RunPaths(folder)
    eda_step(cfg, run)
    split_step(cfg, run)
    save_config(cfg, run.params)
    return run, cfg


def train_in(run: RunPaths, threads: int, pythonpath: str | None = None) -> None:
    env = dict(os.environ, LORALAB_THREADS=str(threads))
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "loralab", "train", str(run.root), "--trial", "r2-f0-s42"]
    subprocess.run(cmd, check=True, timeout=600, env=env)


# Loaded at interpreter start (sitecustomize) by every launched process: DDP never all-reduces.
BREAK_SYNC = """
import torch.nn.parallel as parallel
_init = parallel.DistributedDataParallel.__init__
def _never_sync(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.require_backward_grad_sync = False
parallel.DistributedDataParallel.__init__ = _never_sync
"""


def reduction_order_only(a: dict, b: dict, lr: float, steps: int) -> list[str]:
    """Why adapters `a` and `b` differ by more than a change of summation order explains.

    The runs compute every micro-batch identically (same thread count per process), so the only
    difference is float32 rounding where gradients are summed in another order: a relative
    2**-24 of the summands. Adam turns a gradient into a step of at most about lr, so an element
    whose gradient halves nearly cancel may move by up to lr per step; all others move by about
    lr * 2**-24. So: no element beyond lr * steps, a tiny share beyond float noise, and the
    adapter as a whole almost not at all. A broken sync (each process stepping on its own
    half) moved 59 % of the elements and 2 % of the adapter's norm when measured.
    """
    delta = torch.cat([(a[k] - b[k]).flatten() for k in a])
    size = torch.cat([a[k].flatten() for k in a]).norm()
    noise = 1e-3 * lr  # far above lr * 2**-24 per step, far below a real step
    problems = []
    if delta.abs().max() > lr * steps:
        problems.append(f"an element moved {delta.abs().max():.2e} > lr * steps")
    moved = float((delta.abs() > noise).float().mean())
    if moved > 1e-3:
        problems.append(f"{moved:.1%} of the elements differ by more than {noise:.0e}")
    if delta.norm() > 1e-3 * size:
        problems.append(f"the difference is {delta.norm() / size:.1e} of the adapter's norm")
    return problems


@pytest.fixture(scope="module")
def one_process(repo, tmp_path_factory):
    run, cfg = smoke_run(repo, tmp_path_factory.mktemp("ddp") / "one")
    train_in(run, threads=1)  # as many threads as each of the two processes gets
    return run, cfg


@pytest.mark.slow
def test_two_processes_under_accelerate_train_what_one_process_trains(repo, tmp_path, one_process):
    one, cfg = one_process
    two, _ = smoke_run(repo, tmp_path / "two", **{"train.processes": 2})
    train_in(two, threads=2)
    alone = pd.read_json(one.train_summary("r2-f0-s42"), typ="series")
    shared = pd.read_json(two.train_summary("r2-f0-s42"), typ="series")
    assert (alone["processes"], shared["processes"]) == (1, 2)
    assert alone["epochs_run"] == shared["epochs_run"] == 2
    a = load_file(one.adapter("r2-f0-s42") / "adapter_model.safetensors")
    b = load_file(two.adapter("r2-f0-s42") / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    trained = max(float(v.abs().max()) for k, v in a.items() if "lora_B" in k)
    assert trained > 0  # lora_B starts at zero: training moved it
    steps = cfg.train.epochs * 2  # two optimizer steps per epoch (see smoke_run)
    assert reduction_order_only(a, b, cfg.train.lrs[0], steps) == []
    cols = ["train_loss", "val_macro_f1", "val_loss"]
    h1, h2 = pd.read_csv(one.history("r2-f0-s42")), pd.read_csv(two.history("r2-f0-s42"))
    np.testing.assert_allclose(h1[cols].to_numpy(), h2[cols].to_numpy(), rtol=1e-4)
    p1, p2 = (
        pd.read_csv(one.val_predictions("r2-f0-s42")),
        pd.read_csv(two.val_predictions("r2-f0-s42")),
    )
    assert p1["prediction"].tolist() == p2["prediction"].tolist()


@pytest.mark.slow
def test_a_broken_gradient_sync_is_caught(repo, tmp_path, one_process):
    one, cfg = one_process
    broken, _ = smoke_run(repo, tmp_path / "broken", **{"train.processes": 2})
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BREAK_SYNC)
    train_in(broken, threads=2, pythonpath=str(tmp_path / "site"))
    a = load_file(one.adapter("r2-f0-s42") / "adapter_model.safetensors")
    b = load_file(broken.adapter("r2-f0-s42") / "adapter_model.safetensors")
    assert len(reduction_order_only(a, b, cfg.train.lrs[0], cfg.train.epochs * 2)) >= 2
