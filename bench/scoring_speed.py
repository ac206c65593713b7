"""Label scoring: reference-style full forward per verbalizer against loralab's shared-prefix pass.

Same items, same model, same process, float32 for both; asserts identical predictions, then
prints per-item times and the speedup as its last line. Goal: >= 5x.
Run: `.venv/bin/python bench/scoring_speed.py [--items 24] [--params params/default.yaml]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from loralab.config import load_config
from loralab.data.sources import load_raw
from loralab.model.loading import load_base
from loralab.model.scoring import score_full_forward, score_texts
from loralab.run.cli import params_options


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/default.yaml")
    parser.add_argument("--items", type=int, default=24)
    args = parser.parse_args()
    cfg = load_config(args.params, ["train.dtype=float32", "train.device=cpu", *args.set])
    raw = load_raw(cfg.data).frame
    items = raw[raw["label"].isin(cfg.data.labels)].sample(args.items, random_state=0)
    texts = items["text"].tolist()
    base = load_base(cfg)
    model, builder = base.model.eval(), base.builder
    score_texts(model, builder, texts[:2], batch_size=1)  # warm-up: kernels, allocator

    t0 = time.perf_counter()
    reference = np.array(
        [
            [score_full_forward(model, builder.prompt_ids(t), v.ids) for v in builder.verbalizers]
            for t in texts
        ]
    )
    ref_s = time.perf_counter() - t0
    ours = score_texts(model, builder, texts, batch_size=cfg.evaluation.batch_size)
    ours_1 = score_texts(model, builder, texts, batch_size=1)

    owner = np.array([builder.label_index(v.label) for v in builder.verbalizers])
    ref_pred = [builder.labels[owner[j]] for j in reference.argmax(axis=1)]
    assert ref_pred == ours.predictions == ours_1.predictions, "predictions differ"
    drift = float(np.abs(reference - ours.verbalizer_scores).max())
    n, v = len(texts), len(builder.verbalizers)
    print(
        f"items {n}, verbalizers {v}, seq_len {cfg.train.seq_len}, "
        f"threads {torch.get_num_threads()}, max |score diff| {drift:.2e}"
    )
    print(f"reference (full forward per verbalizer): {ref_s / n * 1000:8.1f} ms/item")
    print(
        f"loralab, batch 1:                        {ours_1.seconds / n * 1000:8.1f} ms/item "
        f"({ref_s / ours_1.seconds:.1f}x)"
    )
    print(
        f"loralab, batch {cfg.evaluation.batch_size}:                        "
        f"{ours.seconds / n * 1000:8.1f} ms/item"
    )
    print(f"speedup: {ref_s / ours.seconds:.1f}x")


if __name__ == "__main__":
    main()
