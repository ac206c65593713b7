"""The evaluation step: every method scored once on the same test items, and the table of results.

Methods: zero-shot label scoring with the base model; few-shot (k training examples per class as
earlier chat turns); TF-IDF + logistic regression trained on the training split and shown the
same truncated text as the LLM; and every trained LoRA rank, the selected one (by validation
data only) marked. All LLM methods use the same scorer, prompt and truncation, so the comparison
is paired item by item.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import make_pipeline

from .adapters import load_adapter
from .artifacts import write_csv, write_json, write_text
from .config import Config
from .layout import RunPaths
from .models import Precision, load_model, load_tokenizer, resolve_precision
from .prompts import PromptBuilder
from .scoring import Scores, score_texts
from .selection import lora_method, select_rank, trained_summaries
from .splits import read_split
from .statistics import bootstrap_metrics, resample_weights

UNTRAINED = {"trainable_params": 0, "trainable_mb": 0.0, "train_time_s": 0.0}


@dataclass
class MethodResult:
    method: str  # column-safe id: zero_shot, few_shot, tfidf, lora_r8 ...
    name: str  # shown in tables and figures
    kind: str  # prompting, classic or lora
    predictions: list[str]
    label_scores: np.ndarray  # items x labels
    latency_s: np.ndarray
    prompt_tokens_per_s: float | None
    cost: dict = field(default_factory=dict)


def few_shot_examples(
    train: pd.DataFrame, labels: list[str], k: int, seed: int
) -> list[tuple[str, str]]:
    """`k` training items per label, drawn with `seed`, alternating labels."""
    picked = [train[train["label"] == label].sample(n=k, random_state=seed) for label in labels]
    examples = []
    for i in range(k):
        for part in picked:
            examples.append((part["text"].iloc[i], part["label"].iloc[i]))
    return examples


def _from_scores(method: str, name: str, kind: str, s: Scores, cost: dict) -> MethodResult:
    return MethodResult(
        method, name, kind, s.predictions, s.label_scores, s.latency_s, s.tokens_per_second, cost
    )


def tfidf_baseline(
    train: pd.DataFrame, test_texts: list[str], labels: list[str], show
) -> MethodResult:
    """TF-IDF (words and bigrams) + logistic regression, on the text the LLM is shown."""
    t0 = time.perf_counter()
    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
        LogisticRegression(max_iter=2000),
    )
    model.fit([show(t) for t in train["text"]], train["label"])
    fit_s = time.perf_counter() - t0
    shown = [show(t) for t in test_texts]
    latency = np.zeros(len(shown))
    proba = np.zeros((len(shown), len(labels)))
    order = [list(model.classes_).index(label) for label in labels]
    for i, text in enumerate(shown):
        t1 = time.perf_counter()
        proba[i] = model.predict_proba([text])[0][order]
        latency[i] = time.perf_counter() - t1
    preds = [labels[j] for j in proba.argmax(axis=1)]
    params = len(model[0].vocabulary_) * (len(labels) if len(labels) > 2 else 1)
    return MethodResult(
        "tfidf",
        "TF-IDF + logistic regression",
        "classic",
        preds,
        np.log(np.clip(proba, 1e-12, 1)),
        latency,
        None,
        {"trainable_params": params, "trainable_mb": params * 8 / 2**20, "train_time_s": fit_s},
    )


def merge_drift(
    merged, builder: PromptBuilder, run: RunPaths, rank: int, cfg: Config, precision: Precision
) -> dict:
    """What folding the adapter into the base weights changed: the merged model scores the
    validation split again, against the scores training saved for the same adapter unmerged.
    The test split stays untouched by this check."""
    saved = pd.read_csv(run.val_predictions(rank))
    val = read_split(run, "val")
    if saved["id"].astype(str).tolist() != val["id"].astype(str).tolist():
        raise ValueError(f"{run.val_predictions(rank)} does not list the validation items in order")
    now = score_texts(
        merged, builder, val["text"].tolist(), cfg.eval.batch_size, precision.autocast
    )
    moved = now.label_scores - saved[[f"score_{label}" for label in builder.labels]].to_numpy()
    return {
        "merge_val_agreement": float(
            np.mean(np.array(now.predictions) == saved["prediction"].to_numpy())
        ),
        "merge_val_max_score_change": float(np.abs(moved).max()),
    }


def run_methods(
    cfg: Config, run: RunPaths, test: pd.DataFrame, log=print
) -> tuple[list[MethodResult], int | None]:
    """Score every method on the test split; returns the results and the selected rank."""
    precision = resolve_precision(cfg.train.dtype, cfg.train.device)
    tokenizer = load_tokenizer(cfg.model)
    base = load_model(cfg.model, precision, tokenizer)
    builder = PromptBuilder(tokenizer, cfg.prompt, cfg.data, cfg.train.seq_len)
    train = read_split(run, "train")
    texts = test["text"].tolist()

    def score(model, b: PromptBuilder) -> Scores:
        return score_texts(model, b, texts, cfg.eval.batch_size, precision.autocast, progress=True)

    results = [
        _from_scores(
            "zero_shot",
            "Zero-shot",
            "prompting",
            score(base, builder),
            UNTRAINED,
        )
    ]
    log(f"zero-shot scored {len(texts)} test items")
    k = cfg.eval.few_shot_k
    if k:
        shots = few_shot_examples(train, builder.labels, k, cfg.train.seed)
        few = PromptBuilder(tokenizer, cfg.prompt, cfg.data, cfg.train.seq_len, examples=shots)
        results.append(
            _from_scores(
                "few_shot",
                f"Few-shot (k={k})",
                "prompting",
                score(base, few),
                UNTRAINED,
            )
        )
        log(f"few-shot scored with {len(shots)} examples in the prompt")
    results.append(tfidf_baseline(train, texts, builder.labels, builder.visible_text))
    summaries = trained_summaries(run)
    for summary in summaries:
        rank = summary["rank"]
        model = load_adapter(copy.deepcopy(base), run.adapter(rank))
        cost = {
            "trainable_params": summary["trainable_params"],
            "trainable_mb": summary["trainable_mb"],
            "adapter_mb": summary["adapter_bytes"] / 2**20,
            "train_time_s": summary["time_to_best_s"],
        }
        if cfg.eval.merge_adapters:
            model = model.merge_and_unload()
            cost.update(merge_drift(model, builder, run, rank, cfg, precision))
        results.append(
            _from_scores(lora_method(rank), f"LoRA r={rank}", "lora", score(model, builder), cost)
        )
        log(
            f"LoRA r={rank} scored"
            + (" with the adapter merged" if cfg.eval.merge_adapters else "")
        )
        del model
    selected = select_rank(summaries)[0] if summaries else None
    return results, selected


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
            "selected": r.method == lora_method(selected),
            "n_test": len(gold),
        }
        for metric, (value, low, high) in bootstrap_metrics(
            gold, r.predictions, labels, weights, cfg.stats.confidence
        ).items():
            row.update({metric: value, f"{metric}_low": low, f"{metric}_high": high})
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


def with_ci(row: pd.Series, metric: str) -> str:
    """`0.934 [0.847, 1.000]` from a results.csv row's metric and its interval columns."""
    return f"{row[metric]:.3f} [{row[f'{metric}_low']:.3f}, {row[f'{metric}_high']:.3f}]"


def format_results(table: pd.DataFrame) -> pd.DataFrame:
    """The results as people read them; every number formatted from results.csv."""
    return pd.DataFrame(
        {
            "method": table["name"] + np.where(table["selected"], " (selected)", ""),
            "macro-F1 [95% CI]": table.apply(with_ci, axis=1, metric="macro_f1"),
            "accuracy [95% CI]": table.apply(with_ci, axis=1, metric="accuracy"),
            "latency p50 / p95 (ms)": [
                f"{a:.1f} / {b:.1f}"
                for a, b in zip(table["latency_p50_ms"], table["latency_p95_ms"], strict=True)
            ],
            "trainable MB": table["trainable_mb"].map(lambda v: f"{v:.2f}"),
            "train time (s)": table["train_time_s"].map(lambda v: f"{v:.1f}"),
        }
    )


@dataclass
class Evaluation:
    results: pd.DataFrame
    paired: pd.DataFrame
    confusion: dict[str, pd.DataFrame]
    selected_rank: int | None


def evaluate(cfg: Config, run: RunPaths, log=print) -> Evaluation:
    """The evaluation step: score all methods, then write every table the report reads."""
    test = read_split(run, "test")
    labels = list(cfg.data.labels)
    methods, selected = run_methods(cfg, run, test, log)
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
            "labels": labels,
            "methods": {m.method: m.name for m in methods},
            "few_shot_k": cfg.eval.few_shot_k,
            "bootstrap_resamples": cfg.stats.bootstrap_resamples,
        },
    )
    write_csv(run.results, table)  # last: marks the step as done
    return Evaluation(table, paired, confusion, selected)
