"""Paired statistics: how sure we are that one method beats another on the same test items.

- McNemar's test on the paired correct/incorrect table (statsmodels): exact binomial when the
  discordant pairs b + c are few (< 25), chi-square with continuity correction otherwise, as in
  the reference study. Beside it, the smallest difference in accuracy the test detects with
  80 % power at the comparison's n, so that "not significant" is read for what it is.
- Intervals that stay honest at the edges, where a test set of a few dozen items and an accuracy
  near 1 put a percentile bootstrap below its nominal coverage: accuracy gets a Wilson interval
  (closed form, statsmodels); macro-F1, per-class F1 and the paired difference of macro-F1 get
  BCa bootstrap intervals (scipy), falling back to the percentile interval where BCa is undefined
  (every resample equal, as for a perfect classifier, or a degenerate jackknife), and every
  interval says which method gave it.
- The bootstrap resamples are drawn from one seed, n and the fold of every item, so every method
  is resampled on the same items (the intervals and the differences respect the pairing) and a
  rerun gives the same intervals.
- With K > 1 cross-validation folds the resamples are stratified by fold: each draws, within
  every fold, as many items as the fold holds. The fold sizes are fixed by the design; drawn from
  the pool, a resample could hold more items of a fold whose model is weaker than the others', a
  spread of the metric that no run of the study can show, and the intervals would be too wide.
- Training variance: a method trained with several seeds (or few-shot's several draws of
  examples) is one draw of a random procedure, and a test set says nothing of how another seed
  would have done. Its paired bootstrap is two-stage, "a bootstrap over trained models, then
  items": each resample picks one of the method's draws, uniformly and independently of the
  other resamples, then resamples the items as above; so the interval and p hold for the
  procedure, not for one lucky or unlucky seed. The interval of that mixture is the percentile
  one: BCa's corrections are made for one sample of items. With one draw (or draws that all
  agree) the bootstrap is the one-stage BCa above, number for number. Paired means paired
  across repeats too: with split.repeats, each resample draws one repeat (one draw of the
  folds) for both methods, and only then each method's seed within that repeat, and resamples
  the items within that repeat's own folds; a method that is the same in every repeat
  (zero-shot) is drawn from its one row.
- Repeated cross-validation (split.repeats): beside the bootstrap, which holds the items of
  repeat 0 fixed, the corrected resampled t-test of the per-fold differences over every fold of
  every repeat (Nadeau and Bengio 2003): the folds share training items, so their differences
  are correlated and the plain t-test's variance is inflated by n_test / n_train; without that
  correction its type I error far exceeds alpha (Bouckaert and Frank 2004). It tests the
  procedure, training data drawn anew included. With 2 folds, also Dietterich's 5x2cv paired
  t-test (1998) of the same differences.
- Holm's correction across the comparisons of one study (statsmodels).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import DegenerateDataWarning, bootstrap, norm, t
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

EXACT_BELOW = 25
BATCH = 1000  # resamples drawn at once: bounds memory at (BATCH x n) for large test sets
# Differences of metrics computed from equal counts can differ by float rounding alone.
ZERO = 1e-12


@dataclass(frozen=True)
class McNemarResult:
    b: int  # first method right, second wrong
    c: int  # first method wrong, second right
    statistic: float
    p_value: float
    method: str


def mcnemar_counts(b: int, c: int) -> McNemarResult:
    """McNemar's test from the discordant counts alone (the concordant cells do not enter it)."""
    exact = b + c < EXACT_BELOW
    res = mcnemar([[0, b], [c, 0]], exact=exact, correction=True)
    return McNemarResult(
        b,
        c,
        float(res.statistic),
        float(res.pvalue),
        "exact binomial" if exact else "chi-square, continuity-corrected",
    )


def mcnemar_test(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    a, b_ = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b_.shape:
        raise ValueError("McNemar needs both methods scored on the same items")
    return mcnemar_counts(int(np.sum(a & ~b_)), int(np.sum(~a & b_)))


def mcnemar_detectable_difference(
    n: int, discordant_rate: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest difference in accuracy, |p10 - p01| = |b - c| / n, that McNemar's test at
    level `alpha` detects with probability `power` on n paired items whose share of discordant
    pairs is `discordant_rate` (psi, estimated by (b + c) / n).

    Connor's (1987) normal approximation, n = [z_a sqrt(psi) + z_b sqrt(psi - d^2)]^2 / d^2,
    with the continuity correction that mcnemar_test's chi-square applies (|b - c| shrunk by 1,
    which adds 1 / sqrt(n) to z_a sqrt(psi)), solved for d: the quadratic's larger root. Without
    the correction the simulated power of our test at d falls to about 0.77. With it, the power
    at d is 0.80 to 0.82 from about 40 discordant pairs on; with fewer, where mcnemar_test is
    exact, it is higher (up to about 0.86), so d errs on the safe side there.

    NaN where d would exceed psi (more than every discordant pair favouring one method) or psi
    is 0: below about 10 discordant pairs, whatever n. There only a split of nearly all of them
    one way could be detected, mcnemar_test is exact and the approximation is not made for it,
    so no difference is stated: the comparison has too few disagreements to separate methods.
    """
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    k = z_a * np.sqrt(discordant_rate) + 1 / np.sqrt(n)
    radicand = (n + z_b**2) * discordant_rate - k**2
    if radicand < 0:
        return float("nan")
    d = (np.sqrt(n) * k + z_b * np.sqrt(radicand)) / (n + z_b**2)
    return float(d) if d <= discordant_rate else float("nan")


@dataclass(frozen=True)
class Resamples:
    """Which bootstrap resamples to draw: scipy draws `count` resamples of the n items, within
    each stratum, from `seed`, so everything bootstrapped with the same Resamples is resampled
    on the same items. `strata` holds one label per item (its fold); None is one stratum.
    `by_repeat`: with repeated cross-validation, each repeat's own strata (repeat 0's first),
    as each repeat deals the items into its own folds; empty: one repeat."""

    n: int
    count: int
    seed: int
    strata: tuple | None = field(default=None, repr=False)
    by_repeat: tuple[tuple, ...] = field(default=(), repr=False)

    def samples(self, repeat: int = 0) -> tuple[np.ndarray, ...]:
        """The item indices of each stratum of a repeat: scipy's samples, each resampled on its
        own to its own size (paired=False). One stratum is one sample of all n items, as before
        strata. A repeat whose folds these resamples do not hold is stratified as repeat 0."""
        strata = self.by_repeat[repeat] if repeat < len(self.by_repeat) else self.strata
        if strata is None:
            return (np.arange(self.n),)
        strata = np.asarray(strata)
        return tuple(np.flatnonzero(strata == s) for s in np.unique(strata))


def _checked_strata(strata, n: int) -> tuple:
    strata = tuple(np.asarray(strata).tolist())
    if len(strata) != n:
        raise ValueError(f"{len(strata)} strata for {n} items: one stratum per item")
    labels, sizes = np.unique(strata, return_counts=True)
    if len(labels) > 1 and sizes.min() < 2:  # scipy resamples no sample of 1
        raise ValueError(f"stratum {labels[sizes.argmin()]} holds 1 item; resampling needs 2")
    return strata


def resample_weights(
    n: int, resamples: int, seed: int, strata: Sequence | None = None
) -> Resamples:
    """The bootstrap resamples that every method of a study shares (n items, B, seed), drawn
    within each stratum (the fold of each item) when `strata` is given: one label per item, or
    one row of labels per repeat of the folds (repeats x items)."""
    if strata is None:
        return Resamples(n, resamples, seed)
    if np.ndim(strata) == 1:
        return Resamples(n, resamples, seed, _checked_strata(strata, n))
    rows = tuple(_checked_strata(row, n) for row in strata)
    return Resamples(n, resamples, seed, rows[0], rows if len(rows) > 1 else ())


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    method: str  # "Wilson", "BCa" or "percentile"


def _item_counts(gold: np.ndarray, pred: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Per item (rows): [1, correct, then tp, fp, fn of each label]. Summed over any multiset of
    items they give every metric of that multiset, so a resample costs one matrix product."""
    columns = [np.ones(len(gold)), gold == pred]
    for label in labels:
        columns += [
            (gold == label) & (pred == label),
            (gold != label) & (pred == label),
            (gold == label) & (pred != label),
        ]
    return np.column_stack(columns).astype(np.float64)


def _metrics(counts: np.ndarray, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Accuracy, per-class F1 and macro-F1 from summed counts (last axis as in _item_counts);
    a class with no true and no predicted item counts as F1 0."""
    out = {"accuracy": counts[..., 1] / counts[..., 0]}
    f1s = []
    for j, label in enumerate(labels):
        tp, fp, fn = (counts[..., 2 + 3 * j + i] for i in range(3))
        denom = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        out[f"f1_{label}"] = f1
        f1s.append(f1)
    out["macro_f1"] = np.mean(f1s, axis=0)
    return out


def _multiplicities(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of n items is in each resample of item indices (rows of idx)."""
    rows = idx.reshape(-1, idx.shape[-1])
    offsets = rows + n * np.arange(len(rows))[:, None]
    weights = np.bincount(offsets.ravel(), minlength=len(rows) * n).reshape(len(rows), n)
    return weights.astype(np.float64)


def _resampled(per_item: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sums of per_item's rows over each resample of item indices (idx: (..., m)), through the
    multiplicity of every item in every resample."""
    sums = _multiplicities(idx, per_item.shape[0]) @ per_item
    return sums.reshape(*idx.shape[:-1], per_item.shape[1])


def point_metrics(gold, pred, labels) -> dict[str, float]:
    """The metrics on the items as they are."""
    counts = _item_counts(np.asarray(gold), np.asarray(pred), labels).sum(axis=0)
    return {k: float(v) for k, v in _metrics(counts, labels).items()}


def _bca(
    statistic: Callable[[np.ndarray], np.ndarray], resamples: Resamples, confidence: float
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """BCa intervals of each row of statistic(indices) (rows, ...), over resampled item indices,
    with the percentile interval of the same resamples where BCa is undefined (scipy returns
    nan). Returns low, high, the method of each row, and the bootstrap distribution.

    Each stratum is one of scipy's samples, which scipy resamples each on its own: the
    stratified bootstrap. Its BCa for several samples is then the stratified BCa: z0 from the
    share of resamples below the observed statistic (ties counted half); the acceleration from
    the jackknife that leaves out one item at a time, each value centred on the mean of its own
    stratum, as a stratified resample varies items only within their stratum, and the strata
    weighted by their sizes: U_sj = (n_s - 1)(mean_s - value_sj), a = sum U^3 / n_s^3 over
    6 (sum U^2 / n_s^2)^(3/2) (the several-sample form, Davison & Hinkley 1997, ch. 5). With one
    stratum it is the plain BCa, draw for draw."""
    data = resamples.samples()
    common = {"vectorized": True, "confidence_level": confidence, "paired": False}

    def stat(*strata, axis=-1):  # scipy passes axis=-1: the item axis our statistics reduce
        return statistic(np.concatenate(strata, axis=-1))

    # z0 infinite (every resample on one side) or the acceleration 0/0 (a degenerate
    # jackknife) make scipy's BCa nan, with a warning; the nan is what we test for below.
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", DegenerateDataWarning)
        bca = bootstrap(
            data,
            stat,
            n_resamples=resamples.count,
            batch=BATCH,  # same draws whatever the batch
            method="BCa",
            rng=np.random.default_rng(resamples.seed),
            **common,
        )
    pct = bootstrap(
        data, stat, n_resamples=0, bootstrap_result=bca, method="percentile", **common
    ).confidence_interval
    bad = np.isnan(bca.confidence_interval.low) | np.isnan(bca.confidence_interval.high)
    low = np.where(bad, pct.low, bca.confidence_interval.low)
    high = np.where(bad, pct.high, bca.confidence_interval.high)
    return low, high, ["percentile" if b else "BCa" for b in bad], bca.bootstrap_distribution


def metric_intervals(
    gold, pred, labels, resamples: Resamples, confidence: float
) -> dict[str, Interval]:
    """Each metric with its interval and the method that gave it: Wilson for accuracy, BCa (or
    its percentile fallback) for per-class F1 and macro-F1."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    if len(gold) != resamples.n:
        raise ValueError(f"resamples are for {resamples.n} items, not {len(gold)}")
    per_item = _item_counts(gold, pred, labels)
    point = point_metrics(gold, pred, labels)
    f1_names = [k for k in point if k != "accuracy"]

    def f1s(idx: np.ndarray) -> np.ndarray:
        drawn = _metrics(_resampled(per_item, idx), labels)
        return np.stack([drawn[k] for k in f1_names])

    low, high, methods, _ = _bca(f1s, resamples, confidence)
    out = {
        k: Interval(point[k], float(lo), float(hi), m)
        for k, lo, hi, m in zip(f1_names, low, high, methods, strict=True)
    }
    correct = int(np.sum(gold == pred))
    lo, hi = proportion_confint(correct, len(gold), alpha=1 - confidence, method="wilson")
    out["accuracy"] = Interval(point["accuracy"], float(lo), float(hi), "Wilson")
    return {k: out[k] for k in point}


def bootstrap_p(delta: np.ndarray) -> float:
    """Two-sided p of a difference from its bootstrap draws: twice the share of draws on the
    far side of zero, where a draw equal to zero counts half to each side (ties split, so a
    mass of zero differences neither inflates nor hides the evidence), as (1 + k) / (1 + B) so
    that it is never 0 (its floor is 2 / (B + 1)), and capped at 1."""
    zero = np.abs(delta) <= ZERO
    below = np.sum((delta < 0) & ~zero) + np.sum(zero) / 2
    above = np.sum((delta > 0) & ~zero) + np.sum(zero) / 2
    return min(1.0, 2 * (1 + float(min(below, above))) / (1 + len(delta)))


@dataclass(frozen=True, eq=False)
class Draws:
    """A method's draws (draws x items): training seeds, few-shot's draws of examples, and with
    split.repeats every seed of every repeat; `repeats` says which repeat of the folds each
    came from. None: the draws belong to no repeat (a method that is the same in every one)."""

    predictions: np.ndarray
    repeats: np.ndarray | None = None


def distinct_draws(pred, draws=None) -> Draws:
    """What a bootstrap picks a method's predictions from: its draws (a Draws, or draws x items
    that belong to no repeat) where they differ, else its one row of predictions; draws that
    all agree carry no training variance."""
    if not isinstance(draws, Draws):
        draws = Draws(draws)
    rows, repeats = draws.predictions, draws.repeats
    if rows is not None and len(rows) > 1:
        rows = np.asarray(rows)
        if (rows != rows[0]).any():
            return Draws(rows, None if repeats is None else np.asarray(repeats))
    return Draws(np.asarray(pred)[None])


def _choices(draws: Draws, repeats: int) -> list[np.ndarray]:
    """Per repeat, the draws a resample of that repeat picks among: the method's draws of that
    repeat, or all of them for draws of no repeat."""
    every = np.arange(len(draws.predictions))
    if draws.repeats is None:
        return [every] * repeats
    out = [np.flatnonzero(draws.repeats == r) for r in range(repeats)]
    if not all(len(c) for c in out):
        raise ValueError(f"draws of repeats {sorted(set(draws.repeats))}, not of all {repeats}")
    return out


def _picked(choices: list[np.ndarray], repeat: np.ndarray, rng) -> np.ndarray:
    """One draw per resample, uniformly among those of the resample's repeat."""
    pick = np.empty(len(repeat), dtype=int)
    for r, among in enumerate(choices):
        rows = repeat == r
        pick[rows] = among[rng.integers(len(among), size=int(rows.sum()))]
    return pick


def _items(resamples: Resamples, repeat: np.ndarray, rng) -> np.ndarray:
    """Item indices of each resample, drawn within the folds of the resample's repeat."""
    idx = np.empty((len(repeat), resamples.n), dtype=int)
    for r in np.unique(repeat):
        rows = repeat == r
        idx[rows] = np.concatenate(
            [s[rng.integers(len(s), size=(int(rows.sum()), len(s)))] for s in resamples.samples(r)],
            axis=1,
        )
    return idx


def _repeat_count(sides: list[Draws], resamples: Resamples) -> int:
    labelled = [int(d.repeats.max()) + 1 for d in sides if d.repeats is not None]
    return max([len(resamples.by_repeat) or 1, *labelled])


def _seeds_then_items(
    sides: list[Draws], counts: list[np.ndarray], resamples: Resamples, statistic
) -> np.ndarray:
    """The two-stage bootstrap distribution of statistic(*sums): each resample draws one repeat
    of the folds, the same for every side (with one repeat, none is drawn), then one draw of
    every side among its draws of that repeat, uniformly and independently, then resamples the
    items within each fold of that repeat as the one-stage bootstrap does. counts: per-item
    counts of each side's draws (draws x items x columns, as _item_counts); its sums are those
    of the picked draw over the resample."""
    rng = np.random.default_rng(resamples.seed)
    repeats = _repeat_count(sides, resamples)
    choices = [_choices(side, repeats) for side in sides]
    values = []
    for start in range(0, resamples.count, BATCH):
        size = min(BATCH, resamples.count - start)
        repeat = rng.integers(repeats, size=size) if repeats > 1 else np.zeros(size, dtype=int)
        picks = [_picked(c, repeat, rng) for c in choices]
        weights = _multiplicities(_items(resamples, repeat, rng), resamples.n)
        sums = [np.empty((size, side.shape[-1])) for side in counts]
        for side, pick, out in zip(counts, picks, sums, strict=True):
            for d in range(len(side)):
                out[pick == d] = weights[pick == d] @ side[d]
        values.append(statistic(*sums))
    return np.concatenate(values)


def _percentile(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval, as scipy computes it."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _draw_counts(gold: np.ndarray, side: Draws, labels, n: int) -> np.ndarray:
    rows = side.predictions
    if rows.shape[-1] != n:
        raise ValueError(f"draws of {rows.shape[-1]} items for resamples of {n}")
    return np.stack([_item_counts(gold, d, labels) for d in rows])


def metric_over_draws(
    gold, pred, draws, labels, resamples: Resamples, confidence: float, metric: str = "macro_f1"
) -> Interval:
    """A metric of a method with several draws: its value on `pred` (the row results.csv
    shows) and the percentile interval of the two-stage bootstrap, a draw then items, so the
    interval holds for the training procedure (with repeats, a repeat, then one of its draws,
    then items within its folds); metric_intervals' interval where the draws agree."""
    gold, side = np.asarray(gold), distinct_draws(pred, draws)
    if len(side.predictions) == 1:
        return metric_intervals(gold, pred, labels, resamples, confidence)[metric]
    counts = _draw_counts(gold, side, labels, resamples.n)
    values = _seeds_then_items([side], [counts], resamples, lambda c: _metrics(c, labels)[metric])
    low, high = _percentile(values, confidence)
    return Interval(point_metrics(gold, pred, labels)[metric], low, high, "percentile")


@dataclass(frozen=True)
class BootstrapDelta:
    observed: float
    mean: float
    low: float
    high: float
    p_value: float
    ci_method: str  # "BCa", or "percentile" where BCa is undefined or draws were picked
    draws: tuple[int, int] = (1, 1)  # draws of each method the resamples picked from


def paired_bootstrap_delta(
    gold,
    pred_a,
    pred_b,
    labels,
    resamples: Resamples,
    confidence: float,
    metric: str = "macro_f1",
    draws_a=None,
    draws_b=None,
) -> BootstrapDelta:
    """Difference (a minus b) of a metric over the same resampled items: BCa interval (or the
    percentile one where BCa is undefined) and the tie-splitting two-sided p of bootstrap_p.

    With draws of a method (Draws, or draws x items) that differ, the bootstrap is two-stage:
    each resample picks a repeat of the folds for both methods, a draw of each within it, then
    items (_seeds_then_items); the interval is that mixture's percentile one. The observed
    difference stays that of pred_a and pred_b, the rows results.csv shows; the interval and p
    then hold for the training procedure."""
    gold = np.asarray(gold)
    if len(gold) != resamples.n:
        raise ValueError(f"resamples are for {resamples.n} items, not {len(gold)}")
    observed = (
        point_metrics(gold, pred_a, labels)[metric] - point_metrics(gold, pred_b, labels)[metric]
    )
    sides = [distinct_draws(pred_a, draws_a), distinct_draws(pred_b, draws_b)]
    draws = (len(sides[0].predictions), len(sides[1].predictions))
    if max(draws) > 1:
        counts = [_draw_counts(gold, side, labels, resamples.n) for side in sides]

        def picked(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return _metrics(a, labels)[metric] - _metrics(b, labels)[metric]

        values = _seeds_then_items(sides, counts, resamples, picked)
        low, high = _percentile(values, confidence)
        mean, p = float(values.mean()), bootstrap_p(values)
        return BootstrapDelta(observed, mean, low, high, p, "percentile", draws)

    both = np.hstack([_item_counts(gold, np.asarray(p), labels) for p in (pred_a, pred_b)])

    def delta(idx: np.ndarray) -> np.ndarray:
        a, b = (_metrics(c, labels)[metric] for c in np.split(_resampled(both, idx), 2, axis=-1))
        return (a - b)[None]

    low, high, methods, spread = _bca(delta, resamples, confidence)
    mean, p = float(spread.mean()), bootstrap_p(spread[0])
    return BootstrapDelta(observed, mean, float(low[0]), float(high[0]), p, methods[0])


@dataclass(frozen=True)
class CorrectedT:
    mean: float  # of the per-fold differences
    statistic: float
    df: int
    p_value: float


def corrected_cv_t_test(differences: Sequence[float], test_to_train: float) -> CorrectedT:
    """Nadeau and Bengio's corrected resampled t-test of a metric's per-fold differences over J
    folds (all repeats): t = mean / sqrt((1/J + n_test/n_train) s^2), J - 1 degrees of
    freedom. Equal differences in every fold: p 1 if they are all 0, else 0."""
    d = np.asarray(differences, dtype=float)
    j = len(d)
    if j < 2:
        raise ValueError(f"the corrected t-test needs at least 2 folds, got {j}")
    mean, var = float(d.mean()), float(d.var(ddof=1))
    if var <= ZERO**2:
        if abs(mean) <= ZERO:
            return CorrectedT(mean, 0.0, j - 1, 1.0)
        return CorrectedT(mean, float(np.sign(mean)) * np.inf, j - 1, 0.0)
    statistic = mean / np.sqrt((1 / j + test_to_train) * var)
    return CorrectedT(mean, float(statistic), j - 1, float(2 * t.sf(abs(statistic), j - 1)))


@dataclass(frozen=True)
class FiveByTwoT:
    statistic: float
    df: int
    p_value: float


def five_by_two_cv_t_test(differences) -> FiveByTwoT:
    """Dietterich's (1998) 5x2cv paired t-test of a metric's differences over R repeats of 2
    folds (R x 2; 5 x 2 in his design): t = d_11 / sqrt(mean_i s_i^2), where d_11 is the first
    fold's difference of the first repeat and s_i^2 = (d_i1 - dbar_i)^2 + (d_i2 - dbar_i)^2
    the variance of repeat i; R degrees of freedom. Only two folds make each s_i^2 one
    degree of freedom, so other fold counts are refused. No variance: as corrected_cv_t_test."""
    d = np.asarray(differences, dtype=float)
    if d.ndim != 2 or d.shape[1] != 2:
        raise ValueError(f"the 5x2cv t-test needs 2 folds per repeat, got shape {d.shape}")
    repeats = d.shape[0]
    variance = float(np.mean(np.sum((d - d.mean(axis=1, keepdims=True)) ** 2, axis=1)))
    if variance <= ZERO**2:
        if abs(d[0, 0]) <= ZERO:
            return FiveByTwoT(0.0, repeats, 1.0)
        return FiveByTwoT(float(np.sign(d[0, 0])) * np.inf, repeats, 0.0)
    statistic = float(d[0, 0] / np.sqrt(variance))
    return FiveByTwoT(statistic, repeats, float(2 * t.sf(abs(statistic), repeats)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    if not len(p_values):
        return []
    return [float(p) for p in multipletests(list(p_values), method="holm")[1]]
