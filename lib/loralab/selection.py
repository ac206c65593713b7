"""Which rank the study reports: chosen on validation data only, by a rule stated up front."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .artifacts import read_json
from .layout import RunPaths

SELECTION_RULE = (
    "The rank with the highest validation macro-F1 is selected. Ranks that get as many "
    "validation items right as that rank cannot be told apart by validation; among them the "
    "smallest rank is taken, for its cost. With folds, each fold chooses on its own validation "
    "split. The test set plays no part."
)
COLUMNS = [
    "rank",
    "val_correct",
    "val_items",
    "val_macro_f1",
    "val_accuracy",
    "val_loss",
    "best_epoch",
    "trainable_mb",
    "time_to_best_s",
]


def select_rank(summaries: list[dict]) -> tuple[int, pd.DataFrame]:
    """The selected rank and every rank's validation results, best first. `tied` marks the
    ranks validation could not separate from the best (the same number of items right)."""
    if not summaries:
        raise ValueError("no trained rank to select from")
    table = pd.DataFrame(summaries)
    table["val_correct"] = (table["val_accuracy"] * table["val_items"]).round().astype(int)
    table = table[COLUMNS].sort_values(["val_macro_f1", "rank"], ascending=[False, True])
    table = table.reset_index(drop=True)
    table.insert(1, "tied", table["val_correct"] == table.loc[0, "val_correct"])
    selected = int(table.loc[table["tied"], "rank"].min())
    table.insert(1, "selected", table["rank"] == selected)
    return selected, table


def trained_summaries(run: RunPaths) -> list[dict]:
    """summary.json of every trial whose training finished, ordered by fold, rank and seed."""
    found = [read_json(run.train_summary(t)) for t in run.trained_trials()]
    return sorted(found, key=lambda s: (s["fold"], s["rank"], s["seed"]))


def trial_histories(run: RunPaths) -> dict[str, pd.DataFrame]:
    """history.csv of every trial whose training finished: the curves selection reads."""
    return {t: pd.read_csv(run.history(t)) for t in run.trained_trials()}


@dataclass
class Selection:
    """The rank each fold chose on its own validation split (with the first training seed),
    and the table of every candidate."""

    ranks: dict[int, int]  # fold -> selected rank
    table: pd.DataFrame  # per fold, every rank's validation results, the selected one first

    @property
    def rank(self) -> int | None:
        """The rank every fold chose, or None when folds chose differently (or none trained)."""
        chosen = set(self.ranks.values())
        return chosen.pop() if len(chosen) == 1 else None

    @property
    def method(self) -> str | None:
        """The results.csv id of the selected LoRA: its rank's, or the per-fold composite."""
        if not self.ranks:
            return None
        return lora_method(self.rank) if self.rank is not None else SELECTED_PER_FOLD


SELECTED_PER_FOLD = "lora_selected"


def select_per_fold(summaries: list[dict], seed: int) -> Selection:
    """Each fold selects its rank among its trials of `seed`, by select_rank's rule."""
    ranks, tables = {}, []
    for fold in sorted({s["fold"] for s in summaries}):
        mine = [s for s in summaries if s["fold"] == fold and s["seed"] == seed]
        if mine:
            ranks[fold], table = select_rank(mine)
            tables.append(table.assign(fold=fold))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return Selection(ranks, table)


def lora_method(rank: int | None) -> str | None:
    """The method id of a rank in results.csv and paired_preds.csv (lora_r8, ...)."""
    return None if rank is None else f"lora_r{rank}"
