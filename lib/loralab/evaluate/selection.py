"""Which configuration the study reports: chosen on validation data only, by a rule stated up
front, per fold, training size and method (LoRA; LoRA with a classification head; full
fine-tuning)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import log_softmax

from loralab.config import Config
from loralab.layout import RunPaths
from loralab.records import Choice, Configuration, TrainSummary, size_order
from loralab.stats.metrics import CRITERIA
from loralab.train.trials import Trial, selected_method, trials


def selection_rule(by: str) -> str:
    """The rule in words, as the report states it (train.select_by)."""
    criterion = CRITERIA[by]
    better = "lowest" if criterion.lower_is_better else "highest"
    return (
        f"Per fold and training size, LoRA's configuration (variant, rank, learning rate) is the "
        f"one with the {better} {criterion.name} at each trial's best epoch (chosen by the same "
        "measure), averaged over the training seeds; LoRA with a classification head "
        "(lora.formats) and full fine-tuning's learning rate are each chosen the same way among "
        f"their own (train.select_by: {by}). Ties (equal to {TIE}) go to the smaller rank, "
        "then the smaller learning rate. Each fold chooses on its own validation split; the "
        "test set plays no part."
    )


TIE = 0.0001  # criterion values closer than this are a tie
CONFIG = ["method", "variant", "rank", "lr"]
COLUMNS = [
    "fold",
    "train_size",
    *CONFIG,
    "selected",
    "seeds",
    "val_loss",
    "val_loss_sd",
    "val_label_loss",
    "val_label_loss_sd",
    "val_macro_f1",
    "val_accuracy",
    "val_items",
    "best_epoch",
    "trainable_mb",
    "time_to_best_s",
]


# each table column from the trials' summaries, over a configuration's seeds
SUMMARY_COLUMNS = {
    "seeds": ("seed", "size"),
    "val_loss": ("val_loss", "mean"),
    "val_loss_sd": ("val_loss", "std"),
    "val_label_loss": ("val_label_loss", "mean"),
    "val_label_loss_sd": ("val_label_loss", "std"),
    "val_macro_f1": ("val_macro_f1", "mean"),
    "val_accuracy": ("val_accuracy", "mean"),
    "val_items": ("val_items", "first"),
    "best_epoch": ("best_epoch", "mean"),
    "trainable_mb": ("trainable_mb", "first"),
    "time_to_best_s": ("time_to_best_s", "mean"),
}


def select_configs(summaries: list[dict], by: str = "label_loss") -> tuple[dict, pd.DataFrame]:
    """Each fold's choice per training size and method by `by` (train.select_by), as
    {(method, size): {fold: config}}, and the table of every candidate averaged over seeds, the
    chosen one first in its group."""
    if not summaries:
        return {}, pd.DataFrame(columns=COLUMNS)
    trials = pd.DataFrame(summaries)
    if "val_label_loss" not in trials:  # trials trained before it was recorded
        trials["val_label_loss"] = float("nan")
    criterion = CRITERIA[by]
    if trials[criterion.column].isna().any():
        raise ValueError(
            f"train.select_by={by} needs each trial's {criterion.column}, which trials trained "
            "before it was recorded lack; train them again or set train.select_by=val_loss"
        )
    table = (
        trials.groupby(["fold", "train_size", *CONFIG], sort=False)
        .agg(**SUMMARY_COLUMNS)
        .reset_index()
    )
    sign = 1 if criterion.lower_is_better else -1
    table["criterion_key"] = (sign * table[criterion.column] / TIE).round()
    table["size_key"] = table["train_size"].map(size_order)
    order = ["fold", "size_key", "method", "criterion_key", "rank", "lr", "variant"]
    table = table.sort_values(order)
    first = ~table.duplicated(["fold", "train_size", "method"])
    table.insert(6, "selected", first)
    chosen: dict[tuple[str, str], dict[int, Configuration]] = {}
    for row in table[first].itertuples():
        chosen.setdefault((row.method, row.train_size), {})[int(row.fold)] = _configuration(row)
    return chosen, table[COLUMNS].reset_index(drop=True)


def _configuration(row) -> Configuration:
    return Configuration(row.variant, int(row.rank), float(row.lr))


def trained_summaries(run: RunPaths) -> list[TrainSummary]:
    """summary.json of every trial whose training finished, in trial-id order."""
    return [TrainSummary.read(run.train_summary(t)) for t in run.trained_trials()]


def trial_histories(run: RunPaths) -> dict[str, pd.DataFrame]:
    """history.csv of every trial whose training finished: the curves selection reads."""
    return {t: pd.read_csv(run.history(t)) for t in run.trained_trials()}


AXES = ["method", "variant", "rank", "lr", "train_size", "fold", "seed"]


def validation_item_losses(run: RunPaths) -> pd.DataFrame:
    """Per trained trial and validation item, the gold label's cross-entropy among the labels'
    scores at the trial's best epoch (its saved validation predictions): the values whose mean
    is the trial's val_label_loss, so that a bootstrap can resample validation items."""
    frames = []
    for trial in run.trained_trials():
        summary = TrainSummary.read(run.train_summary(trial))
        scored = pd.read_csv(run.val_predictions(trial), dtype={"id": str})
        scores = scored.filter(like="score_")
        labels = [c.removeprefix("score_") for c in scores.columns]
        gold = scores.columns.get_indexer([f"score_{g}" for g in scored["gold"]])
        if (gold < 0).any():
            raise ValueError(f"{run.val_predictions(trial)}: a gold label is none of {labels}")
        log_p = log_softmax(scores.to_numpy(), axis=1)[np.arange(len(scored)), gold]
        axes = {axis: getattr(summary, axis) for axis in AXES}
        frames.append(pd.DataFrame({"id": scored["id"], "loss": -log_p}).assign(**axes))
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[*AXES, "id", "loss"])
    )


@dataclass
class Selection:
    """Every fold's chosen configuration per training size and method, the table of every
    candidate, and the results.csv id of each choice (a configuration's row when every fold
    chose it, else the row that pools each fold's own choice)."""

    chosen: dict[tuple[str, str], dict[int, Configuration]]  # (method, size) -> fold -> config
    table: pd.DataFrame
    methods: dict[tuple[str, str], str]  # (method, size) -> results.csv id
    config_methods: dict[tuple[str, str, Configuration], str]  # -> its results.csv id
    candidates: frozenset[tuple[str, str, Configuration]] = frozenset()  # every row of table

    def scores_on_test(self, trial: Trial, every: bool) -> bool:
        """Whether a trial is scored on its fold's test items: its configuration is one the
        table weighed (trained on every fold), and its fold chose it, or `every` candidate is
        scored (evaluation.test_candidates)."""
        if (trial.kind, trial.size, trial.config) not in self.candidates:
            return False
        return every or self.chosen[(trial.kind, trial.size)].get(trial.fold) == trial.config

    @property
    def selected_ids(self) -> set[str]:
        """The results.csv ids of every choice: the rows marked selected."""
        return set(self.methods.values())

    @property
    def lead_key(self) -> tuple[str, str] | None:
        """LoRA at the largest training size: the method the study reports."""
        lora = [key for key in self.chosen if key[0] == "lora"]
        return max(lora, key=lambda k: size_order(k[1])) if lora else None

    @property
    def method(self) -> str | None:
        key = self.lead_key
        return self.methods[key] if key else None

    @property
    def lead_configurations(self) -> dict[int, Configuration]:
        """The lead's configuration per fold."""
        key = self.lead_key
        return dict(self.chosen[key]) if key else {}

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(Choice(kind, size, method) for (kind, size), method in self.methods.items())


def select(cfg: Config, summaries: list[TrainSummary]) -> Selection:
    """The study's choices from its finished trials' validation results."""
    chosen, table = select_configs([s.row() for s in summaries], cfg.train.select_by)
    candidates = frozenset(
        (row.method, row.train_size, _configuration(row)) for row in table.itertuples()
    )
    by_config = {(t.kind, t.size, t.config): t.method for t in trials(cfg)}
    methods = {}
    for (kind, size), per_fold in chosen.items():
        configs = set(per_fold.values())
        one = len(configs) == 1
        methods[(kind, size)] = (
            by_config[(kind, size, configs.pop())] if one else selected_method(kind, size, cfg)
        )
    return Selection(chosen, table, methods, by_config, candidates)
