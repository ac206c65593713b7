"""Evaluation time per long document: truncation against windows, by evaluation.max_chunks.

Scores the same documents of the long-document params (zero-shot, the embedded model) with
truncation and with up to 1, 2, 4 and 8 windows each, on both CPU dtype paths side by side:
the path this CPU takes by default and the float32 path of a CPU without native bf16. Prints
windows and milliseconds per document, and what evaluating the default-sized study (466
documents, each scored by every LLM pass of params/long-documents.yaml: zero-shot and the LoRA
trials) would take at that rate.
Run: `.venv/bin/python bench/long_documents.py [--docs 32] [--params params/long-documents.yaml]`.
"""

from __future__ import annotations

import argparse

import torch

from loralab.config import load_config
from loralab.data.sources import load_raw
from loralab.environment import cpu_kind
from loralab.model.loading import load_base
from loralab.model.scoring import score_chunks
from loralab.model.windows import DocumentView
from loralab.run.cli import params_options

STUDY_DOCS = 466  # the embedded corpus's Lung/Colon items, every one a paired test item


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], parents=[params_options()]
    )
    parser.add_argument("--params", default="params/long-documents.yaml")
    parser.add_argument("--docs", type=int, default=32)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    base_cfg = load_config(args.params, args.set)
    raw = load_raw(base_cfg.data).frame
    docs = raw[raw["label"].isin(base_cfg.data.labels)].sample(args.docs, random_state=0)
    texts = docs["text"].tolist()
    # one LLM pass per document for zero-shot, one per LoRA trial's rank (each fold tests its own)
    passes = 1 + len(base_cfg.lora.ranks) * len(base_cfg.train.seeds)
    cpu = cpu_kind()
    print(f"CPU: {cpu}; threads {torch.get_num_threads()}; {len(texts)} documents")
    settings = [("truncate", 1)] + [("chunks", k) for k in args.chunks]
    for dtype in ("auto", "float32"):
        cfg = load_config(args.params, [*args.set, f"train.dtype={dtype}", "train.device=cpu"])
        base = load_base(cfg)
        print(f"\ndtype path: {base.precision.describe()}")
        print(f"{'reading':<16} {'windows/doc':>11} {'ms/doc':>8} {'study eval (min)':>17}")
        for mode, k in settings:
            view_cfg = cfg.model_copy(
                update={
                    "data": cfg.data.model_copy(update={"long_text": mode}),
                    "evaluation": cfg.evaluation.model_copy(update={"max_chunks": k}),
                }
            )
            view = DocumentView(base.builder, view_cfg)
            batch = cfg.evaluation.batch_size
            score_chunks(base.model, base.builder, view, texts[:2], base.precision, batch)
            scored = score_chunks(base.model, base.builder, view, texts, base.precision, batch)
            per_doc = scored.windows.seconds / len(texts)
            windows = len(scored.owner) / len(texts)
            study = per_doc * STUDY_DOCS * passes / 60
            label = mode if mode == "truncate" else f"chunks, max {k}"
            print(f"{label:<16} {windows:>11.1f} {per_doc * 1000:>8.0f} {study:>17.1f}")
        del base
    print(f"\nstudy eval = ms/doc x {STUDY_DOCS} documents x {passes} LLM passes per document")
    print(
        f"(zero-shot + {passes - 1} LoRA trial(s) per fold); training and other steps come on top"
    )


if __name__ == "__main__":
    main()
