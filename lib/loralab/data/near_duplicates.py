"""Near-duplicate texts: the same abstract with a changed word or two (errata, reprints).

Exact dedupe misses them, and one in training and one in test lets the test item be memorised.
MinHash LSH over word shingles finds the candidate pairs and an exact Jaccard check on each
candidate confirms them, so the result does not depend on the hashes' luck. Preprocessing
groups and drops them; the split step checks every pair of splits with the same test.
"""

from __future__ import annotations

import re

import pandas as pd
from datasketch import MinHash, MinHashLSH

SHINGLE_WORDS = 5
NUM_PERM = 128
_WORD = re.compile(r"\w+")


def shingles(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words)}
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicate_pairs(texts: pd.Series, threshold: float) -> pd.DataFrame:
    """Pairs of positions whose shingle sets have Jaccard >= threshold (exact, LSH-pruned)."""
    sets = [shingles(t) for t in texts]
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    hashes = []
    for i, s in enumerate(sets):
        mh = MinHash(num_perm=NUM_PERM, seed=1)
        mh.update_batch([x.encode("utf-8") for x in s])
        hashes.append(mh)
        lsh.insert(i, mh)
    rows = []
    for i, mh in enumerate(hashes):
        for j in lsh.query(mh):
            if j > i and (sim := jaccard(sets[i], sets[j])) >= threshold:
                rows.append((i, j, sim))
    return pd.DataFrame(rows, columns=["a", "b", "jaccard"]).astype(
        {"a": int, "b": int, "jaccard": float}
    )


def group_pairs(n: int, pairs: pd.DataFrame) -> list[int]:
    """Connected components of the pair graph: the group of each position (its lowest member)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(pairs["a"], pairs["b"], strict=True):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def pair_table(frame: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Both sides of each near-duplicate pair by id, label and split, with their Jaccard."""
    cols = ["id", "label"] + (["split"] if "split" in frame else [])
    a = frame.loc[pairs["a"], cols].reset_index(drop=True).add_suffix("_a")
    b = frame.loc[pairs["b"], cols].reset_index(drop=True).add_suffix("_b")
    return pd.concat([a, b, pairs[["jaccard"]].round(3)], axis=1)
