"""Zero-shot and its fitted label bias over every fold, the base model's window scores kept for
the whole evaluation (as `evaluation.run_methods` does) against kept per fold (as before).

With K folds a fold's training and validation items, on which the bias is fitted, are other
folds' test items, so one cache scores each item once. Needs a finished run folder with folds
(default: executed/sample). Prints each way's seconds, windows scored, and whether predictions
and scores agree. Run: `.venv/bin/python bench/window_cache.py [--run executed/sample]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from loralab.config import load_config
from loralab.data.splits import read_split
from loralab.environment import cpu_kind
from loralab.evaluate.methods import base as methods_base
from loralab.evaluate.methods.base import Study
from loralab.evaluate.methods.prompting import ZeroShot, ZeroShotBias
from loralab.layout import RunPaths
from loralab.model import scoring
from loralab.model.loading import load_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="executed/sample")
    run = RunPaths(parser.parse_args().run)
    cfg = load_config(run.params)
    base = load_base(cfg)
    print(f"CPU: {cpu_kind()}; dtype path: {base.precision.describe()}")
    scored = []

    def counting(model, builder, texts, *args):
        scored.append(len(texts))
        return scoring.score_texts(model, builder, texts, *args)

    methods_base.score_texts = counting
    tests = [read_split(run, "test", k)["text"].tolist() for k in range(cfg.split.folds)]
    outcome = {}
    for way in ("one cache per fold", "one cache for the evaluation"):
        shared: dict | None = {} if way.startswith("one cache for") else None
        scored.clear()
        t0 = time.perf_counter()
        rows = []
        for fold, texts in enumerate(tests):
            study = Study.load(cfg, run, fold, base, cache=shared)
            zero = ZeroShot(study)
            bias = ZeroShotBias(study)
            bias.fit(study.train, study.val)
            rows.append((zero.score(texts), bias.score(texts)))
        seconds = time.perf_counter() - t0
        outcome[way] = rows
        print(f"{way}: {seconds:.1f} s, {sum(scored)} windows scored in {len(scored)} passes")
    before, after = outcome.values()
    same = all(
        a.predictions == b.predictions
        for pair_a, pair_b in zip(before, after, strict=True)
        for a, b in zip(pair_a, pair_b, strict=True)
    )
    moved = max(
        float(np.abs(a.label_scores - b.label_scores).max())
        for pair_a, pair_b in zip(before, after, strict=True)
        for a, b in zip(pair_a, pair_b, strict=True)
    )
    print(f"same predictions: {same}; largest label-score change: {moved:.2g}")


if __name__ == "__main__":
    main()
