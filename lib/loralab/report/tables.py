"""How results read to people: every formatter, the HTML table, page and notebook rendering,
and the headline that the report's index page and `loralab compare` both show.

Everything here takes what the steps wrote (results.csv, stat_tests.json, summaries) and
returns text, tables or HTML; nothing here computes a statistic or runs a model.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from loralab.artifacts import write_text
from loralab.formats import plain_number, seconds
from loralab.layout import RunPaths
from loralab.records import (
    EvaluationRecord,
    PrimaryDeclaration,
    StatTestsRecord,
    TrainSummary,
    WindowReading,
)
from loralab.roles import ANCHOR, HEADLINE, with_role
from loralab.stats.metrics import CRITERIA
from loralab.stats.step import competitive_rules
from loralab.train.trials import KIND_NAMES

TEMPLATES = Path(__file__).resolve().parent / "templates"


def with_ci(row: pd.Series, metric: str) -> str:
    """`0.934 [0.847, 1.000]` from a results.csv row's metric and its interval columns, marked
    where BCa was undefined and the percentile interval stands in, and where the interval is
    over a method's draws too: `(percentile over 4 draws)`."""
    text = f"{row[metric]:.3f} [{row[f'{metric}_low']:.3f}, {row[f'{metric}_high']:.3f}]"
    kind = row.get(f"{metric}_ci")
    return text + (f" ({kind})" if str(kind).startswith("percentile") else "")


def format_results(table: pd.DataFrame) -> pd.DataFrame:
    """The results as people read them; every number formatted from results.csv. How often a
    method predicts each class sits beside its scores, so a constant predictor shows at once."""
    counted = [c for c in table.columns if c.startswith("pred_n_")]
    shown = {
        "method": table["name"] + np.where(table["selected"], " (selected)", ""),
        "train items": table.get("train_items_per_fold", table["train_items"]).astype(str),
        "macro-F1 [95% CI]": table.apply(with_ci, axis=1, metric="macro_f1"),
        "accuracy [95% CI]": table.apply(with_ci, axis=1, metric="accuracy"),
        "predicted (" + " / ".join(c.removeprefix("pred_n_") for c in counted) + ")": [
            " / ".join(str(int(v)) for v in row) for row in table[counted].to_numpy()
        ],
    }
    if "draws" in table:
        shown["macro-F1 over draws"] = [
            f"{m:.3f} ± {sd:.3f} ({int(n)})" if n == n else ""
            for m, sd, n in zip(
                table["draw_macro_f1_mean"], table["draw_macro_f1_sd"], table["draws"], strict=True
            )
        ]
    if "tuned_on_validation" in table:
        shown["tuned on validation"] = table["tuned_on_validation"]
    if "fold_macro_f1_sd" in table:
        shown["macro-F1 sd over folds"] = table["fold_macro_f1_sd"].map(
            lambda v: "" if pd.isna(v) else f"{v:.3f}"
        )
    if "chunks_per_doc" in table and (table["chunks_per_doc"].fillna(1) > 1).any():
        shown["windows / tokens per item"] = [
            f"{c:.1f} / {t:.0f}" if c == c else ""
            for c, t in zip(table["chunks_per_doc"], table["tokens_per_doc"], strict=True)
        ]
    shown.update(
        {
            "latency p50 / p95 (ms)": [
                f"{a:.1f} / {b:.1f}"
                for a, b in zip(table["latency_p50_ms"], table["latency_p95_ms"], strict=True)
            ],
            "trainable MB": table["trainable_mb"].map(lambda v: f"{v:.2f}"),
            "train time (s)": table["train_time_s"].map(seconds),
        }
    )
    return pd.DataFrame(shown)


def folded_timings(results: pd.DataFrame) -> pd.DataFrame:
    """The merged-adapter latencies (evaluation.merge_adapters) of the methods that have them,
    by method name."""
    return results.set_index("name").filter(like="merge").dropna()


def folded_note(results: pd.DataFrame) -> str:
    if folded_timings(results).empty:
        return "No folded copy was timed (evaluation.merge_adapters is off)."
    return "Latency of each adapter folded into the base weights (evaluation.merge_adapters):"


MOST_CANDIDATES_SHOWN = 5


def results_on_page(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The results table of the index page, and a note of what it leaves out: a sweep's
    configurations that no fold chose are many rows that decide nothing, so beyond a few they
    stay in results.csv, trials.csv and the sweep's figures."""
    candidates = table.get("role", pd.Series("", index=table.index)) == "candidate"
    if candidates.sum() <= MOST_CANDIDATES_SHOWN:
        return format_results(table), ""
    note = (
        f"{int(candidates.sum())} trained configurations that no fold selected are left out "
        "of this table; each is in eval/results.csv, every trial in eval/trials.csv."
    )
    return format_results(table[~candidates].reset_index(drop=True)), note


def window_note(summary: WindowReading) -> str:
    """What the methods read of long texts, in one paragraph (from windows.window_summary and,
    after evaluation, the aggregate that turned window scores into an item's)."""
    aggregate = summary.chunk_aggregate
    n, longer = summary.texts, summary.texts_longer_than_one_window
    head = (
        f"{longer} of {n} texts ({longer / max(n, 1):.0%}) are longer than one window of "
        f"{summary.window_tokens} text tokens (median {summary.median_tokens:.0f} tokens, "
        f"longest {summary.max_tokens}; a median text needs "
        f"{summary.median_windows_needed:.0f} window(s))."
    )
    if summary.mode == "truncate":
        if not longer:
            return head + " Every method reads each text whole."
        return head + (
            " data.long_text = truncate: every method reads the first window only; the rest of "
            "those texts is never seen (data.long_text = chunks reads it)."
        )
    how = f", window scores aggregated by {aggregate}" if aggregate else ""
    cut = summary.texts_cut_short
    tail = (
        f" {cut} texts need more than evaluation.max_chunks = {summary.max_chunks} windows "
        "and are read in that many, evenly spaced."
        if cut
        else ""
    )
    return head + (
        f" data.long_text = chunks: every method reads up to {summary.max_chunks} windows per "
        f"text ({summary.mean_windows_read:.1f} on average, overlapping by "
        f"{summary.overlap_tokens} tokens{how}).{tail}"
    )


def _rounded_up(x: float) -> str:
    """x to two significant digits, rounded up, so that a bound shown as "≤ x" stays true."""
    step = 10.0 ** (np.floor(np.log10(x)) - 1)
    return f"{np.ceil(x / step * (1 - 1e-12)) * step:.2g}"


def p_text(p: float, adjusted: float | None, floor: float = 0.0) -> str:
    """A p-value, and in parentheses its Holm-adjusted value when there is one (also where the
    two are equal, so a reader never wonders whether a row was adjusted). A resampling p at its
    floor (no resample on the far side of zero) shows as "≤ floor": the resamples cannot say
    how much smaller it is; its Holm-adjusted value is then a bound as well."""
    bound = floor and p <= floor * (1 + 1e-9)

    def shown(v: float) -> str:
        return f"≤ {_rounded_up(v)}" if bound else f"{v:.3g}"

    return shown(p) if adjusted is None else f"{shown(p)} ({shown(adjusted)})"


def _bound_or_value(p: float, at_floor: bool) -> str:
    """`≤ 0.0032` for a p whose resamples put none on the far side of zero, else `= 0.36`."""
    return f"≤ {_rounded_up(p)}" if at_floor else f"= {p:.2g}"


def draws_text(method: int, baseline: int, repeated: bool = False) -> str:
    """What a Δ's resamples drew from besides items: `over 3 seeds`, `over 3 / 5 draws`; with
    repeats, `over 10 trained models` (each seed of each repeat)."""
    method, baseline = int(method), int(baseline)
    if baseline <= 1:
        unit = "trained models" if repeated else "seeds"
        return f"over {method} {unit}" if method > 1 else ""
    return f"over {method} / {baseline} draws"


def format_stats(
    table: pd.DataFrame,
    confidence: float,
    resamples: int,
    seed: int,
    folds: int = 1,
    primary: PrimaryDeclaration | None = None,
) -> tuple[pd.DataFrame, str]:
    """The comparisons as people read them, and the note that says how they were computed.
    Columns that older stat_tests.json files lack (the CI method, the detectable difference,
    the primary flag, the draws) are shown only where the file has them. `primary`: what
    stat_tests.json records of stats.primary."""
    if table.empty:
        return table, "No comparisons: fewer than two methods were evaluated."
    adjusted = " (Holm)" if "mcnemar_p_holm" in table else ""
    first = table.get("primary", pd.Series(False, index=table.index)).fillna(False)
    pairs = zip(table["mcnemar_b"], table["mcnemar_c"], strict=True)
    shown = pd.DataFrame(
        {
            "comparison": table["comparison"] + np.where(first.astype(bool), " (primary)", ""),
            "b / c": [f"{b} / {c}" for b, c in pairs],
            f"McNemar p{adjusted}": _p_column(table, "mcnemar_p"),
            f"Δ macro-F1 [{confidence:.0%} CI]": _delta_column(table),
            f"bootstrap p{adjusted}": _p_column(table, "bootstrap_p", 2 / (resamples + 1)),
        }
    )
    if "detectable_delta_80" in table:
        shown["detectable Δ accuracy (80% power)"] = [
            "none" if pd.isna(d) else f"±{d:.3f}" for d in table["detectable_delta_80"]
        ]
    if repeated_cv(table):
        shown[f"repeated-CV t-test p{adjusted}"] = _p_column(table, "cv_p", missing="—")
    if "cv52_p" in table:
        shown[f"5x2cv t-test p{adjusted}"] = _p_column(table, "cv52_p", missing="—")
    return shown, stats_note(table, confidence, resamples, seed, folds, primary)


def _p_column(
    table: pd.DataFrame, column: str, floor: float = 0.0, missing: str | None = None
) -> list[str]:
    """A p-value column as shown, each with its Holm-adjusted value where the table has them;
    `floor`: the smallest value the test can give (a bootstrap's); `missing`: what a pair
    without a p-value shows."""
    holm = table[f"{column}_holm"] if f"{column}_holm" in table else [None] * len(table)
    return [
        missing if missing is not None and pd.isna(p) else p_text(p, ph, floor)
        for p, ph in zip(table[column], holm, strict=True)
    ]


def _delta_column(table: pd.DataFrame) -> list[str]:
    """Δ macro-F1 with its interval, and how the interval was had where it is not BCa: the
    percentile method, or draws (training seeds, repeats) resampled with the items."""
    repeated = repeated_cv(table)
    ones = pd.Series(1, index=table.index)
    drawn = [
        draws_text(a, b, repeated)
        for a, b in zip(
            table.get("draws_method", ones), table.get("draws_baseline", ones), strict=True
        )
    ]
    methods = table.get("delta_ci_method", pd.Series("", index=table.index))
    return [
        f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        + (f" ({over})" if over else " (percentile)" if m == "percentile" else "")
        for d, lo, hi, m, over in zip(
            table["delta_macro_f1"],
            table["delta_low"],
            table["delta_high"],
            methods,
            drawn,
            strict=True,
        )
    ]


def primary_note(table: pd.DataFrame, primary: PrimaryDeclaration | None) -> str:
    """Which comparison was declared before the run, and a stand-in for it where there was."""
    if "primary" not in table or not table["primary"].fillna(False).any():
        return ""
    declared = ", ".join(primary.declared) if primary else ""
    setting = f" (stats.primary = [{declared}])" if declared else ""
    others = ", Holm-adjusted" if "bootstrap_p_holm" in table else ""
    return (
        f'The row marked "(primary)" is the primary comparison, declared before the run{setting}: '
        "the headline leads with it whatever its outcome and shows its p-values as they are; "
        f"all other comparisons follow there{others}. "
        + "".join(f"{t} " for t in ((primary.note, primary.caveat) if primary else ()) if t)
    )


def draws_note(table: pd.DataFrame) -> str:
    """How the intervals of methods with several seeds (or draws) were resampled."""
    drawn = (table.get("draws_method", 1) > 1) | (table.get("draws_baseline", 1) > 1)
    if not np.any(drawn):
        return ""
    return (
        ' Rows marked "over S seeds": intervals include training variance over S seeds: each '
        'resample draws a seed, then items ("over S / D draws": one of the baseline\'s D '
        "draws, such as few-shot's draws of examples, is drawn likewise); the interval is the "
        "percentile one of that mixture and the bootstrap p is read from the same resamples. "
        "The Δ shown, and McNemar's b / c and p, are those of the rows in the results table."
        + (
            ' With split.repeats, "over S trained models": every seed of every repeat, each '
            "trained on its own draw of the folds, its predictions on repeat 0's items; each "
            "resample draws one repeat for both methods, then a seed of each within it, then "
            "items within that repeat's folds; so the interval counts the variance of the "
            "training data too."
            if repeated_cv(table)
            else ""
        )
    )


def stats_note(
    table: pd.DataFrame,
    confidence: float,
    resamples: int,
    seed: int,
    folds: int,
    primary: PrimaryDeclaration | None = None,
) -> str:
    """How the statistics table was computed, said for the columns it has."""
    floor = 2 / (resamples + 1)
    holm_on, power_on = "mcnemar_p_holm" in table, "detectable_delta_80" in table
    return (
        primary_note(table, primary)
        + "b: the method right and the baseline wrong; c: the reverse. McNemar: exact "
        "binomial when b + c < 25, else chi-square with continuity correction. Bootstrap: "
        f"B = {resamples} paired resamples of the test items, seed {seed}"
        + (f", stratified by fold ({folds} folds, each kept at its size)." if folds > 1 else ".")
        + (
            ' Δ macro-F1 intervals are BCa (bias-corrected and accelerated); "(percentile)" '
            "marks one where BCa is undefined (every resample gave the same difference, or the "
            "jackknife was degenerate) and the percentile interval is shown instead."
            if "delta_ci_method" in table
            else ""
        )
        + draws_note(table)
        + " Bootstrap p: two-sided, resamples with a difference of exactly zero counted half to "
        f'each side, never below 2/(B + 1); "≤ {_rounded_up(floor)}" means that no resample '
        "fell on the far side of zero."
        + (
            f" p-values in parentheses are Holm-adjusted across the {len(table)} comparisons"
            + (", the primary one included." if "primary" in table else ".")
            if holm_on
            else ""
        )
        + (
            " Detectable Δ accuracy: the smallest difference in accuracy, |b − c| / n, that "
            f"McNemar's test at α = {1 - confidence:.2g} (unadjusted) detects with 80% power at "
            "this n and discordant rate (b + c) / n (Connor 1987, continuity-corrected); a "
            'smaller true difference is likely to go unnoticed, so "not significant" does not '
            'mean "no difference". "none": fewer than about 10 discordant items, too few to '
            "state one."
            if power_on
            else ""
        )
        + cv_note(table)
    )


def repeated_cv(table: pd.DataFrame) -> bool:
    """Whether the comparisons come from repeated cross-validation (split.repeats > 1): the
    statistics step adds the corrected t-test's columns only then, so a draw is a seed of a
    repeat."""
    return "cv_p" in table


def cv_note(table: pd.DataFrame) -> str:
    """What the repeated cross-validation column is, where the table has it."""
    if not repeated_cv(table):
        return ""
    ratio = table["cv_test_to_train"].dropna()
    ratios = (
        f"{ratio.min():.2f}" if ratio.nunique() == 1 else f"{ratio.min():.2f} to {ratio.max():.2f}"
    )
    return (
        " Repeated-CV t-test: the per-fold differences in macro-F1 over every fold of every "
        "repeat, Nadeau and Bengio's corrected resampled t-test (the variance inflated by "
        f"n_test / n_train = {ratios}, as folds share training items; n_train: the items "
        "the compared method trained on, else the baseline's), two-sided. Beside the "
        "bootstrap, which resamples repeat 0's test items, it reads each fold of each repeat "
        'as one paired sample of models trained on other data; "—": a row without per-fold '
        "results."
        if len(ratio)
        else ""
    ) + (
        " 5x2cv t-test: Dietterich's (1998) paired t-test of the same differences over the "
        "repeats of 2 folds, R degrees of freedom."
        if "cv52_p" in table
        else ""
    )


def stats_table(tests: StatTestsRecord) -> tuple[pd.DataFrame, str]:
    """The comparisons formatted, with their note, from the settings recorded beside them."""
    return format_stats(
        tests.table,
        tests.confidence,
        tests.bootstrap_resamples,
        tests.seed,
        tests.folds,
        tests.primary,
    )


COST_COLUMNS = {
    "trial": "trial",
    "trainable_params": "trainable params",
    "trainable_mb": "trainable MB",
    "adapter_mb": "adapter MB",
    "best_epoch": "best epoch",
    "epochs_run": "epochs run",
    "time_to_best_s": "time to best (s)",
    "train_time_s": "train time (s)",
    "train_tokens_per_s": "tokens/s",
    "peak_memory_mb": "peak memory (MB)",
}


SELECTION_COLUMNS = {
    "fold": "fold",
    "train_size": "items",
    "method": "method",
    "variant": "variant",
    "rank": "rank",
    "lr": "lr",
    "selected": "selected",
    "seeds": "seeds",
    "val_label_loss": "val label loss",
    "val_label_loss_sd": "label loss sd over seeds",
    "val_loss": "val loss",
    "val_loss_sd": "sd over seeds",
    "val_macro_f1": "val macro-F1",
    "best_epoch": "best epoch",
}


def format_selection(selection: list[dict]) -> pd.DataFrame:
    """Every configuration's validation results per fold and size, as the choice read them;
    columns that hold one value throughout (one fold, one variant) are left out."""
    frame = pd.DataFrame(selection)
    if frame.empty:  # no trial trained on every fold: nothing was chosen
        return frame
    shown = frame[[c for c in SELECTION_COLUMNS if c in frame]]
    always = ("selected", "val_loss", "val_label_loss")
    varies = [c for c in shown if c in always or shown[c].nunique() > 1]
    shown = shown[varies].rename(columns=SELECTION_COLUMNS).astype(object)
    decimals = ("val macro-F1", "val loss", "sd over seeds", "val label loss")
    for column in (*decimals, "label loss sd over seeds"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    if "lr" in shown:
        shown["lr"] = shown["lr"].map(plain_number)
    shown["selected"] = shown["selected"].map({True: "yes", False: ""})
    return shown


def format_cost(summaries: list[TrainSummary]) -> pd.DataFrame:
    """What each trial cost to train, with short headers so the table fits a page."""
    frame = pd.DataFrame([s.row() for s in summaries]).assign(
        adapter_mb=lambda f: f["adapter_bytes"] / 2**20
    )
    frame = frame[list(COST_COLUMNS)].rename(columns=COST_COLUMNS)
    shown = frame.astype(object)
    for column in ("time to best (s)", "train time (s)"):
        shown[column] = frame[column].map(seconds)
    shown["trainable params"] = frame["trainable params"].map("{:,}".format)
    for column in ("trainable MB", "adapter MB"):
        shown[column] = frame[column].map("{:.2f}".format)
    for column in ("tokens/s", "peak memory (MB)"):
        shown[column] = frame[column].map("{:.0f}".format)
    return shown


PRIMARY_LABEL = "primary (declared before the run)"
HOLM_LABEL = "Holm-adjusted"


def headline(run: RunPaths) -> dict | None:
    """The study's answer in one place: the selected method, the baselines a reader compares
    it with (the anchor and the headline baselines, by their recorded roles), its paired tests:
    the primary comparison first, whatever its outcome, as declared before the run, then the
    lead's against those baselines; a rule that comes close, what was read of long texts, and
    its cost. None before evaluation finished."""
    if not run.results.is_file():
        return None
    results = pd.read_csv(run.results)
    rows = results.set_index("method")
    record = EvaluationRecord.read(run.evaluation) if run.evaluation.is_file() else None
    lead = record.selected_method if record else None  # LoRA at the largest size
    if lead not in rows.index:
        lead = rows.index[rows["selected"]][0] if rows["selected"].any() else rows.index[0]
    roles = record.roles if record else {}
    recorded = StatTestsRecord.read(run.stat_tests) if run.stat_tests.is_file() else None
    tests = recorded.table if recorded else pd.DataFrame()
    floor = 2 / (recorded.bootstrap_resamples + 1) if recorded else 1.0  # bootstrap_p's least
    shown = [m for m in rows.index if roles.get(m) in (ANCHOR, HEADLINE) and m != lead]
    anchor = next(iter(with_role(roles, ANCHOR)), None)
    r = rows.loc[lead]
    first = tests[tests["primary"].fillna(False).astype(bool)] if "primary" in tests else tests[:0]
    primary = tuple(first[["method", "baseline"]].iloc[0]) if len(first) else None
    pairs = [primary] if primary else []
    pairs += [(lead, m) for m in shown if (lead, m) != primary]
    versus = (_versus(tests, rows, a, b, floor, (a, b) == primary) for a, b in pairs)
    return {
        "lead": _metric(rows, lead),
        "others": [_metric(rows, m) for m in shown],
        "versus": [v for v in versus if v],
        "rules_competitive": [_metric(rows, m) for m in competitive_rules(results, lead)],
        "adjusted": "bootstrap_p_holm" in tests,
        "primary_caveat": recorded.primary.caveat if recorded and recorded.primary else "",
        "comparisons": len(tests),
        "cost": {
            "trainable_mb": r["trainable_mb"],
            "adapter_mb": r.get("adapter_mb", float("nan")),
            "train_time_s": r["train_time_s"],
            "train_time": seconds(r["train_time_s"]),
            "latency_ms": r["latency_p50_ms"],
            "anchor": rows.loc[anchor, "name"] if anchor else None,
            "anchor_latency_ms": rows.loc[anchor, "latency_p50_ms"] if anchor else None,
        },
        "n_test": int(r["n_test"]),
        "selection": selection_note(record) if record else "",
        "reading": truncation_note(record.long_text) if record and record.long_text else "",
    }


def _metric(rows: pd.DataFrame, method: str) -> dict:
    r = rows.loc[method]
    return {
        "method": method,
        "name": r["name"],
        "value": r["macro_f1"],
        "low": r["macro_f1_low"],
        "high": r["macro_f1_high"],
        "accuracy": r["accuracy"],
        "text": with_ci(r, "macro_f1"),
    }


def _versus(
    tests: pd.DataFrame, rows, method: str, baseline: str, floor: float, primary: bool = False
) -> dict | None:
    """One comparison's paired tests: the primary one with its p-values as they are (declared
    before the run, it is the one test the study set out to make), the others Holm-adjusted
    where they were."""
    if tests.empty:
        return None
    hit = tests[(tests["method"] == method) & (tests["baseline"] == baseline)]
    if hit.empty:
        return None
    c = hit.iloc[0]
    adjusted = not primary and "bootstrap_p_holm" in c
    p = c["bootstrap_p_holm"] if adjusted else c["bootstrap_p"]
    return {
        "method": method,
        "method_name": rows.loc[method, "name"],
        "primary": primary,
        "label": PRIMARY_LABEL if primary else HOLM_LABEL if adjusted else "",
        "draws": draws_text(c.get("draws_method", 1), c.get("draws_baseline", 1)),
        "baseline": baseline,
        "name": rows.loc[baseline, "name"],
        "delta": c["delta_macro_f1"],
        "low": c["delta_low"],
        "high": c["delta_high"],
        "p": p,
        "p_text": _bound_or_value(p, c["bootstrap_p"] <= floor * 1.000001),
        "b": int(c["mcnemar_b"]),
        "c": int(c["mcnemar_c"]),
        "mcnemar_p": c["mcnemar_p_holm"] if adjusted else c["mcnemar_p"],
        "detectable": c.get("detectable_delta_80"),
    }


def truncation_note(summary: WindowReading) -> str:
    """When most texts were cut to their first window, how much of them was read and the
    setting that reads them whole; empty when the methods read (nearly) every text whole."""
    n, longer = summary.texts, summary.texts_longer_than_one_window
    if summary.mode != "truncate" or longer <= n / 2:
        return ""
    window, median = summary.window_tokens, summary.median_tokens
    return (
        f"{longer} of {n} test texts ({longer / n:.0%}) are longer than the {window} text tokens "
        f"every method reads (a median text is {median:.0f} tokens, so about "
        f"{min(1.0, window / median):.0%} of it is read): the scores measure what the first "
        "window of each text tells. data.long_text: chunks reads texts whole, in windows "
        "(params/long-documents.yaml)."
    )


def tuning_table(evaluation: EvaluationRecord) -> pd.DataFrame:
    """What each method recorded of its tuning, one row per setting."""
    names = evaluation.methods
    rows = [
        {"method": names.get(method, method), "setting": key, "value": value}
        for method, details in evaluation.details.items()
        for key, value in details.items()
    ]
    return pd.DataFrame(rows, columns=["method", "setting", "value"])


def selection_note(chosen: EvaluationRecord) -> str:
    """What was chosen, how close the runner-up came, and what the training budget could not
    tell: an untuned learning rate, early stopping that could not fire."""
    table = pd.DataFrame(chosen.selection)
    if table.empty or "train_size" not in table:  # nothing chosen, or a run older than the grid
        return ""
    criterion = CRITERIA[chosen.select_by]
    measure = criterion.name.split(" (")[0]
    notes = []
    for (fold, size, method), part in table.groupby(["fold", "train_size", "method"], sort=False):
        best = part[part["selected"]].iloc[0]
        where = ", ".join(
            w
            for w in (
                f"fold {fold}" if chosen.folds > 1 else "",
                f"{size} items" if table["train_size"].nunique() > 1 else "",
            )
            if w
        )
        what = KIND_NAMES[method] + ("" if method == "full" else f" r={int(best['rank'])}")
        seeds = f", mean of {int(best['seeds'])} seeds" if best["seeds"] > 1 else ""
        value = best[criterion.column]
        text = f"{what}, lr {plain_number(best['lr'])} ({measure} {value:.3f}{seeds})"
        others = part[~part["selected"]]
        if len(others):
            runner_up = others[criterion.column]
            gap = abs((runner_up.min() if criterion.lower_is_better else runner_up.max()) - value)
            side = "below" if criterion.lower_is_better else "above"
            text += f", {gap:.3f} {side} the next configuration"
        notes.append((f"{where}: " if where else "") + text + ".")
    if not chosen.lr_tuned:
        notes.append(
            "The learning rate was not tuned: train.lrs has one value, so a configuration "
            "that needs another step size could not show it."
        )
    if not chosen.early_stopping_can_fire:
        notes.append(
            "Early stopping could not end training (train.epochs is at most train.patience + "
            "1): the budget, not validation, set the number of epochs."
        )
    return "Selected on validation: " + " ".join(notes)


def render_template(name: str, **context) -> str:
    """A page from lib/loralab/report/templates, every value HTML-escaped unless marked safe."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    return env.get_template(name).render(**context)


def html_table(frame: pd.DataFrame, index: bool = False) -> str:
    """An HTML table; pandas escapes cell text, so dataset text cannot inject markup."""
    html = frame.to_html(index=index, classes="table", border=0, escape=True, na_rep="")
    return f'<div class="scroll">{html}</div>'


def render_notebook(notebook: Path, target: Path) -> Path:
    """An executed notebook as one self-contained HTML page (images inline, no CDN scripts)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(TEMPLATES)])
    exporter.template_file = "notebook.html.j2"
    body, _ = exporter.from_filename(str(notebook))
    return write_text(target, body)
