"""Which rank the study reports: chosen on validation data only, by a rule stated up front."""

from __future__ import annotations

import pandas as pd

from .artifacts import read_json
from .layout import RunPaths

SELECTION_RULE = (
    "The rank with the highest validation macro-F1 is selected. Ranks that get as many "
    "validation items right as that rank cannot be told apart by validation; among them the "
    "smallest rank is taken, for its cost. The test set plays no part."
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
    """summary.json of every rank whose training finished, by rank."""
    return [read_json(run.train_summary(r)) for r in run.trained_ranks()]


def rank_histories(run: RunPaths) -> dict[int, pd.DataFrame]:
    """history.csv of every rank whose training finished: the curves selection reads."""
    return {r: pd.read_csv(run.history(r)) for r in run.trained_ranks()}


def lora_method(rank: int | None) -> str | None:
    """The method id of a rank in results.csv and paired_preds.csv (lora_r8, ...)."""
    return None if rank is None else f"lora_r{rank}"
