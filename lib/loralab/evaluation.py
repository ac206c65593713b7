"""The evaluation step: every method scored once on the same test items, and the table of results.

The methods are those of `methods.REGISTRY`: the majority class and a label-term rule, zero-shot
(raw and calibrated) and few-shot prompting, TF-IDF + logistic regression shown the same
truncated text as the LLM, and every trained LoRA rank. The rank the
study reports is selected here, once, on validation data only, and written to evaluation.json
with the table that justifies it. All LLM methods use the same scorer, prompt and truncation, so
the comparison is paired item by item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from .artifacts import write_csv, write_json, write_text
from .config import Config
from .layout import RunPaths
from .methods import REGISTRY, MethodResult, Study
from .metrics import classification_metrics
from .paired_tests import bootstrap_metrics, resample_weights
from .present import format_results
from .selection import SELECTION_RULE, lora_method, select_rank, trained_summaries
from .splits import read_split


def run_methods(cfg: Config, run: RunPaths, texts: list[str], log=print) -> list[MethodResult]:
    """Every registered method, built from the study, fitted, and scored on `texts`."""
    study = Study.load(cfg, run)
    results = []
    for kind in REGISTRY:
        for method in kind.build(study):
            method.fit(study.train, study.val)
            results.append(method.score(texts))
            log(f"{method.name}: scored {len(texts)} test items")
    return results


def results_table(
    results: list[MethodResult],
    gold: list[str],
    labels: list[str],
    selected: int | None,
    cfg: Config,
) -> pd.DataFrame:
    """One row per method: metrics with bootstrap CIs (same resamples for all), cost, speed."""
    weights = resample_weights(len(gold), cfg.stats.bootstrap_resamples, cfg.stats.seed)
    rows = []
    for r in results:
        row = {
            "method": r.method,
            "name": r.name,
            "kind": r.kind,
            "train_items": r.train_items,
            "selected": r.method == lora_method(selected),
            "n_test": len(gold),
        }
        for metric, (value, low, high) in bootstrap_metrics(
            gold, r.predictions, labels, weights, cfg.stats.confidence
        ).items():
            row.update({metric: value, f"{metric}_low": low, f"{metric}_high": high})
        for label in labels:
            row[f"pred_n_{label}"] = r.predictions.count(label)
        if r.draws:
            per_draw = [classification_metrics(gold, d, labels)["macro_f1"] for d in r.draws]
            row.update(
                draws=len(per_draw),
                draw_macro_f1_mean=float(np.mean(per_draw)),
                draw_macro_f1_sd=float(np.std(per_draw, ddof=1)) if len(per_draw) > 1 else 0.0,
            )
        row.update(
            {
                "latency_p50_ms": float(np.percentile(r.latency_s, 50) * 1000),
                "latency_p95_ms": float(np.percentile(r.latency_s, 95) * 1000),
                "prompt_tokens_per_s": r.prompt_tokens_per_s,
            }
        )
        row.update(r.cost)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_predictions(
    test: pd.DataFrame, results: list[MethodResult], labels: list[str]
) -> pd.DataFrame:
    """id, gold, and per method its prediction and the score of what it predicted."""
    out = test[["id", "label"]].rename(columns={"label": "gold"}).reset_index(drop=True)
    for r in results:
        out[f"pred_{r.method}"] = r.predictions
        picked = [labels.index(p) for p in r.predictions]
        out[f"score_{r.method}"] = r.label_scores[np.arange(len(picked)), picked]
    return out


@dataclass
class Evaluation:
    results: pd.DataFrame
    paired: pd.DataFrame
    confusion: dict[str, pd.DataFrame]
    selected_rank: int | None
    selection: pd.DataFrame  # every rank's validation results, the selected one first


def evaluate_step(cfg: Config, run: RunPaths, log=print) -> Evaluation:
    """The evaluation step: select the rank, score all methods, write every table the report
    reads."""
    test = read_split(run, "test")
    labels = list(cfg.data.labels)
    summaries = trained_summaries(run)
    selected, selection = select_rank(summaries) if summaries else (None, pd.DataFrame())
    methods = run_methods(cfg, run, test["text"].tolist(), log)
    gold = test["label"].tolist()
    table = results_table(methods, gold, labels, selected, cfg)
    paired = paired_predictions(test, methods, labels)
    confusion = {
        m.method: pd.DataFrame(
            confusion_matrix(gold, m.predictions, labels=labels),
            index=pd.Index(labels, name="gold"),
            columns=labels,
        )
        for m in methods
    }
    for method, frame in confusion.items():
        write_csv(run.confusion(method), frame.reset_index())
    write_csv(run.paired_predictions, paired)
    write_text(
        run.results_markdown,
        format_results(table).to_markdown(index=False, disable_numparse=True) + "\n",
    )
    write_json(
        run.evaluation,
        {
            "selected_rank": selected,
            "selection_rule": SELECTION_RULE,
            "selection": selection.to_dict("records"),
            "details": {m.method: m.details for m in methods if m.details},
            "labels": labels,
            "methods": {m.method: m.name for m in methods},
            "few_shot_k": cfg.evaluation.few_shot_k,
            "bootstrap_resamples": cfg.stats.bootstrap_resamples,
        },
    )
    write_csv(run.results, table)  # last: marks the step as done
    return Evaluation(table, paired, confusion, selected, selection)
