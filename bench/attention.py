"""Label scoring by attention kernel: eager against SDPA, on both CPU dtype paths side by side.

Scores the same items zero-shot, few-shot (one draw: a longer cached prefix) and through a LoRA
adapter (r=8, unmerged, as evaluation scores it), with each kernel, in one process. Prints ms
per item and each kernel's largest score difference from eager (the predictions must agree).
Last, zero-shot with the kernel auto scores with, by evaluation.batch_size, on each path.
Training throughput by kernel is bench/train_memory.py's (`--attn`).
Run: `.venv/bin/python bench/attention.py [--items 64] [--params params/default.yaml]`.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from loralab.config import load_config
from loralab.data.sources import load_raw
from loralab.environment import cpu_kind
from loralab.evaluate.methods.prompting import few_shot_examples
from loralab.model.adapters import wrap_with_lora
from loralab.model.loading import attention_kernel, load_base, resolve_precision
from loralab.model.prompts import PromptBuilder
from loralab.model.scoring import score_texts
from loralab.run.cli import params_options

KERNELS = ("eager", "sdpa")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--items", type=int, default=64)
    args = parser.parse_args()
    first = load_config(args.params, args.set)
    raw = load_raw(first.data).frame
    raw = raw[raw["label"].isin(first.data.labels)]
    items = raw.sample(args.items, random_state=0)
    shots = few_shot_examples(raw.drop(items.index), list(first.data.labels), 1, first.split.seed)
    texts = items["text"].tolist()
    print(f"CPU: {cpu_kind()}; threads {torch.get_num_threads()}; {len(texts)} items")
    done = set()
    for dtype in ("auto", "float32"):
        cfg = load_config(args.params, [*args.set, f"train.dtype={dtype}", "train.device=cpu"])
        path = resolve_precision(cfg.train.dtype, cfg.train.device).describe()
        if path in done:  # a CPU without native bf16: auto is the float32 path
            continue
        done.add(path)
        base = load_base(cfg)
        few = PromptBuilder.few_shot(base.tokenizer, cfg.prompt, cfg.data, cfg.train.seq_len, shots)
        lora = wrap_with_lora(base.model, cfg, 8)
        torch.nn.init.normal_(  # a trained adapter's B is not zero
            next(p for n, p in lora.named_parameters() if "lora_B" in n), std=0.02
        )
        cases = [
            ("zero-shot", base.model, base.builder),
            ("few-shot, one draw", base.model, few),
            ("LoRA r=8, unmerged", lora, base.builder),
        ]
        prefix = len(few.before)
        print(f"\ndtype path: {base.precision.describe()}; few-shot prefix {prefix} tokens")
        print(f"{'scoring':<20} " + " ".join(f"{k + ' ms/item':>14}" for k in KERNELS), end="")
        print(f" {'sdpa/eager':>10} {'max |diff|':>11}")
        batch = cfg.evaluation.batch_size
        for name, model, builder in cases:
            times, scores = {}, {}
            for kernel in KERNELS:
                with attention_kernel(model, kernel):
                    score_texts(model, builder, texts[:batch], base.precision, batch)  # warm-up
                    s = score_texts(model, builder, texts, base.precision, batch)
                times[kernel] = s.seconds / len(texts) * 1000
                scores[kernel] = s
            same = scores["eager"].predictions == scores["sdpa"].predictions
            diff = np.abs(scores["eager"].verbalizer_scores - scores["sdpa"].verbalizer_scores)
            print(
                f"{name:<20} "
                + " ".join(f"{times[k]:14.1f}" for k in KERNELS)
                + f" {times['sdpa'] / times['eager']:9.2f}x {diff.max():11.2e}"
                + ("" if same else "  predictions differ")
            )
        per_batch = []
        for batch in (1, 4, 8, 16):
            score_texts(base.model, base.builder, texts[:batch], base.precision, batch)
            s = score_texts(base.model, base.builder, texts, base.precision, batch)
            per_batch.append(f"{s.seconds / len(texts) * 1000:.1f} at {batch}")
        kernel = base.model.config._attn_implementation
        print(f"zero-shot ({kernel}), ms/item by batch size: " + ", ".join(per_batch))
        del lora, base


if __name__ == "__main__":
    main()
