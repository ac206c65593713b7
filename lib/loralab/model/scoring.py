"""Zero-shot and LoRA label scoring: the summed log-probability of each verbalizer.

The reference runs one full forward pass per verbalizer (four per item). Here the tokens that all
prompts of a scoring call start with run once into a KV cache; each prompt's rest runs once,
projecting only its last position onto the vocabulary, and all verbalizer continuations are
scored from it in the same batched pass. The scores are the same numbers (tests compare them
with `score_full_forward`); only the work differs.

Training's validation also needs each label's answer log-probability (the answer a LoRA adapter
learns: first verbalizer, then end of turn) for its loss. With `answers=True` the same pass
scores those answers as further continuations of the tree (a label's answer adds its first
verbalizer's tokens to the tail once more), instead of a second forward pass over prompt +
answer. The verbalizer scores stay the same numbers, to float rounding (a longer tail can change
a kernel's summation order: at most 8e-6 nats in float32 on the tests' model).

A model with a classification head (lora.formats: head; model/head.py) is scored by the same
code: same windows, batches, shared prefix and timing, but its label scores are the head's
log-softmax over the labels at the last prompt position, one forward pass and no continuations.

Timing terms used in the report:
- latency: wall time of one scoring call divided by the items in it (with evaluation.batch_size = 1,
  the time to classify one item);
- prompt tokens/s: the prompt tokens of every item (template and text, no padding) divided by
  the scoring wall time. The shared prefix is computed once per call but counted per item, as
  a user sees it. The reference counted only label tokens, which says little about cost.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from loralab.model.head import is_head
from loralab.model.loading import Precision
from loralab.model.prompts import PromptBuilder
from loralab.model.windows import DocumentView, aggregate


@dataclass
class Scores:
    """Per item: each verbalizer's score, the predicted label and timing."""

    verbalizer_scores: np.ndarray  # items x verbalizers, summed log-probabilities
    label_scores: np.ndarray  # items x labels, best verbalizer per label
    predictions: list[str]
    latency_s: np.ndarray  # per item
    prompt_tokens: np.ndarray  # per item
    seconds: float
    chunks: np.ndarray | None = None  # windows scored per item (None: one each)
    # items x labels: summed log-probability of each label's answer (answers=True, else None)
    answer_scores: np.ndarray | None = None
    # per label: the tokens of its answer, the count a loss per answer token divides by
    answer_lengths: np.ndarray | None = None

    @property
    def chunk_counts(self) -> np.ndarray:
        return self.chunks if self.chunks is not None else np.ones(len(self.predictions), int)

    @property
    def tokens_per_second(self) -> float:
        return float(self.prompt_tokens.sum() / self.seconds) if self.seconds else float("nan")

    def latency_summary(self) -> dict[str, float]:
        return {
            "latency_p50_ms": float(np.percentile(self.latency_s, 50) * 1000),
            "latency_p95_ms": float(np.percentile(self.latency_s, 95) * 1000),
            "prompt_tokens_per_s": self.tokens_per_second,
        }

    def frame(self, ids: list[str], labels: list[str]) -> pd.DataFrame:
        out = pd.DataFrame({"id": ids, "prediction": self.predictions})
        for j, label in enumerate(labels):
            out[f"score_{label}"] = self.label_scores[:, j]
        return out

    def table(self, ids: list[str], labels: list[str]) -> pd.DataFrame:
        """frame() plus what timing needs, so scores written by one step read back whole in
        another (`from_table`)."""
        return self.frame(ids, labels).assign(
            latency_s=self.latency_s, prompt_tokens=self.prompt_tokens, chunks=self.chunk_counts
        )

    @classmethod
    def gathered(cls, rows: list[tuple[Scores, int]]) -> Scores:
        """Items of other scored sets, each named by (set, index), as one set. Each item brings
        its pass's seconds in proportion to its latency, so tokens per second stays the
        passes'."""

        def column(name: str) -> np.ndarray:
            return np.stack([getattr(s, name)[i] for s, i in rows])

        def share(s: Scores, i: int) -> float:
            total = s.latency_s.sum()
            return s.seconds * s.latency_s[i] / total if total else 0.0

        answered = all(s.answer_scores is not None for s, _ in rows)
        return cls(
            column("verbalizer_scores"),
            column("label_scores"),
            [s.predictions[i] for s, i in rows],
            column("latency_s"),
            column("prompt_tokens"),
            float(sum(share(s, i) for s, i in rows)),
            answer_scores=column("answer_scores") if answered else None,
            answer_lengths=rows[0][0].answer_lengths if rows else None,
        )

    @classmethod
    def from_table(cls, table: pd.DataFrame, labels: list[str], seconds: float) -> Scores:
        label_scores = table[[f"score_{label}" for label in labels]].to_numpy()
        return cls(
            label_scores,  # per label: the best verbalizer's, all a table keeps
            label_scores,
            table["prediction"].tolist(),
            table["latency_s"].to_numpy(),
            table["prompt_tokens"].to_numpy(),
            seconds,
            table["chunks"].to_numpy(),
        )


def _pad_left(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s) :] = torch.tensor(s)
        mask[i, width - len(s) :] = 1
    return ids, mask


def _tree_inputs(
    prompts: list[list[int]], continuations: list[tuple[int, ...]], pad_id: int, offset: int
):
    """One row per prompt: the prompt (left-padded), then every continuation but its last token.

    The mask lets prompt tokens attend causally to real prompt tokens, and each continuation
    token to the whole prompt plus the earlier tokens of its own continuation only; position ids
    restart after the prompt for every continuation. So one forward pass scores all of them.
    `offset` tokens of a cached shared prefix come first: every row attends to all of them.
    """
    ids, mask = _pad_left(prompts, pad_id)
    n, width = ids.shape
    tail = [(j, k, tok) for j, c in enumerate(continuations) for k, tok in enumerate(c[:-1])]
    total = width + len(tail)
    allowed = torch.zeros((n, total, offset + total), dtype=torch.bool)
    allowed[:, :, :offset] = True
    real = mask.bool()
    own = allowed[:, :, offset:]
    own[:, :width, :width] = (
        torch.tril(torch.ones(width, width, dtype=torch.bool)) & real[:, None, :]
    )
    own[:, range(total), range(total)] = True  # pad rows attend to themselves: no NaN
    positions = torch.zeros((n, total), dtype=torch.long)
    positions[:, :width] = offset + (mask.cumsum(-1) - 1).clamp(min=0)
    last = positions[:, width - 1]
    for row, (j, k, _) in enumerate(tail):
        q = width + row
        own[:, q, :width] = real
        for row2, (j2, k2, _) in enumerate(tail):
            if j2 == j and k2 <= k:
                own[:, q, width + row2] = True
        positions[:, q] = last + 1 + k
    tail_ids = torch.tensor([tok for _, _, tok in tail], dtype=torch.long).expand(n, -1)
    return torch.cat([ids, tail_ids], dim=1), allowed[:, None], positions, tail


@dataclass
class SharedPrefix:
    """KV cache of the tokens every prompt of a scoring call starts with (system message,
    template head)."""

    length: int
    cache: object

    @classmethod
    @torch.inference_mode()
    def build(cls, model, ids: list[int]) -> SharedPrefix | None:
        if not ids:
            return None
        device = next(model.parameters()).device
        lm_only = {} if is_head(model) else {"logits_to_keep": 1}
        out = model(input_ids=torch.tensor([ids], device=device), use_cache=True, **lm_only)
        return cls(len(ids), out.cache)

    def for_batch(self, n: int):
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(n)
        return cache


@torch.inference_mode()
def score_batch(
    model,
    prompts: list[list[int]],
    continuations: list[tuple[int, ...]],
    pad_id: int,
    prefix: SharedPrefix | None = None,
) -> torch.Tensor:
    """Summed log-probabilities, items x continuations, from a single forward pass; for a
    model with a classification head, the log-probability of each label (no continuations).

    With a `prefix`, `prompts` hold only what follows the shared prefix.
    """
    device = next(model.parameters()).device
    offset = prefix.length if prefix else 0
    ids, allowed, positions, tail = _tree_inputs(prompts, continuations, pad_id, offset)
    width = ids.shape[1] - len(tail)
    # An additive float mask: the one format both eager and SDPA attention read the same way.
    dtype = next(model.parameters()).dtype
    additive = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    inputs = {
        "input_ids": ids.to(device),
        "attention_mask": additive.to(device),
        "position_ids": positions.to(device),
        "cache": prefix.for_batch(len(prompts)) if prefix else None,
        "use_cache": prefix is not None,
    }
    if is_head(model):
        return torch.log_softmax(model(**inputs).logits.float(), dim=-1).cpu()
    keep = torch.arange(width - 1, ids.shape[1], device=device)  # last prompt token + tail
    logits = model(**inputs, logits_to_keep=keep).logits
    logp = torch.log_softmax(logits.float(), dim=-1)  # B x (1 + len(tail)) x vocab
    # Where the prediction of each continuation token comes from: the last prompt position for
    # token 0, the continuation's own previous token after that.
    slot = {(j, k): 1 + row for row, (j, k, _) in enumerate(tail)}
    scores = torch.zeros((len(prompts), len(continuations)))
    for j, c in enumerate(continuations):
        for k, tok in enumerate(c):
            scores[:, j] += logp[:, 0 if k == 0 else slot[(j, k - 1)], tok].cpu()
    return scores


@torch.inference_mode()
def score_full_forward(model, prompt: list[int], continuation: tuple[int, ...]) -> float:
    """The reference's way: one full forward pass over prompt + continuation, all logits."""
    device = next(model.parameters()).device
    ids = torch.tensor([prompt + list(continuation)], device=device)
    logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    start = len(prompt) - 1
    return float(sum(logp[start + k, tok] for k, tok in enumerate(continuation)))


def common_prefix_length(prompts: list[list[int]]) -> int:
    """How many leading tokens all `prompts` share, leaving each at least one token after them
    (its last position predicts the first answer token). Taken from the token ids themselves,
    not from the template: a text's first token may absorb the template's last space."""
    limit = min((len(p) for p in prompts), default=1) - 1
    length = 0
    for column in zip(*prompts, strict=False):  # stops at the shortest prompt
        if length == limit or any(token != column[0] for token in column):
            break
        length += 1
    return length


def score_texts(
    model,
    builder: PromptBuilder,
    texts: list[str],
    precision: Precision | None = None,
    batch_size: int = 1,
    progress: bool = False,
    answers: bool = False,
) -> Scores:
    """Score every text against every verbalizer (or, with a classification head, every
    label); batches are formed by prompt length. Without a `precision` the model runs in its
    weights' dtype, with no autocast. With `answers`, also each label's answer
    (`builder.answer_ids`; a head's answer is its label) in the same pass: training's
    validation loss comes from it; evaluation leaves it off and pays nothing."""
    prompts = [builder.prompt_ids(t) for t in texts]
    head = is_head(model)
    conts = [] if head else [v.ids for v in builder.verbalizers]
    if answers and not head:
        conts += [tuple(builder.answer_ids(label)) for label in builder.labels]
    width = len(conts) or len(builder.labels)
    pad = builder.tokenizer.pad_token_id
    scored, latency, seconds = _score_prompts(
        model, prompts, conts, width, pad, precision, batch_size, progress
    )
    n_verb = 0 if head else len(builder.verbalizers)
    if head:
        verb = label_scores = scored
        lengths = np.ones(len(builder.labels), int)
    else:
        verb = scored[:, :n_verb]
        owner = np.array([builder.label_index(v.label) for v in builder.verbalizers])
        label_scores = np.stack(
            [verb[:, owner == j].max(axis=1) for j in range(len(builder.labels))], axis=1
        )
        lengths = np.array([len(builder.answer_ids(label)) for label in builder.labels])
    predictions = [builder.labels[j] for j in label_scores.argmax(axis=1)]
    return Scores(
        verb,
        label_scores,
        predictions,
        latency,
        np.array([len(p) for p in prompts]),
        seconds,
        answer_scores=(label_scores if head else scored[:, n_verb:]) if answers else None,
        answer_lengths=lengths if answers else None,
    )


def _score_prompts(model, prompts, conts, width, pad, precision, batch_size, progress):
    """`score_batch` over every prompt, in batches of similar length after one shared prefix:
    the scores (prompts x `width`: the continuations, or a head's labels), each prompt's
    latency, and the wall time of it all."""
    from tqdm.auto import tqdm

    order = np.argsort([len(p) for p in prompts], kind="stable")
    scored, latency = np.zeros((len(prompts), width)), np.zeros(len(prompts))
    # with the model: its LoRA layers then skip casting each input up to float32 for autocast
    # to cast back down (bf16 path: 0.90x the time, same scores; bench/adapter_scoring.py)
    compute = precision.compute(model) if precision else contextlib.nullcontext()
    was_training = model.training
    model.eval()
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    shared = common_prefix_length(prompts)
    rest = [p[shared:] for p in prompts]
    t_all = time.perf_counter()
    with compute:
        prefix = SharedPrefix.build(model, prompts[0][:shared] if prompts else [])
        for batch in tqdm(batches, desc="scoring", disable=not progress, mininterval=10):
            t0 = time.perf_counter()
            scored[batch] = score_batch(model, [rest[i] for i in batch], conts, pad, prefix).numpy()
            latency[batch] = (time.perf_counter() - t0) / len(batch)
    seconds = time.perf_counter() - t_all
    model.train(was_training)
    return scored, latency, seconds


@dataclass
class ChunkScores:
    """Scores of every kept window of a set of documents, and the document of each window.
    Answer scores, where asked for, stay per window (`windows.answer_scores`): a loss is taken
    over windows, not documents."""

    windows: Scores
    owner: np.ndarray
    n_docs: int

    def documents(self, labels: list[str], how: str, adjust=None) -> Scores:
        """Per document: label scores aggregated over its windows (`adjust`, e.g. calibration,
        applies to each window's label scores first), latency and prompt tokens summed. A set
        where every document is one window comes back as scored, whatever `how` says."""
        w = self.windows
        scores = adjust(w.label_scores) if adjust else w.label_scores
        verbalizers = w.verbalizer_scores
        if len(self.owner) == self.n_docs:
            doc = scores
        else:
            doc = aggregate(scores, self.owner, self.n_docs, how)
            verbalizers = aggregate(verbalizers, self.owner, self.n_docs, "mean")

        def per_doc(values: np.ndarray) -> np.ndarray:
            return np.bincount(self.owner, weights=values, minlength=self.n_docs)

        return Scores(
            verbalizers,
            doc,
            [labels[j] for j in doc.argmax(axis=1)],
            per_doc(w.latency_s),
            per_doc(w.prompt_tokens).astype(int),
            w.seconds,
            np.bincount(self.owner, minlength=self.n_docs),
        )


def score_chunks(
    model,
    builder: PromptBuilder,
    view: DocumentView,
    texts: list[str],
    precision: Precision | None = None,
    batch_size: int = 1,
    progress: bool = False,
    answers: bool = False,
) -> ChunkScores:
    """Every window the view keeps of `texts`, scored in one batched pass (one shared prefix);
    `answers` as in `score_texts`."""
    windows, owner = view.expand(texts)
    scores = score_texts(model, builder, windows, precision, batch_size, progress, answers)
    return ChunkScores(scores, owner, len(texts))


class WindowCache:
    """One model's scores per window text for one prompt, so that a window is scored once in a
    run whichever method or fold asks for it again: the base model scores each fold's test items
    for zero-shot and, in another fold, the same items as training items that a label bias is
    fitted on. A window rescored in another batch would differ by float rounding only."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[Scores, int]] = {}

    def scores(self, windows: list[str], score) -> Scores:
        """The windows' scores, those not seen before scored by `score(new windows)` in one
        pass."""
        if not windows:
            return score(windows)
        new = list(dict.fromkeys(w for w in windows if w not in self.rows))
        if new:
            fresh = score(new)
            self.rows.update((w, (fresh, i)) for i, w in enumerate(new))
        return Scores.gathered([self.rows[w] for w in windows])


def score_documents(
    model,
    builder: PromptBuilder,
    view: DocumentView,
    texts: list[str],
    how: str,
    precision: Precision | None = None,
    batch_size: int = 1,
) -> Scores:
    """Documents scored as the study scores them: windows, then their aggregate."""
    chunked = score_chunks(model, builder, view, texts, precision, batch_size)
    return chunked.documents(builder.labels, how)
