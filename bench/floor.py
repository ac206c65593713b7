"""A finished series against this machine's floor: the work each step had to do, at the matmul
peak measured in the same run, and the step's measured time as a multiple of it.

Work is counted, not guessed: torch's FlopCounterMode counts one scoring forward pass (the LM
head at the answer position only, as scoring runs) and one LoRA training step (forward and
backward, without activation checkpointing: its recompute is overhead, not work the step must
do) of the run's model at the run's mean prompt length, per token; for a trial of the
classification head (lora.formats), its own step (no answer tokens, no LM head). Tokens come
from the run's artifacts: every epoch's training tokens (history.csv), validation scored once
per epoch (its loss comes from the same pass) and the training items scored to check the fit
(train.fit_check_items), every LLM method's test items (few-shot once per draw), and
what evaluation scores to fit or check a method: the training and validation items of a fitted
label bias, the validation items a folded adapter scores again. Scored tokens are
counted whole per item, the KV-cached template head included, so the floor is an upper bound
and a multiple a lower one.
Steps without model work (data, split, statistics) and the evaluation's classic methods have
no floor. A multiple near 1 says the step is at the hardware; a large one says where time goes.

Run: `.venv/bin/python bench/floor.py DIR` with DIR a finished run folder, e.g. the one that
`.venv/bin/python bench/series.py --out OUT` leaves in OUT/executed/bench-series.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode
from train_throughput import matmul_peak

from loralab.config import load_config
from loralab.data.splits import read_split
from loralab.environment import cpu_kind
from loralab.layout import RunPaths
from loralab.model.adapters import wrap_with_lora
from loralab.model.head import head_loss
from loralab.model.loading import attention_for, attention_kernel, load_base
from loralab.run.steps import series
from loralab.train.batching import Encoded, collate
from loralab.train.loop import answer_loss
from loralab.train.trials import trial_of

BATCH = 4


def flops_per_token(base, cfg, length: int) -> tuple[float, dict[bool, float]]:
    """Scoring forward FLOPs per token at `length` tokens, and a LoRA training step's, by
    whether the trial trains a classification head."""
    ids = torch.randint(100, 1000, (BATCH, length))
    scoring_kernel = attention_for(cfg.model, base.precision)
    with (
        FlopCounterMode(display=False) as scoring,
        base.precision.compute(base.model),
        torch.inference_mode(),
        attention_kernel(base.model, scoring_kernel),
    ):
        base.model(input_ids=ids, logits_to_keep=1, use_cache=False)
    step = {head: training_step_flops(base, cfg, ids, head) for head in (False, True)}
    return scoring.get_total_flops() / ids.numel(), step


def training_step_flops(base, cfg, ids: torch.Tensor, head: bool) -> float:
    """FLOPs per token of one training step: forward and backward of the verbalizer's answer
    loss, or of a classification head's label loss."""
    plain = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"activation_checkpointing": 0})}
    )
    model = wrap_with_lora(base.model, plain, cfg.lora.ranks[0], head=head)
    answer = [] if head else base.builder.answer_ids(cfg.data.labels[0])
    enc = Encoded([row + answer for row in ids.tolist()], [len(answer)] * BATCH, np.zeros(BATCH))
    batch = collate(enc, np.arange(BATCH), base.builder.tokenizer.pad_token_id)
    model.train()
    kernel = attention_for(cfg.model, base.precision, training=True)
    with (
        FlopCounterMode(display=False) as training,
        attention_kernel(model, kernel),
        base.precision.compute(model),
    ):
        ids_, mask, keep, targets = batch
        loss = (
            head_loss(model, ids_, mask, torch.zeros(BATCH, dtype=torch.long))
            if head
            else answer_loss(model, ids_, mask, keep, targets)
        )
        loss.backward()
    return training.get_total_flops() / ids.numel()


def trial_work(run: RunPaths, trial: str, item_tokens: float, fwd: float, step: float) -> float:
    """FLOPs of one trial: its training tokens, and validation and the fit check scored after
    every epoch."""
    history = pd.read_csv(run.history(trial))
    summary = json.loads(run.train_summary(trial).read_text())
    trained = float((history["train_tokens_per_s"] * history["train_seconds"]).sum())
    scored = summary["val_items"] + summary.get("fit_check_items", 0)
    return trained * step + scored * item_tokens * len(history) * fwd


def evaluation_rows(results: pd.DataFrame, folds: int, val_items: int):
    """Per LLM scoring pass of the evaluation: what it is, its seconds and the items it scored.
    A row that reuses another's pass (calibration; the configuration chosen per fold, where
    each configuration has a row of its own, evaluation.test_candidates; with folds, zero-shot's
    bias fit, whose items the base model scored as other folds' test items) is not a pass of
    its own."""
    llm = results[results["kind"].isin(["prompting", "lora", "lora_head"])]
    llm = llm[llm["tokens_per_doc"].notna()]
    if (results["role"] == "candidate").any():
        llm = llm[~llm["name"].str.contains("chosen per fold")]
    for _, r in llm.drop_duplicates(["tokens_per_doc", "prompt_tokens_per_s"]).iterrows():
        draws = 1 if pd.isna(r.get("draws")) else int(r["draws"])
        seconds = r["tokens_per_doc"] * r["n_test"] / r["prompt_tokens_per_s"]
        yield f"{r['name']}: test", seconds, r["n_test"] * draws  # a few-shot prefix is cached
    fits = llm[(llm["kind"] == "prompting") & (llm["train_time_s"] > 0)]
    if folds > 1:  # its items are other folds' test items: the base model scored them once
        fits = fits[fits["method"] != "zero_shot_bias"]
    for _, r in fits.iterrows():
        draws = 1 if pd.isna(r.get("draws")) else int(r["draws"])
        items = r["train_items"] * folds + val_items * draws
        yield f"{r['name']}: fit", r["train_time_s"] * folds, items
    if "merge_val_agreement" in llm:
        for _, r in llm[llm["merge_val_agreement"].notna()].iterrows():
            seconds = r["merged_latency_p50_ms"] * val_items / 1000  # p50: an estimate
            yield f"{r['name']}: folded, validation", seconds, val_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished run folder")
    run = RunPaths(parser.parse_args().run_dir)
    cfg = load_config(run.params)
    if cfg.split.repeats > 1:
        raise SystemExit(
            f"{run.params}: the floor counts one repeat's passes; run it on split.repeats=1"
        )
    base = load_base(cfg)
    compute = base.precision.autocast or base.precision.weights
    peak = matmul_peak(compute)
    results = pd.read_csv(run.results)
    zero = results.set_index("method").loc["zero_shot"]
    item_tokens = float(zero["tokens_per_doc"])
    fwd, step = flops_per_token(base, cfg, round(item_tokens))
    print(f"CPU: {cpu_kind()}; dtype path: {base.precision.describe()}")
    print(
        f"matmul peak {peak / 1e9:.0f} GFLOP/s ({torch.get_num_threads()} threads); per token at "
        f"{item_tokens:.0f} tokens: scoring {fwd / 1e6:.0f} MFLOP, training {step[False] / 1e6:.0f}"
        f" MFLOP (with a classification head {step[True] / 1e6:.0f} MFLOP)"
    )
    seconds = {s["name"]: s["seconds"] for s in json.loads(run.run_record.read_text())["steps"]}
    val_items = sum(len(read_split(run, "val", f)) for f in range(cfg.split.folds))
    passes = list(evaluation_rows(results, cfg.split.folds, val_items))
    print(f"{'step or method':<48} {'measured s':>10} {'floor s':>9} {'multiple':>9}")
    trials = {s.name: s.trial for s in series(cfg) if s.trial}
    for name, measured in seconds.items():
        floor = None
        if name in trials:
            head = trial_of(cfg, trials[name]).head
            floor = trial_work(run, trials[name], item_tokens, fwd, step[head]) / peak
        elif name == "04_evaluate":
            floor = sum(items for _, _, items in passes) * item_tokens * fwd / peak
        shown = f"{floor:9.1f} {measured / floor:8.1f}x" if floor else f"{'-':>9} {'-':>9}"
        print(f"{name:<48} {measured:10.1f} {shown}")
        if name == "04_evaluate":
            for what, spent, items in passes:
                f = items * item_tokens * fwd / peak
                print(f"  {what:<46} {spent:10.1f} {f:9.1f} {spent / f:8.1f}x")
    total = sum(seconds.values())
    print(f"series: {total:.0f} s measured")


if __name__ == "__main__":
    main()
