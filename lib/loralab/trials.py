"""The unit of training: a trial is one LoRA rank trained on one fold's split with one seed.

`split.folds` folds times `lora.ranks` ranks times `train.seeds` seeds: each trial is one
executed 03_train notebook and one step of the runner, so skip, resume, `--jobs` and
`train.processes` work per trial. One fold and one seed is the classic single split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import Config

_ID = re.compile(r"^r(\d+)-f(\d+)-s(-?\d+)$")


@dataclass(frozen=True, order=True)
class Trial:
    fold: int
    rank: int
    seed: int

    @property
    def id(self) -> str:
        """The trial's folder name under train/ and its part of method and step names."""
        return f"r{self.rank}-f{self.fold}-s{self.seed}"

    @classmethod
    def parse(cls, trial_id: str) -> Trial:
        match = _ID.match(trial_id)
        if not match:
            raise ValueError(f"{trial_id!r} is not a trial id like r8-f0-s42")
        rank, fold, seed = map(int, match.groups())
        return cls(fold, rank, seed)


def trials(cfg: Config) -> list[Trial]:
    """Every trial of a study, fold by fold: each fold's ranks and seeds train on its split."""
    return [
        Trial(fold, rank, seed)
        for fold in range(cfg.split.folds)
        for rank in cfg.lora.ranks
        for seed in cfg.train.seeds
    ]


def trial_of(cfg: Config, rank: int | None = None, fold: int = 0, seed: int | None = None) -> Trial:
    """The trial a notebook or `loralab train` names; left out: the first rank, fold 0 and the
    first seed."""
    return Trial(
        fold,
        cfg.lora.ranks[0] if rank is None else rank,
        cfg.train.seeds[0] if seed is None else seed,
    )


def trial_parameters(cfg: Config, trial: Trial) -> dict:
    """The 03_train parameters of a trial, as its step is named: fold and seed only when the
    study has several (`03_train_rank8`, `03_train_rank8_fold2_seed7`)."""
    parameters = {"rank": trial.rank}
    if cfg.split.folds > 1:
        parameters["fold"] = trial.fold
    if len(cfg.train.seeds) > 1:
        parameters["seed"] = trial.seed
    return parameters
