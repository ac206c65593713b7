"""The EDA step: read the configured source, preprocess it and write the corpus of the run; and
the descriptive tables the EDA notebook shows (lengths, examples).

Later steps read only what this step wrote (`data/corpus.jsonl`), never the source again, so
every number downstream refers to the same cleaned items.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from .artifacts import write_csv, write_json, write_jsonl
from .config import Config
from .datasets import load_raw
from .layout import RunPaths
from .preprocess import Preprocessed, preprocess

CORPUS_COLUMNS = ["id", "text", "label", "split", "text_key", "near_dup_group"]


@dataclass
class Corpus:
    frame: pd.DataFrame
    steps: pd.DataFrame
    near_duplicates: pd.DataFrame
    provenance: dict


def corpus_hash(frame: pd.DataFrame) -> str:
    """Fingerprint of the items (ids, texts, labels) for the report's environment section."""
    h = hashlib.sha256()
    for row in frame[["id", "text", "label"]].itertuples(index=False):
        h.update("\x1f".join(row).encode("utf-8") + b"\x1e")
    return h.hexdigest()[:16]


def eda_step(cfg: Config, run: RunPaths) -> Corpus:
    """The EDA step: read, preprocess, and write the corpus every later step reads."""
    raw = load_raw(cfg.data)
    pre: Preprocessed = preprocess(raw, cfg.data)
    frame = pre.frame[[c for c in CORPUS_COLUMNS if c in pre.frame.columns]]
    provenance = {
        "source": raw.source,
        "split_given": raw.has_split,
        "items": len(frame),
        "labels": frame["label"].value_counts().to_dict(),
        "corpus_hash": corpus_hash(frame),
        "label_terms": {
            "held": pre.held_terms,
            "masked": cfg.data.mask_label_terms and pre.held_terms is not None,
        },
        **raw.provenance,
    }
    write_csv(run.preprocess_steps, pre.step_table())
    write_csv(run.near_duplicates, pre.near_duplicates)
    write_json(run.provenance, provenance)
    write_jsonl(run.corpus, frame.to_dict("records"))
    return Corpus(frame, pre.step_table(), pre.near_duplicates, provenance)


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
