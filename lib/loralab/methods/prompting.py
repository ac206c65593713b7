"""Prompting baselines: the base model asked for a label, as is, calibrated, and with examples.

Raw zero-shot scores carry the model's prior over the label words: on content-free inputs the
embedded model prefers "Lung cancer" by several nats, so raw zero-shot is close to a constant
predictor. Calibration divides that prior out; few-shot averages several seeded draws of
examples and orders, since one draw's order alone moves macro-F1 a lot.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy.special import log_softmax

from ..prompts import PromptBuilder
from ..roles import ANCHOR, HEADLINE
from ..scoring import Scores
from .base import UNTRAINED, Method, MethodResult, Study


class ZeroShot(Method):
    """The base model scores each verbalizer after the instruction and the text."""

    kind = "prompting"
    role = ANCHOR

    def __init__(self, study: Study):
        super().__init__(study, "zero_shot", "Zero-shot")

    def score(self, texts: list[str]) -> MethodResult:
        base = self.study.base
        return self.result(self.study.score(base.model, base.builder, texts), UNTRAINED)


class CalibratedZeroShot(Method):
    """Contextual calibration (Zhao et al. 2021, "Calibrate before use"): label probabilities
    are divided by those the model gives content-free inputs, i.e. their mean log-probabilities
    (normalized over the labels) are subtracted from each item's."""

    kind = "prompting"
    role = HEADLINE

    def __init__(self, study: Study):
        super().__init__(study, "zero_shot_calibrated", "Zero-shot, calibrated")

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        base, inputs = self.study.base, self.study.cfg.evaluation.content_free_inputs
        free = self.study.score(base.model, base.builder, inputs, progress=False)
        self.prior = log_softmax(free.label_scores, axis=1).mean(axis=0)
        prior = self.prior.round(4).tolist()
        self.content_free = {
            "inputs": inputs,
            "label_logprobs": dict(zip(base.builder.labels, prior, strict=True)),
        }

    def score(self, texts: list[str]) -> MethodResult:
        base = self.study.base

        def calibrate(window_scores: np.ndarray) -> np.ndarray:
            return log_softmax(window_scores, axis=1) - self.prior

        # the zero-shot pass, reused; calibrated per window, before windows are aggregated
        scores = self.study.score(base.model, base.builder, texts, adjust=calibrate)
        return self.result(scores, UNTRAINED, details={"content_free": self.content_free})


def few_shot_examples(
    train: pd.DataFrame, labels: list[str], k: int, seed: int
) -> list[tuple[str, str]]:
    """`k` training items per label drawn with `seed`, in an order shuffled with the same seed:
    no label's example is always last."""
    picked = [train[train["label"] == label].sample(n=k, random_state=seed) for label in labels]
    examples = [
        (text, label)
        for part in picked
        for text, label in zip(part["text"], part["label"], strict=True)
    ]
    order = np.random.default_rng(seed).permutation(len(examples))
    return [examples[i] for i in order]


class FewShot(Method):
    """`evaluation.few_shot_k` training items per class as earlier chat turns, drawn
    `evaluation.few_shot_draws` times with different seeds. Each draw is one shared prefix
    (KV-cached), so it costs about one zero-shot pass. The row predicts from the draws' mean
    label log-probabilities; each draw's predictions are kept for the spread."""

    kind = "prompting"

    def __init__(self, study: Study, k: int, draws: int):
        drawn = f"{draws} draws" if draws > 1 else "1 draw"
        super().__init__(study, "few_shot", f"Few-shot (k={k}, {drawn})")
        self.k, self.draws = k, draws

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        e = study.cfg.evaluation
        if e.few_shot_k:
            yield cls(study, e.few_shot_k, e.few_shot_draws)

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        cfg, base = self.study.cfg, self.study.base
        self.builders = []
        for draw in range(self.draws):
            shots = few_shot_examples(train, base.builder.labels, self.k, cfg.split.seed + draw)
            self.builders.append(
                PromptBuilder.few_shot(
                    base.tokenizer, cfg.prompt, cfg.data, cfg.train.seq_len, shots
                )
            )
        self.train_items = self.k * len(base.builder.labels) * self.draws

    def score(self, texts: list[str]) -> MethodResult:
        labels = self.study.base.builder.labels
        runs = [self.study.score(self.study.base.model, b, texts) for b in self.builders]
        mean = np.mean([log_softmax(r.label_scores, axis=1) for r in runs], axis=0)
        scores = Scores(
            np.mean([r.verbalizer_scores for r in runs], axis=0),
            mean,
            [labels[j] for j in mean.argmax(axis=1)],
            np.sum([r.latency_s for r in runs], axis=0),  # one item costs every draw
            np.sum([r.prompt_tokens for r in runs], axis=0),
            sum(r.seconds for r in runs),
            runs[0].chunks,  # every draw reads the same windows of the item
        )
        draws = [r.predictions for r in runs] if len(runs) > 1 else []
        return self.result(scores, UNTRAINED, draws=draws)
