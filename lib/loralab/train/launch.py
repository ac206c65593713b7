"""Data-parallel training of one trial over several processes, through `accelerate launch`.

The result must not depend on how many processes train: every process draws the same batch list
from the same seed and takes every world-th batch, and `train.grad_accum` counts micro-batches over
all processes, so an optimizer step averages the gradients of the same micro-batches a single
process would have accumulated. Only the order of the float additions differs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from loralab.errors import LoralabError
from loralab.train.trials import Trial


class TrainingLaunchError(LoralabError):
    """The processes launched to train a rank did not finish."""


def launched() -> bool:
    """True inside a process started by `accelerate launch` or torchrun with more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def share_of_batches(batches: list[np.ndarray], world: int, index: int) -> list[np.ndarray]:
    """The batches process `index` of `world` trains on. The list is first padded by repeating
    its first batches (as accelerate's even_batches does) so every process takes the same number
    of steps; a process that ran out early would leave the others waiting in all-reduce."""
    short = -len(batches) % world
    padded = batches + batches[:short]
    return padded[index::world]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def threads_per_process(processes: int) -> int:
    """An equal share of the cores this process may use (all, or its job's share)."""
    return max(1, int(os.environ.get("LORALAB_THREADS", os.cpu_count() or 1)) // processes)


def launch_command(run_dir: Path, trial: Trial, processes: int, threads: int) -> list[str]:
    """`accelerate launch` of `loralab train`, which reads the run folder's params.yaml."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",  # with no GPU visible, accelerate runs MULTI_CPU over gloo
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",  # loralab sets precision itself (train.dtype)
        "--dynamo_backend",
        "no",
        "--num_cpu_threads_per_process",
        str(threads),
        "--main_process_port",
        str(_free_port()),
        "-m",
        "loralab",
        "train",
        str(run_dir),
        "--trial",
        trial.id,
    ]


def launch_training(
    run_dir: Path, trial: Trial, processes: int, device: str, log: Callable[[str], None] = print
) -> None:
    """Train `trial` in `processes` processes and wait; their output is passed through line by
    line so a notebook shows progress as it happens."""
    threads = threads_per_process(processes)
    env = dict(os.environ, LORALAB_THREADS=str(threads))
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU run on a GPU machine stays on the CPU
    cmd = launch_command(run_dir, trial, processes, threads)
    log(f"training {trial.id} in {processes} processes: accelerate launch ... loralab train")
    tail: list[str] = []
    # bytes, not text: text mode would turn each progress-bar redraw ("\r") into a line
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip().rsplit("\r", 1)[-1]  # bar's last state
            tail = (tail + [line])[-40:]
            log(line)
    if proc.returncode:
        raise TrainingLaunchError(
            f"training {trial.id} in {processes} processes exited with {proc.returncode}; last "
            "lines:\n  " + "\n  ".join(tail) + "\n  fix: the error above; to debug in one "
            "process set train.processes=1"
        )
