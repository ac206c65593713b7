"""Trivial baselines a skeptic asks for first: the majority class and a label-term count.

If either comes close to LoRA, the task (or the data) is easier than the headline suggests, and
the report says so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pandas as pd

from loralab.data.label_terms import term_counts, term_patterns
from loralab.evaluate.methods.base import UNTRAINED, Method, MethodResult, Study
from loralab.roles import HEADLINE


class MajorityClass(Method):
    """Predicts the most frequent training label for every item."""

    kind = "rule"

    def __init__(self, study: Study):
        super().__init__(study, "majority", "Majority class")

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        self.label = self.study.majority_label()
        self.train_items = len(train)
        share = train["label"].value_counts(normalize=True)
        self.log_prior = np.log([max(share.get(x, 0.0), 1e-12) for x in self.study.cfg.data.labels])

    def score(self, texts: list[str]) -> MethodResult:
        n = len(texts)
        scores, latency = np.tile(self.log_prior, (n, 1)), np.zeros(n)
        preds = [self.label] * n
        return self.labelled(preds, scores, latency, UNTRAINED)


class LabelTermRule(Method):
    """Counts the words of `data.label_terms` in the text the LLM is shown (every window it
    scores) and predicts the label named most often; no term, or a tie, goes to the majority
    class."""

    kind = "rule"
    role = HEADLINE

    def __init__(self, study: Study):
        super().__init__(study, "label_terms", "Label-term rule")
        self.patterns = term_patterns(study.cfg.data)
        self.show = study.base.view.visible
        self.labels = study.base.builder.labels

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        if term_patterns(study.cfg.data):
            yield cls(study)

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        self.fallback = self.study.majority_label()
        self.tie_labels = len(train)  # only their class counts, for the fallback: no item learned

    def score(self, texts: list[str]) -> MethodResult:
        latency = np.zeros(len(texts))
        counts = np.zeros((len(texts), len(self.labels)))
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            found = term_counts(self.show(text), self.patterns)
            counts[i] = [found.get(label, 0) for label in self.labels]
            latency[i] = time.perf_counter() - t0
        best = counts.max(axis=1, keepdims=True)
        clear = (counts == best).sum(axis=1) == 1
        preds = [
            self.labels[int(row.argmax())] if ok else self.fallback
            for row, ok in zip(counts, clear, strict=True)
        ]
        details = {
            "items_without_a_clear_term": int((~clear).sum()),
            "fallback": f"{self.fallback}, the majority of {self.tie_labels} training labels",
        }
        read = self.text_read(texts)
        return self.labelled(preds, np.log1p(counts), latency, UNTRAINED, details=details, **read)
