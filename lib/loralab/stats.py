"""The statistics step: which paired comparisons the study makes, their tests, and the table.

Comparisons: every trained method against the anchor (zero-shot), and the selected method
against every baseline; the roles are the methods' own, recorded in evaluation.json.
Each gets McNemar's test (b, c, p) with the smallest difference in accuracy it detects with 80 %
power at this n, and a paired bootstrap of the macro-F1 difference (mean, BCa or percentile CI,
p), its resamples stratified by fold when the study has several; Holm's correction is applied
across the comparisons, separately for each test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .artifacts import read_json, write_json, write_text
from .config import Config
from .layout import RunPaths
from .paired_tests import (
    holm,
    mcnemar_detectable_difference,
    mcnemar_test,
    paired_bootstrap_delta,
    resample_weights,
)
from .present import format_stats
from .roles import ANCHOR, TRAINED, with_role
from .splits import read_split

POWER = 0.8  # the power at which the detectable difference is stated


def item_folds(run: RunPaths, ids: pd.Series, folds: int) -> np.ndarray:
    """The fold whose test split holds each item: the bootstrap's strata. The split step's files
    say it; the paired predictions list the items in fold order but do not record the fold."""
    fold_of = {str(i): k for k in range(folds) for i in read_split(run, "test", k)["id"]}
    found = ids.astype(str).map(fold_of)
    if found.isna().any():
        raise ValueError(
            f"{int(found.isna().sum())} paired items are in no fold's test split (first: "
            f"{ids[found.isna()].iloc[0]}); the split changed after evaluation: evaluate again"
        )
    return found.astype(int).to_numpy()


def planned_comparisons(roles: dict[str, str], selected: str | None) -> list[tuple[str, str]]:
    """(method, baseline) pairs, each once: every trained method against each anchor, then the
    selected method against every method that is not trained."""
    trained, anchors = with_role(roles, TRAINED), with_role(roles, ANCHOR)
    pairs = [(m, a) for m in trained for a in anchors]
    if selected:
        baselines = [m for m in roles if m not in trained]
        pairs += [(selected, b) for b in baselines if (selected, b) not in pairs]
    return pairs


def compare(paired: pd.DataFrame, a: str, b: str, labels, resamples, cfg: Config) -> dict:
    """One planned comparison: McNemar with its power, and the paired bootstrap of Δ macro-F1."""
    alpha = round(1 - cfg.stats.confidence, 12)  # 0.05, not 0.050000000000000044
    gold = paired["gold"].to_numpy()
    pred_a, pred_b = paired[f"pred_{a}"].to_numpy(), paired[f"pred_{b}"].to_numpy()
    mc = mcnemar_test(pred_a == gold, pred_b == gold)
    boot = paired_bootstrap_delta(gold, pred_a, pred_b, labels, resamples, cfg.stats.confidence)
    discordant = (mc.b + mc.c) / len(paired)
    return {
        "method": a,
        "baseline": b,
        "mcnemar_b": mc.b,
        "mcnemar_c": mc.c,
        "mcnemar_test": mc.method,
        "mcnemar_statistic": mc.statistic,
        "mcnemar_p": mc.p_value,
        "discordant_rate": discordant,
        "detectable_delta_80": mcnemar_detectable_difference(len(paired), discordant, alpha, POWER),
        "delta_macro_f1": boot.observed,
        "delta_mean": boot.mean,
        "delta_low": boot.low,
        "delta_high": boot.high,
        "delta_ci_method": boot.ci_method,
        "bootstrap_p": boot.p_value,
    }


@dataclass
class Statistics:
    """Everything the statistics notebook shows, so it reads no file the step wrote."""

    tests: pd.DataFrame  # stat_tests.json's comparisons
    shown: pd.DataFrame  # the same, as people read them
    note: str  # how they were computed
    results: pd.DataFrame  # results.csv, for the figures


def statistics_step(cfg: Config, run: RunPaths) -> Statistics:
    """Run every planned comparison on the paired predictions; write the JSON and the table."""
    paired = pd.read_csv(run.paired_predictions, dtype={"id": str})
    meta = read_json(run.evaluation)
    names = meta["methods"]
    folds = item_folds(run, paired["id"], meta["folds"])
    resamples = resample_weights(
        len(paired), cfg.stats.bootstrap_resamples, cfg.stats.seed, strata=folds
    )
    rows = [
        {"comparison": f"{names[a]} vs {names[b]}"}
        | compare(paired, a, b, meta["labels"], resamples, cfg)
        for a, b in planned_comparisons(meta["roles"], meta["selected_method"])
    ]
    table = pd.DataFrame(rows)
    if cfg.stats.correction == "holm" and not table.empty:
        table["mcnemar_p_holm"] = holm(table["mcnemar_p"].tolist())
        table["bootstrap_p_holm"] = holm(table["bootstrap_p"].tolist())
    s = cfg.stats
    shown, note = format_stats(table, s.confidence, s.bootstrap_resamples, s.seed, meta["folds"])
    write_text(
        run.stats_markdown,
        shown.to_markdown(index=False, disable_numparse=True) + "\n\n" + note + "\n",
    )
    write_json(run.stat_tests, stat_tests_record(table, cfg, len(paired), meta["folds"]))
    return Statistics(table, shown, note, pd.read_csv(run.results))


def stat_tests_record(table: pd.DataFrame, cfg: Config, n_test: int, folds: int) -> dict:
    """stat_tests.json: the comparisons and what their columns mean."""
    return {
        # NaN (no detectable difference) is written as null, which JSON has
        "comparisons": table.astype(object).where(table.notna(), None).to_dict("records"),
        "correction": cfg.stats.correction,
        "bootstrap_resamples": cfg.stats.bootstrap_resamples,
        "seed": cfg.stats.seed,
        "confidence": cfg.stats.confidence,
        "n_test": n_test,
        "b_means": "first method right, baseline wrong",
        "c_means": "first method wrong, baseline right",
        "power": {
            "power": POWER,
            "alpha": round(1 - cfg.stats.confidence, 12),
            "detectable_delta_80_means": (
                "the smallest difference in accuracy, |b - c| / n, that McNemar's test at "
                "level alpha (unadjusted) detects with 80 % power at this n and the observed "
                "discordant rate (b + c) / n; null: fewer than about 10 discordant items, too "
                "few to state one"
            ),
            "method": "Connor (1987) normal approximation, with continuity correction",
        },
        "ci_methods": {
            "delta_macro_f1": "BCa (scipy.stats.bootstrap, paired resamples of the test "
            "items, stratified by fold when there are several); percentile where BCa is "
            "undefined, as delta_ci_method says",
        },
        "folds": folds,  # the strata of the bootstrap
    }
