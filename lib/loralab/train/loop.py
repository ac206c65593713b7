"""LoRA training for one trial (a rank on one fold's split with one seed): a loop you can read
in one sitting.

Every rank starts from a clean copy of the base model (the reference wrapped the same base twice,
so its r=16 run trained on top of r=8's layers). The loss covers the answer tokens only, and the
LM head is applied only at the positions that predict them; a trial of the classification head
(lora.formats) instead trains the head and the adapters by cross-entropy over the labels at the
prompt's last token (model/head.py), on the same prompts, windows and batches. Early
stopping watches the validation label loss (or another measure: train.select_by); the best
epoch's adapter is the one saved. Validation scores the labels as the test is scored, and the
same pass scores each label's answer, which gives the validation loss: one forward pass over the
validation windows per epoch, not two. A fixed draw of the training items is scored the same way
(train.fit_check_items), so the history shows whether the model fitted what it trained on.

What the loop works with lives beside it: batching.py turns training items into
class-balanced, length-bucketed, padded batches; model/adapters.py wraps the base with new
adapters (wrap_with_lora) and saves the best epoch's; data/training_items.py picks the items
LoRA learns from, torch-free so that baselines can share them.

The same loop runs in one process or in several under `accelerate launch` (see launch.py);
accelerate's Accelerator is a no-op wrapper when there is one process.
"""

from __future__ import annotations

import contextlib
import copy
import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from loralab.artifacts import write_csv
from loralab.config import Config, accumulation_problem
from loralab.data.splits import read_split
from loralab.data.training_items import stratified_subset, training_items
from loralab.environment import cpu_kind
from loralab.errors import ConfigError
from loralab.layout import RunPaths
from loralab.model.adapters import (
    checkpoint_activations,
    model_card,
    save_adapter,
    save_full_weights,
    wrap_with_lora,
)
from loralab.model.head import head_loss
from loralab.model.loading import (
    LoadedModel,
    attention_for,
    attention_kernel,
    load_base,
    resolve_device,
)
from loralab.model.prompts import PromptBuilder
from loralab.model.scoring import Scores, score_chunks, score_documents
from loralab.records import Provenance, TrainSummary
from loralab.stats.metrics import CRITERIA, classification_metrics, label_cross_entropy
from loralab.train.batching import Encoded, TrainingWindows, balanced_order, collate, make_batches
from loralab.train.compiled import CompileRecord, inductor_cache, should_compile
from loralab.train.launch import launch_training, launched, share_of_batches
from loralab.train.trials import Trial, trials

HISTORY_COLUMNS = [
    "epoch",
    "steps",
    "train_loss",
    "val_macro_f1",
    "val_accuracy",
    "val_loss",
    "val_label_loss",
    "train_label_loss",
    "train_accuracy",
    "train_seconds",
    "train_tokens_per_s",
    "elapsed_seconds",
]


def answer_loss(model, ids, mask, keep, targets) -> torch.Tensor:
    """Mean cross-entropy over answer tokens; logits are computed at those positions only."""
    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep, use_cache=False).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets)


def scored_answer_loss(windows: Scores, builder: PromptBuilder, gold: np.ndarray) -> float:
    """Mean cross-entropy per answer token over scored windows (`gold`: each window's label),
    token-weighted as `answer_loss` is: from the answer log-probabilities of a scoring pass with
    answers on, so validation needs no second forward pass for its loss. A head's answer is its
    label, one "token": its loss is the labels' cross-entropy per window, as `head_loss`'s."""
    rows = np.arange(len(gold))
    cols = [builder.label_index(label) for label in gold]
    tokens = windows.answer_lengths[cols].sum()
    return float(-windows.answer_scores[rows, cols].sum() / tokens)


def batch_loss(tr: _Trainer, enc: Encoded, batch: np.ndarray) -> torch.Tensor:
    """The training loss of one micro-batch: over its answer tokens, or, for a classification
    head, over its labels."""
    device, builder = tr.base.precision.device, tr.base.builder
    ids, mask, keep, targets = (
        x.to(device) for x in collate(enc, batch, builder.tokenizer.pad_token_id)
    )
    if tr.trial.head:
        labels = torch.tensor([builder.label_index(label) for label in enc.labels[batch]])
        return head_loss(tr.parallel, ids, mask, labels.to(device))
    return answer_loss(tr.parallel, ids, mask, keep, targets)


def _quiet(_: str) -> None:
    """The log of processes other than the main one."""


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class BestEpoch:
    """The best epoch so far by train.select_by (its criterion, ties broken by another
    measure): its history row, its adapter weights and its validation scores, and whether
    `patience` epochs in a row have passed without a better one."""

    def __init__(self, patience: int, by: str = "label_loss"):
        self.patience, self.criterion = patience, CRITERIA[by]
        self.key: tuple[float, float] | None = None
        self.since_best = 0
        self.row: dict = {}
        self.state: dict = {}
        self.val_scores: Scores | None = None

    def improved(self, row: dict) -> bool:
        key = self.criterion.key(row)
        if self.key is None or key > self.key:
            self.key, self.since_best = key, 0
            return True
        self.since_best += 1
        return False

    def offer(self, row: dict, model, val_scores: Scores) -> bool:
        """Keep this epoch if it is the best so far; returns whether it was."""
        if not self.improved(row):
            return False
        self.row, self.val_scores = row, val_scores
        self.state = {k: v.detach().clone() for k, v in trained_weights(model).items()}
        return True

    @property
    def should_stop(self) -> bool:
        return self.since_best >= self.patience

    def restore(self, model) -> None:
        from peft import PeftModel, set_peft_model_state_dict

        if isinstance(model, PeftModel):
            set_peft_model_state_dict(model, self.state)
        else:
            model.load_state_dict(self.state)
        model.eval()


def trained_weights(model) -> dict:
    """The weights a trial trains: a PEFT model's adapters, or every weight of a fully
    fine-tuned one."""
    from peft import PeftModel, get_peft_model_state_dict

    if isinstance(model, PeftModel):
        return get_peft_model_state_dict(model, save_embedding_layers=False)
    return model.state_dict()


@dataclass
class TrainResult:
    model: object  # the PEFT model, holding the best epoch's adapter weights
    history: pd.DataFrame
    summary: dict
    val_predictions: pd.DataFrame


@dataclass
class _Trainer:
    """What one rank's loop works with, set up once by `_prepare`."""

    acc: object  # accelerate.Accelerator: a no-op wrapper in one process
    model: object  # the PEFT model (its weights are what is saved)
    parallel: object  # the same model, wrapped in DDP when launched
    optimizer: torch.optim.Optimizer
    accum: int  # micro-batches per optimizer step in this process
    base: LoadedModel
    cfg: Config
    trial: Trial
    log: Callable[[str], None]
    compiling: CompileRecord

    @property
    def rank(self) -> int:
        return self.trial.rank


def _prepare(
    base: LoadedModel, cfg: Config, trial: Trial, log: Callable[[str], None], own_base: bool
) -> _Trainer:
    """A LoRA model of the base (a fresh copy unless the trial owns the base), its optimizer,
    and the processes' share of the work."""
    from accelerate import Accelerator

    acc = Accelerator(device_placement=False)  # the model is already on its device
    problem = accumulation_problem(cfg.train.grad_accum, acc.num_processes)
    if problem:
        raise ConfigError(problem)
    model = _trainable(base, cfg, trial, own_base)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=trial.lr,
        weight_decay=cfg.train.weight_decay,
        fused=base.precision.device == "cuda",
    )
    parallel = acc.prepare_model(model)  # DistributedDataParallel when launched, else `model`
    precision = base.precision
    decided, why = should_compile(
        cfg.train.compile, precision.device, precision.weights, cpu_kind()
    )
    if decided:
        inductor_cache()
        parallel = torch.compile(parallel)  # the training step only: scoring stays eager
    quiet = not acc.is_main_process  # every process would print the same lines
    accum = cfg.train.grad_accum // acc.num_processes
    log = _quiet if quiet else log
    compiling = CompileRecord.begin(decided, why)
    return _Trainer(acc, model, parallel, optimizer, accum, base, cfg, trial, log, compiling)


def _trainable(base: LoadedModel, cfg: Config, trial: Trial, own_base: bool):
    """New LoRA adapters on the base; for full fine-tuning the base itself with every weight
    trainable, held in float32 so that AdamW's small updates are not rounded away in bf16
    (compute still runs under the precision's autocast)."""
    if not trial.full:
        return wrap_with_lora(
            base.model,
            cfg,
            trial.rank,
            trial.seed,
            in_place=own_base,
            variant=trial.variant,
            head=trial.head,
        )
    torch.manual_seed(trial.seed)
    model = (base.model if own_base else copy.deepcopy(base.model)).float()
    model.requires_grad_(True)
    checkpoint_activations(model, cfg)
    return model


def lr_factor(progress: float, warmup: float, schedule: str) -> float:
    """The share of the peak learning rate at `progress` (0 to 1) of all epochs: a linear
    warmup over the first `warmup` of it, then constant, or decaying to 0 at the end."""
    if progress < warmup:
        return progress / warmup
    if schedule == "constant":
        return 1.0
    rest = (progress - warmup) / (1 - warmup)
    return 1 - rest if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * rest))


def round_batches(t, enc: Encoded, epoch: int, rng: np.random.Generator) -> list:
    """The micro-batches of one round (all processes'): one class-balanced (or shuffled),
    length-bucketed pass over the items; with train.steps, passes drawn afresh until the round
    holds its share of the steps, the last pass cut."""
    n = len(enc.ids)

    def one_pass() -> list:
        order = balanced_order(enc.labels, n, rng) if t.balanced_sampling else rng.permutation(n)
        return make_batches(order, enc.lengths, t.batch_size, t.batch_tokens, rng)

    if t.steps is None:
        return one_pass()
    # steps spread over the rounds as evenly as whole steps allow
    share = epoch * t.steps // t.epochs - (epoch - 1) * t.steps // t.epochs
    needed, batches = share * t.grad_accum, []
    while len(batches) < needed:
        batches += one_pass()
    return batches[:needed]


def _train_epoch(tr: _Trainer, enc: Encoded, epoch: int, rng: np.random.Generator) -> dict:
    """One round (an epoch: one pass over the items, or train.steps' share of the steps); this
    process takes its share of the batches. Returns loss, optimizer steps and throughput over
    all processes."""
    from tqdm.auto import tqdm

    t, device = tr.cfg.train, tr.base.precision.device
    tr.model.train()
    t0 = time.perf_counter()
    batches = round_batches(t, enc, epoch, rng)
    mine = share_of_batches(batches, tr.acc.num_processes, tr.acc.process_index)
    losses, tokens, steps = [], 0, 0
    tr.optimizer.zero_grad(set_to_none=True)
    desc = f"{tr.trial.id} epoch {epoch}"
    quiet = tr.log is _quiet
    kernel = attention_for(tr.cfg.model, tr.base.precision, training=True)
    batches = tqdm(mine, desc=desc, mininterval=10, leave=False, disable=quiet)
    t_step = time.perf_counter()
    with attention_kernel(tr.model, kernel):  # validation scores with the scoring kernel
        for step, batch in enumerate(batches, 1):
            update = step % tr.accum == 0 or step == len(mine)
            # gradients are averaged over processes only at the micro-batch that updates
            with contextlib.nullcontext() if update else tr.acc.no_sync(tr.parallel):
                with tr.base.precision.compute(tr.model):
                    loss = batch_loss(tr, enc, batch)
                (loss / tr.accum).backward()
            losses.append(loss.detach().item())
            tokens += sum(len(enc.ids[i]) for i in batch)
            if update:
                progress = (epoch - 1 + (step - 1) / len(mine)) / t.epochs
                for group in tr.optimizer.param_groups:
                    group["lr"] = tr.trial.lr * lr_factor(progress, t.warmup_ratio, t.schedule)
                tr.optimizer.step()
                tr.optimizer.zero_grad(set_to_none=True)
                steps += 1
                tr.compiling.timed(t_step)
                t_step = time.perf_counter()
    seconds = time.perf_counter() - t0
    losses = tr.acc.gather(torch.tensor(losses, device=device)).tolist()
    tokens = int(tr.acc.reduce(torch.tensor(tokens, device=device), "sum"))
    return {
        "train_loss": float(np.mean(losses)),
        "steps": steps,
        "train_seconds": seconds,
        "train_tokens_per_s": tokens / seconds,
    }


def _validate(tr: _Trainer, val: pd.DataFrame) -> tuple[dict, Scores]:
    """Validation exactly as the test is scored (label scoring of whole documents), plus the
    answer-token loss over every window, both from one scoring pass that also scores each
    label's answer."""
    b, e = tr.base, tr.cfg.evaluation
    texts = val["text"].tolist()
    chunked = score_chunks(
        tr.model, b.builder, b.view, texts, b.precision, e.batch_size, answers=True
    )
    scores = chunked.documents(b.builder.labels, e.chunk_aggregate)
    metrics = classification_metrics(val["label"], scores.predictions, b.builder.labels)
    gold = val["label"].to_numpy()[chunked.owner]
    row = {
        "val_macro_f1": metrics["macro_f1"],
        "val_accuracy": metrics["accuracy"],
        "val_loss": scored_answer_loss(chunked.windows, b.builder, gold),
        "val_label_loss": label_cross_entropy(val["label"], scores.label_scores, b.builder.labels),
    }
    return row, scores


def fit_check_items(train: pd.DataFrame, cfg: Config, seed: int) -> pd.DataFrame:
    """The training items scored after each epoch (train.fit_check_items): a fixed stratified
    draw, the same every epoch, so that the training label loss is comparable across epochs."""
    n = cfg.train.fit_check_items
    if n is None or n >= len(train):
        return train
    return stratified_subset(train, n, seed) if n else train.iloc[:0]


def _fit_check(tr: _Trainer, items: pd.DataFrame) -> dict:
    """The training label loss and accuracy, scored as validation is: a model that stays at
    chance on validation with these near ln K never fitted its own items."""
    if items.empty:
        return {"train_label_loss": math.nan, "train_accuracy": math.nan}
    b, e = tr.base, tr.cfg.evaluation
    texts = items["text"].tolist()
    scores = score_documents(
        tr.model, b.builder, b.view, texts, e.chunk_aggregate, b.precision, e.batch_size
    )
    labels = b.builder.labels
    return {
        "train_label_loss": label_cross_entropy(items["label"], scores.label_scores, labels),
        "train_accuracy": float(np.mean(np.asarray(scores.predictions) == items["label"])),
    }


def train_lora(
    base: LoadedModel,
    train: pd.DataFrame,
    val: pd.DataFrame,
    cfg: Config,
    trial: Trial,
    log: Callable[[str], None] = print,
    own_base: bool = False,
) -> TrainResult:
    """Train one trial; keep the adapter of the best epoch (train.select_by). With
    `own_base` the adapters go into `base.model` itself, which is then the trained model."""
    tr = _prepare(base, cfg, trial, log, own_base)
    windows = TrainingWindows.build(base, train, answers=not trial.head)
    rng = np.random.default_rng(trial.seed)
    fitted, checking = fit_check_items(train, cfg, trial.seed), 0.0
    history, best = [], BestEpoch(cfg.train.patience, cfg.train.select_by)
    t_start = time.perf_counter()
    for epoch in range(1, cfg.train.epochs + 1):
        enc_train = windows.draw(cfg.train.chunks_per_item, rng)
        row = {"epoch": epoch, **_train_epoch(tr, enc_train, epoch, rng)}
        val_row, val_scores = _validate(tr, val)
        t_fit = time.perf_counter()
        row.update(val_row, **_fit_check(tr, fitted))
        checking += time.perf_counter() - t_fit  # a measurement, not a cost of training
        row["elapsed_seconds"] = time.perf_counter() - t_start - checking
        history.append(row)
        tr.log(
            f"{trial.id} epoch {epoch}: train loss {row['train_loss']:.3f}, val macro-F1 "
            f"{row['val_macro_f1']:.3f}, val loss {row['val_loss']:.3f}, label loss "
            f"{row['val_label_loss']:.3f} (chance {np.log(len(base.builder.labels)):.3f}; "
            f"training items {row['train_label_loss']:.3f}), "
            f"{row['train_tokens_per_s']:.0f} tok/s"
        )
        if not best.offer(row, tr.model, val_scores) and best.should_stop:
            tr.log(f"{trial.id}: early stop, no better epoch for {best.since_best} epochs")
            break
    best.restore(tr.model)
    val_pred = best.val_scores.frame(val["id"].tolist(), base.builder.labels)
    val_pred.insert(1, "gold", val["label"].to_numpy())
    summary = _summary(tr, history, best.row, time.perf_counter() - t_start - checking, train, val)
    steps = np.cumsum([row["steps"] for row in history])
    summary.update(fit_check_items=len(fitted), fit_check_seconds=checking)
    summary.update(tr.compiling.summary())
    summary.update(optimizer_steps=int(steps[-1]), steps_to_best=int(steps[best.row["epoch"] - 1]))
    per_text = np.bincount(windows.owner)
    summary["train_windows"] = int(per_text.sum())
    summary["windows_per_epoch"] = int(np.minimum(per_text, cfg.train.chunks_per_item).sum())
    return TrainResult(tr.model, pd.DataFrame(history)[HISTORY_COLUMNS], summary, val_pred)


def _summary(tr: _Trainer, history, best: dict, seconds: float, train, val) -> dict:
    trainable = [p for p in tr.model.parameters() if p.requires_grad]
    return {
        "trial": tr.trial.id,
        "method": tr.trial.kind,
        "variant": tr.trial.variant,
        "rank": tr.trial.rank,
        "lr": tr.trial.lr,
        "train_size": tr.trial.size,
        "fold": tr.trial.fold,
        "seed": tr.trial.seed,
        "best_epoch": best["epoch"],
        "epochs_run": len(history),
        "val_macro_f1": best["val_macro_f1"],
        "val_accuracy": best["val_accuracy"],
        "val_loss": best["val_loss"],
        "val_label_loss": best["val_label_loss"],
        "train_label_loss": best["train_label_loss"],
        "select_by": tr.cfg.train.select_by,
        "trainable_params": sum(p.numel() for p in trainable),
        "trainable_mb": sum(p.numel() * p.element_size() for p in trainable) / 2**20,
        "time_to_best_s": best["elapsed_seconds"],
        "train_time_s": seconds,
        "train_tokens_per_s": float(np.mean([h["train_tokens_per_s"] for h in history])),
        "peak_memory_mb": peak_memory_mb(tr.base.precision.device),
        "precision": tr.base.precision.describe(),
        "processes": tr.acc.num_processes,
        "train_items": len(train),
        "val_items": len(val),
    }


def train_trial(
    cfg: Config, run: RunPaths, trial: Trial, log: Callable[[str], None] = print
) -> TrainResult:
    """Train one trial in this process (or in each launched process): load its fold's data and
    the base, train, and write everything it made; only the main process writes."""
    from accelerate import PartialState

    if trial not in trials(cfg):
        raise ValueError(
            f"trial {trial.id} is not one of this study's; `loralab trials PARAMS` lists them"
        )
    # first: a launched process picks its GPU (or gloo on a CPU) before anything touches one
    state = PartialState(cpu=resolve_device(cfg.train.device) == "cpu")
    base = load_base(cfg)
    train = training_items(
        read_split(run, "train", trial.fold), trial.items, cfg.split.items_seed(trial.fold)
    )
    val = read_split(run, "val", trial.fold)
    result = train_lora(base, train, val, cfg, trial, log, own_base=True)
    if state.is_main_process:
        _write_trial(cfg, run, trial, result, log)
    state.wait_for_everyone()
    return result


def _write_trial(cfg, run: RunPaths, trial: Trial, result: TrainResult, log) -> None:
    """Every trial keeps its best epoch's weights for evaluation, which scores on test only
    what validation chose: a LoRA trial its adapter, a fully fine-tuned one every weight (0.5
    GB in float32 for the embedded model). Evaluation deletes the full weights it will never
    score, rather than training keeping only each fold's best so far: which configuration a
    fold chooses is known only once every seed of every learning rate has trained, and trials
    train in parallel (--jobs, Ray)."""
    folder = run.adapter(trial.id)
    s = result.summary
    # relative: the card stays true wherever the run folder is (a Ray worker's is elsewhere)
    card = model_card(s, cfg, Provenance.read(run.provenance), folder.relative_to(run.root))
    save = save_full_weights if trial.full else save_adapter
    s["adapter_bytes"] = save(result.model, folder, card)
    write_csv(run.history(trial.id), result.history)
    write_csv(run.val_predictions(trial.id), result.val_predictions)
    TrainSummary(**s).write(run.train_summary(trial.id))  # last: marks the trial done
    log(
        f"{trial.id}: best epoch {s['best_epoch']} of {s['epochs_run']}, validation "
        f"macro-F1 {s['val_macro_f1']:.3f}, {s['processes']} process(es); weights in {folder}"
    )


@dataclass
class TrainedTrial:
    """What training wrote for one trial, read back: all a notebook shows, wherever it trained."""

    history: pd.DataFrame
    summary: TrainSummary
    card: str  # the model card (Markdown) of its adapter or fully fine-tuned weights

    @classmethod
    def read(cls, run: RunPaths, trial: Trial) -> TrainedTrial:
        card = (run.adapter(trial.id) / "README.md").read_text(encoding="utf-8")
        summary = TrainSummary.read(run.train_summary(trial.id))
        return cls(pd.read_csv(run.history(trial.id)), summary, card)


def train_step(
    cfg: Config, run: RunPaths, trial: Trial, log: Callable[[str], None] = print
) -> TrainedTrial:
    """The training step as `03_train` and `loralab train` run it: in this process, or, with
    train.processes > 1, in that many processes started through `accelerate launch`."""
    if cfg.train.processes > 1 and not launched():
        device = resolve_device(cfg.train.device)
        if device == "mps":
            raise ConfigError(
                "train.processes > 1 splits training over CUDA GPUs or CPU processes; Apple "
                "silicon has one GPU: set train.processes=1 (or train.device=cpu)"
            )
        launch_training(run.root, trial, cfg.train.processes, device, log)
    else:
        train_trial(cfg, run, trial, log)
    return TrainedTrial.read(run, trial)
