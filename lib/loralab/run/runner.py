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
import platform
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from loralab.artifacts import read_json, write_json
from loralab.config import load_config, save_config
from loralab.errors import ConfigError, LoralabError, StepFailedError
from loralab.layout import NOTEBOOKS, RunPaths, report_dir, run_paths
from loralab.report.tables import render_notebook
from loralab.run.execution import execute_step
from loralab.run.fingerprints import fingerprint, is_done, mark_done
from loralab.run.ray_backend import RayOptions
from loralab.run.steps import RECORDED, Step, series, stages
from loralab.run.tracking import Tracker


def new_run_id(params_path: Path) -> str:
    return f"{params_path.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"


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
        [sys.executable, "-m", "loralab.run.runner", job], env=env, capture_output=True, text=True
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


class Progress:
    """The run as it goes: one line per event in the terminal, and run.json rewritten after
    each, so a long sweep shows which steps are done, running or queued, and where each ran."""

    def __init__(self, run: RunPaths, steps: list[Step], head: dict, log: Callable[[str], None]):
        self.run, self.steps, self.head, self.log = run, steps, head, log
        self.number = {s.name: i for i, s in enumerate(steps, start=1)}
        self.lock = threading.Lock()  # parallel jobs report from threads

    def update(self, step: Step, what: str | None = None, **fields) -> None:
        with self.lock:
            for name, value in fields.items():
                setattr(step, name, value)
            if what:
                self.log(f"[{self.number[step.name]}/{len(self.steps)}] {step.name}: {what}")
            self.write()

    def write(self, finished: bool = False) -> None:
        statuses = [s.status for s in self.steps]
        counts = {k: statuses.count(k) for k in ("queued", "running", "failed")}
        counts["done"] = sum(s in ("ok", "done earlier") for s in statuses)
        when = dt.datetime.now().isoformat(timespec="seconds") if finished else None
        write_json(
            self.run.run_record,
            {
                **self.head,
                "finished": when,
                "progress": counts,
                "steps": [s.record() for s in self.steps],
            },
        )


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
    backend: str = "local",
    ray: RayOptions | None = None,
) -> Path:
    """Run the steps that are not done (all, or those in `only`), write the report, return it.
    `backend` "ray" runs the training trials as Ray tasks (`ray`: where and how), the other
    steps here; "local" runs them here, `jobs` at a time."""
    from loralab.report.bundle import write_report

    params_path, notebooks_dir = Path(params_path), Path(notebooks_dir)
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
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
        head = {"run_id": run.run_id, "params": str(params_path), "overrides": overrides or []}
        progress = Progress(run, steps, {**head, "backend": backend}, log)
        log(f"loralab run {run.run_id}: {len(steps)} steps into {run.root}")
        placement = _Placement(backend, jobs, ray or RayOptions())
        tracker = Tracker(cfg, run, log, str(params_path))  # MLflow; off unless configured
        # interrupted, run.json keeps "finished": null and what was done stays done
        failure = _run_stages(
            steps, cfg, run, out_dir, notebooks_dir, only, placement, progress, tracker.step_done
        )
        progress.write(finished=True)
        index = write_report(run, out_dir, steps)
        tracker.finish(out_dir, failed=failure is not None)  # adds its record to run.json
    if failure:
        raise failure
    return index


BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class _Placement:
    """Where the steps run: the backend, the local backend's job count, Ray's options."""

    backend: str
    jobs: int
    ray: RayOptions


def _run_stages(steps, cfg, run, out_dir, notebooks_dir, only, placement, progress, done):
    """Each stage's steps that are not done, in order, on the placement's backend; `done(step)`
    as a step is found done or finishes (the tracker logs a trial then)."""
    finish = _finisher(run, out_dir, progress, done)
    for stage in stages(steps):
        todo = []
        for step in stage:
            fp = fingerprint(step, cfg, run, notebooks_dir)
            if is_done(step, run, fp):
                if not (out_dir / step.html).is_file():
                    render_step(step, run, out_dir)
                progress.update(
                    step, "done earlier with the same inputs, skipped", status="done earlier"
                )
                done(step)
            elif only and step.notebook not in only:
                progress.update(step, "not selected (--only)")
            else:
                todo.append((step, fp))

        if placement.backend == "ray" and todo and todo[0][0].trial:
            from loralab.run.ray_backend import run_trials

            failures = run_trials(todo, cfg, run, notebooks_dir, placement.ray, progress, finish)
        else:
            failures = _execute(todo, run, notebooks_dir, placement.jobs, cfg, progress, finish)
        if failures:
            return failures[0]
    return None


def _finisher(run: RunPaths, out_dir: Path, progress: Progress, done: Callable[[Step], None]):
    """What ends a step on every backend: its report page, its marker when it succeeded (last:
    its outputs are all in place by then), and its record."""

    def finish(step: Step, fp: str, failure: StepFailedError | None, **fields) -> None:
        render_step(step, run, out_dir)
        if failure is None:
            mark_done(step, run, fp)
        status = "failed" if failure else "ok"
        error = str(failure) if failure else None
        seconds = fields.get("seconds")
        what = status + (f" in {seconds:.1f} s" if seconds is not None else "")
        progress.update(step, what, status=status, error=error, **fields)
        if failure is None:
            done(step)

    return finish


def _execute(todo, run, notebooks_dir, jobs, cfg, progress, finish) -> list[StepFailedError]:
    """Run a stage's steps here (in parallel processes when jobs > 1)."""
    node = platform.node()

    def one(step_fp) -> StepFailedError | None:
        step, fp = step_fp
        slot = slots.get()  # a job slot owns its GPUs until the step ends
        t0 = time.perf_counter()
        where = f" (job {slot + 1} of {jobs})" if jobs > 1 else ""
        progress.update(
            step, "running" + where, status="running", backend="local", node=node, attempts=1
        )
        try:
            if jobs > 1 and len(todo) > 1:
                env = _job_env(slot, jobs, cfg.train.processes)
                _execute_in_process(step, run, notebooks_dir, env)
            else:
                execute_step(step, run, notebooks_dir)
            failure = None
        except StepFailedError as exc:
            failure = exc
        finally:
            slots.put(slot)
        finish(step, fp, failure, seconds=round(time.perf_counter() - t0, 1), queued_seconds=0.0)
        return failure

    workers = min(jobs, len(todo)) if todo else 1
    slots: queue.SimpleQueue[int] = queue.SimpleQueue()
    for slot in range(workers):
        slots.put(slot)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [f for f in pool.map(one, todo) if f]


def render_report(run_dir: str | Path, reports_root: str | Path = "reports") -> Path:
    """Write a run's report (index and notebook pages) again from its artifacts, running
    nothing."""
    from loralab.report.bundle import write_report

    run = RunPaths(Path(run_dir))
    if not run.run_record.is_file():
        raise ConfigError(f"{run.root}: no run.json; give a folder that `loralab run` wrote")
    fields = ("notebook", "title", "parameters", *RECORDED)
    steps = [Step(**{k: s.get(k) for k in fields}) for s in read_json(run.run_record)["steps"]]
    out_dir = report_dir(run, Path(reports_root))
    for step in steps:
        render_step(step, run, out_dir)
    return write_report(run, out_dir, steps)


def _worker(job_json: str) -> int:
    """`python -m loralab.run.runner JOB`: one step of a parallel run; failure as JSON."""
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
