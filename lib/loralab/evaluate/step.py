"""The evaluation step: every method scored once on the same test items, and the table of results.

The methods are those of `methods.REGISTRY`: the majority class and a label-term rule, zero-shot
(raw and calibrated) and few-shot prompting, TF-IDF + logistic regression shown the same
text as the LLM (its first window, or every kept window of a chunked text), and every trained
configuration (LoRA, full fine-tuning) at every training size. The configurations the study
reports are selected here, once, on validation data only and before any test item is scored,
and written to evaluation.json and selection.csv with the table that justifies them; trials.csv
lists every trial. Each fold scores on test the configurations it chose (or, with
evaluation.test_candidates, every one). All LLM methods use the same scorer, prompt, windows and
aggregate, so the comparison is paired item by item. With split.repeats, repeat 0's folds give
the paired items and the table's numbers; the other repeats' predictions are draws.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from loralab.artifacts import write_csv
from loralab.config import Config
from loralab.data.splits import read_split, repeat_folds
from loralab.evaluate.methods import REGISTRY, MethodResult, Study
from loralab.evaluate.selection import (
    Selection,
    select,
    selection_rule,
    trained_summaries,
    trial_histories,
    validation_item_losses,
)
from loralab.layout import RunPaths
from loralab.model.loading import LoadedModel, load_base
from loralab.model.windows import window_summary
from loralab.records import EvaluationRecord, TrainSummary
from loralab.roles import CANDIDATE, TRAINED
from loralab.stats.lr_optimum import Optima, lr_optima, optimum_ratios
from loralab.stats.metrics import CRITERIA, classification_metrics
from loralab.stats.paired_tests import (
    Draws,
    Resamples,
    distinct_draws,
    metric_intervals,
    metric_over_draws,
    resample_weights,
)
from loralab.train.trials import KIND_NAMES, trials


def run_methods(
    cfg: Config,
    run: RunPaths,
    tests: list[pd.DataFrame],
    base: LoadedModel,
    selection: Selection,
    log=print,
) -> dict[str, dict[int, MethodResult]]:
    """Every registered method, per fold: built from the fold's study, fitted on its train and
    val splits, scored on its test split. Results by method id and fold: a trained
    configuration has results only on the folds that chose it, unless every candidate is tested
    (evaluation.test_candidates)."""
    results: dict[str, dict[int, MethodResult]] = {}
    cache: dict = {}  # the base model's window scores, shared by the folds
    for fold, test in enumerate(tests):
        study = Study.load(cfg, run, fold, base, selection, cache)
        texts = test["text"].tolist()
        for kind in REGISTRY:
            for method in kind.build(study):
                method.fit(study.train, study.val)
                results.setdefault(method.id, {})[fold] = method.score(texts)
                where = f" of fold {fold}" if len(tests) > 1 else ""
                log(f"{method.name}: scored {len(texts)} test items{where}")
    return results


def on_every_fold(
    results: dict[str, dict[int, MethodResult]], folds: int
) -> dict[str, list[MethodResult]]:
    """The methods scored on every fold, each with its results in fold order: the rows of the
    table. A configuration that only some folds chose is part of a chosen-per-fold row."""
    return {m: [r[k] for k in range(folds)] for m, r in results.items() if len(r) == folds}


def pooled(per_fold: list[MethodResult]) -> MethodResult:
    """One method's results over the folds, items in fold order: every item once."""
    first = per_fold[0]
    if len(per_fold) == 1:
        return first
    draws = [sum((r.draws[d] for r in per_fold), []) for d in range(len(first.draws))]
    rates = [r.prompt_tokens_per_s for r in per_fold if r.prompt_tokens_per_s is not None]
    return replace(
        first,
        train_items_per_fold=[r.train_items for r in per_fold],
        predictions=sum((r.predictions for r in per_fold), []),
        label_scores=np.concatenate([r.label_scores for r in per_fold]),
        latency_s=np.concatenate([r.latency_s for r in per_fold]),
        prompt_tokens_per_s=float(np.mean(rates)) if rates else None,
        cost={k: float(np.mean([r.cost[k] for r in per_fold])) for k in first.cost},
        draws=draws,
        details={f"fold {k}": r.details for k, r in enumerate(per_fold) if r.details},
        trial_predictions={t: p for r in per_fold for t, p in r.trial_predictions.items()},
        chunks=_joined([r.chunks for r in per_fold]),
        tokens=_joined([r.tokens for r in per_fold]),
    )


def repeat_orders(tests: list[pd.DataFrame], folds: int) -> list[np.ndarray]:
    """Per repeat of the folds, where each of repeat 0's paired items sits among that repeat's
    pooled items: every repeat tests every item once, each in its own fold order."""
    pooled_ids = [
        pd.concat(tests[start : start + folds])["id"].astype(str).tolist()
        for start in range(0, len(tests), folds)
    ]
    orders = []
    for r, ids in enumerate(pooled_ids):
        where = pd.Index(ids).get_indexer(pooled_ids[0])
        if len(ids) != len(pooled_ids[0]) or (where < 0).any():
            raise ValueError(
                f"repeat {r} of the folds tests other items than repeat 0; run the split step "
                "again (loralab run redoes it when its params change)"
            )
        orders.append(where)
    return orders


def over_repeats(per_fold: list[MethodResult], orders: list[np.ndarray]) -> MethodResult:
    """One method's results over its folds and repeats: repeat 0's, the numbers of one
    repeat. With several repeats every repeat's predictions (each seed's), in repeat 0's item
    order, are the draws the statistics resample, so the intervals count the training data's
    variance too; the draws' spread and the cost are over all repeats."""
    folds = len(per_fold) // len(orders)
    repeats = [pooled(per_fold[r * folds : (r + 1) * folds]) for r in range(len(orders))]
    first = repeats[0]
    if len(repeats) == 1:
        return first
    own = [r.draws or [r.predictions] for r in repeats]
    return replace(
        first,
        draws=[
            [d[i] for i in order] for draws, order in zip(own, orders, strict=True) for d in draws
        ],
        draw_repeats=[r for r, draws in enumerate(own) for _ in draws],
        train_items_per_fold=[r.train_items for r in per_fold],
        latency_s=np.concatenate([r.latency_s for r in repeats]),
        cost={k: float(np.mean([r.cost[k] for r in repeats])) for k in first.cost},
        trial_predictions={t: p for r in repeats for t, p in r.trial_predictions.items()},
    )


def _joined(parts: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(p is None for p in parts) else np.concatenate(parts)


def chosen_per_fold(
    results: dict[str, dict[int, MethodResult]], selection: Selection
) -> dict[str, list[MethodResult]]:
    """For each size and method where folds chose differently, the results id of the row that
    pools each fold's own choice, and those choices' results in fold order."""
    return {
        method: [
            results[selection.config_methods[(*key, config)]][fold]
            for fold, config in sorted(selection.chosen[key].items())
        ]
        for key, method in selection.methods.items()
        if method not in results
    }


def selected_rows(
    chosen: dict[str, list[MethodResult]], orders: list[np.ndarray]
) -> list[MethodResult]:
    """The configuration each fold chose, pooled over folds and repeats: a row of its own."""
    rows = []
    for method, parts in chosen.items():
        kind = KIND_NAMES[parts[0].kind]
        configs = [p.name.removeprefix(kind).lstrip(", ") or "as above" for p in parts]
        if len(configs) > MOST_FOLDS_NAMED:
            configs = [f"{c} in {n} of {len(parts)} folds" for c, n in Counter(configs).items()]
        named = ("; " if any("," in c for c in configs) else ", ").join(configs)
        rows.append(
            replace(
                over_repeats(parts, orders),
                method=method,
                name=f"{kind}, chosen per fold ({named})",
                role=TRAINED,
            )
        )
    return rows


MOST_FOLDS_NAMED = 4  # more folds (repeats): each configuration named once, with its count


SELECTED_TUNES = "the configuration, by validation loss over seeds; the epoch, by validation loss"


def with_selection_roles(methods: list[MethodResult], selection: Selection) -> list[MethodResult]:
    """Trained rows that selection chose take the trained role; the others stay candidates."""
    chosen = selection.selected_ids
    return [
        replace(m, role=TRAINED, tuned=SELECTED_TUNES)
        if m.role in (CANDIDATE, TRAINED) and m.method in chosen
        else m
        for m in methods
    ]


def fold_metrics(
    results: dict[str, list[MethodResult]], tests: list[pd.DataFrame], labels: list[str], folds: int
) -> pd.DataFrame:
    """Macro-F1 and accuracy of every method on every fold's test items, in every repeat."""
    rows = [
        {"method": method, "fold": fold, "repeat": fold // folds, "n_test": len(tests[fold])}
        | classification_metrics(tests[fold]["label"], r.predictions, labels)
        for method, per_fold in results.items()
        for fold, r in enumerate(per_fold)
    ]
    return pd.DataFrame(rows)


def results_table(
    results: list[MethodResult],
    gold: list[str],
    labels: list[str],
    selected: set[str],
    cfg: Config,
    folds,
) -> pd.DataFrame:
    """One row per method: metrics with intervals (Wilson for accuracy; BCa, or percentile
    where BCa is undefined, for F1, over the same resamples for all; for the macro-F1 of a
    method with several distinct draws, the two-stage interval over its draws), cost, speed.
    `folds`: each paired item's fold, per repeat of the folds (repeats x items) or of one."""
    s = cfg.stats
    weights = resample_weights(len(gold), s.bootstrap_resamples, s.seed, strata=folds)
    rows = []
    for r in results:
        row = {
            "method": r.method,
            "name": r.name,
            "kind": r.kind,
            "role": r.role,
            "tuned_on_validation": r.tuned,
            **train_items(r),
            "train_size": r.size,
            "selected": r.method in selected,
            "n_test": len(gold),
        }
        row.update(interval_columns(r, gold, labels, weights, s.confidence))
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
                "chunks_per_doc": float(np.mean(r.chunks)) if r.chunks is not None else None,
                "tokens_per_doc": float(np.mean(r.tokens)) if r.tokens is not None else None,
            }
        )
        row.update(r.cost)
        rows.append(row)
    return pd.DataFrame(rows)


def interval_columns(
    r: MethodResult, gold: list[str], labels: list[str], weights: Resamples, confidence: float
) -> dict:
    """A method's metrics, their intervals and each interval's kind. Where the method's draws
    (seeds, repeats, few-shot draws) differ, one seed's items say nothing of another's, so its
    macro-F1 interval is over the draws too (a repeat, one of its draws, then items), and its
    kind says so: `percentile over 4 draws`."""
    intervals = metric_intervals(gold, r.predictions, labels, weights, confidence)
    repeats = np.array(r.draw_repeats) if r.draw_repeats else None
    side = distinct_draws(r.predictions, Draws(np.array(r.draws), repeats) if r.draws else None)
    if len(side.predictions) > 1:
        over = metric_over_draws(gold, r.predictions, side, labels, weights, confidence)
        intervals["macro_f1"] = replace(
            over, method=f"percentile over {len(side.predictions)} draws"
        )
    row = {}
    for metric, i in intervals.items():
        row.update({metric: i.value, f"{metric}_low": i.low, f"{metric}_high": i.high})
    return row | {
        "accuracy_ci": intervals["accuracy"].method,
        "macro_f1_ci": intervals["macro_f1"].method,
    }


def train_items(r: MethodResult) -> dict:
    """The items a method learned from: their mean over folds, and as shown, one count or each
    fold's where they differ, so no fold's count is rounded into one that none had."""
    per_fold = r.train_items_per_fold or [r.train_items]
    shown = per_fold[:1] if len(set(per_fold)) == 1 else per_fold
    return {
        "train_items": float(np.mean(per_fold)),
        "train_items_per_fold": " / ".join(str(n) for n in shown),
    }


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
    """Everything the evaluation notebook shows, so it reads no file the step wrote."""

    results: pd.DataFrame
    paired: pd.DataFrame
    confusion: dict[str, pd.DataFrame]
    selected_method: str | None  # the lead's results.csv id: LoRA chosen at the largest size
    selection: pd.DataFrame  # selection.csv: every configuration's validation results
    test: pd.DataFrame  # every fold's test items (id, text, label, fold), in paired order
    record: EvaluationRecord
    histories: dict[str, pd.DataFrame]  # history.csv of every trial the study trained
    optima: Optima  # the optimum learning rate per curve, from validation only


def confusion_matrices(methods: list[MethodResult], gold: list[str], labels: list[str]):
    return {
        m.method: pd.DataFrame(
            confusion_matrix(gold, m.predictions, labels=labels),
            index=pd.Index(labels, name="gold"),
            columns=labels,
        )
        for m in methods
    }


def evaluation_record(
    cfg: Config, selection: Selection, methods: list[MethodResult], base: LoadedModel, texts
) -> EvaluationRecord:
    """How each configuration was chosen, what each method is and tuned, what was read."""
    return EvaluationRecord(
        selected_method=selection.method,
        lead_configurations=selection.lead_configurations,
        choices=selection.choices,
        selection_rule=selection_rule(cfg.train.select_by),
        select_by=cfg.train.select_by,
        selection=selection.table.to_dict("records"),
        lr_tuned=len(cfg.train.lrs) > 1,
        early_stopping_can_fire=cfg.train.early_stopping_can_fire,
        folds=cfg.split.folds,
        repeats=cfg.split.repeats,
        seeds=cfg.train.seeds,
        details={m.method: m.details for m in methods if m.details},
        labels=list(cfg.data.labels),
        methods={m.method: m.name for m in methods},
        roles={m.method: m.role for m in methods},
        few_shot_k=cfg.evaluation.few_shot_k,
        long_text=replace(
            window_summary(base.view, texts),
            chunk_aggregate=cfg.evaluation.chunk_aggregate,
            train_chunks_per_item=cfg.train.chunks_per_item,
        ),
        bootstrap_resamples=cfg.stats.bootstrap_resamples,
    )


TRIAL_COLUMNS = [
    "trial",
    "method",
    "variant",
    "rank",
    "lr",
    "train_size",
    "train_items",
    "seed",
    "fold",
    "best_epoch",
    "epochs_run",
    "val_loss",
    "val_label_loss",
    "train_label_loss",
    "val_macro_f1",
    "test_macro_f1",
    "steps_to_best",
    "train_time_s",
    "trainable_params",
    "peak_memory_mb",
    "selected",
]


def trials_table(
    summaries: list[TrainSummary],
    results: dict[str, dict[int, MethodResult]],
    tests: list[pd.DataFrame],
    selection: Selection,
    labels: list[str],
) -> pd.DataFrame:
    """trials.csv: every trial with its validation results and its own test macro-F1 (its seed's
    predictions on its fold's test items; empty for a trial whose configuration its fold did not
    choose, unless evaluation.test_candidates); `selected` marks the configuration its fold
    chose at its size. Selection read the validation columns only."""
    predicted = {
        trial: predictions
        for per_fold in results.values()
        for r in per_fold.values()
        for trial, predictions in r.trial_predictions.items()
    }
    rows = []
    for s in summaries:
        fold = s.fold
        chosen = selection.chosen.get((s.method, s.train_size), {}).get(fold)
        predictions = predicted.get(s.trial)
        test_f1 = (
            classification_metrics(tests[fold]["label"], predictions, labels)["macro_f1"]
            if predictions is not None
            else None
        )
        rows.append(s.row() | {"test_macro_f1": test_f1, "selected": s.configuration == chosen})
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def draw_predictions(test: pd.DataFrame, methods: list[MethodResult]) -> pd.DataFrame:
    """Every draw's prediction of every method with several (training seeds, few-shot draws),
    in long form, items in paired order, with the repeat of the folds each draw came from: what
    the statistics step resamples draws from, a repeat at a time."""
    parts = [
        pd.DataFrame(
            {
                "id": test["id"].to_numpy(),
                "method": m.method,
                "draw": k,
                "repeat": m.draw_repeats[k] if m.draw_repeats else 0,
                "prediction": d,
            }
        )
        for m in methods
        for k, d in enumerate(m.draws)
    ]
    columns = ["id", "method", "draw", "repeat", "prediction"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _study_summaries(cfg: Config, run: RunPaths, log=print) -> list[TrainSummary]:
    """Finished trials of this study's grid whose configuration was trained on every fold: what
    selection weighs. One trained on some folds only (e.g. by hand in Lab) is left out, said."""
    grid = {t.id: t for t in trials(cfg)}
    done = [s for s in trained_summaries(run) if s.trial in grid]
    folds: dict[str, set[int]] = {}
    for s in done:
        folds.setdefault(grid[s.trial].method, set()).add(grid[s.trial].fold)
    partial = {m for m, f in folds.items() if len(f) < cfg.split.runs}
    for method in sorted(partial):
        log(
            f"{method} was trained on {len(folds[method])} of {cfg.split.runs} folds and is "
            "left out; train its trials on every fold (loralab run trains them all)"
        )
    return [s for s in done if grid[s.trial].method not in partial]


def release_unscored_weights(cfg: Config, run: RunPaths, selection: Selection, log=print) -> None:
    """Delete the fully fine-tuned weights (0.5 GB a trial for the embedded model) of every
    trial that selection weighed and that its fold will not score on test: disk grows with the
    configurations chosen, not with the grid. A trial of a configuration trained on some folds
    only keeps its weights: the missing folds may still train."""
    every = cfg.evaluation.test_candidates
    for t in trials(cfg):
        path = run.full_weights(t.id)
        weighed = (t.kind, t.size, t.config) in selection.candidates
        if t.full and weighed and not selection.scores_on_test(t, every) and path.is_file():
            path.unlink()
            log(f"{t.id}: not chosen on validation, its weights deleted")


def learning_rate_optima(cfg: Config, run: RunPaths, trials: pd.DataFrame) -> Optima:
    """The optimum learning rate per curve and the ratios the studies ask about, from the
    trials' validation results only (by train.select_by's loss; the label loss where macro-F1
    selects, a step function of the learning rate no parabola fits), written beside trials.csv."""
    criterion = CRITERIA[cfg.train.select_by]
    column = criterion.column if criterion.lower_is_better else "val_label_loss"
    items = validation_item_losses(run)
    optima = lr_optima(trials, column, cfg.stats.confidence, seed=cfg.split.seed, items=items)
    write_csv(run.lr_optima, optima.table)
    write_csv(run.lr_ratios, optimum_ratios(optima))
    return optima


def evaluate_step(cfg: Config, run: RunPaths, log=print) -> Evaluation:
    """The evaluation step: select each configuration on validation, score the methods on
    every fold's test items, pool over folds and repeats, and write every table the report
    reads."""
    folds = cfg.split.folds
    tests = [read_split(run, "test", fold) for fold in range(cfg.split.runs)]
    orders = repeat_orders(tests, folds)
    # the paired items: repeat 0's folds, each item once
    test = pd.concat([t.assign(fold=k) for k, t in enumerate(tests[:folds])], ignore_index=True)
    labels = list(cfg.data.labels)
    base = load_base(cfg)
    summaries = _study_summaries(cfg, run, log)
    selection = select(cfg, summaries)  # validation results only, before any test item is read
    release_unscored_weights(cfg, run, selection, log)
    scored = run_methods(cfg, run, tests, base, selection, log)
    per_fold = on_every_fold(scored, len(tests))
    chosen = chosen_per_fold(scored, selection)
    methods = [over_repeats(results, orders) for results in per_fold.values()]
    methods = with_selection_roles(methods + selected_rows(chosen, orders), selection)
    gold = test["label"].tolist()
    strata = repeat_folds(tests, folds, test["id"])  # each repeat's own fold of every item
    table = results_table(methods, gold, labels, selection.selected_ids, cfg, strata)
    if folds > 1:
        per_fold_metrics = fold_metrics(per_fold | chosen, tests, labels, folds)
        write_csv(run.fold_results, per_fold_metrics)
        spread = per_fold_metrics.groupby("method")["macro_f1"].std(ddof=1)
        table["fold_macro_f1_sd"] = table["method"].map(spread)
    paired = paired_predictions(test, methods, labels)
    confusion = confusion_matrices(methods, gold, labels)
    for method, frame in confusion.items():
        write_csv(run.confusion(method), frame.reset_index())
    write_csv(run.paired_predictions, paired)
    write_csv(run.draw_predictions, draw_predictions(test, methods))
    write_csv(run.selection_table, selection.table)
    trials = trials_table(summaries, scored, tests, selection, labels)
    write_csv(run.trials_table, trials)
    optima = learning_rate_optima(cfg, run, trials)
    record = evaluation_record(cfg, selection, methods, base, test["text"].tolist())
    record.write(run.evaluation)
    write_csv(run.results, table)  # last: marks the step as done
    histories = trial_histories(run)
    return Evaluation(
        table, paired, confusion, selection.method, selection.table, test, record, histories, optima
    )
