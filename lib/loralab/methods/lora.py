"""LoRA trials as methods: each trained rank's saved adapter on a fresh copy of the base.

Training happened in the rank's own step (03_train); here `fit` loads what it saved and, with
`evaluation.merge_adapters`, folds it into the base weights so latency is a deployed model's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pandas as pd

from ..adapters import load_adapter
from ..selection import lora_method, trained_summaries
from .base import Method, MethodResult, Study


class LoraRank(Method):
    kind = "lora"

    def __init__(self, study: Study, summary: dict):
        rank = summary["rank"]
        super().__init__(study, lora_method(rank), f"LoRA r={rank}", summary["train_items"])
        self.rank, self.summary = rank, summary

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        for summary in trained_summaries(study.run):
            yield cls(study, summary)

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        s = self.summary
        self.cost = {
            "trainable_params": s["trainable_params"],
            "trainable_mb": s["trainable_mb"],
            "adapter_mb": s["adapter_bytes"] / 2**20,
            "train_time_s": s["time_to_best_s"],
        }
        base = self.study.base.model
        self.model = load_adapter(copy.deepcopy(base), self.study.run.adapter(self.rank))
        if self.study.cfg.evaluation.merge_adapters:
            self.model = self.model.merge_and_unload()
            self.cost.update(self.merge_drift(val))

    def merge_drift(self, val: pd.DataFrame) -> dict:
        """What folding the adapter into the base weights changed: the merged model scores the
        validation split again, against the scores training saved for the same adapter
        unmerged. The test split stays untouched by this check."""
        path = self.study.run.val_predictions(self.rank)
        saved = pd.read_csv(path)
        if saved["id"].astype(str).tolist() != val["id"].astype(str).tolist():
            raise ValueError(f"{path} does not list the validation items in order")
        builder = self.study.base.builder
        now = self.study.score(self.model, builder, val["text"].tolist(), progress=False)
        moved = now.label_scores - saved[[f"score_{label}" for label in builder.labels]].to_numpy()
        return {
            "merge_val_agreement": float(
                np.mean(np.array(now.predictions) == saved["prediction"].to_numpy())
            ),
            "merge_val_max_score_change": float(np.abs(moved).max()),
        }

    def score(self, texts: list[str]) -> MethodResult:
        scores = self.study.score(self.model, self.study.base.builder, texts)
        return self.result(scores, self.cost)
