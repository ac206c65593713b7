"""Prompting baselines: the base model asked for a label, as is, calibrated, and with examples.

Raw zero-shot scores carry the model's prior over the label words: on content-free inputs the
embedded model prefers "Lung cancer" by several nats, so raw zero-shot is close to a constant
predictor. Calibration divides that prior out: estimated on content-free inputs, or fitted on
the fold's training and validation items (label_bias.py), the labelled data every trained
method learns from. Few-shot averages several seeded draws of examples and orders, since one
draw's order alone moves macro-F1 a lot; its fitted-bias row fits one bias per draw.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy.special import log_softmax

from loralab.data.training_items import stratified_subset
from loralab.evaluate.methods.base import UNTRAINED, Method, MethodResult, Study
from loralab.evaluate.methods.label_bias import RULE, LabelBias, fit_label_bias, shifted
from loralab.model.prompts import PromptBuilder
from loralab.model.scoring import Scores
from loralab.roles import ANCHOR, HEADLINE
from loralab.stats.metrics import classification_metrics

# Training items a label bias is fitted on, per prompt: each is one more prompt scored (per
# draw for few-shot), and the offset has one number per label to estimate.
BIAS_TRAIN_ITEMS = 64


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
    tunes = "nothing (the prior comes from content-free inputs)"

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


def bias_training_items(train: pd.DataFrame, seed: int, shown=frozenset()) -> pd.DataFrame:
    """The training items a label bias is fitted on: BIAS_TRAIN_ITEMS of them (give or take one
    by rounding), stratified with `seed`. Items `shown` as few-shot examples are left out: the
    prompt gives their labels away."""
    pool = train[~train["text"].isin(shown)]
    return (
        pool if len(pool) <= BIAS_TRAIN_ITEMS else stratified_subset(pool, BIAS_TRAIN_ITEMS, seed)
    )


def fitted_bias(
    study: Study, builder: PromptBuilder, items: pd.DataFrame, val: pd.DataFrame
) -> LabelBias:
    """`builder`'s label bias on a fold (label_bias.py): the base model scores the training
    `items` and the validation split under that prompt, once (Study keeps the scores)."""
    model, labels = study.base.model, builder.labels
    windows = study.window_scores(model, builder, items["text"].tolist(), progress=False)
    texts, gold = val["text"].tolist(), val["label"].tolist()

    def val_macro_f1(offset: np.ndarray) -> float:
        scores = study.score(model, builder, texts, progress=False, adjust=shifted(offset))
        return classification_metrics(gold, scores.predictions, labels)["macro_f1"]

    return fit_label_bias(windows.windows.label_scores, val_macro_f1)


def bias_details(bias: LabelBias, labels: list[str], items: pd.DataFrame, val) -> dict:
    """What evaluation.json records of one fitted bias: the rule, the items, the offsets."""
    return {
        "rule": RULE,
        "train_items": len(items),
        "val_items": len(val),
        **bias.details(labels),
    }


class ZeroShotBias(Method):
    """Zero-shot with a label bias fitted on the fold's training and validation items
    (label_bias.py): the labelled data every trained method gets, used to set the one thing
    content-free calibration guesses. Fitting scores BIAS_TRAIN_ITEMS training items and the
    validation split (its time is the row's training time); the test pass is zero-shot's."""

    kind = "prompting"
    role = HEADLINE
    tunes = "the label offset, by validation macro-F1"

    def __init__(self, study: Study):
        super().__init__(study, "zero_shot_bias", "Zero-shot, label bias fitted")

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        t0, builder = time.perf_counter(), self.study.base.builder
        items = bias_training_items(train, self.study.cfg.split.seed)
        self.bias = fitted_bias(self.study, builder, items, val)
        self.cost = UNTRAINED | {"train_time_s": time.perf_counter() - t0}
        self.train_items = len(items)
        self.details = bias_details(self.bias, builder.labels, items, val)

    def score(self, texts: list[str]) -> MethodResult:
        base = self.study.base
        scores = self.study.score(base.model, base.builder, texts, adjust=self.bias.adjust)
        return self.result(scores, self.cost, details=self.details)


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
        self.cost, self.details = UNTRAINED, {}

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        e = study.cfg.evaluation
        if e.few_shot_k:
            yield cls(study, e.few_shot_k, e.few_shot_draws)

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        # the study's, so that the fitted-bias row scores the very same prompts (scored once)
        self.prompts = self.study.shared(
            ("few_shot", self.k, self.draws), lambda: self.drawn_prompts(train)
        )
        self.adjusts = [None] * self.draws
        self.train_items = self.k * len(self.study.base.builder.labels) * self.draws

    def drawn_prompts(self, train: pd.DataFrame) -> list[tuple[list, PromptBuilder]]:
        """Each draw's examples and its prompt builder."""
        cfg, base = self.study.cfg, self.study.base
        prompts = []
        for draw in range(self.draws):
            shots = few_shot_examples(train, base.builder.labels, self.k, cfg.split.seed + draw)
            builder = PromptBuilder.few_shot(
                base.tokenizer, cfg.prompt, cfg.data, cfg.train.seq_len, shots
            )
            prompts.append((shots, builder))
        return prompts

    def score(self, texts: list[str]) -> MethodResult:
        labels, model = self.study.base.builder.labels, self.study.base.model
        runs = [
            self.study.score(model, builder, texts, adjust=adjust)
            for (_, builder), adjust in zip(self.prompts, self.adjusts, strict=True)
        ]
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
        return self.result(scores, self.cost, draws=draws, details=self.details)


class FewShotBias(FewShot):
    """Few-shot with a label bias fitted per draw, as zero-shot's (ZeroShotBias): a draw's
    examples move the prior too, each its own way. The test pass of each draw is few-shot's,
    reused; fitting scores each draw's prompt on BIAS_TRAIN_ITEMS training items (not its
    examples) and the validation split, about half a test pass more per draw on the default
    study, and is the row's training time."""

    tunes = "a label offset per draw, by validation macro-F1"

    def __init__(self, study: Study, k: int, draws: int):
        super().__init__(study, k, draws)
        self.id, self.name = "few_shot_bias", f"{self.name}, label bias fitted"

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        super().fit(train, val)
        t0, seed = time.perf_counter(), self.study.cfg.split.seed
        seen, self.adjusts, self.details = set(), [], {}
        for draw, (shots, builder) in enumerate(self.prompts):
            shown = {text for text, _ in shots}
            items = bias_training_items(train, seed, shown)
            bias = fitted_bias(self.study, builder, items, val)
            self.adjusts.append(bias.adjust)
            self.details[f"draw {draw}"] = bias_details(bias, builder.labels, items, val)
            seen |= shown | set(items["text"])
        self.cost = UNTRAINED | {"train_time_s": time.perf_counter() - t0}
        self.train_items = len(seen)
