"""Trials as Ray tasks: what a node is told, how files come back, and real runs on a real
two-node Ray cluster on this machine (slow)."""

import io
import json
import os
import re
import shutil
import signal
import tarfile
import threading
import time
from types import SimpleNamespace

import pandas as pd
import pytest

from loralab.config import build_config
from loralab.errors import ConfigError, StepFailedError
from loralab.layout import NOTEBOOKS, RunPaths
from loralab.run.cli import build_parser
from loralab.run.fingerprints import fingerprint, output_hashes
from loralab.run.ray_backend import (
    RayOptions,
    _pack,
    _submit_and_collect,
    _unpack,
    _unpack_into,
    _upstream_files,
    environment_signature,
    signature_problem,
)
from loralab.run.runner import run_series
from loralab.run.steps import Step, series

# Half the cores for each of two trials, on either backend: training sums in the same order.
THREADS = max(1, (os.cpu_count() or 2) // 2)
TIMED = re.compile(r"(_ms|_per_s|time_s)$")  # measured times, which no two runs share


def test_a_node_with_other_code_or_packages_is_told_what_differs_and_the_fix():
    driver = environment_signature()
    assert set(driver) >= {"loralab code", "torch", "transformers", "peft", "python"}
    assert signature_problem(driver, dict(driver), "n1") is None
    node = {**driver, "torch": "2.0.0", "loralab code": "0" * 16}
    problem = signature_problem(driver, node, "host/10.0.0.2/ab12cd34")
    assert "host/10.0.0.2/ab12cd34" in problem and "torch 2.0.0 here" in problem
    assert "loralab code" in problem and "fix:" in problem and "python" not in problem


def test_where_a_trial_runs_is_not_part_of_its_fingerprint(tmp_path):
    def trial_fp(**sets):
        cfg = build_config({}, "t", {"split.folds": 1, **sets})
        step = next(s for s in series(cfg) if s.trial)
        return fingerprint(step, cfg, RunPaths(tmp_path), NOTEBOOKS)

    plain = trial_fp()
    assert trial_fp(**{"train.cpus_per_trial": 7, "train.gpus_per_trial": 1}) == plain
    assert trial_fp(**{"train.epochs": 3}) != plain


def test_a_returned_trial_replaces_its_folder_whole_and_adds_its_notebook(tmp_path):
    worker, run = tmp_path / "worker", RunPaths(tmp_path / "run")
    step = Step("03_train", "t", {"trial_id": "r8-f0-s42"})
    made = {
        "train/r8-f0-s42/summary.json": "{}",
        "train/r8-f0-s42/adapter/README.md": "card",
        "notebooks/03_train_r8-f0-s42.ipynb": "{}",
        "figures/training_r8-f0-s42.png": "png",
    }
    for rel, text in made.items():
        (worker / rel).parent.mkdir(parents=True, exist_ok=True)
        (worker / rel).write_text(text)
    stale = run.train_dir("r8-f0-s42") / "history.csv"  # left by a killed earlier attempt
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    _unpack_into(run, step, _pack(worker, sorted(made)))
    for rel, text in made.items():
        assert (run.root / rel).read_text() == text
    assert not stale.exists(), "the output folder is replaced, not merged"
    assert not list(run.root.glob(".tmp-*")), "no staging folder is left behind"
    assert set(output_hashes(run, step)) == {r for r in made if r.startswith("train/")}


def test_an_archive_that_reaches_out_of_the_run_folder_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(tarfile.FilterError):
        _unpack(buffer.getvalue(), tmp_path / "run")
    assert not (tmp_path / "escaped.txt").exists()


def test_trials_before_their_split_is_done_are_told_to_run_it_first(tmp_path):
    step = Step("03_train", "t", {"trial_id": "r8-f0-s42"}, after=("01_eda", "02_split"))
    with pytest.raises(ConfigError, match="--only 01_eda"):
        _upstream_files(RunPaths(tmp_path), [(step, "fp")])


def test_the_cli_takes_the_backend_its_address_and_retries():
    args = build_parser().parse_args(
        [
            "run",
            "p.yaml",
            "--backend",
            "ray",
            "--ray-address",
            "10.0.0.1:6379",
            "--max-retries",
            "5",
        ]
    )
    assert (args.backend, args.ray_address, args.max_retries) == ("ray", "10.0.0.1:6379", 5)
    assert build_parser().parse_args(["run", "p.yaml"]).backend == "local"


def test_an_unknown_backend_is_refused_before_anything_runs(tmp_path, repo):
    with pytest.raises(ConfigError, match="--backend 'slurm'"):
        run_series(repo / "params/smoke.yaml", backend="slurm", executed_root=tmp_path)
    assert not list(tmp_path.iterdir())


def test_ctrl_c_cancels_the_trials_still_out_and_marks_none_done(tmp_path):
    """Ray stood in for by fakes: the driver is interrupted while waiting."""
    run = RunPaths(tmp_path / "run")
    cfg = build_config({}, "t", {"split.folds": 1, "lora.ranks": [2, 4]})
    steps = [s for s in series(cfg) if s.trial]
    run.params.parent.mkdir(parents=True)
    run.params.write_text("{}")
    for name in steps[0].after:
        run.step_marker(name).parent.mkdir(parents=True, exist_ok=True)
        run.step_marker(name).write_text('{"outputs": {}}')
    cancelled, finished, submitted = [], [], []

    class Task:
        def options(self, **_):
            return self

        def remote(self, *_):
            submitted.append(object())
            return submitted[-1]

    def interrupted(*_, **__):
        raise KeyboardInterrupt

    fake = SimpleNamespace(
        util=SimpleNamespace(queue=SimpleNamespace(Queue=lambda **_: None)),
        put=lambda data: "upstream",
        remote=lambda function: Task(),
        nodes=lambda: [{"Alive": True, "Resources": {"CPU": 2.0}}],
        wait=interrupted,
        cancel=lambda ref, force: cancelled.append((ref, force)),
    )
    progress = SimpleNamespace(update=lambda step, what=None, **fields: None)
    todo = [(step, "fp") for step in steps]
    with pytest.raises(KeyboardInterrupt):
        _submit_and_collect(
            fake, todo, cfg, run, NOTEBOOKS, RayOptions(), progress, finished.append
        )
    assert len(submitted) == 2 and cancelled == [(ref, True) for ref in submitted]
    assert not finished and not list(run.root.glob("steps/03_*"))


# --- on a real Ray cluster -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on this machine, each with its own raylet, object store and workers."""
    import ray
    from ray.cluster_utils import Cluster

    nodes = Cluster(
        initialize_head=True, head_node_args={"num_cpus": THREADS, "include_dashboard": False}
    )
    nodes.add_node(num_cpus=THREADS)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, repo, tiny_model_dir):
    """The smoke series on the tiny model, trained by the local backend, two jobs at a time."""
    root = tmp_path_factory.mktemp("local")
    run_series(
        repo / "params/smoke.yaml",
        _overrides(tiny_model_dir),
        run_id="smoke",
        executed_root=root / "executed",
        reports_root=root / "reports",
        jobs=2,
        log=lambda _: None,
    )
    return RunPaths(root / "executed" / "smoke")


def _overrides(tiny_model_dir, *more):
    return [f"model.name_or_path={tiny_model_dir}", f"train.cpus_per_trial={THREADS}", *more]


def _run_on_ray(
    run: RunPaths, cluster, repo, tiny_model_dir, *overrides, max_retries=2, **options
) -> None:
    """The smoke series into `run`'s folder, its trials on the test cluster."""
    run_series(
        repo / "params/smoke.yaml",
        _overrides(tiny_model_dir, *overrides),
        run_id=run.run_id,
        executed_root=run.root.parent,
        reports_root=run.root.parent.parent / "reports",
        backend="ray",
        ray=RayOptions(address=cluster.address, max_retries=max_retries),
        **options,
    )


def _copy_without_trials(run: RunPaths, dest) -> RunPaths:
    """The run folder with its data and split steps done and nothing trained yet."""
    shutil.copytree(run.root, dest / "executed" / run.run_id)
    copy = RunPaths(dest / "executed" / run.run_id)
    for marker in copy.root.glob("steps/0[345]_*.json"):
        marker.unlink()
    shutil.rmtree(copy.root / "train")
    return copy


def _kill_one_trial_worker(run: RunPaths, done: threading.Event, killed: list) -> None:
    """SIGKILL the worker of the first trial that run.json shows running."""
    import psutil

    while not done.is_set():
        time.sleep(0.1)
        try:
            steps = json.loads(run.run_record.read_text())["steps"]
        except (OSError, ValueError):
            continue
        running = [s["name"] for s in steps if s["status"] == "running"]
        for proc in psutil.process_iter(["cmdline"]) if running else ():
            if f"ray::loralab {running[0]}" in " ".join(proc.info["cmdline"] or []):
                proc.send_signal(signal.SIGKILL)
                killed.append(running[0])
                return


def _results(run: RunPaths) -> pd.DataFrame:
    table = pd.read_csv(run.results)
    return table[[c for c in table.columns if not TIMED.search(c)]]


@pytest.mark.slow
def test_a_local_run_finishes_on_ray_with_identical_results_through_a_killed_worker(
    local_run, cluster, tmp_path, repo, tiny_model_dir
):
    run = _copy_without_trials(local_run, tmp_path)
    lines, done, killed = [], threading.Event(), []
    killer = threading.Thread(target=_kill_one_trial_worker, args=(run, done, killed))
    killer.start()
    try:
        _run_on_ray(run, cluster, repo, tiny_model_dir, log=lines.append)
    finally:
        done.set()
        killer.join()
    assert killed, "no trial's worker was found to kill"

    pd.testing.assert_frame_equal(_results(run), _results(local_run))
    assert run.paired_predictions.read_bytes() == local_run.paired_predictions.read_bytes()

    record = json.loads(run.run_record.read_text())
    trials = [s for s in record["steps"] if s["name"].startswith("03_train")]
    assert {s["backend"] for s in trials} == {"ray"} and all(s["node"] for s in trials)
    attempts = {s["name"]: s["attempts"] for s in trials}
    assert attempts.pop(killed[0]) == 2, "the killed trial ran again"
    assert set(attempts.values()) == {1}
    done_all = {"queued": 0, "running": 0, "failed": 0, "done": len(record["steps"])}
    assert record["progress"] == done_all
    assert any("attempt 2: its last worker died" in line for line in lines)
    # each trial ran in a run folder of its worker's own, not in the driver's
    for step in trials:
        notebook = json.loads(run.executed_notebook(step["name"]).read_text())
        tags = [c["metadata"].get("tags", []) for c in notebook["cells"]]
        injected = notebook["cells"][
            next(i for i, t in enumerate(tags) if "injected-parameters" in t)
        ]
        assert str(run.root) not in "".join(injected["source"])
    page = (tmp_path / "reports" / run.run_id / "index.html").read_text()
    assert "ray · " in page and "(2 attempts)" in page


def series_of(run: RunPaths) -> list:
    return json.loads(run.run_record.read_text())["steps"]


@pytest.mark.slow
def test_a_resumed_ray_run_submits_only_the_missing_trial(
    local_run, cluster, tmp_path, repo, tiny_model_dir
):
    run = RunPaths(tmp_path / "executed" / local_run.run_id)
    shutil.copytree(local_run.root, run.root)
    missing = sorted(run.root.glob("steps/03_train_*.json"))[0]
    missing.unlink()
    lines = []
    _run_on_ray(run, cluster, repo, tiny_model_dir, only=["03_train"], log=lines.append)
    queued = [line for line in lines if "queued on Ray" in line]
    assert len(queued) == 1 and missing.stem in queued[0]
    assert missing.is_file()


@pytest.mark.slow
def test_a_failing_cell_on_ray_fails_the_run_naming_trial_node_and_cell(
    local_run, cluster, tmp_path, repo, tiny_model_dir
):
    run = _copy_without_trials(local_run, tmp_path)
    with pytest.raises(StepFailedError) as exc:
        _run_on_ray(
            run,
            cluster,
            repo,
            tiny_model_dir,
            "lora.target_modules=[no_such_layer]",
            max_retries=2,
            log=lambda _: None,
        )
    err = exc.value
    assert err.notebook.startswith("03_train_") and isinstance(err.cell, int)
    assert "on node " in err.reason and "no_such_layer" in err.reason
    steps = {s["name"]: s for s in series_of(run)}
    assert steps[err.notebook]["attempts"] == 1, "a cell's own error is not retried"
    assert run.executed_notebook(err.notebook).is_file()
    assert not run.step_marker(err.notebook).exists()
