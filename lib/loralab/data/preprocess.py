"""Preprocessing as the reference study does it, plus the near-duplicate check it lacked.

Normalize whitespace, keep the configured labels, drop empty texts and exact duplicates. Exact
dedupe misses the same abstract with a changed word or two (errata, reprints), which would let a
test item be memorised from training: near_duplicates.py finds those, here and in the split's
leakage check.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

import pandas as pd

from loralab.config import DataConfig
from loralab.data.label_terms import MASK, holds_a_term, mask_terms, term_patterns
from loralab.data.near_duplicates import (
    SHINGLE_WORDS,
    group_pairs,
    near_duplicate_pairs,
    pair_table,
)
from loralab.data.sources import LoadedData
from loralab.errors import DataError

_WS = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC (full-width forms, ligatures) and single spaces; case and punctuation are kept."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def text_key(text: str) -> str:
    """Hash of a normalized text: equal keys are exact duplicates."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass
class Preprocessed:
    frame: pd.DataFrame
    steps: list[dict] = field(default_factory=list)
    near_duplicates: pd.DataFrame = field(default_factory=pd.DataFrame)
    held_terms: int | None = None  # texts holding a label term (before masking); None: no terms

    def step_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.steps).fillna({"detail": ""})


@dataclass
class _Cleaning:
    """The table as it is cleaned, and one row per step: what was dropped and why."""

    frame: pd.DataFrame
    steps: list[dict] = field(default_factory=list)

    def keep(self, step: str, keep: pd.Series, detail: str = "") -> None:
        dropped, rows = int((~keep).sum()), int(keep.sum())
        self.steps.append({"step": step, "dropped": dropped, "rows": rows, "detail": detail})
        self.frame = self.frame[keep].reset_index(drop=True)


def preprocess(raw: LoadedData, cfg: DataConfig) -> Preprocessed:
    """Clean texts and labels; every drop is counted in `steps` so the EDA can show it."""
    c = _Cleaning(raw.frame.assign(text=raw.frame["text"].map(normalize_text)))
    c.steps.append({"step": "read", "dropped": 0, "rows": len(c.frame)})
    _check_labels(c.frame, cfg, raw.source)
    keep = c.frame["label"].isin(cfg.labels)
    c.keep("keep configured labels", keep, _label_counts(c.frame.loc[~keep, "label"]))
    c.keep("drop empty texts", c.frame["text"].str.len() > 0)
    if c.frame.empty:
        raise DataError(
            raw.source,
            cfg.text_column,
            "every text of the configured labels is empty",
            f"check that data.text_column ('{cfg.text_column}') names the "
            "column that holds the texts",
        )
    held = _label_terms(c, cfg)
    near = _dedupe(c, cfg, raw.has_split)
    counts = c.frame["label"].value_counts()
    if len(counts) < 2:
        raise DataError(
            raw.source,
            cfg.label_column,
            f"only one class left after cleaning ({counts.to_dict()})",
            "a classifier needs texts of at least two "
            "labels; check data.labels and the label column",
        )
    return Preprocessed(c.frame, c.steps, near, held)


def _check_labels(frame: pd.DataFrame, cfg: DataConfig, source: str) -> None:
    absent = [label for label in cfg.labels if label not in set(frame["label"])]
    if absent:
        found = frame["label"].value_counts().head(20).to_dict()
        raise DataError(
            source,
            "data.labels",
            f"configured labels {absent} do not occur in the data; found {found}",
            "set data.labels to labels that occur (spelling and case must match) "
            "or fix the label column",
        )


def _label_terms(c: _Cleaning, cfg: DataConfig) -> int | None:
    """How many texts hold a label term (None: no terms configured); masked if asked."""
    patterns = term_patterns(cfg)
    if not patterns:
        return None
    held = int(c.frame["text"].map(lambda t: holds_a_term(t, patterns)).sum())
    masked = cfg.mask_label_terms
    if masked:
        c.frame["text"] = c.frame["text"].map(lambda t: mask_terms(t, patterns))
    c.steps.append(
        {
            "step": "mask label terms" if masked else "count label terms",
            "dropped": 0,
            "rows": len(c.frame),
            "detail": f"{held} of {len(c.frame)} texts held a term of data.label_terms"
            + (f"; each replaced by {MASK}" if masked else ""),
        }
    )
    return held


def _dedupe(c: _Cleaning, cfg: DataConfig, has_split: bool) -> pd.DataFrame:
    """Drop exact duplicates, group near-duplicates (and drop them if asked); the pairs."""
    c.frame["text_key"] = c.frame["text"].map(text_key)
    # Within a given split only: a duplicate across published splits is leakage to report.
    scope = ["text_key", "split"] if has_split else ["text_key"]
    conflicting = c.frame.groupby("text_key")["label"].nunique().gt(1).sum()
    c.keep(
        "drop exact duplicates",
        ~c.frame.duplicated(scope),
        f"{conflicting} texts carry more than one label" if conflicting else "",
    )
    pairs = near_duplicate_pairs(c.frame["text"], cfg.near_duplicate_threshold)
    c.frame["near_dup_group"] = group_pairs(len(c.frame), pairs)
    near = pair_table(c.frame, pairs)
    if cfg.near_duplicates == "drop":
        group_scope = ["near_dup_group", "split"] if has_split else ["near_dup_group"]
        c.keep(
            "drop near-duplicates",
            ~c.frame.duplicated(group_scope),
            f"Jaccard >= {cfg.near_duplicate_threshold} on word {SHINGLE_WORDS}-grams",
        )
    return near


def _label_counts(labels: pd.Series) -> str:
    """`C: 4, empty label: 2`: rows per label, with an empty label named so the EDA's table
    does not show a bare `: 2`."""
    counts = labels.value_counts()
    return ", ".join(f"{label or 'empty label'}: {n}" for label, n in counts.items())
