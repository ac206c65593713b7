"""What an unmerged LoRA adapter adds to a label-scoring pass, and what skipping PEFT's float32
cast of each LoRA input saves of it on the bf16 path (autocast casts the input straight back
down, so the scores must come out the same, asserted).

Evaluation scores test with the adapter beside the base wherever folding it into bf16 weights
moves validation scores, and every trial's validation and fit check score that way, so this
pass is a large share of a series on a CPU with native bf16. The three passes run in turns,
`--rounds` times, in one process, each adapter pass first in every other round: the medians
compare like with like on a machine whose speed drifts.
Run: `.venv/bin/python bench/adapter_scoring.py [--items 24] [--rank 16]`.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from loralab.config import load_config
from loralab.data.sources import load_raw
from loralab.environment import cpu_kind
from loralab.model.adapters import wrap_with_lora
from loralab.model.loading import attention_for, load_base
from loralab.model.scoring import score_texts
from loralab.run.cli import params_options


class CastingKept:
    """A precision whose autocast leaves PEFT's input cast on: scoring before the lever."""

    def __init__(self, precision) -> None:
        self.precision = precision

    def compute(self, model=None):
        return self.precision.compute()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    cfg = load_config(args.params, args.set)
    base = load_base(cfg)
    raw = load_raw(cfg.data).frame
    texts = raw[raw["label"].isin(cfg.data.labels)].sample(args.items, random_state=0)["text"]
    windows = base.view.expand(texts.tolist())[0]
    base.model.set_attn_implementation(attention_for(cfg.model, base.precision))
    batch = cfg.evaluation.batch_size

    def per_item(model, precision) -> tuple[float, np.ndarray]:
        s = score_texts(model, base.builder, windows, precision, batch)
        return s.seconds / len(windows) * 1000, s.verbalizer_scores

    per_item(base.model, base.precision)  # warm-up: kernels, allocator
    times: dict[str, list[float]] = {"base": [], "adapter, cast kept": [], "adapter": []}
    for round_ in range(args.rounds):
        times["base"].append(per_item(base.model, base.precision)[0])
        model = wrap_with_lora(base.model, cfg, args.rank, in_place=True)
        for name, p in model.named_parameters():
            if "lora_B" in name:  # a trained adapter's B is not zero
                torch.nn.init.normal_(p, std=0.02)
        passes = {"adapter, cast kept": CastingKept(base.precision), "adapter": base.precision}
        scores = {}
        for name in sorted(passes, reverse=bool(round_ % 2)):  # each goes first in turn
            ms, scores[name] = per_item(model, passes[name])
            times[name].append(ms)
        assert np.array_equal(*scores.values()), "skipping the cast changed a score"
        base.model = model.unload()
    print(f"CPU: {cpu_kind()}; dtype path: {base.precision.describe()}")
    print(
        f"{len(windows)} items, batch {batch}, r={args.rank} unmerged, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds in turn; scores identical"
    )
    zero = np.median(times["base"])
    for name, ms in times.items():
        median = np.median(ms)
        print(f"  {name:<20} {median:7.1f} ms/item ({median / zero:.2f}x the base)")
    ratio = np.median(times["adapter"]) / np.median(times["adapter, cast kept"])
    print(f"skipping the cast: {ratio:.2f}x the time")


if __name__ == "__main__":
    main()
