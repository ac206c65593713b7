"""The trial grid on a Ray cluster: each training step one Ray task, placed by Ray.

A task receives what its trial reads (the run's params.yaml and the files of the steps it
depends on, put once into Ray's object store, plus the notebook), rebuilds a run folder of its
own in a temporary folder on its node, executes the notebook there, and returns the files the
step made. The driver alone writes them into the run folder, each output folder renamed into
place whole, then the runner marks the step done as the local backend does. So no node needs
the driver's filesystem, and with a shared one nothing changes. Fingerprints and markers stay
the runner's, so a run begun locally can finish on Ray and the other way round.

A worker process that dies is retried by Ray (`max_retries`); a failing cell is the trial's own
error, returned as a value, so Ray does not retry it. Ctrl-C cancels what is still out.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loralab.artifacts import read_json
from loralab.config import Config
from loralab.errors import ConfigError, StepFailedError
from loralab.layout import RunPaths
from loralab.run.steps import Step

# What must match between the driver and a node for a trial to compute what it would locally.
CHECKED_PACKAGES = ("torch", "transformers", "peft", "accelerate", "papermill")


@dataclass(frozen=True)
class RayOptions:
    """Where the Ray tasks go and how often a dead worker's task is tried again."""

    address: str | None = None  # None: RAY_ADDRESS if set, else a local instance
    max_retries: int = 2


def run_trials(todo, cfg: Config, run: RunPaths, notebooks_dir: Path, options, progress, finish):
    """Run the (step, fingerprint) pairs of a training stage as Ray tasks and bring their
    folders back as they finish; returns the failures (StepFailedError), in finishing order."""
    ray = _ray()
    started_here = _connect(ray, options.address)
    try:
        return _submit_and_collect(ray, todo, cfg, run, notebooks_dir, options, progress, finish)
    finally:
        if started_here:
            ray.shutdown()


def _ray():
    try:
        import ray
        import ray.util.queue  # noqa: F401  (the tasks' start events travel through one)
    except ImportError:
        raise ConfigError(
            "--backend ray needs Ray, which is not installed\n  fix: pip install 'loralab[ray]' "
            "(on the driver and on every node), or run with --backend local"
        ) from None
    return ray


def _connect(ray, address: str | None) -> bool:
    """Join the cluster at `address` (or RAY_ADDRESS), else start a local instance sized to
    this machine; True when this call started it, so the run shuts down only its own."""
    if ray.is_initialized():
        return False
    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=False,  # a task's notebook keeps its own output; failures come back
        logging_level="warning",
    )
    return address is None and not os.environ.get("RAY_ADDRESS")


def _submit_and_collect(ray, todo, cfg, run, notebooks_dir, options, progress, finish):
    events = ray.util.queue.Queue(actor_options={"num_cpus": 0})  # starts: when and where
    upstream = ray.put(_pack(run.root, _upstream_files(run, todo)))
    task = ray.remote(_trial_task)
    resources = _resources(ray, cfg)
    expected = environment_signature()
    submitted, pending = {}, []
    for step, fp in todo:
        job = _job(step, run, notebooks_dir, expected, _threads(ray, cfg))
        ref = task.options(
            name=f"loralab {step.name}",  # its worker's process title: ray::loralab 03_train_...
            max_retries=options.max_retries,
            retry_exceptions=False,
            **resources,
        ).remote(job, upstream, events)
        submitted[ref] = (step, fp, time.time())
        pending.append(ref)
        progress.update(step, "queued on Ray", status="queued", backend="ray", attempts=0)
    by_name = {step.name: (step, t) for step, _, t in submitted.values()}
    failures = []
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            _report_starts(events, by_name, progress)
            for ref in done:
                step, fp, _ = submitted[ref]
                failure = _bring_back(ray, ref, step, run)
                finish(step, fp, failure, seconds=step.seconds)
                if failure:
                    failures.append(failure)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return failures


def _report_starts(events, by_name: dict, progress) -> None:
    while not events.empty():
        name, node, started = events.get_nowait()
        step, submitted = by_name[name]
        again = f" (attempt {step.attempts + 1}: its last worker died)" if step.attempts else ""
        progress.update(
            step,
            f"running on {node}{again}",
            status="running",
            node=node,
            attempts=step.attempts + 1,
            queued_seconds=round(max(0.0, started - submitted), 1),
        )


def _bring_back(ray, ref, step: Step, run: RunPaths) -> StepFailedError | None:
    """Write what the task returned into the run folder; the failure it reports, if any."""
    from ray.exceptions import RayError

    try:
        result = ray.get(ref)
    except RayError as exc:  # the worker died more often than max_retries allows, or worse
        reason = f"{type(exc).__name__} on {step.node or 'an unknown node'}: {str(exc)[:600]}"
        return StepFailedError(step.name, None, reason, str(run.executed_notebook(step.name)))
    step.seconds, step.node = result["seconds"], result["node"]
    _unpack_into(run, step, result["files"])
    if result["status"] == "ok":
        return None
    reason = f"{result['reason']} (on node {result['node']})"
    return StepFailedError(step.name, result["cell"], reason, str(run.executed_notebook(step.name)))


def _resources(ray, cfg: Config) -> dict:
    gpus = cfg.train.gpus_per_trial * cfg.train.processes
    return {"num_cpus": _threads(ray, cfg), "num_gpus": gpus}


def _threads(ray, cfg: Config) -> int:
    """train.cpus_per_trial, else all the cores of the smallest live node."""
    if cfg.train.cpus_per_trial:
        return cfg.train.cpus_per_trial
    cores = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    return max(1, int(min(cores, default=1)))


def _upstream_files(run: RunPaths, todo) -> list[str]:
    """params.yaml and every file the stage's upstream steps recorded as their outputs."""
    names = {name for step, _ in todo for name in step.after}
    files = {"params.yaml"}
    for name in sorted(names):
        if not run.step_marker(name).is_file():
            raise ConfigError(
                f"{run.root}: the trials read what {name} writes, and it is not done\n  fix: "
                f"run it first (`loralab run PARAMS --run-id {run.run_id} --only "
                f"{name}`), or run without --only"
            )
        files |= set(read_json(run.step_marker(name))["outputs"])
    return sorted(files)


def _job(step: Step, run: RunPaths, notebooks_dir: Path, expected: dict, threads: int) -> dict:
    notebook = notebooks_dir / f"{step.notebook}.ipynb"
    return {
        "step": step.name,
        "notebook": step.notebook,
        "title": step.title,
        "parameters": step.parameters,
        "run_id": run.run_id,
        "notebook_text": notebook.read_text(encoding="utf-8"),
        "threads": threads,
        "expected": expected,
    }


def environment_signature() -> dict[str, str]:
    """The loralab code and the packages that decide what a trial computes, on this machine."""
    from loralab.environment import package_versions
    from loralab.run.fingerprints import package_digest

    versions = package_versions()
    return {
        "python": ".".join(map(str, sys.version_info[:2])),
        "loralab code": package_digest(),
        **{name: versions[name] for name in CHECKED_PACKAGES},
    }


def signature_problem(expected: dict, here: dict, node: str) -> str | None:
    """What differs between the driver and this node, with the fix, or None."""
    differs = [
        f"{k} {here.get(k)} here, {v} on the driver"
        for k, v in expected.items()
        if here.get(k) != v
    ]
    if not differs:
        return None
    return (
        f"node {node} differs from the driver: {'; '.join(differs)}\n  fix: install the "
        "driver's versions on every node (the same loralab checkout, `pip install -e '.[ray]'`, "
        "and the same torch), then run again; done trials are kept"
    )


def node_name() -> str:
    """Host, address and Ray node id: two nodes on one machine differ by the id alone."""
    import ray

    node_id = ray.get_runtime_context().get_node_id()[:8]
    return f"{socket.gethostname()}/{ray.util.get_node_ip_address()}/{node_id}"


def _trial_task(job: dict, upstream: bytes, events) -> dict:
    """On a Ray worker: one training step in a run folder of its own, then its new files."""
    from loralab.config import load_config
    from loralab.model.loading import model_problem
    from loralab.run.execution import execute_step

    node = node_name()
    events.put((job["step"], node, time.time()))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="loralab-trial-") as tmp:
        run = RunPaths(Path(tmp) / job["run_id"])
        _unpack(upstream, run.root)
        given = set(_files(run.root))
        problem = signature_problem(job["expected"], environment_signature(), node)
        problem = problem or model_problem(load_config(run.params).model)
        if problem:
            return {
                "status": "failed",
                "cell": None,
                "reason": problem,
                "node": node,
                "seconds": 0.0,
                "files": _pack(run.root, []),
            }
        notebooks = Path(tmp) / "notebooks"
        notebooks.mkdir()
        (notebooks / f"{job['notebook']}.ipynb").write_text(job["notebook_text"], "utf-8")
        os.environ["LORALAB_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(job["threads"])
        outcome = {"status": "ok", "cell": None, "reason": None}
        try:
            execute_step(Step(job["notebook"], job["title"], job["parameters"]), run, notebooks)
        except StepFailedError as exc:
            outcome = {"status": "failed", "cell": exc.cell, "reason": exc.reason}
        made = [f for f in _files(run.root) if f not in given]
        seconds = round(time.perf_counter() - t0, 1)
        return {**outcome, "node": node, "seconds": seconds, "files": _pack(run.root, made)}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _pack(root: Path, files: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel in files:
            tar.add(root / rel, arcname=rel, recursive=False)
    return buffer.getvalue()


def _unpack(data: bytes, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(root, filter="data")  # refuses absolute paths and links out


def _unpack_into(run: RunPaths, step: Step, data: bytes) -> None:
    """The task's files into the run folder: each of the step's output folders renamed into
    place whole (a reader sees the old folder or the new one, never half), the rest (its
    executed notebook, its figures) file by file."""
    staging = Path(tempfile.mkdtemp(dir=run.root, prefix=f".tmp-{step.name}."))
    try:
        _unpack(data, staging)
        for rel in step.outputs:
            source, target = staging / rel, run.root / rel
            if source.exists():
                if target.exists():
                    shutil.rmtree(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
        for rel in _files(staging):
            target = run.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
