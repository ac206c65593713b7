"""Prompting baselines: the base model asked for a label, without and with examples."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from ..prompts import PromptBuilder
from .base import UNTRAINED, Method, MethodResult, Study


class ZeroShot(Method):
    """The base model scores each verbalizer after the instruction and the text."""

    kind = "prompting"

    def __init__(self, study: Study):
        super().__init__(study, "zero_shot", "Zero-shot")

    def score(self, texts: list[str]) -> MethodResult:
        base = self.study.base
        return self.result(self.study.score(base.model, base.builder, texts), UNTRAINED)


def few_shot_examples(
    train: pd.DataFrame, labels: list[str], k: int, seed: int
) -> list[tuple[str, str]]:
    """`k` training items per label, drawn with `seed`, alternating labels."""
    picked = [train[train["label"] == label].sample(n=k, random_state=seed) for label in labels]
    examples = []
    for i in range(k):
        for part in picked:
            examples.append((part["text"].iloc[i], part["label"].iloc[i]))
    return examples


class FewShot(Method):
    """`evaluation.few_shot_k` training items per class as earlier chat turns of the prompt."""

    kind = "prompting"

    def __init__(self, study: Study, k: int):
        super().__init__(study, "few_shot", f"Few-shot (k={k})")
        self.k = k

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        if study.cfg.evaluation.few_shot_k:
            yield cls(study, study.cfg.evaluation.few_shot_k)

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        cfg, base = self.study.cfg, self.study.base
        shots = few_shot_examples(train, base.builder.labels, self.k, cfg.train.seed)
        self.train_items = len(shots)
        self.builder = PromptBuilder.few_shot(
            base.tokenizer, cfg.prompt, cfg.data, cfg.train.seq_len, shots
        )

    def score(self, texts: list[str]) -> MethodResult:
        return self.result(self.study.score(self.study.base.model, self.builder, texts), UNTRAINED)
