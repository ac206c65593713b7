"""What of a text each method sees: its first window (truncate) or windows covering it (chunks).

A prompt holds `PromptBuilder.text_budget` text tokens, about 100 words with the default
`train.seq_len`. Long texts (papers, notes, filings) keep their evidence past that point, so with
`data.long_text: chunks` a text is cut into windows that each fill the budget, overlapping by
`data.chunk_overlap` tokens, at most `evaluation.max_chunks` of them, evenly spaced. Every method
reads the same windows: LLM methods score each and aggregate, LoRA trains on windows drawn per
epoch, TF-IDF and the label-term rule read them all. One `DocumentView` per base model keeps
that one definition.

Aggregation turns per-window label scores into a document's; it is plain array work, so the
scorer, training's validation and calibrated methods all call the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import log_softmax, logsumexp

from loralab.config import Config
from loralab.model.prompts import PromptBuilder
from loralab.records import WindowReading

AGGREGATES = ("mean", "vote", "logsumexp")


@dataclass(frozen=True)
class Windows:
    """A text's kept windows, and how many windows the whole text needs."""

    chunks: tuple[str, ...]
    needed: int
    tokens: int  # tokens of the whole text, alone


class DocumentView:
    """The windows of each text for one prompt builder and the params' long-text settings."""

    def __init__(self, builder: PromptBuilder, cfg: Config):
        self.builder = builder
        self.mode = cfg.data.long_text
        self.size = builder.text_budget
        self.overlap = min(cfg.data.chunk_overlap, self.size // 2)  # a window must move on
        self.max_chunks = cfg.evaluation.max_chunks if self.mode == "chunks" else 1
        self._cache: dict[str, Windows] = {}

    @classmethod
    def for_tokenizer(cls, tokenizer, cfg: Config) -> DocumentView:
        """The view a study's base model would have, without loading its weights (EDA)."""
        return cls(PromptBuilder(tokenizer, cfg.prompt, cfg.data, cfg.train.seq_len), cfg)

    def windows(self, text: str) -> Windows:
        if text not in self._cache:
            self._cache[text] = self._cut(text)
        return self._cache[text]

    def _cut(self, text: str) -> Windows:
        """Windows of `size` tokens every `size - overlap` tokens, cut at token boundaries of
        the text's own encoding (the prompt re-encodes each in place and trims a token if the
        template's space merges into it)."""
        tok = self.builder.tokenizer
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=self.builder.one_piece)
        ids = enc["input_ids"]
        step = self.size - self.overlap
        starts = list(range(0, max(len(ids) - self.overlap, 1), step))
        needed = len(starts)
        if self.mode == "truncate":
            return Windows((text,), needed, len(ids))
        if len(starts) > self.max_chunks:
            picks = np.unique(np.linspace(0, len(starts) - 1, self.max_chunks).round().astype(int))
            starts = [starts[i] for i in picks]
        if self.builder.one_piece:
            spans = enc["offset_mapping"]
            chunks = tuple(
                text[spans[s][0] : spans[min(s + self.size, len(ids)) - 1][1]] if ids else text
                for s in starts
            )
        else:
            chunks = tuple(tok.decode(ids[s : s + self.size]) for s in starts) if ids else (text,)
        return Windows(chunks, needed, len(ids))

    def chunks(self, text: str) -> tuple[str, ...]:
        return self.windows(text).chunks

    def visible(self, text: str) -> str:
        """All the text a method may read: the prompt's part of the first window, or every kept
        window joined (overlaps repeated, as the LLM reads them)."""
        if self.mode == "truncate":
            return self.builder.visible_text(text)
        return "\n".join(self.chunks(text))

    def expand(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """Every kept window of every text, and the index of the text each came from."""
        pieces = [self.chunks(t) for t in texts]
        owner = np.repeat(np.arange(len(texts)), [len(p) for p in pieces])
        return [c for p in pieces for c in p], owner


def aggregate(label_scores: np.ndarray, owner: np.ndarray, n_docs: int, how: str) -> np.ndarray:
    """Documents x labels from windows x labels (`owner`: each window's document).

    mean: the mean log-probability (the geometric mean of probabilities): one window sure that
    a label is wrong weighs heavily, so evidence in a single window can decide a document whose
    other windows say little. logsumexp: the log of the mean probability: each window's say is
    bounded by its share of the windows, so a label needs the agreement of several. vote: the
    share of windows whose best label it is, plus the mean probability divided by
    (windows + 1), which breaks ties without ever outweighing one vote.
    """
    counts = np.bincount(owner, minlength=n_docs).astype(float)[:, None]
    if how not in AGGREGATES:
        raise ValueError(f"unknown chunk aggregate {how!r}; choose one of {AGGREGATES}")

    def total(values: np.ndarray) -> np.ndarray:
        out = np.zeros((n_docs, values.shape[1]))
        np.add.at(out, owner, values)
        return out

    if how == "mean":
        return total(label_scores) / counts
    logp = log_softmax(label_scores, axis=1)
    if how == "logsumexp":
        out = np.full((n_docs, label_scores.shape[1]), -np.inf)
        for doc in range(n_docs):
            out[doc] = logsumexp(logp[owner == doc], axis=0)
        return out - np.log(counts)
    best = np.eye(label_scores.shape[1])[label_scores.argmax(axis=1)]
    return total(best) / counts + total(np.exp(logp)) / counts / (counts + 1)


def window_table(view: DocumentView, texts: list[str]) -> pd.DataFrame:
    """Per text: its tokens, the windows the whole of it needs, and the windows read."""
    rows = [view.windows(t) for t in texts]
    return pd.DataFrame(
        {
            "tokens": [w.tokens for w in rows],
            "windows_needed": [w.needed for w in rows],
            "windows_read": [len(w.chunks) for w in rows],
        }
    )


def window_summary(view: DocumentView, texts: list[str]) -> WindowReading:
    """How much of the texts one window misses, and what the study read of them: the record a
    report needs to say whether truncation was a choice that mattered."""
    table = window_table(view, texts)
    longer = table["windows_needed"] > 1
    return WindowReading(
        mode=view.mode,
        window_tokens=view.size,
        overlap_tokens=view.overlap if view.mode == "chunks" else 0,
        max_chunks=view.max_chunks,
        texts=len(table),
        texts_longer_than_one_window=int(longer.sum()),
        median_tokens=float(table["tokens"].median()) if len(table) else 0.0,
        max_tokens=int(table["tokens"].max()) if len(table) else 0,
        median_windows_needed=float(table["windows_needed"].median()) if len(table) else 0.0,
        mean_windows_read=float(table["windows_read"].mean()) if len(table) else 0.0,
        texts_cut_short=int((table["windows_read"] < table["windows_needed"]).sum()),
    )
