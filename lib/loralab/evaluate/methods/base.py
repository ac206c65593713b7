"""The interface every method of a study implements, and what a method hands back.

A method is anything that labels the test items: a prompted base model, a classic classifier, a
trained LoRA trial. The evaluation step builds each registered method from the study, fits it
on the training (and validation) items it is allowed to see, and scores the test texts, so a
new baseline is one class and one line in the registry, never another branch in the step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from loralab.config import Config
from loralab.data.splits import read_split
from loralab.evaluate.selection import Selection
from loralab.layout import RunPaths
from loralab.model.loading import LoadedModel, load_base
from loralab.model.scoring import ChunkScores, Scores, WindowCache, score_chunks, score_texts
from loralab.roles import BASELINE

UNTRAINED = {"trainable_params": 0, "trainable_mb": 0.0, "train_time_s": 0.0}


@dataclass
class MethodResult:
    method: str  # column-safe id: zero_shot, few_shot, tfidf, lora_r8 ...
    name: str  # shown in tables and figures
    kind: str  # rule, prompting, classic or lora
    train_items: int  # labelled items the method learned from (0: none)
    predictions: list[str]
    label_scores: np.ndarray  # items x labels
    latency_s: np.ndarray
    prompt_tokens_per_s: float | None
    cost: dict = field(default_factory=dict)
    draws: list[list[str]] = field(default_factory=list)  # predictions of each seeded draw
    details: dict = field(default_factory=dict)  # what evaluation.json records of the method
    chunks: np.ndarray | None = None  # windows read per item (None: one each)
    tokens: np.ndarray | None = None  # tokens read per item: prompts scored, or text seen
    role: str = field(kw_only=True)  # one of roles.ROLES
    tuned: str = field(default="nothing", kw_only=True)  # what it chose on validation
    train_items_per_fold: list[int] = field(default_factory=list)  # pooled results only
    size: str | None = None  # the training size it stands for (`16`, `all`); None: untrained
    trial_predictions: dict[str, list[str]] = field(default_factory=dict)  # per trial id
    # the repeat of the folds each draw came from (split.repeats); empty: repeat 0 for all
    draw_repeats: list[int] = field(default_factory=list)


@dataclass
class Study:
    """What methods are built from: the params, the run folder, the base model, and the fold
    whose train and val splits a method may learn from. The test split is not here; methods
    only ever score its texts."""

    cfg: Config
    run: RunPaths
    base: LoadedModel
    train: pd.DataFrame
    val: pd.DataFrame
    fold: int = 0
    # what validation chose; None (a study opened by hand): every finished trial is scored
    selection: Selection | None = None
    # the base model's window scores per prompt builder: shared by the folds of one evaluation
    cache: dict = field(default_factory=dict, repr=False)
    _shared: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        cfg: Config,
        run: RunPaths,
        fold: int = 0,
        base: LoadedModel | None = None,
        selection: Selection | None = None,
        cache: dict | None = None,
    ) -> Study:
        train, val = read_split(run, "train", fold), read_split(run, "val", fold)
        base = base or load_base(cfg)
        return cls(cfg, run, base, train, val, fold, selection, {} if cache is None else cache)

    def score(self, model, builder, texts: list[str], progress: bool = True, adjust=None) -> Scores:
        """Label scoring of documents as every LLM method runs it: same windows, precision,
        batch size and aggregate. `adjust` maps each window's label scores before aggregation
        (calibration)."""
        chunked = self.window_scores(model, builder, texts, progress)
        return chunked.documents(builder.labels, self.cfg.evaluation.chunk_aggregate, adjust)

    def window_scores(self, model, builder, texts: list[str], progress: bool = True) -> ChunkScores:
        """Every window's scores. The base model's are kept per prompt and window (`cache`), so
        each window is scored once whichever method or fold asks: zero-shot and its
        calibrations, few-shot and its fitted bias, and the items one fold tests and another
        fits a bias on. A trained model's copy is scored anew."""
        batch = self.cfg.evaluation.batch_size
        view, precision = self.base.view, self.base.precision
        if model is not self.base.model:
            return score_chunks(model, builder, view, texts, precision, batch, progress)
        # the builder is held beside its cache, so its id stays its own
        _, cache = self.cache.setdefault(id(builder), (builder, WindowCache()))
        windows, owner = view.expand(texts)
        scores = cache.scores(
            windows, lambda new: score_texts(model, builder, new, precision, batch, progress)
        )
        return ChunkScores(scores, owner, len(texts))

    def shared(self, key, make):
        """A value the methods of this study share, made by the first that asks: e.g. the
        few-shot prompts, so that each row built on them scores the same prompts."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def majority_label(self) -> str:
        """The most frequent training label; ties go to the first in data.labels."""
        counts = self.train["label"].value_counts()
        return max(self.cfg.data.labels, key=lambda label: counts.get(label, 0))


class Method(ABC):
    """One way of labelling texts. Subclasses set `kind` and `role`, and an id and a name per
    instance."""

    kind: ClassVar[str]
    role: ClassVar[str] = BASELINE
    tunes: ClassVar[str] = "nothing"  # what it chose on validation, one line in the tables

    def __init__(self, study: Study, method_id: str, name: str, train_items: int = 0):
        self.study, self.id, self.name, self.train_items = study, method_id, name, train_items

    @classmethod
    def build(cls, study: Study) -> Iterator[Method]:
        """The instances a study gets (none when switched off by its params). A generator, so
        a method holding its own model copy is released before the next one is built."""
        yield cls(study)

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:  # noqa: B027
        """Learn from the labelled items; methods that learn nothing keep this no-op."""

    @abstractmethod
    def score(self, texts: list[str]) -> MethodResult: ...

    def labelled(self, predictions, label_scores, latency_s, cost: dict, **extra) -> MethodResult:
        """This method's MethodResult: its id, name, kind, role and training items, and what it
        predicted of the texts."""
        extra.setdefault("prompt_tokens_per_s", None)
        return MethodResult(
            self.id,
            self.name,
            self.kind,
            self.train_items,
            list(predictions),
            label_scores,
            latency_s,
            cost=cost,
            role=self.role,
            tuned=self.tunes,
            **extra,
        )

    def result(self, scores: Scores, cost: dict, **extra) -> MethodResult:
        """A MethodResult from label scores (every LLM method's way of predicting)."""
        return self.labelled(
            scores.predictions,
            scores.label_scores,
            scores.latency_s,
            cost,
            prompt_tokens_per_s=scores.tokens_per_second,
            chunks=scores.chunk_counts,
            tokens=scores.prompt_tokens,
            **extra,
        )

    def text_read(self, texts: list[str]) -> dict:
        """What a method that reads the view's text (not prompts) saw of each item: its windows
        and their text tokens."""
        view = self.study.base.view
        windows = [view.windows(t) for t in texts]
        counts = np.array([len(w.chunks) for w in windows])
        tokens = [min(w.tokens, view.size * len(w.chunks)) for w in windows]
        return {"chunks": counts, "tokens": np.array(tokens)}
