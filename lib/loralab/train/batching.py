"""How training items become padded batches, apart from the loop so that training and the
benchmarks under bench/ cut them the same way: each item's prompt + answer is encoded once (a
long text as its kept windows), drawn class-balanced, bucketed by length so that batches carry
little padding, and right-padded with the answer tokens marked, the only ones the loss sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from loralab.model.loading import LoadedModel
from loralab.model.prompts import PromptBuilder

BUCKET_BATCHES = 16  # batches per length-sorted bucket: little padding, still random order


@dataclass
class Encoded:
    """Token ids of prompt + answer per item, and how many trailing tokens are the answer."""

    ids: list[list[int]]
    answer_len: list[int]
    labels: np.ndarray

    @classmethod
    def build(cls, builder: PromptBuilder, frame: pd.DataFrame) -> Encoded:
        return cls.of(builder, frame["text"].tolist(), frame["label"].to_numpy())

    @classmethod
    def of(
        cls, builder: PromptBuilder, texts: list[str], labels: np.ndarray, answers: bool = True
    ) -> Encoded:
        """`answers` off: the prompts alone, for a classification head, whose target is the
        label itself."""
        ids, answer = [], []
        for text, label in zip(texts, labels, strict=True):
            a = builder.answer_ids(label) if answers else []
            ids.append(builder.prompt_ids(text) + a)
            answer.append(len(a))
        return cls(ids, answer, np.asarray(labels))

    def subset(self, rows: np.ndarray) -> Encoded:
        return Encoded(
            [self.ids[i] for i in rows], [self.answer_len[i] for i in rows], self.labels[rows]
        )

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.ids])


@dataclass
class TrainingWindows:
    """Every kept window of a split's texts, encoded once with its text's label as the target,
    and the text each came from."""

    encoded: Encoded
    owner: np.ndarray

    @classmethod
    def build(cls, base: LoadedModel, frame: pd.DataFrame, answers: bool = True) -> TrainingWindows:
        texts, owner = base.view.expand(frame["text"].tolist())
        labels = frame["label"].to_numpy()[owner]
        return cls(Encoded.of(base.builder, texts, labels, answers), owner)

    def draw(self, per_item: int, rng: np.random.Generator) -> Encoded:
        """At most `per_item` windows of every text, drawn without replacement: an epoch's
        training items. Texts that have no more windows than that give all, drawing nothing
        (so truncated texts train exactly as they always did)."""
        if np.bincount(self.owner).max() <= per_item:
            return self.encoded
        order = np.lexsort((rng.random(len(self.owner)), self.owner))  # shuffled within text
        grouped = self.owner[order]
        place = np.arange(len(order)) - np.searchsorted(grouped, grouped)
        return self.encoded.subset(np.sort(order[place < per_item]))


def balanced_order(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` item indices with every class drawn equally often; small classes cycle through all
    of their items before any repeats."""
    classes = sorted(set(labels))
    picks = []
    for i, c in enumerate(classes):
        members = np.flatnonzero(labels == c)
        want = n // len(classes) + (1 if i < n % len(classes) else 0)
        rounds = -(-want // len(members))
        cycled = np.concatenate([rng.permutation(members) for _ in range(rounds)])
        picks.append(cycled[:want])
    return rng.permutation(np.concatenate(picks))


def make_batches(
    order: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    batch_tokens: int | None,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Cut `order` into batches of similar lengths: sort within buckets, then shuffle batches."""
    batches = []
    bucket = batch_size * BUCKET_BATCHES
    for start in range(0, len(order), bucket):
        chunk = order[start : start + bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        current: list[int] = []
        for idx in chunk:
            longest = max([lengths[idx]] + [lengths[i] for i in current])
            too_many = len(current) >= batch_size
            too_long = (
                batch_tokens is not None and current and longest * (len(current) + 1) > batch_tokens
            )
            if current and (too_many or too_long):
                batches.append(np.array(current))
                current = []
            current.append(idx)
        if current:
            batches.append(np.array(current))
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(enc: Encoded, batch: np.ndarray, pad_id: int):
    """Right-padded ids and mask, the positions whose next token is an answer token, targets."""
    rows = [enc.ids[i] for i in batch]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    keep = torch.zeros((len(rows), width), dtype=torch.bool)
    for r, (row, i) in enumerate(zip(rows, batch, strict=True)):
        ids[r, : len(row)] = torch.tensor(row)
        mask[r, : len(row)] = 1
        keep[r, len(row) - enc.answer_len[i] - 1 : len(row) - 1] = True
    targets = ids[:, 1:][keep[:, :-1]]
    return ids, mask, keep, targets
