"""What every notebook of the series does first: resolve its parameters and open its run folder.

The notebooks' `parameters` cells carry `params_file`, `run_dir` and one dict per params section
(`data`, `split`, ...). Section dicts override the file field by field, so
`papermill ... -p run_dir X -f params/smoke.yaml` and the runner's injection mean the same thing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from loralab.config import SECTIONS, Config, dotted, load_config, save_config
from loralab.layout import NOTEBOOKS, RunPaths
from loralab.report.figures import use_report_style


def _params_path(params_file: str | Path) -> Path:
    """The defaults cell says `../params/default.yaml`, relative to notebooks/ where Lab runs;
    plain papermill runs from wherever it is called, so look beside the notebooks too."""
    path = Path(params_file)
    if path.is_absolute() or path.is_file():
        return path
    beside = NOTEBOOKS / path
    return beside if beside.is_file() else path


def configure_torch(cfg: Config) -> None:
    """Threads and determinism, the same in a notebook kernel and in `loralab train`."""
    import torch

    threads = os.environ.get("LORALAB_THREADS")  # set by the runner for parallel jobs
    if threads:
        torch.set_num_threads(int(threads))
    if cfg.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it first
        torch.use_deterministic_algorithms(True)


def start(namespace: dict[str, Any]) -> tuple[Config, RunPaths]:
    """Resolve the config from a notebook's parameters, save it into the run folder, and set the
    report's display style. The notebook passes its namespace (`globals()`): `params_file`,
    `run_dir` and one dict per params section, so the section names live in the parameters
    cell alone and a new section needs no edit of every notebook."""
    sections = {s: namespace.get(s) for s in SECTIONS}
    cfg = load_config(_params_path(namespace["params_file"]), dotted(sections))
    configure_torch(cfg)
    run = RunPaths(Path(namespace["run_dir"]))
    run.root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run.params)
    use_report_style()
    pd.set_option("display.max_colwidth", 120)
    pd.set_option("display.width", 160)
    return cfg, run
