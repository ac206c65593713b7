"""The unit of training: a trial is one configuration trained on one fold's split with one seed.

The grid is `lora.formats` x `lora.variants` x `lora.ranks` x `train.lrs` x `train.train_sizes` x
`train.seeds` x `split.folds` x `split.repeats` (a repeat's folds are numbered after the one
before's), plus, with `train.full_finetune`, full fine-tuning at each of `train.full_lrs`.
Each trial is one executed 03_train notebook and one step of the runner, so skip, resume,
`--jobs` and `train.processes` work per trial. A trial id names the rank (or `full`), the fold,
the seed, and every other axis that has more than one value: the default study's ids stay
`r8-f0-s42`, a sweep's read `dora-r8-lr0.001-n16-f0-s42`; a trial of the classification head
(lora.formats) starts with `head-`, so verbalizer trials keep their ids when heads are added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loralab.config import Config
from loralab.formats import plain_number
from loralab.records import Configuration

FULL = "full"  # the variant of a full fine-tuning trial: every weight trains, no adapter
VERBALIZER, HEAD = "verbalizer", "head"  # lora.formats: how a LoRA model answers
# how tables name each kind of trained method (Trial.kind)
KIND_NAMES = {"lora": "LoRA", "lora_head": "LoRA + head", "full": "Full fine-tuning"}


@dataclass(frozen=True)
class Trial:
    fold: int
    rank: int  # 0 for full fine-tuning
    seed: int
    lr: float
    items: int | None = None  # training items drawn per fold; None: all
    variant: str = "lora"  # lora, rslora, dora, or FULL
    format: str = VERBALIZER  # or HEAD: a classification head instead of the verbalizer
    # the axes beyond rank, fold and seed that the id names: those with several values
    named: tuple[str, ...] = field(default=(), compare=False)

    @property
    def full(self) -> bool:
        return self.variant == FULL

    @property
    def head(self) -> bool:
        return self.format == HEAD

    @property
    def config(self) -> Configuration:
        """What selection chooses among at a fold and size."""
        return Configuration(self.variant, self.rank, self.lr)

    @property
    def size(self) -> str:
        """The training size as ids and tables name it: `16`, or `all`."""
        return "all" if self.items is None else str(self.items)

    @property
    def lr_text(self) -> str:
        """The learning rate as tables show it: 0.00005, never 5e-05."""
        return plain_number(self.lr)

    @property
    def id(self) -> str:
        """The trial's folder name under train/ and its step's suffix."""
        if self.full:
            parts = [FULL]
        else:
            parts = [f"{self.variant}-r{self.rank}" if "variant" in self.named else f"r{self.rank}"]
            if self.head:
                parts.insert(0, HEAD)
        if "lr" in self.named:
            parts.append(f"lr{self.lr:g}")
        if "items" in self.named:
            parts.append(f"n{self.size}")
        return "-".join([*parts, f"f{self.fold}", f"s{self.seed}"])

    @property
    def kind(self) -> str:
        """The method the trial belongs to: `lora`, `lora_head` for LoRA with a classification
        head, or `full` for full fine-tuning. Selection chooses a configuration per kind."""
        if self.full:
            return FULL
        return "lora_head" if self.head else "lora"

    @property
    def method(self) -> str:
        """The results.csv id of the trial's configuration at its size, over folds and seeds:
        its id without fold and seed (`lora_r8`, `lora_dora_r8_lr0.001_n16`, `lora_head_r8`,
        `full_n16`)."""
        head = self.id.rsplit("-f", 1)[0].replace("-", "_")
        return head if self.full else f"lora_{head}"


def selected_method(kind: str, size: str, cfg: Config) -> str:
    """The results.csv id of the row that pools each fold's own choice at a size, when folds
    chose different configurations (`lora_selected`, `full_selected_n16`)."""
    sizes = cfg.train.train_sizes
    return f"{kind}_selected" + (f"_n{size}" if len(sizes) > 1 else "")


def trials(cfg: Config) -> list[Trial]:
    """Every trial of a study, fold by fold: the LoRA grid, then full fine-tuning if asked."""
    t, lora = cfg.train, cfg.lora
    named = tuple(
        axis
        for axis, values in (("variant", lora.variants), ("items", t.train_sizes))
        if len(values) > 1
    )
    lora_named = (*named, "lr") if len(t.lrs) > 1 else named
    full_named = tuple(a for a in named if a != "variant") + (
        ("lr",) if len(t.full_lrs) > 1 else ()
    )
    found = []
    for fold in range(cfg.split.runs):
        for items in t.train_sizes:
            for seed in t.seeds:
                found += [
                    Trial(fold, rank, seed, lr, items, variant, answer, lora_named)
                    for answer in lora.formats
                    for variant in lora.variants
                    for rank in lora.ranks
                    for lr in t.lrs
                ]
                if t.full_finetune:
                    found += [
                        Trial(fold, 0, seed, lr, items, FULL, named=full_named) for lr in t.full_lrs
                    ]
    return sorted(found, key=_order)


def _order(trial: Trial) -> tuple:
    """Fold by fold, size by size (all last), seed by seed: every configuration of the first
    seed is done before any second seed starts."""
    size = float("inf") if trial.items is None else trial.items
    return (
        trial.fold,
        size,
        trial.seed,
        trial.full,
        trial.head,
        trial.variant,
        trial.rank,
        trial.lr,
    )


def trial_of(cfg: Config, trial_id: str | None = None) -> Trial:
    """The trial a notebook or `loralab train` names by id; None: the study's first."""
    found = trials(cfg)
    if trial_id is None:
        return found[0]
    for trial in found:
        if trial.id == trial_id:
            return trial
    shown = ", ".join(t.id for t in found[:6]) + (", ..." if len(found) > 6 else "")
    raise ValueError(
        f"trial {trial_id!r} is not one of this study's {len(found)} trials ({shown}); "
        "`loralab trials PARAMS` lists them"
    )


def trial_parameters(trial: Trial) -> dict:
    """The 03_train parameters of a trial: its id, which also names its step."""
    return {"trial_id": trial.id}
