"""The records one step hands the next, typed, and written and read here only.

A step's JSON used to be read back by string keys wherever it was needed, so a renamed key
broke readers silently. Each record here is a frozen dataclass with one `write` and one `read`;
`read` also takes the files of older runs (committed findings among them), filling what they
lack with what those runs did.
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
    long_text: dict[str, Any]  # what the methods read of the test texts (windows)
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
            long_text=raw.get("long_text", {}),
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
