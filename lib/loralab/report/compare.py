"""Several runs side by side: headline metrics, costs, the parameters that differ, and a paired
test of the runs' selected methods where the runs tested the same items.

Everything is read from each run's artifacts (results.csv, stat_tests.json, paired_preds.csv,
params.yaml), so a comparison can be made at any time after the runs, on any machine that has
their folders. Two runs of one corpus and split settings test the same items (truncated against
chunked long texts, say), so their answers can be compared item by item, as methods within a
run are.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import yaml

from loralab.artifacts import write_text
from loralab.config import dotted, load_config
from loralab.errors import ConfigError
from loralab.formats import seconds
from loralab.layout import RunPaths
from loralab.records import EvaluationRecord
from loralab.report.tables import headline, html_table, p_text, render_template
from loralab.stats.paired_tests import mcnemar_test, paired_bootstrap_delta, resample_weights
from loralab.stats.step import item_folds


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
    anchor = h["cost"]["anchor"]
    for v in h["versus"]:
        if v["name"] == anchor and v.get("method", h["lead"]["method"]) == h["lead"]["method"]:
            adjusted = "raw, primary" if v.get("primary") else "Holm"
            out[f"Δ vs {anchor}"] = f"{v['delta']:+.3f} (p = {v['p']:.2g}, {adjusted})"
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


def _selected_answers(run: RunPaths) -> tuple[str, pd.DataFrame]:
    """The method a run reports (its selected LoRA, else its anchor: zero-shot), and its answer
    per item."""
    meta = EvaluationRecord.read(run.evaluation)
    method = meta.lead
    paired = pd.read_csv(run.paired_predictions, dtype={"id": str}).set_index("id")
    return meta.methods[method], paired[["gold", f"pred_{method}"]].rename(
        columns={f"pred_{method}": "pred"}
    )


def paired_across_runs(run_dirs: list[str | Path]) -> pd.DataFrame:
    """The first run's selected method against each other run's, on the items both tested:
    McNemar and the paired bootstrap of Δ macro-F1 with the first run's stats settings, its
    resamples stratified by the first run's folds. Runs that tested other items are not
    compared, and the row says so."""
    runs = [RunPaths(Path(d)) for d in run_dirs]
    labels = run_labels(runs)
    cfg = load_config(runs[0].params)
    name_a, a = _selected_answers(runs[0])
    rows = []
    for run, label in zip(runs[1:], labels[1:], strict=True):
        name_b, b = _selected_answers(run)
        row = {"A": f"{labels[0]}: {name_a}", "B": f"{label}: {name_b}"}
        if set(a.index) != set(b.index):
            rows.append({**row, "items": "not paired: the runs tested different items"})
            continue
        b = b.loc[a.index]
        if (b["gold"] != a["gold"]).any():
            rows.append({**row, "items": "not paired: the same ids carry other gold labels"})
            continue
        gold = a["gold"].tolist()
        folds = item_folds(runs[0], a.index.to_series(), cfg.split.folds)
        s = cfg.stats
        resamples = resample_weights(len(gold), s.bootstrap_resamples, s.seed, strata=folds)
        boot = paired_bootstrap_delta(
            gold, a["pred"], b["pred"], cfg.data.labels, resamples, s.confidence
        )
        mc = mcnemar_test(a["pred"] == a["gold"], b["pred"] == b["gold"])
        rows.append(
            {
                **row,
                "items": str(len(gold)),
                "Δ macro-F1 (A − B)": f"{boot.observed:+.3f} [{boot.low:+.3f}, {boot.high:+.3f}]"
                f" ({boot.ci_method})",
                "p (bootstrap)": p_text(boot.p_value, None, 2 / (s.bootstrap_resamples + 1)),
                "McNemar b / c, p": f"{mc.b} / {mc.c}, {mc.p_value:.2g}",
            }
        )
    return pd.DataFrame(rows)


def write_comparison(run_dirs: list[str | Path], target: str | Path) -> Path:
    headlines, differ = compare_runs(run_dirs)
    paired = paired_across_runs(run_dirs)
    page = render_template(
        "compare.html.j2",
        headlines=html_table(headlines, index=True),
        differ=html_table(differ, index=True) if len(differ) else "",
        paired=html_table(paired),
        runs=list(headlines.index),
    )
    return write_text(target, page)
