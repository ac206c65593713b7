"""Descriptive tables of a corpus for the EDA notebook: lengths, examples, duplicates."""

from __future__ import annotations

import pandas as pd


def text_lengths(frame: pd.DataFrame, tokenizer=None) -> pd.DataFrame:
    """Length of every text in words and, given the model's tokenizer, in tokens.

    Token counts matter more than words: they decide how much of a text fits `train.seq_len`.
    """
    out = frame[["id", "label"]].copy()
    out["words"] = frame["text"].str.split().str.len()
    if tokenizer is not None:
        enc = tokenizer(frame["text"].tolist(), add_special_tokens=False)["input_ids"]
        out["tokens"] = [len(ids) for ids in enc]
    return out


def length_summary(lengths: pd.DataFrame) -> pd.DataFrame:
    """Median, 90th percentile and maximum length per label and unit."""
    units = [u for u in ("words", "tokens") if u in lengths.columns]
    stats = lengths.groupby("label")[units].describe(percentiles=[0.5, 0.9])
    keep = [(u, s) for u in units for s in ("count", "mean", "50%", "90%", "max")]
    return stats[keep].round(1)


def examples_per_class(frame: pd.DataFrame, n: int = 2, seed: int = 0, chars: int = 400):
    """A few texts of each label, cut to `chars` characters, drawn reproducibly."""
    shuffled = frame.sample(frac=1.0, random_state=seed)
    picked = shuffled.groupby("label").head(n).sort_values("label")[["id", "label", "text"]]
    picked["text"] = picked["text"].str.slice(0, chars) + "…"
    return picked.reset_index(drop=True)
