import numpy as np
import pytest
from sklearn.metrics import log_loss

from loralab.stats.metrics import label_cross_entropy

LABELS = ["Colon_Cancer", "Lung_Cancer", "Other"]


def test_label_cross_entropy_is_ln_of_the_label_count_at_chance():
    scores = np.full((4, 3), -2.5)
    gold = ["Colon_Cancer", "Lung_Cancer", "Other", "Other"]
    assert label_cross_entropy(gold, scores, LABELS) == pytest.approx(np.log(3))


def test_label_cross_entropy_is_the_log_loss_of_the_softmax_over_label_scores():
    rng = np.random.default_rng(0)
    scores = rng.normal(-3, 2, size=(50, 3))
    gold = [LABELS[i] for i in rng.integers(0, 3, 50)]
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    expected = log_loss(gold, probs, labels=LABELS)
    assert label_cross_entropy(gold, scores, LABELS) == pytest.approx(expected)
    shifted = scores + rng.normal(0, 5, size=(50, 1))  # a per-item offset says nothing of the label
    assert label_cross_entropy(gold, shifted, LABELS) == pytest.approx(expected)


def test_label_cross_entropy_falls_only_when_the_gold_label_gains():
    gold = ["Colon_Cancer", "Lung_Cancer"]
    even = np.zeros((2, 3))
    right = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    wrong = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    at = {
        name: label_cross_entropy(gold, s, LABELS)
        for name, s in {"even": even, "right": right, "wrong": wrong}.items()
    }
    assert at["right"] < at["even"] < at["wrong"]
