"""Execute the notebook series headless with papermill, then render the HTML report bundle.

The runner owns the order of steps and the record of what happened (`run.json`); the notebooks
own what each step computes and shows. It skips steps that are done for the same inputs (see
`steps.py`), so `loralab run ... --run-id <same>` resumes a killed run. A failing cell stops the
series, the executed notebook is kept with its error, and the report shows the failed step.
Ranks can train in parallel processes (`jobs`), each with its own thread budget and GPU.
With `tracking.mlflow_uri` set, the runner mirrors the run into MLflow (tracking.py) from its
artifacts: each trial as it is done, the results after the report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

from .artifacts import read_json, write_json
from .config import load_config, save_config
from .errors import ConfigError, LoralabError, StepFailedError
from .fingerprints import fingerprint, is_done, mark_done
from .layout import NOTEBOOKS, RunPaths, report_dir, run_paths
from .present import render_notebook
from .steps import Step, series, stages
from .tracking import Tracker

KERNEL = "python3"


def new_run_id(params_path: Path) -> str:
    return f"{params_path.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"


def execute_step(step: Step, run: RunPaths, notebooks_dir: Path) -> Path:
    """Run one notebook into the run folder; raises StepFailedError naming the failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = run.executed_notebook(step.name)
    for source in (NOTEBOOKS, notebooks_dir):  # an executed copy never replaces a source
        if output.resolve().is_relative_to(Path(source).resolve()):
            raise ConfigError(
                f"{output}: an executed notebook may not be written into the notebooks folder "
                f"{source}\n  fix: give --executed and --run-id that put the run outside it"
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters = {"params_file": str(run.params), "run_dir": str(run.root), **step.parameters}
    try:
        papermill.execute_notebook(
            str(notebooks_dir / f"{step.notebook}.ipynb"),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(notebooks_dir),
            progress_bar=sys.stderr.isatty(),  # cells done of the step, in a terminal
            kernel_manager_class=_local_kernel_manager(),
            start_timeout=300,  # a loaded machine can take a while to start a kernel
        )
    except PapermillExecutionError as exc:
        reason = f"{exc.ename}: {exc.evalue}" if exc.evalue else _error_text(output, exc)
        raise StepFailedError(step.name, exc.exec_count, reason, str(output)) from None
    return output


def _local_kernel_manager():
    """Kernels that talk to the runner over local sockets (IPC), not TCP ports: nothing of a
    run listens on the network, and ipykernel has no unencrypted-TCP warning to print."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            # A socket path of its own: the default is relative to the working directory and
            # shared by every kernel started there, so parallel kernels would collide.
            Path(jupyter_runtime_dir()).mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("ip", str(Path(jupyter_runtime_dir()) / f"loralab-{uuid4().hex}"))
            super().__init__(**kwargs)

    return LocalKernelManager


def _error_text(output: Path, exc) -> str:
    """What the failing cell printed, when the kernel's error carries no message (a magic that
    fails prints its UsageError to stderr instead of raising)."""
    import nbformat

    cells = [
        c
        for c in nbformat.read(output, as_version=4).cells
        if c.get("execution_count") == exc.exec_count
    ]
    outputs = cells[0].get("outputs", []) if cells else []
    texts = [o.get("text", "") for o in outputs if o.get("name") == "stderr"]
    last = "".join(texts).strip().splitlines()
    return f"{exc.ename}: {last[-1]}" if last else exc.ename


def _execute_in_process(step: Step, run: RunPaths, notebooks_dir: Path, env: dict) -> None:
    """One step in its own Python process, so its thread budget and GPU are its own."""
    job = json.dumps(
        {
            "notebook": step.notebook,
            "title": step.title,
            "parameters": step.parameters,
            "run_dir": str(run.root),
            "notebooks_dir": str(notebooks_dir),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "loralab.runner", job], env=env, capture_output=True, text=True
    )
    if done.returncode == 0:
        return
    try:
        failed = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        failed = {
            "cell": None,
            "reason": done.stderr.strip()[-2000:] or "worker died",
            "executed_path": str(run.executed_notebook(step.name)),
        }
    raise StepFailedError(step.name, failed["cell"], failed["reason"], failed["executed_path"])


def _job_env(slot: int, jobs: int, processes: int) -> dict:
    """Environment of a parallel job slot: a share of the cores, and on a machine with several
    GPUs its own `processes` of them (one per training process)."""
    env = dict(os.environ)
    env["LORALAB_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    env["OMP_NUM_THREADS"] = env["LORALAB_THREADS"]
    try:
        import torch

        gpus = torch.cuda.device_count()
    except ImportError:
        gpus = 0
    if gpus > 1:
        first = slot * processes
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str((first + k) % gpus) for k in range(processes))
    return env


def render_step(step: Step, run: RunPaths, out_dir: Path) -> None:
    """The step's page of the report, when its notebook was executed (even if it failed)."""
    executed = run.executed_notebook(step.name)
    if executed.is_file():
        render_notebook(executed, out_dir / step.html)


class _RunLock:
    """One runner per run folder: a second one would interleave writes to the same files."""

    def __init__(self, run: RunPaths):
        self.path = run.lock

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pid = int(self.path.read_text() or 0)
            if _alive(pid):
                raise ConfigError(
                    f"{self.path.parent}: another loralab run (pid {pid}) is "
                    "writing this run folder; wait for it or use another "
                    "--run-id"
                ) from None
            self.path.unlink()  # left by a killed run
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return self

    def __exit__(self, *_):
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_series(
    params_path: str | Path,
    overrides: list[str] | None = None,
    run_id: str | None = None,
    executed_root: str | Path = "executed",
    reports_root: str | Path = "reports",
    notebooks_dir: str | Path = NOTEBOOKS,
    log: Callable[[str], None] = print,
    only: list[str] | None = None,
    jobs: int = 1,
) -> Path:
    """Run the steps that are not done (all, or those in `only`), write the report, return it."""
    from .report import write_report

    params_path, notebooks_dir = Path(params_path), Path(notebooks_dir)
    cfg = load_config(params_path, overrides)
    run_id = run_id or new_run_id(params_path)
    run = run_paths(run_id, Path(executed_root), Path(reports_root))
    out_dir = report_dir(run, Path(reports_root))
    steps = series(cfg)
    if only:
        unknown = sorted(set(only) - {s.notebook for s in steps})
        if unknown:
            raise ConfigError(
                f"--only {unknown}: no such step; the steps are "
                f"{sorted({s.notebook for s in steps})}"
            )
    with _RunLock(run):
        save_config(cfg, run.params)
        log(f"loralab run {run.run_id}: {len(steps)} steps into {run.root}")
        tracker = Tracker(cfg, run, log, str(params_path))  # MLflow; off unless configured
        failure = _run_stages(
            steps, cfg, run, out_dir, notebooks_dir, only, jobs, log, tracker.step_done
        )
        write_json(
            run.run_record,
            {
                "run_id": run.run_id,
                "params": str(params_path),
                "overrides": overrides or [],
                "finished": dt.datetime.now().isoformat(timespec="seconds"),
                "steps": [s.record() for s in steps],
            },
        )
        index = write_report(run, out_dir, steps)
        tracker.finish(out_dir, failed=failure is not None)
    if failure:
        raise failure
    return index


def _run_stages(steps, cfg, run, out_dir, notebooks_dir, only, jobs, log, done):
    """Each stage's steps that are not done, in order; `done(step)` as a step is found done or
    finishes (the tracker logs a trial then)."""
    counter = {s.name: i for i, s in enumerate(steps, start=1)}

    def say(step: Step, what: str) -> None:
        log(f"[{counter[step.name]}/{len(steps)}] {step.name}: {what}")

    for stage in stages(steps):
        todo = []
        for step in stage:
            fp = fingerprint(step, cfg, run, notebooks_dir)
            if is_done(step, run, fp):
                step.status = "done earlier"
                if not (out_dir / step.html).is_file():
                    render_step(step, run, out_dir)
                say(step, "done earlier with the same inputs, skipped")
                done(step)
            elif only and step.notebook not in only:
                say(step, "not selected (--only)")
            else:
                todo.append((step, fp))
        failure = _execute(todo, run, out_dir, notebooks_dir, jobs, cfg.train.processes, say, done)
        if failure:
            return failure
    return None


def _execute(
    todo, run, out_dir, notebooks_dir, jobs, processes, say, done
) -> StepFailedError | None:
    """Run a stage's steps (in parallel processes when jobs > 1), mark the ones that finish."""

    def one(step_fp) -> StepFailedError | None:
        step, fp = step_fp
        slot = slots.get()  # a job slot owns its GPUs until the step ends
        t0 = time.perf_counter()
        say(step, "running" + (f" (job {slot + 1} of {jobs})" if jobs > 1 else ""))
        try:
            if jobs > 1 and len(todo) > 1:
                _execute_in_process(step, run, notebooks_dir, _job_env(slot, jobs, processes))
            else:
                execute_step(step, run, notebooks_dir)
            step.status, failure = "ok", None
        except StepFailedError as exc:
            step.status, step.error, failure = "failed", str(exc), exc
        finally:
            slots.put(slot)
        step.seconds = round(time.perf_counter() - t0, 1)
        render_step(step, run, out_dir)
        if failure is None:
            mark_done(step, run, fp)
            done(step)
        say(step, f"{step.status} in {step.seconds:.1f} s")
        return failure

    workers = min(jobs, len(todo)) if todo else 1
    slots: queue.SimpleQueue[int] = queue.SimpleQueue()
    for slot in range(workers):
        slots.put(slot)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        failures = [f for f in pool.map(one, todo) if f]
    return failures[0] if failures else None


def render_report(run_dir: str | Path, reports_root: str | Path = "reports") -> Path:
    """Write a run's report (index and notebook pages) again from its artifacts, running
    nothing."""
    from .report import write_report

    run = RunPaths(Path(run_dir))
    if not run.run_record.is_file():
        raise ConfigError(f"{run.root}: no run.json; give a folder that `loralab run` wrote")
    fields = ("notebook", "title", "parameters", "status", "seconds", "error")
    steps = [Step(**{k: s.get(k) for k in fields}) for s in read_json(run.run_record)["steps"]]
    out_dir = report_dir(run, Path(reports_root))
    for step in steps:
        render_step(step, run, out_dir)
    return write_report(run, out_dir, steps)


def _worker(job_json: str) -> int:
    """`python -m loralab.runner JOB`: one step for a parallel run; failure as JSON on stdout."""
    job = json.loads(job_json)
    step = Step(job["notebook"], job["title"], job["parameters"])
    try:
        execute_step(step, RunPaths(Path(job["run_dir"])), Path(job["notebooks_dir"]))
    except StepFailedError as exc:
        print(
            json.dumps({"cell": exc.cell, "reason": exc.reason, "executed_path": exc.executed_path})
        )
        return 3
    except LoralabError as exc:
        print(json.dumps({"cell": None, "reason": str(exc), "executed_path": ""}))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))
