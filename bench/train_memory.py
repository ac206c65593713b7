"""Training memory and speed by attention kernel and activation checkpointing, side by side.

Each variant trains the same batches of the default params (batch 4, seq_len 192, LoRA r=8) in
a fresh process, so its peak resident memory is its own (base model, LoRA copy, activations,
optimizer). Prints tokens/s and peak GB per variant, the CPU kind and the dtype path. The
float32 path (`train.dtype=float32`) is what a CPU without native bf16 takes; the goal is the
whole series within 4 GB there.
Run: `.venv/bin/python bench/train_memory.py [--steps 6] [--variants sdpa:0,sdpa:2]
[--set train.dtype=float32]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

VARIANTS = [("eager", "0"), ("eager", "2"), ("eager", "1"), ("sdpa", "0"), ("sdpa", "2")]


def one(args) -> dict:
    """One variant in this process: warm-up, then timed steps; returns its figures."""
    from loralab.config import load_config
    from loralab.data.sources import load_raw
    from loralab.model.adapters import wrap_with_lora
    from loralab.model.loading import load_base
    from loralab.train.batching import Encoded, collate, make_batches
    from loralab.train.loop import answer_loss

    sets = [*args.set, f"model.attn_implementation={args.attn}"]
    sets.append(f"train.activation_checkpointing={args.checkpointing}")
    cfg = load_config(args.params, sets)
    base = load_base(cfg)
    model = wrap_with_lora(base.model, cfg, cfg.lora.ranks[0]).train()
    raw = load_raw(cfg.data).frame
    items = raw[raw["label"].isin(cfg.data.labels)].sample(
        cfg.train.batch_size * (args.steps + 2), random_state=0
    )
    enc = Encoded.build(base.builder, items)
    batches = make_batches(
        np.arange(len(items)), enc.lengths, cfg.train.batch_size, None, np.random.default_rng(0)
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.train.lrs[0])
    pad = base.tokenizer.pad_token_id

    def step(batch) -> int:
        ids, mask, keep, targets = collate(enc, batch, pad)
        with base.precision.compute(model):
            loss = answer_loss(model, ids, mask, keep, targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return int(mask.sum())

    for batch in batches[:2]:
        step(batch)
    t0, tokens = time.perf_counter(), 0
    for batch in batches[2 : 2 + args.steps]:
        tokens += step(batch)
    seconds = time.perf_counter() - t0
    return {
        "tok_s": tokens / seconds,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "precision": base.precision.describe(),
    }


def main() -> None:
    from loralab.environment import cpu_kind
    from loralab.run.cli import params_options

    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument(
        "--variants",
        type=lambda v: [tuple(x.split(":")) for x in v.split(",")],
        default=VARIANTS,
        metavar="KERNEL:EVERY[,...]",
        help="attention kernel and checkpointing interval per variant, e.g. sdpa:0,sdpa:2 "
        "(default: all five)",
    )
    parser.add_argument("--attn", help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attn:  # a child: one variant
        print(json.dumps(one(args)))
        return
    cpu = cpu_kind()
    print(f"CPU: {cpu}; steps {args.steps}")
    rows = []
    for attn, checkpointing in args.variants:
        sets = [a for s in args.set for a in ("--set", s)]
        out = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--params",
                    args.params,
                    "--steps",
                    str(args.steps),
                    "--attn",
                    attn,
                    "--checkpointing",
                    checkpointing,
                    *sets,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        rows.append({"attention": attn, "checkpointing": checkpointing, **json.loads(out)})
    print(f"dtype path: {rows[0]['precision']}")
    first = rows[0]["tok_s"]
    for r in rows:
        print(
            f"{r['attention']:<6} checkpoint every {r['checkpointing']:<4} {r['tok_s']:7.0f} tok/s "
            f"({r['tok_s'] / first:.2f}x of eager, none)  peak {r['peak_gb']:.2f} GB"
        )


if __name__ == "__main__":
    main()
