"""Several runs side by side: headline metrics, costs, and the parameters that differ.

Everything is read from each run's artifacts (results.csv, stat_tests.json, params.yaml), so a
comparison can be made at any time after the runs, on any machine that has their folders.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from .artifacts import read_json, write_text
from .errors import ConfigError
from .evaluation import with_ci
from .layout import RunPaths
from .report import html_table, render_template


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value and key != "verbalizers":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _headline(run: RunPaths) -> dict:
    if not run.results.is_file():
        raise ConfigError(
            f"{run.root}: no eval/results.csv; compare runs whose evaluation finished"
        )
    rows = pd.read_csv(run.results).set_index("method")
    lead = rows[rows["selected"]].iloc[0] if rows["selected"].any() else rows.iloc[0]
    out = {
        "run": run.run_id,
        "selected": lead["name"],
        "macro_f1": with_ci(lead, "macro_f1"),
    }
    for method, column in (("zero_shot", "zero-shot macro-F1"), ("tfidf", "TF-IDF macro-F1")):
        if method in rows.index:
            out[column] = f"{rows.loc[method, 'macro_f1']:.3f}"
    if run.stat_tests.is_file():
        tests = pd.DataFrame(read_json(run.stat_tests)["comparisons"])
        hit = tests[(tests["method"] == lead.name) & (tests["baseline"] == "zero_shot")]
        if not hit.empty:
            c = hit.iloc[0]
            p = c.get("bootstrap_p_holm", c["bootstrap_p"])
            out["Δ vs zero-shot"] = f"{c['delta_macro_f1']:+.3f} (p = {p:.2g})"
    out.update(
        {
            "trainable MB": f"{lead['trainable_mb']:.2f}",
            "train time (s)": f"{lead['train_time_s']:.0f}",
            "latency p50 (ms)": f"{lead['latency_p50_ms']:.0f}",
            "test items": int(lead["n_test"]),
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
    headlines = pd.DataFrame([_headline(r) for r in runs]).set_index("run")
    params = pd.DataFrame({r.run_id: _flatten(yaml.safe_load(r.params.read_text())) for r in runs})
    differ = params[params.apply(lambda row: len({repr(v) for v in row}) > 1, axis=1)]
    return headlines, differ.map(repr)


def write_comparison(run_dirs: list[str | Path], target: str | Path) -> Path:
    headlines, differ = compare_runs(run_dirs)
    page = render_template(
        "compare.html.j2",
        headlines=html_table(headlines, index=True),
        differ=html_table(differ, index=True) if len(differ) else "",
        runs=[RunPaths(Path(d)).run_id for d in run_dirs],
    )
    return write_text(target, page)
