"""A SYNTHETIC long-document variant of the embedded corpus, for long-text studies on a CPU.

The embedded PubMed abstracts are short (median about 200 words), so they cannot show what
reading a whole long text buys. Here two abstracts of the same cancer site make one document:
first the longer one with every site word (`data.label_terms`) replaced by [term], then the
other as written. The whole document is on its topic, as a paper is, but the site is named only
in its second half, beyond the first window of the default prompt (about 100 words): truncation
reads the masked part only, a reader of the whole text finds the site words.

It is not a corpus of long papers: two abstracts are shorter than a paper, and the site words
sit in one place, where a paper spreads them. Every abstract is used once, so no text is shared
between splits; the 414 Lung/Colon abstracts make 206 documents. Built with a fixed seed, the
variant is the same on every run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loralab.config import DataConfig
from loralab.data.label_terms import mask_terms, term_patterns

SEED = 20261127

DESCRIPTION = (
    "SYNTHETIC long documents: two PubMed abstracts of the same site joined, the longer first "
    "with every site word replaced by [term], so the site is named only in the second half"
)


def long_documents(labelled: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """One document per pair of same-label abstracts (drawn with a fixed seed; an odd one out
    per label is left out), with the word where its unmasked half begins."""
    patterns = term_patterns(cfg)
    rng = np.random.default_rng(SEED)
    rows = []
    for _, group in labelled.sort_values("id").groupby("label", sort=True):
        records = group.to_dict("records")
        order = rng.permutation(len(records))
        for i, j in zip(order[0::2], order[1::2], strict=False):
            a, b = records[i], records[j]
            first, second = (a, b) if len(a["text"].split()) >= len(b["text"].split()) else (b, a)
            masked = mask_terms(first["text"], patterns)
            row = {
                **second,
                "id": f"long:{first['id'].removeprefix('pmid:')}+"
                f"{second['id'].removeprefix('pmid:')}",
                "text": masked + "\n\n" + second["text"],
                "evidence_from_word": len(masked.split()),
            }
            if "other_kind" in row:  # the audit's flag (eda.py) covers both abstracts
                kinds = (k for r in (first, second) for k in r["other_kind"].split(", ") if k)
                row["other_kind"] = ", ".join(dict.fromkeys(kinds))
            rows.append(row)
    return pd.DataFrame(rows)
