"""LoRA scoring latency with the adapter beside the base against folded into it (merge_and_unload).

Needs a finished run folder (default: executed/sample, which `loralab run params/default.yaml
--run-id sample` writes). Scores the run's test items with one adapter both ways in one process,
in the run's precision, and prints p50/p95 per item, the ratio, and how far merging moved the
scores. Run: `.venv/bin/python bench/merge_latency.py [--run executed/sample] [--trial r8-f0-s42]`.
"""

from __future__ import annotations

import argparse
import copy

import numpy as np

from loralab.config import load_config
from loralab.data.splits import read_split
from loralab.layout import RunPaths
from loralab.model.adapters import load_adapter
from loralab.model.loading import load_base
from loralab.model.scoring import score_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="executed/sample")
    parser.add_argument("--trial", default="r8-f0-s42", help="a trial id of the run")
    args = parser.parse_args()
    run = RunPaths(args.run)
    cfg = load_config(run.params)
    base = load_base(cfg)
    precision, builder = base.precision, base.builder
    texts = read_split(run, "test", 0)["text"].tolist()

    def score(model):
        score_texts(model, builder, texts[:2], precision)  # warm-up
        return score_texts(model, builder, texts, precision)

    beside = score(load_adapter(copy.deepcopy(base.model), run.adapter(args.trial)))
    merged = score(
        load_adapter(copy.deepcopy(base.model), run.adapter(args.trial)).merge_and_unload()
    )
    print(f"items {len(texts)}, trial {args.trial}, {precision.describe()}")
    for name, s in (("adapter beside the base", beside), ("adapter merged", merged)):
        p50, p95 = np.percentile(s.latency_s, [50, 95]) * 1000
        print(f"{name:>24}: p50 {p50:6.1f} ms, p95 {p95:6.1f} ms")
    same = np.mean(np.array(beside.predictions) == np.array(merged.predictions))
    moved = np.abs(beside.label_scores - merged.label_scores).max()
    print(f"same predictions {same:.3f}, max label-score change {moved:.3f}")
    ratio = np.median(merged.latency_s) / np.median(beside.latency_s)
    print(f"merged p50 latency is {ratio:.2f}x that of the adapter beside the base")


if __name__ == "__main__":
    main()
