"""Paired statistics: how sure we are that one method beats another on the same test items.

- McNemar's test on the paired correct/incorrect table (statsmodels): exact binomial when the
  discordant pairs b + c are few (< 25), chi-square with continuity correction otherwise, as in
  the reference study.
- Paired bootstrap: the same resampled items for every method, so confidence intervals of each
  metric and of the difference in macro-F1 respect the pairing. The two-sided p of a difference
  is twice the share of resamples on the far side of zero, counted as (1 + k) / (1 + B) so that
  it is never 0, and capped at 1.
- Holm's correction across the comparisons of one study (statsmodels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

EXACT_BELOW = 25


@dataclass(frozen=True)
class McNemarResult:
    b: int  # first method right, second wrong
    c: int  # first method wrong, second right
    statistic: float
    p_value: float
    method: str


def mcnemar_test(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    a, b_ = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b_.shape:
        raise ValueError("McNemar needs both methods scored on the same items")
    table = [
        [int(np.sum(a & b_)), int(np.sum(a & ~b_))],
        [int(np.sum(~a & b_)), int(np.sum(~a & ~b_))],
    ]
    b, c = table[0][1], table[1][0]
    exact = b + c < EXACT_BELOW
    res = mcnemar(table, exact=exact, correction=True)
    return McNemarResult(
        b,
        c,
        float(res.statistic),
        float(res.pvalue),
        "exact binomial" if exact else "chi-square, continuity-corrected",
    )


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each item is drawn in each bootstrap resample (resamples x n), seeded."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def _metric_draws(
    gold: np.ndarray, pred: np.ndarray, labels: Sequence[str], weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Macro-F1, accuracy and per-class F1 for every resample, from weighted counts."""
    out: dict[str, np.ndarray] = {"accuracy": weights @ (gold == pred) / weights.sum(axis=1)}
    f1s = []
    for label in labels:
        tp = weights @ ((gold == label) & (pred == label))
        fp = weights @ ((gold != label) & (pred == label))
        fn = weights @ ((gold == label) & (pred != label))
        denom = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        out[f"f1_{label}"] = f1
        f1s.append(f1)
    out["macro_f1"] = np.mean(f1s, axis=0)
    return out


def point_metrics(gold, pred, labels) -> dict[str, float]:
    """The same metrics on the items as they are (weight 1 each)."""
    one = np.ones((1, len(gold)))
    return {
        k: float(v[0])
        for k, v in _metric_draws(np.asarray(gold), np.asarray(pred), labels, one).items()
    }


def bootstrap_metrics(
    gold, pred, labels, weights: np.ndarray, confidence: float
) -> dict[str, tuple[float, float, float]]:
    """Each metric with its percentile confidence interval: (value, low, high)."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    point = point_metrics(gold, pred, labels)
    draws = _metric_draws(gold, pred, labels, weights)
    tail = (1 - confidence) / 2 * 100
    return {
        k: (
            point[k],
            float(np.percentile(draws[k], tail)),
            float(np.percentile(draws[k], 100 - tail)),
        )
        for k in point
    }


@dataclass(frozen=True)
class BootstrapDelta:
    observed: float
    mean: float
    low: float
    high: float
    p_value: float


def paired_bootstrap_delta(
    gold, pred_a, pred_b, labels, weights: np.ndarray, confidence: float, metric: str = "macro_f1"
) -> BootstrapDelta:
    """Difference (a minus b) of a metric over the same resamples, with CI and two-sided p."""
    gold = np.asarray(gold)
    a = _metric_draws(gold, np.asarray(pred_a), labels, weights)[metric]
    b = _metric_draws(gold, np.asarray(pred_b), labels, weights)[metric]
    delta = a - b
    observed = (
        point_metrics(gold, pred_a, labels)[metric] - point_metrics(gold, pred_b, labels)[metric]
    )
    tail = (1 - confidence) / 2 * 100
    # (1 + count) / (1 + B): a resampling p-value is never 0, its floor is 1 / (B + 1).
    tail_share = [(1 + np.sum(side)) / (1 + len(delta)) for side in (delta <= 0, delta >= 0)]
    p = min(1.0, 2 * float(min(tail_share)))
    return BootstrapDelta(
        observed,
        float(delta.mean()),
        float(np.percentile(delta, tail)),
        float(np.percentile(delta, 100 - tail)),
        p,
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    if not len(p_values):
        return []
    return [float(p) for p in multipletests(list(p_values), method="holm")[1]]
