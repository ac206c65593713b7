"""A trial's validation, one pass against two, side by side in one process.

Before: label scoring of the validation items, then a second forward pass over prompt + answer
for the validation loss. Now: one scoring pass that also scores each label's answer
(`answers=True`), the loss taken from it (`training.scored_answer_loss`). Both run here on the
same LoRA model (fresh adapters with random B, so scores are not trivial), alternated twice,
each way's faster time kept. Prints seconds per way, their ratio, and how far the two losses and
the label scores differ.
Run: `.venv/bin/python bench/validation.py [--items 23] [--params params/default.yaml]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from loralab.config import load_config
from loralab.data.sources import load_raw
from loralab.environment import cpu_kind
from loralab.model.adapters import wrap_with_lora
from loralab.model.loading import load_base
from loralab.model.scoring import score_chunks
from loralab.run.cli import params_options
from loralab.train.batching import Encoded, collate
from loralab.train.loop import answer_loss, scored_answer_loss


@torch.no_grad()
def two_pass_loss(model, enc: Encoded, pad_id: int, batch_size: int, precision) -> float:
    """The validation loss as a second pass took it: right-padded prompt + answer batches,
    sorted by length, token-weighted."""
    model.eval()
    total, count = 0.0, 0
    order = np.argsort(enc.lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        ids, mask, keep, targets = collate(enc, order[start : start + batch_size], pad_id)
        with precision.compute(model):
            total += float(answer_loss(model, ids, mask, keep, targets)) * len(targets)
        count += len(targets)
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--items", type=int, default=23, help="validation items (a fold's)")
    args = parser.parse_args()
    cfg = load_config(args.params, args.set)
    base = load_base(cfg)
    raw = load_raw(cfg.data).frame
    val = raw[raw["label"].isin(cfg.data.labels)].sample(args.items, random_state=0)
    model = wrap_with_lora(base.model, cfg, cfg.lora.ranks[0], in_place=True)
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.02)
    b, e, t = base, cfg.evaluation, cfg.train
    texts, labels = val["text"].tolist(), val["label"].to_numpy()
    pad = b.builder.tokenizer.pad_token_id

    def before() -> tuple[float, np.ndarray]:
        chunked = score_chunks(model, b.builder, b.view, texts, b.precision, e.batch_size)
        windows, owner = b.view.expand(texts)
        enc = Encoded.of(b.builder, windows, labels[owner])
        loss = two_pass_loss(model, enc, pad, t.batch_size, b.precision)
        return loss, chunked.windows.label_scores

    def after() -> tuple[float, np.ndarray]:
        chunked = score_chunks(
            model, b.builder, b.view, texts, b.precision, e.batch_size, answers=True
        )
        loss = scored_answer_loss(chunked.windows, b.builder, labels[chunked.owner])
        return loss, chunked.windows.label_scores

    after()  # warm-up
    times: dict[str, list[float]] = {"two passes": [], "one pass": []}
    out = {}
    for _ in range(2):
        for name, way in (("two passes", before), ("one pass", after)):
            t0 = time.perf_counter()
            out[name] = way()
            times[name].append(time.perf_counter() - t0)
    two, one = min(times["two passes"]), min(times["one pass"])
    print(f"CPU: {cpu_kind()}; dtype path: {base.precision.describe()}")
    print(f"{args.items} validation items, batch {e.batch_size} (scoring), {t.batch_size} (loss)")
    print(f"two passes: {two:.1f} s; one pass: {one:.1f} s; one / two = {one / two:.2f}x")
    (loss2, scores2), (loss1, scores1) = out["two passes"], out["one pass"]
    print(
        f"validation loss: two passes {loss2:.6f}, one pass {loss1:.6f} "
        f"(difference {abs(loss1 - loss2):.1e}); label scores differ by at most "
        f"{np.abs(scores1 - scores2).max():.1e}"
    )


if __name__ == "__main__":
    main()
