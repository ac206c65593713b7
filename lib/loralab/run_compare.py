"""Several runs side by side: headline metrics, costs, and the parameters that differ.

Everything is read from each run's artifacts (results.csv, stat_tests.json, params.yaml), so a
comparison can be made at any time after the runs, on any machine that has their folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import yaml

from .artifacts import write_text
from .config import dotted
from .errors import ConfigError
from .layout import RunPaths
from .present import headline, html_table, render_template, seconds


def run_labels(runs: list[RunPaths]) -> list[str]:
    """Run ids as column names; where two folders share an id (the same run id from two
    machines), their paths below the folder they share instead, so no run is lost."""
    ids = [r.run_id for r in runs]
    if len(set(ids)) == len(ids):
        return ids
    common = Path(os.path.commonpath([r.root for r in runs]))
    return [str(r.root.relative_to(common)) for r in runs]


def _headline_row(run: RunPaths, label: str) -> dict:
    h = headline(run)
    if h is None:
        raise ConfigError(
            f"{run.root}: no eval/results.csv; compare runs whose evaluation finished"
        )
    out = {"run": label, "selected": h["lead"]["name"], "macro_f1": h["lead"]["text"]}
    for other in h["others"]:
        out[f"{other['name']} macro-F1"] = f"{other['value']:.3f}"
    for v in h["versus"]:
        if v["baseline"] == "zero_shot":
            out["Δ vs zero-shot"] = f"{v['delta']:+.3f} (p = {v['p']:.2g})"
    cost = h["cost"]
    out.update(
        {
            "trainable MB": f"{cost['trainable_mb']:.2f}",
            "train time (s)": seconds(cost["train_time_s"]),
            "latency p50 (ms)": f"{cost['latency_ms']:.0f}",
            "test items": h["n_test"],
        }
    )
    return out


def compare_runs(run_dirs: list[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(headline per run, params that differ between the runs)."""
    if len(run_dirs) < 2:
        raise ConfigError("compare needs at least two run folders")
    runs = [RunPaths(Path(d)) for d in run_dirs]
    for run in runs:
        if not run.params.is_file():
            raise ConfigError(f"{run.root}: not a run folder (no params.yaml)")
    labels = run_labels(runs)
    headlines = pd.DataFrame([_headline_row(r, k) for r, k in zip(runs, labels, strict=True)])
    headlines = headlines.set_index("run")
    params = pd.DataFrame(
        {k: dotted(yaml.safe_load(r.params.read_text())) for r, k in zip(runs, labels, strict=True)}
    )
    differ = params[params.apply(lambda row: len({repr(v) for v in row}) > 1, axis=1)]
    return headlines, differ.map(repr)


def write_comparison(run_dirs: list[str | Path], target: str | Path) -> Path:
    headlines, differ = compare_runs(run_dirs)
    page = render_template(
        "compare.html.j2",
        headlines=html_table(headlines, index=True),
        differ=html_table(differ, index=True) if len(differ) else "",
        runs=list(headlines.index),
    )
    return write_text(target, page)
