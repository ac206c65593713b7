"""Execute the notebook series headless with papermill, then render the HTML report bundle.

The runner owns the order of steps and the record of what happened (`run.json`); the notebooks
own what each step computes and shows. A failing cell stops the series, the executed notebook is
kept with its error, and the report still gets written so the failure is visible there.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import read_json, write_json, write_text
from .config import Config, load_config, save_config
from .errors import ConfigError, StepFailedError
from .layout import RunPaths, report_dir

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = PROJECT_ROOT / "notebooks"
TEMPLATES = Path(__file__).resolve().parent / "templates"
KERNEL = "python3"


@dataclass
class Step:
    notebook: str
    title: str
    parameters: dict = field(default_factory=dict)
    status: str = "not run"
    seconds: float | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        suffix = "".join(f"_{k}{v}" for k, v in self.parameters.items())
        return self.notebook + suffix

    @property
    def html(self) -> str:
        return f"{self.name}.html"


def series(cfg: Config) -> list[Step]:
    """The steps of a study in order: data, split, a training run per rank, evaluation, stats."""
    return [
        Step("01_eda", "Data: source, cleaning, class balance, lengths"),
        Step("02_split", "Data: train/val/test split and leakage check"),
        *(
            Step("03_train", f"LoRA training, rank {r}: curves, cost, adapter card", {"rank": r})
            for r in cfg.lora.ranks
        ),
        Step("04_evaluate", "Evaluation: every method on the test set, errors"),
        Step("05_statistics", "Paired statistics: McNemar, bootstrap, Holm; cost"),
    ]


def new_run_id(params_path: Path) -> str:
    return f"{params_path.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"


def execute_step(step: Step, run: RunPaths, notebooks_dir: Path) -> Path:
    """Run one notebook into the run folder; raises StepFailedError naming the failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = run.notebooks / f"{step.name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters = {"params_file": str(run.params), "run_dir": str(run.root), **step.parameters}
    try:
        papermill.execute_notebook(
            str(notebooks_dir / f"{step.notebook}.ipynb"),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(notebooks_dir),
            progress_bar=False,
        )
    except PapermillExecutionError as exc:
        raise StepFailedError(
            step.name, exc.exec_count, f"{exc.ename}: {exc.evalue}", str(output)
        ) from None
    return output


def render_html(notebook: Path, target: Path) -> Path:
    """The executed notebook as one self-contained HTML page (images inline, no CDN scripts)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(TEMPLATES)])
    exporter.template_file = "notebook.html.j2"
    body, _ = exporter.from_filename(str(notebook))
    return write_text(target, body)


def run_series(
    params_path: str | Path,
    overrides: list[str] | None = None,
    run_id: str | None = None,
    executed_root: str | Path = "executed",
    reports_root: str | Path = "reports",
    notebooks_dir: str | Path = NOTEBOOKS,
    log: Callable[[str], None] = print,
    only: list[str] | None = None,
) -> Path:
    """Run the steps (all, or those whose notebook is in `only`), write the report, return it."""
    from .report import write_report

    params_path = Path(params_path)
    cfg = load_config(params_path, overrides)
    run = RunPaths(Path(executed_root) / (run_id or new_run_id(params_path)))
    out_dir = report_dir(run, Path(reports_root))
    save_config(cfg, run.params)
    steps = [s for s in series(cfg) if not only or s.notebook in only]
    if not steps:
        known = sorted({s.notebook for s in series(cfg)})
        raise ConfigError(f"--only {only}: no such step; the steps are {known}")
    record = {
        "run_id": run.run_id,
        "params": str(params_path),
        "overrides": overrides or [],
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "steps": [],
    }
    log(f"loralab run {run.run_id}: {len(steps)} steps into {run.root}")
    failure: StepFailedError | None = None
    for number, step in enumerate(steps, start=1):
        t0 = time.perf_counter()
        executed = run.notebooks / f"{step.name}.ipynb"
        try:
            execute_step(step, run, Path(notebooks_dir))
            step.status = "ok"
        except StepFailedError as exc:
            step.status, step.error, failure = "failed", str(exc), exc
        step.seconds = round(time.perf_counter() - t0, 1)
        if executed.is_file():
            render_html(executed, out_dir / step.html)
        log(f"[{number}/{len(steps)}] {step.name}: {step.status} in {step.seconds:.1f} s")
        if failure:
            break
    record["steps"] = [vars(s) | {"name": s.name, "html": s.html} for s in steps]
    record["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    write_json(run.run_record, record)
    index = write_report(run, out_dir, steps)
    if failure:
        raise failure
    return index


def render_report(run_dir: str | Path, reports_root: str | Path = "reports") -> Path:
    """Write a run's report again from its artifacts and run.json, running nothing."""
    from .report import write_report

    run = RunPaths(Path(run_dir))
    if not run.run_record.is_file():
        raise ConfigError(f"{run.root}: no run.json; give a folder that `loralab run` wrote")
    fields = ("notebook", "title", "parameters", "status", "seconds", "error")
    steps = [Step(**{k: s.get(k) for k in fields}) for s in read_json(run.run_record)["steps"]]
    return write_report(run, report_dir(run, Path(reports_root)), steps)
