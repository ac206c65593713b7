"""Where a LoRA training step's time goes: torch's profiler over a few steps of the default
model and params, CPU time per operator, and the share of the operators LoRA adds to the frozen
base's (its small matmuls, the scaling and the sum with the base output, forward and backward).

A step's floor (bench/floor.py) counts its FLOPs at the matmul peak; this says what the rest is:
matmuls slower than the peak at these shapes, or work beside the matmuls.
Run: `.venv/bin/python bench/train_profile.py [--steps 2] [--params params/default.yaml]`.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from loralab.config import load_config
from loralab.data.sources import load_raw
from loralab.environment import cpu_kind
from loralab.model.adapters import wrap_with_lora
from loralab.model.loading import attention_for, load_base
from loralab.run.cli import params_options
from loralab.train.batching import Encoded, collate, make_batches
from loralab.train.loop import answer_loss


def category(op: str, shapes: list[list[int]], rank: int) -> str:
    """Which kind of work an operator call is."""
    if op == "aten::mm":
        return "LoRA's matmuls" if any(rank in s for s in shapes) else "the base's matmuls"
    if op in ("aten::mul", "aten::add", "aten::add_"):
        return "elementwise mul/add (LoRA's scaling and sum, MLP product, residuals)"
    if "attention" in op:
        return "attention"
    return "everything else"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    cfg = load_config(args.params, args.set)
    base = load_base(cfg)
    rank, t = cfg.lora.ranks[0], cfg.train
    raw = load_raw(cfg.data).frame
    items = raw[raw["label"].isin(cfg.data.labels)].sample(
        t.batch_size * (args.steps + 1), random_state=0
    )
    base.model.set_attn_implementation(attention_for(cfg.model, base.precision, training=True))
    model = wrap_with_lora(base.model, cfg, rank, in_place=True).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=t.lrs[0])
    enc = Encoded.build(base.builder, items)
    rng = np.random.default_rng(0)
    batches = make_batches(np.arange(len(items)), enc.lengths, t.batch_size, None, rng)

    def step(batch) -> None:
        ids, mask, keep, targets = collate(enc, batch, base.tokenizer.pad_token_id)
        with base.precision.compute(model):
            answer_loss(model, ids, mask, keep, targets).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step(batches[0])  # warm-up
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for batch in batches[1 : 1 + args.steps]:
            step(batch)
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    spent: dict[str, float] = {}
    base_flops = base_us = 0.0
    for e in events:
        shapes = [list(x) for x in e.input_shapes if isinstance(x, list | tuple) and x]
        kind = category(e.key, shapes, rank)
        spent[kind] = spent.get(kind, 0.0) + e.self_cpu_time_total
        if kind == "the base's matmuls":
            (m, k), (_, n) = shapes[:2]
            base_flops += 2 * m * k * n * e.count
            base_us += e.self_cpu_time_total
    print(f"CPU: {cpu_kind()}; dtype path: {base.precision.describe()}")
    print(
        f"{args.steps} steps of batch {t.batch_size} at up to {enc.lengths.max()} tokens, "
        f"r={rank}, {torch.get_num_threads()} threads: {total / 1e6:.1f} s of operator time"
    )
    for kind, us in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<72} {100 * us / total:5.1f} %")
    print(f"the base's matmuls ran at {base_flops / base_us / 1e3:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
