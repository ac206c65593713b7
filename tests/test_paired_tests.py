import numpy as np
import pytest
from scipy.stats import binomtest, chi2
from sklearn.metrics import accuracy_score, f1_score

from loralab.paired_tests import (
    bootstrap_metrics,
    holm,
    mcnemar_test,
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


def test_bootstrap_ci_brackets_the_point_estimate_and_is_reproducible():
    rng = np.random.default_rng(1)
    gold = rng.choice(["A", "B"], 80)
    pred = np.where(rng.random(80) < 0.8, gold, np.where(gold == "A", "B", "A"))
    w = resample_weights(80, 2000, seed=7)
    value, low, high = bootstrap_metrics(gold, pred, ["A", "B"], w, 0.95)["macro_f1"]
    assert low < value < high
    assert np.array_equal(w, resample_weights(80, 2000, seed=7))
    assert w.sum(axis=1).tolist() == [80] * 2000


def test_paired_bootstrap_difference():
    rng = np.random.default_rng(2)
    gold = rng.choice(["A", "B"], 60)
    good = np.where(rng.random(60) < 0.95, gold, np.where(gold == "A", "B", "A"))
    coin = rng.choice(["A", "B"], 60)
    w = resample_weights(60, 3000, seed=0)
    better = paired_bootstrap_delta(gold, good, coin, ["A", "B"], w, 0.95)
    assert better.low > 0 and better.p_value < 0.01
    assert better.observed == pytest.approx(
        point_metrics(gold, good, ["A", "B"])["macro_f1"]
        - point_metrics(gold, coin, ["A", "B"])["macro_f1"]
    )
    same = paired_bootstrap_delta(gold, good, good, ["A", "B"], w, 0.95)
    assert (same.observed, same.low, same.high, same.p_value) == (0, 0, 0, 1)
