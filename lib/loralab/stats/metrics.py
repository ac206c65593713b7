"""Classification metrics on gold and predicted labels, with the label set fixed by the task.

Passing the task's labels explicitly matters: a model that never predicts one class must still
get F1 = 0 for it, not have the class silently left out of the macro average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax
from sklearn.metrics import accuracy_score, f1_score


def classification_metrics(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, float]:
    per_class = f1_score(gold, pred, labels=list(labels), average=None, zero_division=0)
    out = {
        "macro_f1": float(
            f1_score(gold, pred, labels=list(labels), average="macro", zero_division=0)
        ),
        "accuracy": float(accuracy_score(gold, pred)),
    }
    out.update({f"f1_{label}": float(v) for label, v in zip(labels, per_class, strict=True)})
    return out


def label_cross_entropy(
    gold: Sequence[str], label_scores: np.ndarray, labels: Sequence[str]
) -> float:
    """Mean cross-entropy of the gold label among the labels' scores (items x labels, summed
    log-probabilities), in nats. The answer-token loss also counts the tokens that only spell out
    an answer's format, so it keeps falling while a model learns that format; this one is
    ln(len(labels)) for a model at chance between the labels, whatever it learned besides."""
    column = {label: j for j, label in enumerate(labels)}
    rows = np.arange(len(gold))
    cols = [column[label] for label in gold]
    return float(-log_softmax(label_scores, axis=1)[rows, cols].mean())


@dataclass(frozen=True)
class Criterion:
    """A validation measure that chooses a trial's epoch and a fold's configuration
    (train.select_by): its column in history.csv and summary.json, its direction, and the
    measure that breaks its ties."""

    column: str
    lower_is_better: bool
    name: str
    tie_break: str

    def key(self, row) -> tuple[float, float]:
        """Larger is better, ties broken by `tie_break` (a loss lower, macro-F1 higher)."""
        sign = -1.0 if self.lower_is_better else 1.0
        other = 1.0 if self.tie_break == "val_macro_f1" else -1.0
        return sign * float(row[self.column]), other * float(row[self.tie_break])


CRITERIA = {
    "label_loss": Criterion(
        "val_label_loss",
        True,
        "validation label loss (the gold label's cross-entropy among the labels)",
        "val_macro_f1",
    ),
    "val_loss": Criterion("val_loss", True, "validation loss (answer tokens)", "val_macro_f1"),
    "val_macro_f1": Criterion("val_macro_f1", False, "validation macro-F1", "val_label_loss"),
}
