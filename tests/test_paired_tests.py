import numpy as np
import pytest
from scipy.stats import binomtest, bootstrap, chi2
from sklearn.metrics import accuracy_score, f1_score

from loralab.paired_tests import (
    Interval,
    bootstrap_p,
    holm,
    mcnemar_counts,
    mcnemar_detectable_difference,
    mcnemar_test,
    metric_intervals,
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
