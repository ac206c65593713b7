"""The records one step hands the next, typed, and written and read here only.

Each is a frozen dataclass with one `write` and one `read`, so a field renamed here fails in
one place, loudly, instead of in every reader that looked it up by its string key. `read`
also takes the files of older runs (committed findings among them), filling what they lack
with what those runs did.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from loralab.artifacts import read_json, write_json
from loralab.roles import ANCHOR, with_role


class Configuration(NamedTuple):
    """What a fold chooses among for a trained method: its variant, rank and learning rate
    (full fine-tuning: variant "full", rank 0)."""

    variant: str
    rank: int
    lr: float


def size_order(size: str) -> float:
    """Training sizes as numbers, `all` the largest."""
    return float("inf") if size == "all" else float(size)


NAN = float("nan")


@dataclass(frozen=True)
class Provenance:
    """data/provenance.json: where the corpus came from and what the data step did to it; the
    split step, every model card, the report and the tracker read it."""

    source: str
    split_given: bool
    items: int
    labels: dict[str, int]
    corpus_hash: str
    label_terms: dict[str, Any] = field(default_factory=dict)  # held, masked
    audit: dict[str, Any] = field(default_factory=dict)  # per flag: meaning, items, ids
    details: dict[str, Any] = field(default_factory=dict)  # what the source adds (rule, files)

    def as_dict(self) -> dict[str, Any]:
        """The file's content: the fields, the source's details beside them."""
        record = dataclasses.asdict(self)
        return record | record.pop("details")

    def write(self, path: Path) -> None:
        write_json(path, self.as_dict())

    @classmethod
    def read(cls, path: Path) -> Provenance:
        raw = read_json(path)
        names = [f.name for f in dataclasses.fields(cls) if f.name != "details"]
        known = {k: raw.pop(k) for k in names if k in raw}
        return cls(**known, details=raw)


@dataclass(frozen=True)
class LeakageRecord:
    """split/leakage.json: the overlap between every pair of splits (of every fold), and the
    policy that judged it; the report reads it."""

    clean: bool
    policy: str  # split.on_leakage
    summary: list[dict]  # per pair of splits and fold: exact and near overlaps
    exact: list[dict]  # the leaking pairs
    near: list[dict]

    def write(self, path: Path) -> None:
        write_json(path, dataclasses.asdict(self))

    @classmethod
    def read(cls, path: Path) -> LeakageRecord:
        return cls(**read_json(path))


@dataclass(frozen=True)
class TrainSummary:
    """train/<trial>/summary.json: one finished trial, its axes, its best epoch's validation
    scores (what selection weighs) and its cost. Written last, so it marks the trial done.
    Fields with a default are those that trials trained before them lack."""

    trial: str
    method: str  # the trial's kind: lora, lora_head, full
    variant: str
    rank: int
    lr: float
    train_size: str
    fold: int
    seed: int
    best_epoch: int
    epochs_run: int
    val_macro_f1: float
    val_accuracy: float
    val_loss: float
    trainable_params: int
    trainable_mb: float
    time_to_best_s: float
    train_time_s: float
    train_tokens_per_s: float
    peak_memory_mb: float
    precision: str  # the dtype path, e.g. "cpu, weights bfloat16, compute bfloat16"
    processes: int
    train_items: int
    val_items: int
    adapter_bytes: int
    val_label_loss: float = NAN
    train_label_loss: float = NAN
    select_by: str = "val_loss"  # what chose the epoch
    fit_check_items: int = 0
    fit_check_seconds: float = 0.0
    optimizer_steps: int | None = None
    steps_to_best: float = NAN
    train_windows: int | None = None
    windows_per_epoch: int | None = None
    compiled: bool = False
    compile_reason: str = ""
    compile_seconds: float = 0.0
    compile_fx_hits: int = 0
    compile_fx_misses: int = 0
    compile_autograd_hits: int = 0
    compile_autograd_misses: int = 0

    @property
    def configuration(self) -> Configuration:
        return Configuration(self.variant, self.rank, self.lr)

    def row(self) -> dict[str, Any]:
        """The summary as a table row (trials.csv, selection, the cost table)."""
        return dataclasses.asdict(self)

    def write(self, path: Path) -> None:
        write_json(path, self.row())

    @classmethod
    def read(cls, path: Path) -> TrainSummary:
        return cls(**read_json(path))


@dataclass(frozen=True)
class WindowReading:
    """What the methods read of the texts: one window each (truncate) or up to max_chunks
    (chunks), and how much of a text one window misses; a report says from it whether
    truncation was a choice that mattered."""

    mode: str  # data.long_text
    window_tokens: int
    overlap_tokens: int
    max_chunks: int
    texts: int
    texts_longer_than_one_window: int
    median_tokens: float
    max_tokens: int
    median_windows_needed: float
    mean_windows_read: float
    texts_cut_short: int
    chunk_aggregate: str | None = None  # evaluation's, once it scored
    train_chunks_per_item: int | None = None


@dataclass(frozen=True)
class Choice:
    """One of selection's choices: a trained kind (lora, lora_head, full) at a training size,
    and the results.csv id of the method that stands for it."""

    kind: str
    train_size: str
    method: str


@dataclass(frozen=True)
class EvaluationRecord:
    """eval/evaluation.json: what selection chose and by which rule, what each method is, how
    it was tuned and what it read; the statistics step, the report and `loralab compare` read
    it."""

    selected_method: str | None  # the lead: LoRA chosen at the largest training size
    lead_configurations: dict[int, Configuration]  # fold -> the lead's configuration
    choices: tuple[Choice, ...]
    selection_rule: str
    select_by: str
    selection: list[dict]  # selection.csv's rows
    lr_tuned: bool
    early_stopping_can_fire: bool
    folds: int
    repeats: int
    seeds: list[int]
    details: dict[str, dict]  # method -> what it tuned
    labels: list[str]
    methods: dict[str, str]  # results.csv id -> name
    roles: dict[str, str]  # results.csv id -> role (roles.py)
    few_shot_k: int
    long_text: WindowReading | None  # what the methods read of the test texts
    bootstrap_resamples: int

    @property
    def anchor(self) -> str:
        """The untrained method every trained one is compared with (zero-shot)."""
        return with_role(self.roles, ANCHOR)[0]

    @property
    def lead(self) -> str:
        """The method the study reports: the selected LoRA, else the anchor."""
        return self.selected_method or self.anchor

    def lead_of(self, kind: str) -> str | None:
        """The results.csv id of what selection chose for `kind` at the largest training size
        (None: the run trained no such method)."""
        chosen = [c for c in self.choices if c.kind == kind]
        return max(chosen, key=lambda c: size_order(c.train_size)).method if chosen else None

    def write(self, path: Path) -> None:
        record = dataclasses.asdict(self)
        record["lead_configurations"] = {
            str(fold): c._asdict() for fold, c in self.lead_configurations.items()
        }
        write_json(path, record)

    @classmethod
    def read(cls, path: Path) -> EvaluationRecord:
        raw = read_json(path)
        return cls(
            selected_method=raw["selected_method"],
            lead_configurations={
                int(fold): Configuration(**c)
                for fold, c in raw.get("lead_configurations", {}).items()
            },
            choices=tuple(_choice(c) for c in raw.get("choices", raw.get("selected_methods", []))),
            selection_rule=raw.get("selection_rule", ""),
            select_by=raw.get("select_by", "val_loss"),  # runs before train.select_by
            selection=raw.get("selection", []),
            lr_tuned=raw.get("lr_tuned", True),
            early_stopping_can_fire=raw.get("early_stopping_can_fire", True),
            folds=raw.get("folds", 1),
            repeats=raw.get("repeats", 1),
            seeds=raw.get("seeds", []),
            details=raw.get("details", {}),
            labels=raw["labels"],
            methods=raw["methods"],
            roles=raw["roles"],
            few_shot_k=raw.get("few_shot_k", 0),
            long_text=WindowReading(**raw["long_text"]) if raw.get("long_text") else None,
            bootstrap_resamples=raw.get("bootstrap_resamples", 0),
        )


def _choice(raw: dict) -> Choice:
    if "kind" in raw:
        return Choice(**raw)
    return Choice(raw["method"], raw["train_size"], raw["id"])  # the keys before Choice


@dataclass(frozen=True)
class PrimaryDeclaration:
    """The primary comparison as stats.primary declared it, the pair tested, what stood in
    for a method the run lacked, and the caveat a reader must see beside it."""

    declared: list[str]
    pair: list[str]
    note: str = ""
    caveat: str = ""


@dataclass(frozen=True)
class StatTestsRecord:
    """stats/stat_tests.json: every planned comparison with the settings it was computed
    with, and the meaning of its columns for a reader of the file alone."""

    comparisons: list[dict]
    correction: str
    bootstrap_resamples: int
    seed: int
    confidence: float
    n_test: int
    folds: int
    primary: PrimaryDeclaration | None
    explained: dict[str, Any] = field(default_factory=dict)  # what the columns mean

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.comparisons)

    def write(self, path: Path) -> None:
        record = dataclasses.asdict(self)
        explained = record.pop("explained")
        write_json(path, record | explained)

    @classmethod
    def read(cls, path: Path) -> StatTestsRecord:
        raw = read_json(path)
        fields = {f.name for f in dataclasses.fields(cls)}
        primary = raw.get("primary")
        return cls(
            comparisons=raw.get("comparisons", []),
            correction=raw.get("correction", "holm"),
            bootstrap_resamples=raw.get("bootstrap_resamples", 0),
            seed=raw.get("seed", 0),
            confidence=raw.get("confidence", 0.95),
            n_test=raw.get("n_test", 0),
            folds=raw.get("folds", 1),
            primary=PrimaryDeclaration(**primary) if primary else None,
            explained={k: v for k, v in raw.items() if k not in fields},
        )
