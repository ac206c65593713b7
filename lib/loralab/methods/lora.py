"""LoRA trials as methods: each trained rank's saved adapter on a fresh copy of the base.

Training happened in the rank's own step (03_train); here `fit` loads what it saved. Test items
are scored by the adapter beside the base, exactly as validation scored it when the rank was
chosen: folding the adapter into bf16 weights moved validation scores by up to 0.5 nats, so the
folded model is not the validated one. With `evaluation.merge_adapters` a folded copy is still
timed on the validation split, for the latency of a deployed model and to show the drift.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pandas as pd

from ..adapters import load_adapter
from ..roles import TRAINED
from ..selection import lora_method, trained_summaries
from .base import Method, MethodResult, Study


class LoraRank(Method):
    """One rank's trials on the study's fold: the first seed's adapter gives the row's
    predictions; every seed's predictions are kept, so the row shows the spread over seeds."""

    kind = "lora"
    role = TRAINED

    def __init__(self, study: Study, summaries: list[dict]):
        rank = summaries[0]["rank"]
        super().__init__(study, lora_method(rank), f"LoRA r={rank}", summaries[0]["train_items"])
        self.rank, self.summaries = rank, summaries

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        trained = [s for s in trained_summaries(study.run) if s["fold"] == study.fold]
        for rank in study.cfg.lora.ranks:
            mine = [
                s
                for seed in study.cfg.train.seeds
                for s in trained
                if s["rank"] == rank and s["seed"] == seed
            ]
            if mine:
                yield cls(study, mine)

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        s = self.summaries[0]
        self.cost = {
            "trainable_params": s["trainable_params"],
            "trainable_mb": s["trainable_mb"],
            "adapter_mb": s["adapter_bytes"] / 2**20,
            "train_time_s": s["time_to_best_s"],
        }
        if self.study.cfg.evaluation.merge_adapters:  # first: one extra model copy at a time
            merged = self._load(s["trial"]).merge_and_unload()
            self.cost.update(self.merge_drift(merged, s["trial"], val))
            del merged

    def _load(self, trial: str):
        """The trial's adapter on a fresh copy of the base."""
        return load_adapter(copy.deepcopy(self.study.base.model), self.study.run.adapter(trial))

    def merge_drift(self, merged, trial: str, val: pd.DataFrame) -> dict:
        """What folding the adapter into the base weights changes: the merged model scores the
        validation split again, timed, against the scores training saved for the same adapter
        unmerged. The test split stays untouched by this check."""
        path = self.study.run.val_predictions(trial)
        saved = pd.read_csv(path)
        if saved["id"].astype(str).tolist() != val["id"].astype(str).tolist():
            raise ValueError(f"{path} does not list the validation items in order")
        builder = self.study.base.builder
        now = self.study.score(merged, builder, val["text"].tolist(), progress=False)
        moved = now.label_scores - saved[[f"score_{label}" for label in builder.labels]].to_numpy()
        return {
            "merge_val_agreement": float(
                np.mean(np.array(now.predictions) == saved["prediction"].to_numpy())
            ),
            "merge_val_max_score_change": float(np.abs(moved).max()),
            "merged_latency_p50_ms": now.latency_summary()["latency_p50_ms"],
        }

    def score(self, texts: list[str]) -> MethodResult:
        builder = self.study.base.builder
        runs = []
        for summary in self.summaries:  # one adapter copy at a time
            runs.append(self.study.score(self._load(summary["trial"]), builder, texts))
        draws = [r.predictions for r in runs] if len(runs) > 1 else []
        return self.result(runs[0], self.cost, draws=draws)
