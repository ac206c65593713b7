"""A classic baseline: TF-IDF features and logistic regression, shown the LLM's visible text
(every window it scores, when long texts are chunked).

Tuned like LoRA: its regularization C is chosen on the validation split (as LoRA's
configuration and epoch are), and it trains on the items LoRA trained on, at each training
size; a row on the whole training split is always there, so a reader sees what more labels buy
the cheap model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from loralab.data.training_items import training_items
from loralab.evaluate.methods.base import Method, MethodResult, Study
from loralab.roles import HEADLINE
from loralab.stats.metrics import classification_metrics


class TfidfLogisticRegression(Method):
    """Words and bigrams, sublinear TF, min_df 2; C from `evaluation.tfidf_c_grid` by validation
    macro-F1, ties to the smaller C (stronger regularization), as ties go to the smaller rank."""

    kind = "classic"
    role = HEADLINE
    tunes = "C, by validation macro-F1"

    def __init__(self, study: Study, method_id: str, name: str, size: int | None):
        super().__init__(study, method_id, name)
        self.size = size
        self.show = study.base.view.visible
        self.labels = study.base.builder.labels

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        """One row per training size of the trained methods, on the same items, and one on
        every training item: what more labels buy the cheap model."""
        sizes = study.cfg.train.train_sizes
        n_all = len(study.train)
        for size in sizes:
            if size is not None and size < n_all:
                method_id = f"tfidf_n{size}" if len(sizes) > 1 else "tfidf"
                n = len(training_items(study.train, size, study.cfg.split.items_seed(study.fold)))
                yield cls(study, method_id, f"TF-IDF + logistic regression ({n} items)", size)
        yield cls(study, "tfidf_all", f"TF-IDF + logistic regression (all {n_all} items)", None)

    def _pipeline(self, c: float, min_df: int = 2):
        return make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=min_df),
            LogisticRegression(C=c, max_iter=2000),
        )

    @staticmethod
    def _min_df(texts: list[str]) -> int:
        """2, so a word counts once it recurs; 1 where no word of a few training texts does (a
        small training size), rather than no features at all."""
        try:
            TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit(texts)
        except ValueError:
            return 1
        return 2

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        train = training_items(train, self.size, self.study.cfg.split.items_seed(self.study.fold))
        t0 = time.perf_counter()
        x, y = [self.show(t) for t in train["text"]], train["label"]
        x_val = [self.show(t) for t in val["text"]]
        tried, min_df = {}, self._min_df(x)
        for c in sorted(self.study.cfg.evaluation.tfidf_c_grid):
            model = self._pipeline(c, min_df).fit(x, y)
            tried[c] = classification_metrics(val["label"], model.predict(x_val), self.labels)[
                "macro_f1"
            ]
        self.c = max(tried, key=lambda c: (tried[c], -c))
        self.model = self._pipeline(self.c, min_df).fit(x, y)
        self.fit_s = time.perf_counter() - t0
        self.train_items = len(train)
        self.tuning = {"C": self.c, "val_macro_f1_by_C": {str(c): f for c, f in tried.items()}}
        if min_df == 1:
            self.tuning["min_df"] = "1: no word recurs in the training texts"

    def score(self, texts: list[str]) -> MethodResult:
        shown = [self.show(t) for t in texts]
        latency = np.zeros(len(shown))
        proba = np.zeros((len(shown), len(self.labels)))
        order = [list(self.model.classes_).index(label) for label in self.labels]
        for i, text in enumerate(shown):
            t1 = time.perf_counter()
            proba[i] = self.model.predict_proba([text])[0][order]
            latency[i] = time.perf_counter() - t1
        params = len(self.model[0].vocabulary_) * (len(self.labels) if len(self.labels) > 2 else 1)
        cost = {
            "trainable_params": params,
            "trainable_mb": params * 8 / 2**20,
            "train_time_s": self.fit_s,
        }
        predictions = [self.labels[j] for j in proba.argmax(axis=1)]
        scores = np.log(np.clip(proba, 1e-12, 1))
        read = self.text_read(texts)
        size = "all" if self.size is None else str(self.size)
        return self.labelled(
            predictions, scores, latency, cost, details=self.tuning, size=size, **read
        )
