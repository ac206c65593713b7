"""Trained configurations as methods: each LoRA configuration (variant, rank, learning rate) or
full fine-tuning learning rate, at one training size, over its seeds; LoRA with a classification
head (lora.formats) is a method of its own, chosen among its own configurations.

Training happened in each trial's own step (03_train); here `fit` loads what it saved. Test items
are scored by the model validation scored when the configuration was chosen, or by one that
scores the same: with `evaluation.merge_adapters` the adapter is folded into a copy of the base
weights (what one would deploy) and that copy scores the validation split again, timed, against
the scores training saved. Where folding moved no prediction and no label score by more than
FOLD_TOLERANCE (float32 weights: rounding, about 1e-5), the folded copy scores the test items,
faster than the adapter beside the base (docs/benchmarks/avx2.md); where it moved them more (bf16
weights: up to 0.5 nats), the folded model is not the validated one and the test is scored with
the adapter beside the base. A fully fine-tuned model is its saved weights loaded into a copy
of the base (nothing to fold); evaluation deletes those of the trials it will never score.

Each fold scores the configurations its validation chose; with `evaluation.test_candidates` every
configuration is a row of the results (role: candidate), and the evaluation step promotes the
ones selection chose.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pandas as pd

from loralab.config import FOLD_TOLERANCE
from loralab.evaluate.methods.base import Method, MethodResult, Study
from loralab.model.adapters import load_adapter, load_full_weights, load_head_adapter
from loralab.records import TrainSummary
from loralab.roles import CANDIDATE
from loralab.train.trials import KIND_NAMES, Trial, trials


def configuration_name(trial: Trial) -> str:
    """How tables name a configuration: only the axes the study varies."""
    name = KIND_NAMES[trial.kind]
    parts = [name if trial.full else f"{name} r={trial.rank}"]
    if "variant" in trial.named and not trial.full:
        parts.append(trial.variant)
    if "lr" in trial.named:
        parts.append(f"lr {trial.lr_text}")
    if "items" in trial.named:
        parts.append(f"{trial.size} items")
    return ", ".join(parts)


class TrainedConfiguration(Method):
    """One configuration's trials at one size on the study's fold: the first seed's model gives
    the row's predictions; every seed's are kept, so the row shows the spread over seeds."""

    kind = "lora"
    role = CANDIDATE
    tunes = "the epoch, by validation loss"
    with_head: bool = False  # the trials it scores: verbalizer ones (and full fine-tuning)

    def __init__(self, study: Study, mine: list[Trial]):
        self.trials = mine
        self.summaries = [TrainSummary.read(study.run.train_summary(t.id)) for t in mine]
        first = mine[0]
        super().__init__(
            study, first.method, configuration_name(first), self.summaries[0].train_items
        )
        self.kind = first.kind
        self.size = first.size

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        done = set(study.run.trained_trials())
        every = study.cfg.evaluation.test_candidates
        groups: dict[str, list[Trial]] = {}
        for t in trials(study.cfg):
            if t.fold != study.fold or t.id not in done or t.head != cls.with_head:
                continue
            if study.selection is None or study.selection.scores_on_test(t, every):
                groups.setdefault(t.method, []).append(t)
        for mine in groups.values():
            yield cls(study, mine)

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        s = self.summaries[0]
        self.cost = {
            "trainable_params": s.trainable_params,
            "trainable_mb": s.trainable_mb,
            "adapter_mb": s.adapter_bytes / 2**20,
            "train_time_s": s.time_to_best_s,
            "steps_to_best": s.steps_to_best,
        }
        self.folded = None
        if self.study.cfg.evaluation.merge_adapters and not self.trials[0].full:
            merged = self._load(self.trials[0]).merge_and_unload()
            drift = self.merge_drift(merged, s.trial, val)
            same = folding_scores_the_same(drift)
            self.cost.update(drift, merged_scored_test=same)
            self.folded = merged if same else None

    def _load(self, trial: Trial):
        """The trial's adapter on a fresh copy of the base, or its fully fine-tuned weights."""
        folder = self.study.run.adapter(trial.id)
        if trial.full:
            return load_full_weights(self.study.base.model, folder)
        if trial.head:
            return load_head_adapter(self.study.base.model, len(self.study.cfg.data.labels), folder)
        return load_adapter(copy.deepcopy(self.study.base.model), folder)

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

    def _test_model(self, trial: Trial):
        """The model that scores a trial's test items: the folded copy validation checked (the
        first seed's), the other seeds' adapters folded alike, or, where folding moved scores,
        the adapter beside the base; a fully fine-tuned model as saved. One model copy at a
        time."""
        if trial is self.trials[0] and self.folded is not None:
            model, self.folded = self.folded, None
            return model
        model = self._load(trial)
        return model.merge_and_unload() if self.cost.get("merged_scored_test") else model

    def score(self, texts: list[str]) -> MethodResult:
        builder = self.study.base.builder
        runs = [self.study.score(self._test_model(t), builder, texts) for t in self.trials]
        draws = [r.predictions for r in runs] if len(runs) > 1 else []
        by_trial = {t.id: r.predictions for t, r in zip(self.trials, runs, strict=True)}
        return self.result(
            runs[0], self.cost, draws=draws, trial_predictions=by_trial, size=self.size
        )


class HeadConfiguration(TrainedConfiguration):
    """LoRA with a classification head (lora.formats: head): its trials, scored through the
    head instead of the verbalizers, the same way in everything else."""

    kind = "lora_head"
    with_head = True


def folding_scores_the_same(drift: dict) -> bool:
    """Whether the folded copy scored validation as the validated adapter did: every prediction
    the same and no label score moved by more than FOLD_TOLERANCE."""
    return (
        drift["merge_val_agreement"] == 1.0
        and drift["merge_val_max_score_change"] <= FOLD_TOLERANCE
    )
