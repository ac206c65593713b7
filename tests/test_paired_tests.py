import time

import numpy as np
import pytest
from scipy.stats import binomtest, bootstrap, chi2, norm, ttest_1samp
from sklearn.metrics import accuracy_score, f1_score

from loralab.stats.paired_tests import (
    Draws,
    Interval,
    _bca,
    bootstrap_p,
    corrected_cv_t_test,
    holm,
    mcnemar_counts,
    mcnemar_detectable_difference,
    mcnemar_test,
    metric_intervals,
    metric_over_draws,
    paired_bootstrap_delta,
    point_metrics,
    resample_weights,
)


def _paired(b: int, c: int, both: int = 5, neither: int = 3):
    a = [True] * both + [True] * b + [False] * c + [False] * neither
    z = [True] * both + [False] * b + [True] * c + [False] * neither
    return a, z


def test_mcnemar_exact_matches_scipy_binomial_on_a_small_table():
    res = mcnemar_test(*_paired(b=9, c=2))
    assert (res.b, res.c, res.method) == (9, 2, "exact binomial")
    assert res.p_value == pytest.approx(binomtest(2, 11, 0.5).pvalue)


def test_mcnemar_chi_square_with_continuity_correction_on_a_large_table():
    res = mcnemar_test(*_paired(b=30, c=12))
    stat = (abs(30 - 12) - 1) ** 2 / 42
    assert res.method.startswith("chi-square")
    assert res.statistic == pytest.approx(stat)
    assert res.p_value == pytest.approx(chi2.sf(stat, 1))


def test_mcnemar_rejects_unpaired_input():
    with pytest.raises(ValueError, match="same items"):
        mcnemar_test([True, False], [True])


def test_holm_matches_the_textbook_procedure():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


def test_point_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    gold = rng.choice(["A", "B", "C"], 60)
    pred = np.where(rng.random(60) < 0.7, gold, rng.choice(["A", "B", "C"], 60))
    got = point_metrics(gold, pred, ["A", "B", "C"])
    assert got["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    assert got["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    per_class = f1_score(gold, pred, labels=["A", "B", "C"], average=None)
    assert [got["f1_A"], got["f1_B"], got["f1_C"]] == pytest.approx(per_class)


def test_a_class_never_predicted_counts_as_zero_f1():
    got = point_metrics(["A", "B", "A"], ["A", "A", "A"], ["A", "B"])
    assert got["f1_B"] == 0 and got["macro_f1"] == pytest.approx(0.4)


def _noisy(n: int, accuracy: float, seed: int, labels=("A", "B")):
    rng = np.random.default_rng(seed)
    gold = rng.choice(labels, n)
    wrong = np.array([labels[(labels.index(g) + 1) % len(labels)] for g in gold])
    return gold, np.where(rng.random(n) < accuracy, gold, wrong)


def test_intervals_bracket_the_point_estimate_say_their_method_and_are_reproducible():
    gold, pred = _noisy(80, 0.8, seed=1)
    got = metric_intervals(gold, pred, ["A", "B"], resample_weights(80, 2000, seed=7), 0.95)
    assert {k: i.method for k, i in got.items()} == {
        "accuracy": "Wilson",
        "f1_A": "BCa",
        "f1_B": "BCa",
        "macro_f1": "BCa",
    }
    for i in got.values():
        assert i.low < i.value < i.high
    again = metric_intervals(gold, pred, ["A", "B"], resample_weights(80, 2000, seed=7), 0.95)
    other = metric_intervals(gold, pred, ["A", "B"], resample_weights(80, 2000, seed=8), 0.95)
    assert again == got and other["macro_f1"] != got["macro_f1"]
    assert other["accuracy"] == got["accuracy"]  # Wilson draws nothing
    with pytest.raises(ValueError, match="for 81 items"):
        metric_intervals(gold, pred, ["A", "B"], resample_weights(81, 2000, seed=7), 0.95)


def test_bca_intervals_equal_scipy_on_the_plain_metric():
    """The vectorized statistic (counts through resample multiplicities) changes nothing:
    scipy's BCa of scikit-learn's macro-F1 on the same draws gives the same interval."""
    gold, pred = _noisy(60, 0.75, seed=3, labels=("A", "B", "C"))
    ours = metric_intervals(gold, pred, ["A", "B", "C"], resample_weights(60, 300, 5), 0.9)

    def macro_f1(idx):
        return f1_score(gold[idx], pred[idx], labels=["A", "B", "C"], average="macro")

    plain = bootstrap(
        (np.arange(60),),
        macro_f1,
        n_resamples=300,
        vectorized=False,
        confidence_level=0.9,
        rng=np.random.default_rng(5),
    ).confidence_interval
    assert (ours["macro_f1"].low, ours["macro_f1"].high) == pytest.approx(tuple(plain))


def test_wilson_covers_at_n_46_and_accuracy_0935_where_the_percentile_bootstrap_does_not():
    """The issue's case: 400 simulated test sets of 46 items, true accuracy 0.935."""
    n, true, sets = 46, 0.935, 400
    rng = np.random.default_rng(11)
    resamples = resample_weights(n, 100, seed=0)  # Wilson draws nothing; keep BCa cheap
    wilson, percentile = [], []
    for s in range(sets):
        gold, pred = _noisy(n, true, seed=1000 + s)
        i = metric_intervals(gold, pred, ["A", "B"], resamples, 0.95)["accuracy"]
        wilson.append(i.low <= true <= i.high)
        # the old interval: percentiles of the resampled accuracy, Binomial(n, observed) / n
        draws = rng.binomial(n, i.value, 5000) / n
        low, high = np.percentile(draws, [2.5, 97.5])
        percentile.append(low <= true <= high)
    assert np.mean(wilson) >= 0.94
    assert np.mean(percentile) < 0.94


def test_a_perfect_classifier_falls_back_to_percentile_and_says_so():
    gold, _ = _noisy(46, 1.0, seed=4)
    got = metric_intervals(gold, gold, ["A", "B"], resample_weights(46, 1000, seed=0), 0.95)
    assert got["macro_f1"] == Interval(1.0, 1.0, 1.0, "percentile")
    assert got["f1_A"].method == got["f1_B"].method == "percentile"
    accuracy = got["accuracy"]
    assert accuracy.method == "Wilson" and 0.9 < accuracy.low < 1 and accuracy.high == 1


def test_bootstrap_p_splits_zero_differences_between_the_tails():
    delta = np.array([0.0] * 600 + [0.1] * 380 + [-0.1] * 20)
    assert bootstrap_p(delta) == pytest.approx(2 * (1 + 20 + 300) / 1001)
    assert bootstrap_p(np.full(1000, 0.2)) == pytest.approx(2 / 1001)  # the floor
    assert bootstrap_p(np.zeros(1000)) == 1
    assert bootstrap_p(np.array([1e-15, -1e-15, 0.0, 0.3])) == pytest.approx(2 * 2.5 / 5)


def test_paired_p_with_many_tied_resamples_is_not_doubled():
    """Two methods that differ on 2 of 46 items, both times the first right: a resample ties
    exactly when it draws neither item, (44/46)^46 = 13 % of the time, and never favours the
    second. With ties split p is about that share; counted in both tails it was twice that."""
    gold, pred_a = _noisy(46, 1.0, seed=6)
    pred_b = pred_a.copy()
    pred_b[:2] = np.where(pred_a[:2] == "A", "B", "A")
    got = paired_bootstrap_delta(
        gold, pred_a, pred_b, ["A", "B"], resample_weights(46, 5000, 1), 0.95
    )
    assert got.p_value == pytest.approx((44 / 46) ** 46, abs=0.02)
    assert got.low >= 0 and got.ci_method in ("BCa", "percentile")


def test_the_detectable_difference_shrinks_with_n_and_is_none_without_discordance():
    sizes = [50, 100, 200, 466, 1000, 4000]
    d = [mcnemar_detectable_difference(n, 0.2) for n in sizes]
    assert d == sorted(d, reverse=True) and len(set(d)) == len(d)
    assert d[-1] * np.sqrt(4000) == pytest.approx(d[-2] * np.sqrt(1000), rel=0.05)  # ~ 1/sqrt(n)
    assert np.isnan(mcnemar_detectable_difference(466, 0.0))
    assert np.isnan(mcnemar_detectable_difference(46, 4 / 46))  # 4 discordant items: none
    assert np.isnan(mcnemar_detectable_difference(466, 9 / 466))
    assert 9 / 466 < mcnemar_detectable_difference(466, 10 / 466) <= 10 / 466


def _simulated_power(n: int, psi: float, delta: float, sets: int = 4000) -> float:
    """Share of simulated test sets (b, c drawn at p10 - p01 = delta) in which McNemar's test,
    decided as mcnemar_test decides (exact below 25 discordant pairs, else continuity-corrected
    chi-square), rejects at 0.05."""
    rng = np.random.default_rng(n)
    b, c, _ = rng.multinomial(n, [(psi + delta) / 2, (psi - delta) / 2, 1 - psi], sets).T
    pairs, count = np.unique(np.column_stack([b, c]), axis=0, return_counts=True)
    rejected = [mcnemar_counts(int(x), int(y)).p_value < 0.05 for x, y in pairs]
    return float(np.average(rejected, weights=count))


@pytest.mark.parametrize("n, psi", [(466, 0.2), (466, 0.1), (1000, 0.05)])
def test_mcnemar_test_has_80_percent_power_at_the_detectable_difference(n, psi):
    power = _simulated_power(n, psi, mcnemar_detectable_difference(n, psi))
    assert power == pytest.approx(0.8, abs=0.03)


def test_with_few_discordant_pairs_the_detectable_difference_errs_on_the_safe_side():
    """About 20 discordant pairs: mcnemar_test is exact there, the normal approximation is
    not, and the power at the stated difference is above 0.8, never below."""
    power = _simulated_power(200, 0.1, mcnemar_detectable_difference(200, 0.1))
    assert 0.8 <= power <= 0.9


def test_paired_bootstrap_difference():
    rng = np.random.default_rng(2)
    gold = rng.choice(["A", "B"], 60)
    good = np.where(rng.random(60) < 0.95, gold, np.where(gold == "A", "B", "A"))
    coin = rng.choice(["A", "B"], 60)
    w = resample_weights(60, 3000, seed=0)
    better = paired_bootstrap_delta(gold, good, coin, ["A", "B"], w, 0.95)
    assert better.low > 0 and better.p_value < 0.01 and better.ci_method == "BCa"
    assert better.observed == pytest.approx(
        point_metrics(gold, good, ["A", "B"])["macro_f1"]
        - point_metrics(gold, coin, ["A", "B"])["macro_f1"]
    )
    assert better == paired_bootstrap_delta(gold, good, coin, ["A", "B"], w, 0.95)
    same = paired_bootstrap_delta(gold, good, good, ["A", "B"], w, 0.95)
    assert (same.observed, same.low, same.high, same.p_value) == (0, 0, 0, 1)
    assert same.ci_method == "percentile"


def test_one_stratum_draws_what_the_plain_bootstrap_draws():
    gold, pred = _noisy(60, 0.75, seed=3, labels=("A", "B", "C"))
    coin = np.random.default_rng(4).choice(["A", "B", "C"], 60)
    labels = ["A", "B", "C"]
    plain, one = resample_weights(60, 500, 5), resample_weights(60, 500, 5, strata=[2] * 60)
    assert metric_intervals(gold, pred, labels, one, 0.9) == metric_intervals(
        gold, pred, labels, plain, 0.9
    )
    assert paired_bootstrap_delta(gold, pred, coin, labels, one, 0.9) == paired_bootstrap_delta(
        gold, pred, coin, labels, plain, 0.9
    )


def _folds(sizes, seed=0) -> np.ndarray:
    """Fold labels of len(sizes) folds, shuffled: the strata need not be contiguous."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(len(sizes)), sizes))


def test_stratified_resamples_keep_every_folds_size_and_are_reproducible():
    folds = _folds([10, 25, 15])

    def per_fold(idx):
        return np.stack([(folds[idx] == k).sum(axis=-1) for k in range(3)]).astype(float)

    def total(idx):  # varies with the items drawn
        return idx.sum(axis=-1)[None].astype(float)

    stratified = resample_weights(50, 400, 3, strata=folds)
    low, high, methods, draws = _bca(per_fold, stratified, 0.95)
    assert (draws == np.array([[10], [25], [15]])).all()
    assert methods == ["percentile"] * 3 and list(low) == list(high) == [10, 25, 15]
    assert _bca(per_fold, resample_weights(50, 400, 3), 0.95)[3].std(axis=-1).min() > 0
    again = _bca(total, resample_weights(50, 400, 3, strata=folds), 0.95)[3]
    assert (again == _bca(total, stratified, 0.95)[3]).all() and again.std() > 0


@pytest.mark.parametrize("sizes", [[60], [10, 30, 20]])
def test_stratified_bca_is_the_textbook_one_on_the_same_draws(sizes):
    """BCa written out from its definition over the draws scipy made: z0 from the share of draws
    below the observed value, ties counted half; the acceleration from the item jackknife,
    centred within each stratum and weighted by the strata's sizes (the several-sample form).
    One stratum is, besides, scipy's plain BCa of the same data."""
    n, folds = sum(sizes), _folds(sizes, seed=1)
    x = np.random.default_rng(2).exponential(size=n) ** 2  # skewed: the acceleration matters

    def mean(idx):
        return x[idx].mean(axis=-1)[None]

    low, high, methods, draws = _bca(mean, resample_weights(n, 2000, 9, strata=folds), 0.9)
    observed, draws = x.mean(), draws[0]
    z0 = norm.ppf((np.sum(draws < observed) + np.sum(draws <= observed)) / (2 * len(draws)))
    jack = np.array([np.delete(x, i).mean() for i in range(n)])
    num = den = 0.0
    for k, size in enumerate(sizes):
        u = (size - 1) * (jack[folds == k].mean() - jack[folds == k])
        num, den = num + np.sum(u**3) / size**3, den + np.sum(u**2) / size**2
    a = num / (6 * den**1.5)
    z = norm.ppf([0.05, 0.95])
    levels = norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    assert methods == ["BCa"] and a > 0.05
    assert (low[0], high[0]) == pytest.approx(tuple(np.quantile(draws, levels)), rel=1e-9)
    if len(sizes) == 1:
        scipy_bca = bootstrap(
            (x,), np.mean, n_resamples=2000, confidence_level=0.9, rng=np.random.default_rng(9)
        ).confidence_interval
        assert (low[0], high[0]) == pytest.approx(tuple(scipy_bca), rel=1e-9)


def _two_folds(n_per_fold: int = 100):
    """Fold 0's items all right, fold 1's half right: folds that differ strongly."""
    gold, _ = _noisy(2 * n_per_fold, 1.0, seed=12)
    pred = gold.copy()
    wrong = np.arange(n_per_fold, 2 * n_per_fold)[::2]
    pred[wrong] = np.where(gold[wrong] == "A", "B", "A")
    return gold, pred, np.repeat([0, 1], n_per_fold)


def _width(interval) -> float:
    return interval.high - interval.low


def test_stratifying_by_fold_narrows_the_intervals_when_the_folds_differ(record_property):
    """Widths go to --junitxml as properties, for the record."""
    gold, pred, folds = _two_folds()
    plain, by_fold = resample_weights(200, 3000, 0), resample_weights(200, 3000, 0, folds)
    f1 = [metric_intervals(gold, pred, ["A", "B"], w, 0.95)["macro_f1"] for w in (plain, by_fold)]
    assert f1[0].value == f1[1].value and f1[0].method == f1[1].method == "BCa"
    assert _width(f1[1]) < 0.9 * _width(f1[0])
    # against a method as accurate (0.75) but wrong on fold 0 instead: the differences, +0.5 on
    # fold 0 and -0.5 on fold 1, are mixed anew by each pooled resample, not within folds
    mirror = gold.copy()
    mirror[:100:2] = np.where(gold[:100:2] == "A", "B", "A")
    delta = [
        paired_bootstrap_delta(gold, pred, mirror, ["A", "B"], w, 0.95) for w in (plain, by_fold)
    ]
    assert delta[0].observed == delta[1].observed
    assert _width(delta[1]) < 0.8 * _width(delta[0])
    names = ("f1_plain", "f1_by_fold", "delta_plain", "delta_by_fold")
    for name, i in zip(names, f1 + delta, strict=True):
        record_property(name, f"[{i.low:+.4f}, {i.high:+.4f}]")


def test_at_the_default_studys_size_the_stratified_path_costs_what_the_plain_one_does(
    record_property,
):
    """466 items in 2 folds of 233 and B = 5000, as in the default run: each path's seconds (one
    method's intervals and one paired difference) and intervals go to --junitxml. Fold 0's
    models are the better ones here, as when one fold's training split suits the test better."""
    rng = np.random.default_rng(466)
    folds = np.repeat([0, 1], 233)
    gold = rng.choice(["A", "B"], 466)
    other = np.where(gold == "A", "B", "A")
    pred_a = np.where(rng.random(466) < np.where(folds == 0, 0.95, 0.75), gold, other)
    pred_b = np.where(rng.random(466) < np.where(folds == 0, 0.90, 0.75), gold, other)
    seconds = {}
    for name, strata in {"plain": None, "by_fold": folds}.items():
        w = resample_weights(466, 5000, 42, strata)
        start = time.perf_counter()
        f1 = metric_intervals(gold, pred_a, ["A", "B"], w, 0.95)["macro_f1"]
        delta = paired_bootstrap_delta(gold, pred_a, pred_b, ["A", "B"], w, 0.95)
        seconds[name] = time.perf_counter() - start
        assert f1.method == delta.ci_method == "BCa"
        record_property(f"{name}_seconds", f"{seconds[name]:.3f}")
        record_property(f"{name}_macro_f1", f"{f1.value:.4f} [{f1.low:.4f}, {f1.high:.4f}]")
        record_property(
            f"{name}_delta", f"{delta.observed:+.4f} [{delta.low:+.4f}, {delta.high:+.4f}]"
        )
    assert seconds["by_fold"] < 3 * seconds["plain"] + 1


def test_stratified_edges_fall_back_to_percentile_without_nan():
    gold, pred, folds = _two_folds(23)
    by_fold = resample_weights(46, 1000, 0, folds)
    perfect = metric_intervals(gold, gold, ["A", "B"], by_fold, 0.95)
    assert perfect["macro_f1"] == Interval(1.0, 1.0, 1.0, "percentile")
    assert perfect["accuracy"].high == 1
    same = paired_bootstrap_delta(gold, pred, pred, ["A", "B"], by_fold, 0.95)
    assert (same.observed, same.low, same.high, same.p_value) == (0, 0, 0, 1)
    assert same.ci_method == "percentile"
    mixed = metric_intervals(gold, pred, ["A", "B"], by_fold, 0.95)
    bounds = [v for i in mixed.values() for v in (i.value, i.low, i.high)]
    assert not np.isnan(bounds).any() and all(0 <= v <= 1 for v in bounds)


def test_stratified_p_still_splits_ties_between_the_tails():
    """As unstratified: the methods differ on 2 items, the first right both times, here one
    item in each fold of 23. A resample ties when it draws neither, (22/23)^23 in each fold;
    p is about that share: ties counted half to each side, not in both tails."""
    gold, pred_a = _noisy(46, 1.0, seed=6)
    pred_b = pred_a.copy()
    pred_b[[0, 23]] = np.where(pred_a[[0, 23]] == "A", "B", "A")
    by_fold = resample_weights(46, 5000, 1, np.repeat([0, 1], 23))
    got = paired_bootstrap_delta(gold, pred_a, pred_b, ["A", "B"], by_fold, 0.95)
    assert got.p_value == pytest.approx((22 / 23) ** 46, abs=0.02)
    assert got.low >= 0


def test_strata_name_one_fold_per_item_and_hold_two_items_or_more():
    with pytest.raises(ValueError, match="45 strata for 46 items"):
        resample_weights(46, 100, 0, strata=[0] * 45)
    with pytest.raises(ValueError, match="stratum 1 holds 1 item"):
        resample_weights(46, 100, 0, strata=[0] * 45 + [1])


def _seeds(gold: np.ndarray, accuracies, seed: int = 10) -> list[np.ndarray]:
    """One method trained with several seeds: each seed's predictions, at its own accuracy."""
    wrong = np.where(gold == "A", "B", "A")
    rng = np.random.default_rng(seed)
    return [np.where(rng.random(len(gold)) < a, gold, wrong) for a in accuracies]


def test_seeds_that_disagree_widen_the_interval_of_the_difference():
    """A bootstrap over trained models, then items: each resample picks one seed's
    predictions, so seeds at accuracies 0.95, 0.75 and 0.6 widen what one seed's items give."""
    gold, baseline = _noisy(200, 0.7, seed=1)
    seeds = _seeds(gold, [0.95, 0.75, 0.6])
    w = resample_weights(200, 2000, 0, strata=np.arange(200) % 2)
    one = paired_bootstrap_delta(gold, seeds[0], baseline, ["A", "B"], w, 0.95)
    many = paired_bootstrap_delta(gold, seeds[0], baseline, ["A", "B"], w, 0.95, draws_a=seeds)
    assert one.draws == (1, 1) and many.draws == (3, 1) and many.ci_method == "percentile"
    assert many.observed == one.observed  # the row's Δ; the interval is the procedure's
    assert _width(many) > 2 * _width(one) and many.low < 0 < one.low
    assert many.p_value > 0.05 > one.p_value
    assert many == paired_bootstrap_delta(
        gold, seeds[0], baseline, ["A", "B"], w, 0.95, draws_a=seeds
    )
    # the baseline's draws are picked too, independently (few-shot's draws of examples)
    both = paired_bootstrap_delta(
        gold, seeds[0], baseline, ["A", "B"], w, 0.95, draws_a=seeds, draws_b=seeds[::-1]
    )
    assert both.draws == (3, 3) and both.low < many.low


def test_identical_draws_or_one_draw_give_exactly_the_one_seed_bootstrap():
    gold, baseline = _noisy(120, 0.7, seed=2)
    (pred,) = _seeds(gold, [0.85])
    w = resample_weights(120, 1000, 3, strata=np.arange(120) % 3)
    one = paired_bootstrap_delta(gold, pred, baseline, ["A", "B"], w, 0.95)
    assert one.ci_method == "BCa"
    for draws in ([pred] * 3, [pred], None):
        assert (
            paired_bootstrap_delta(
                gold, pred, baseline, ["A", "B"], w, 0.95, draws_a=draws, draws_b=draws
            )
            == one
        )


def test_a_methods_own_interval_over_seeds_is_the_procedures():
    gold, _ = _noisy(150, 0.8, seed=4)
    seeds = _seeds(gold, [0.9, 0.7, 0.8])
    w = resample_weights(150, 1000, 0)
    one = metric_intervals(gold, seeds[0], ["A", "B"], w, 0.95)["macro_f1"]
    many = metric_over_draws(gold, seeds[0], seeds, ["A", "B"], w, 0.95)
    assert many.value == one.value and many.method == "percentile"
    assert many.low < one.low - 0.05
    assert metric_over_draws(gold, seeds[0], [seeds[0]] * 2, ["A", "B"], w, 0.95) == one


def test_the_corrected_cv_t_test_is_the_plain_one_with_its_variance_inflated():
    """Without the n_test / n_train term it is the one-sample t-test (scipy); the term widens
    it by the factor Nadeau and Bengio give; equal differences need no variance."""
    d = np.array([0.04, 0.01, 0.06, -0.01, 0.03, 0.05])
    plain = ttest_1samp(d, 0.0)
    uncorrected = corrected_cv_t_test(d, 0.0)
    assert uncorrected.statistic == pytest.approx(plain.statistic)
    assert uncorrected.p_value == pytest.approx(plain.pvalue) and uncorrected.df == 5
    corrected = corrected_cv_t_test(d, 1.0)
    factor = np.sqrt((1 / 6 + 1.0) / (1 / 6))
    assert corrected.statistic == pytest.approx(plain.statistic / factor)
    assert corrected.p_value > uncorrected.p_value
    assert corrected_cv_t_test([0.0, 0.0], 1.0).p_value == 1.0
    assert corrected_cv_t_test([0.02, 0.02], 1.0).p_value == 0.0
    with pytest.raises(ValueError, match="at least 2 folds"):
        corrected_cv_t_test([0.1], 1.0)


def _agreeing_repeats(n: int = 40):
    """Two methods that agree within each repeat of the folds and differ across them: in
    repeat 0 both are right on the first three quarters of the items, in repeat 1 on the rest."""
    gold = np.array(["A", "B"] * (n // 2))
    wrong = np.where(gold == "A", "B", "A")
    first = np.arange(n) < 3 * n // 4
    by_repeat = [np.where(first, gold, wrong), np.where(first, wrong, gold)]
    return gold, Draws(np.array(by_repeat), np.array([0, 1]))


def test_the_repeat_is_drawn_once_for_both_methods():
    """Paired across repeats: a resample meets repeat i of one method with repeat i of the
    other, so methods that agree within every repeat differ by exactly 0; drawn independently
    (draws of no repeat), repeat 0 of one meets repeat 1 of the other and the interval is wide."""
    gold, draws = _agreeing_repeats()
    w = resample_weights(len(gold), 1000, 0)
    pred = draws.predictions[0]
    paired = paired_bootstrap_delta(
        gold, pred, pred, ["A", "B"], w, 0.95, draws_a=draws, draws_b=draws
    )
    assert paired.draws == (2, 2) and (paired.low, paired.high) == (0, 0)
    assert paired.p_value == 1
    apart = Draws(draws.predictions)
    independent = paired_bootstrap_delta(
        gold, pred, pred, ["A", "B"], w, 0.95, draws_a=apart, draws_b=apart
    )
    assert independent.low < -0.3 and independent.high > 0.3


def test_each_repeat_resamples_items_within_its_own_folds():
    """Repeat 0 deals the items into halves, repeat 1 into even and odd: a draw right on
    exactly one fold of its own repeat has accuracy 1/2 in every resample stratified by that
    repeat's folds, and not in resamples stratified by repeat 0's."""
    n = 40
    gold = np.array(["A", "B", "B", "A"] * (n // 4))
    folds = np.array([np.arange(n) < n // 2, np.arange(n) % 2 == 0]).astype(int)
    wrong = np.where(gold == "A", "B", "A")
    draws = Draws(np.where(folds == 1, gold, wrong), np.array([0, 1]))
    own = resample_weights(n, 500, 0, strata=folds)
    assert own.samples(1)[0].tolist() == list(range(1, n, 2))
    got = metric_over_draws(gold, draws.predictions[0], draws, ["A", "B"], own, 0.95, "accuracy")
    assert (got.low, got.high) == (0.5, 0.5)
    first = resample_weights(n, 500, 0, strata=folds[0])
    spread = metric_over_draws(
        gold, draws.predictions[0], draws, ["A", "B"], first, 0.95, "accuracy"
    )
    assert spread.low < 0.45 and spread.high > 0.55
