"""Training throughput of the default model against this machine's matmul peak, in one run.

1. Peak: the best FLOP/s of torch.matmul over square sizes, in float32 and in bfloat16.
2. Training: a few LoRA steps of the default model and params (after warm-up), with the FLOPs
   of each step counted by torch's FlopCounterMode (forward and backward, as executed).
The same steps are also timed with PEFT's upcast of each LoRA input to float32 (what
`Precision.compute(model)` skips), side by side. Prints tokens/s, achieved FLOP/s and, as its
last line, achieved FLOP/s as a percentage of the
peak of the precision that training computes in. Goal: >= 50 %.
Run: `.venv/bin/python bench/train_throughput.py [--steps 6] [--params params/default.yaml]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from loralab.config import load_config
from loralab.data.sources import load_raw
from loralab.model.adapters import wrap_with_lora
from loralab.model.loading import attention_for, load_base
from loralab.run.cli import params_options
from loralab.train.batching import Encoded, collate, make_batches
from loralab.train.loop import answer_loss


def matmul_peak(dtype: torch.dtype, sizes=(512, 1024, 2048), repeats: int = 5) -> float:
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - t0))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    peaks = {torch.float32: matmul_peak(torch.float32), torch.bfloat16: matmul_peak(torch.bfloat16)}

    cfg = load_config(args.params, args.set)
    base = load_base(cfg)
    precision, builder, tok = base.precision, base.builder, base.tokenizer
    raw = load_raw(cfg.data).frame
    items = raw[raw["label"].isin(cfg.data.labels)].sample(
        cfg.train.batch_size * (args.steps + 2), random_state=0
    )
    # the kernel training runs with (auto: eager for bf16 weights on a CPU), not the scoring one
    base.model.set_attn_implementation(attention_for(cfg.model, precision, training=True))
    model = wrap_with_lora(base.model, cfg, cfg.lora.ranks[0]).train()

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.train.lrs[0])
    enc = Encoded.build(builder, items)
    rng = np.random.default_rng(0)
    batches = make_batches(
        np.arange(len(items)), enc.lengths, cfg.train.batch_size, cfg.train.batch_tokens, rng
    )
    compute = precision.autocast or precision.weights

    def peft_default(model):
        """Autocast alone: PEFT casts each LoRA input up to float32, autocast back down."""
        return torch.autocast(precision.device, dtype=compute, enabled=bool(precision.autocast))

    def step(batch, context=precision.compute) -> int:
        ids, mask, keep, targets = collate(enc, batch, tok.pad_token_id)
        with context(model):
            loss = answer_loss(model, ids, mask, keep, targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return int(mask.sum())

    for batch in batches[:2]:  # warm-up
        step(batch)
    timed = batches[2 : 2 + args.steps]
    counter = FlopCounterMode(display=False)
    with counter:  # FLOPs do not depend on the weights: count on one pass, time another
        for batch in timed:
            step(batch)
    flops = counter.get_total_flops()

    def timed_pass(context) -> tuple[int, float]:
        tokens, t0 = 0, time.perf_counter()
        for batch in timed:
            tokens += step(batch, context)
        return tokens, time.perf_counter() - t0

    # alternate the two ways twice and keep each one's faster pass, so drift hits both alike
    passes = [timed_pass(c) for c in (precision.compute, peft_default) * 2]
    tokens, seconds = min(passes[0::2], key=lambda p: p[1])
    upcast_seconds = min(p[1] for p in passes[1::2])
    achieved = flops / seconds
    peak = peaks[compute]
    print(
        f"matmul peak: float32 {peaks[torch.float32] / 1e9:.0f} GFLOP/s, "
        f"bfloat16 {peaks[torch.bfloat16] / 1e9:.0f} GFLOP/s "
        f"({torch.get_num_threads()} threads)"
    )
    print(
        f"training: {precision.describe()}, batch {cfg.train.batch_size}, "
        f"seq_len {cfg.train.seq_len}, {len(timed)} steps, {tokens} tokens in {seconds:.1f} s "
        f"= {tokens / seconds:.0f} tok/s"
    )
    print(f"counted FLOPs per token (forward + backward): {flops / tokens / 1e6:.0f} M")
    print(
        f"same steps with PEFT's float32 upcast of every LoRA input: {tokens / upcast_seconds:.0f} "
        f"tok/s; skipping it is {upcast_seconds / seconds:.2f}x faster"
    )
    print(
        f"achieved: {achieved / 1e9:.0f} GFLOP/s = {100 * achieved / peak:.0f}% of the "
        f"{str(compute).replace('torch.', '')} matmul peak"
    )


if __name__ == "__main__":
    main()
