"""Which training items LoRA learns from, apart from training.py so that the baselines that
should see the same items (methods/classic.py: TF-IDF) get them without importing torch.
"""

from __future__ import annotations

import pandas as pd

from .config import Config


def lora_training_items(train: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The training items LoRA learns from: all, or `train.max_train_items` of them drawn
    stratified with split.seed, the same for every seed of a fold. Baselines that should see the
    same items call this."""
    n = cfg.train.max_train_items
    return stratified_subset(train, n, cfg.split.seed) if n and n < len(train) else train


def stratified_subset(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """`n` rows keeping the class proportions, the same rows for the same seed."""
    share = n / len(frame)
    parts = [
        g.sample(n=max(1, round(len(g) * share)), random_state=seed)
        for _, g in frame.groupby("label", sort=True)
    ]
    return pd.concat(parts).sort_values("id").reset_index(drop=True)
