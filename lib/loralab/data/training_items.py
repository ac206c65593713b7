"""Which training items a trained method learns from, apart from the training loop so that the
baselines that should see the same items (evaluate/methods/classic.py: TF-IDF) get them without
importing torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def training_items(train: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    """`size` items of a fold's training split (None: all), stratified and nested: each class is
    shuffled once with `seed` and a size takes a prefix of it, so a smaller size's items are a
    subset of a larger one's and every method at a size sees the same items."""
    if size is None or size >= len(train):
        return train
    return stratified_subset(train, size, seed)


def stratified_subset(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """`n` rows keeping the class proportions (at least one per class): a prefix of each class
    shuffled with `seed`, so the rows for a smaller `n` are among those for a larger one."""
    share = n / len(frame)
    parts = []
    for _, group in frame.sort_values("id").groupby("label", sort=True):
        order = np.random.default_rng(seed).permutation(len(group))
        parts.append(group.iloc[order[: max(1, round(len(group) * share))]])
    return pd.concat(parts).sort_values("id").reset_index(drop=True)
