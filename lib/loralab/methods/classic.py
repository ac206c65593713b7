"""A classic baseline: TF-IDF features and logistic regression, shown the LLM's visible text."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from .base import Method, MethodResult, Study


class TfidfLogisticRegression(Method):
    """Words and bigrams, sublinear TF, min_df 2; trained on the whole training split. It sees
    only the part of each text that fits the LLM prompt, so both read the same evidence."""

    kind = "classic"

    def __init__(self, study: Study):
        super().__init__(study, "tfidf", "TF-IDF + logistic regression")
        self.show = study.base.builder.visible_text
        self.labels = study.base.builder.labels

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        t0 = time.perf_counter()
        self.model = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
            LogisticRegression(max_iter=2000),
        )
        self.model.fit([self.show(t) for t in train["text"]], train["label"])
        self.fit_s = time.perf_counter() - t0
        self.train_items = len(train)

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
        return MethodResult(
            self.id,
            self.name,
            self.kind,
            self.train_items,
            [self.labels[j] for j in proba.argmax(axis=1)],
            np.log(np.clip(proba, 1e-12, 1)),
            latency,
            None,
            cost,
        )
