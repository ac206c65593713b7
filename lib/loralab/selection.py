"""Which rank the study reports: chosen on validation data only, by a rule stated up front."""

from __future__ import annotations

import pandas as pd

from .artifacts import read_json
from .layout import RunPaths

SELECTION_RULE = (
    "The rank with the highest validation macro-F1 is selected; ties are broken by the lower "
    "validation loss on answer tokens, then by the smaller rank. The test set plays no part."
)


def select_rank(summaries: list[dict]) -> tuple[int, pd.DataFrame]:
    """The selected rank and a table of every rank's validation results, best first."""
    if not summaries:
        raise ValueError("no trained rank to select from")
    table = pd.DataFrame(summaries)[
        [
            "rank",
            "val_macro_f1",
            "val_loss",
            "val_accuracy",
            "best_epoch",
            "trainable_mb",
            "time_to_best_s",
        ]
    ]
    table = table.sort_values(
        ["val_macro_f1", "val_loss", "rank"], ascending=[False, True, True]
    ).reset_index(drop=True)
    table.insert(1, "selected", table.index == 0)
    return int(table.loc[0, "rank"]), table


def trained_summaries(run: RunPaths) -> list[dict]:
    """summary.json of every rank whose training finished, by rank."""
    return [read_json(run.train_summary(r)) for r in run.trained_ranks()]


def rank_histories(run: RunPaths) -> dict[int, pd.DataFrame]:
    """history.csv of every rank whose training finished: the curves selection reads."""
    return {r: pd.read_csv(run.history(r)) for r in run.trained_ranks()}


def lora_method(rank: int | None) -> str | None:
    """The method id of a rank in results.csv and paired_preds.csv (lora_r8, ...)."""
    return None if rank is None else f"lora_r{rank}"
