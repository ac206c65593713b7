"""A label bias fitted on labelled items: what a prompted model's prior costs, measured on the
data every other method learns from.

Content-free calibration (prompting.CalibratedZeroShot) estimates the prior from a few empty
inputs; on the default study it moves the label prior by about 1.6 nats where items differ by
about 5, so calibrated zero-shot still predicts mostly one label. Here the offset comes from
the fold's training and validation items instead:

1. batch calibration (Zhou et al. 2023, "Batch Calibration"), estimated on training items: the
   mean label log-probabilities of their windows, subtracted from each window's;
2. candidates beside it, on each label's log-probability difference to the first label: the
   5 %, 10 %, ..., 95 % quantiles of that difference over the training windows (so each
   candidate sends a known share of training windows to the label), searched one label at a
   time until a sweep changes nothing (one sweep decides two labels);
3. the candidate with the best validation macro-F1 wins; ties go to the one closest to the
   batch-calibration offset, which wins when validation cannot tell the candidates apart.

The test split is never an input: the offset is fixed before a test text is scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

QUANTILES = np.linspace(0.05, 0.95, 19)
MAX_SWEEPS = 3
RULE = (
    "offset subtracted from each window's label log-probabilities: batch calibration (mean "
    "over the training items' windows) and, per label, its log-probability difference to the "
    "first label at the 5-95 % quantiles (step 5 %) of the training windows; the best "
    "validation macro-F1 wins, ties the offset closest to batch calibration"
)


@dataclass
class LabelBias:
    batch: np.ndarray  # batch calibration: mean label log-probabilities of training windows
    offset: np.ndarray  # the candidate validation chose
    tried: dict[tuple[float, ...], float]  # validation macro-F1 of every offset tried

    def adjust(self, window_scores: np.ndarray) -> np.ndarray:
        """A window's label scores as the method predicts from them (for Study.score)."""
        return shifted(self.offset)(window_scores)

    def details(self, labels: list[str]) -> dict:
        """What evaluation.json records: both offsets and every candidate's validation
        macro-F1."""

        def named(offset) -> dict[str, float]:
            return {label: round(float(v), 4) for label, v in zip(labels, offset, strict=True)}

        def key(offset) -> str:
            return ", ".join(f"{label} {v:+.3f}" for label, v in zip(labels, offset, strict=True))

        return {
            "batch_offset": named(self.batch),
            "offset": named(self.offset),
            "val_macro_f1": round(self.tried[_key(self.offset)], 4),
            "val_macro_f1_batch": round(self.tried[_key(self.batch)], 4),
            "val_macro_f1_by_offset": {key(o): round(f, 4) for o, f in self.tried.items()},
        }


def shifted(offset: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Window label scores -> their log-probabilities over the labels, less `offset`."""
    return lambda window_scores: log_softmax(window_scores, axis=1) - offset


def _key(offset: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.round(offset, 6))


def fit_label_bias(
    train_windows: np.ndarray, val_macro_f1: Callable[[np.ndarray], float]
) -> LabelBias:
    """The offset of the rule in the module docstring. `train_windows`: windows x labels scores
    of training items; `val_macro_f1(offset)`: validation macro-F1 when each window's scores go
    through `shifted(offset)` (the caller scores validation items; nothing else is seen)."""
    logp = log_softmax(train_windows, axis=1)
    batch = logp.mean(axis=0)
    tried: dict[tuple[float, ...], float] = {}

    def rank(offset: np.ndarray) -> tuple[float, float]:
        key = _key(offset)
        if key not in tried:
            tried[key] = float(val_macro_f1(offset))
        return tried[key], -float(np.linalg.norm(offset - batch))

    best = batch
    rank(best)
    for _ in range(MAX_SWEEPS):
        start = best
        for j in range(1, logp.shape[1]):
            for gap in np.quantile(logp[:, j] - logp[:, 0], QUANTILES):
                candidate = best.copy()
                candidate[j] = best[0] + gap
                if rank(candidate) > rank(best):
                    best = candidate
        if best is start:
            break
    return LabelBias(batch, best, tried)
