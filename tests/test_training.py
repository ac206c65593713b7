import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from loralab.data.splits import read_split
from loralab.data.training_items import stratified_subset
from loralab.model.adapters import wrap_with_lora
from loralab.model.loading import load_base
from loralab.model.scoring import score_documents
from loralab.records import TrainSummary
from loralab.train.batching import Encoded, TrainingWindows, balanced_order, collate, make_batches
from loralab.train.loop import BestEpoch, answer_loss, train_lora, train_trial
from loralab.train.trials import trial_of, trials


def test_balanced_order_draws_each_class_equally():
    labels = np.array(["A"] * 30 + ["B"] * 6)
    order = balanced_order(labels, 36, np.random.default_rng(0))
    assert (labels[order] == "A").sum() == 18 and (labels[order] == "B").sum() == 18
    # small classes cycle through all of their items: each B item exactly 3 times
    assert np.bincount(order, minlength=36)[30:].tolist() == [3] * 6
    assert np.bincount(order, minlength=36)[:30].max() == 1


def test_batches_cover_the_order_once_and_respect_the_token_cap():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 100, size=50)
    order = rng.permutation(50)
    batches = make_batches(order, lengths, batch_size=8, batch_tokens=300, rng=rng)
    assert sorted(np.concatenate(batches).tolist()) == list(range(50))
    for b in batches:
        assert len(b) <= 8 and (len(b) == 1 or lengths[b].max() * len(b) <= 300)


def test_loss_targets_are_exactly_the_answer_tokens(tiny_config):
    base = load_base(tiny_config())
    tok, builder = base.tokenizer, base.builder
    frame = pd.DataFrame(
        {"text": ["short text", "a somewhat longer text here"], "label": ["A", "B"]}
    )
    enc = Encoded.build(builder, frame)
    ids, mask, keep, targets = collate(enc, np.array([0, 1]), tok.pad_token_id)
    assert targets.tolist() == builder.answer_ids("A") + builder.answer_ids("B")
    assert keep.sum() == len(targets) and mask[0].sum() == len(enc.ids[0])


def test_the_lora_input_upcast_is_skipped_without_changing_a_number(tiny_config):
    cfg = tiny_config(**{"lora.dropout": 0.0, "train.dtype": "bfloat16"})
    base = load_base(cfg)
    tok, builder, bf16 = base.tokenizer, base.builder, base.precision
    model = wrap_with_lora(base.model, cfg, 4)
    torch.nn.init.normal_(next(p for n, p in model.named_parameters() if "lora_B" in n))
    frame = pd.DataFrame({"text": ["one short text", "and another one"], "label": ["A", "B"]})
    batch = collate(Encoded.build(builder, frame), np.array([0, 1]), tok.pad_token_id)
    runs = []
    for context in (
        lambda: torch.autocast("cpu", dtype=torch.bfloat16),
        lambda: bf16.compute(model),
    ):
        with context():
            loss = answer_loss(model, *batch)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        model.zero_grad()
        runs.append((loss.detach(), grads))
    (loss_a, grads_a), (loss_b, grads_b) = runs
    assert torch.equal(loss_a, loss_b)
    assert all(torch.equal(grads_a[n], grads_b[n]) for n in grads_a)


def _epoch(f1: float, loss: float, label_loss: float | None = None) -> dict:
    label = loss if label_loss is None else label_loss
    return {"val_macro_f1": f1, "val_loss": loss, "val_label_loss": label}


def test_early_stopping_keeps_the_best_epoch_and_breaks_ties_by_the_other_measure():
    stop = BestEpoch(patience=2, by="val_macro_f1")
    assert stop.improved(_epoch(0.5, 1.0))
    assert stop.improved(_epoch(0.5, 1.0, 0.9))  # same F1, lower label loss: better
    assert not stop.improved(_epoch(0.5, 0.95)) and not stop.should_stop
    assert not stop.improved(_epoch(0.4, 0.1)) and stop.should_stop
    stop = BestEpoch(patience=2, by="val_loss")
    assert stop.improved(_epoch(0.5, 1.0))
    assert stop.improved(_epoch(0.4, 0.9))  # lower loss wins over a lower F1
    assert stop.improved(_epoch(0.6, 0.9))  # same loss, higher F1: better
    assert not stop.improved(_epoch(0.9, 0.95)) and not stop.should_stop
    assert not stop.improved(_epoch(1.0, 0.91)) and stop.should_stop


def test_patience_counts_the_epochs_without_a_better_one_as_keras_does():
    """patience=1 stops at the first epoch that is not better, patience=2 at the second in a
    row; a better epoch in between starts the count again."""
    one = BestEpoch(patience=1)
    assert one.improved(_epoch(0.5, 1.0)) and not one.improved(_epoch(0.5, 1.1))
    assert one.should_stop
    two = BestEpoch(patience=2)
    for loss, stops in ((1.0, False), (1.1, False), (0.9, False), (1.2, False), (1.3, True)):
        two.improved(_epoch(0.5, loss))
        assert two.should_stop == stops


def test_selection_by_label_loss_and_by_answer_loss_can_disagree():
    """The answer-token loss keeps falling while a model learns the answer's format; the label
    loss sees only what tells the labels apart. Epoch 2 here is better by the first, worse by
    the second, so the two rules keep different epochs."""
    history = [_epoch(0.5, 0.30, 0.60), _epoch(0.5, 0.20, 0.69)]
    for by, best in (("label_loss", 0), ("val_loss", 1)):
        stop = BestEpoch(patience=3, by=by)
        kept = [i for i, row in enumerate(history) if stop.improved(row)]
        assert kept[-1] == best


def test_stratified_subset_is_proportional_and_reproducible(make_rows):
    frame = pd.concat(
        [make_rows(labels=("A",), per_class=30), make_rows(labels=("B",), per_class=10, seed=1)]
    )
    sub = stratified_subset(frame, 20, seed=3)
    assert sub["label"].value_counts().to_dict() == {"A": 15, "B": 5}
    assert sub.equals(stratified_subset(frame, 20, seed=3))


def test_training_leaves_the_base_model_untouched(prepared_run):
    cfg, run = prepared_run()
    base = load_base(cfg)
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    train, val = read_split(run, "train", 0), read_split(run, "val", 0)
    result = train_lora(base, train, val, cfg, trial_of(cfg, "r2-f0-s42"), log=lambda _: None)
    assert not any("lora" in name for name, _ in base.model.named_modules())
    after = base.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert len(result.history) >= 1 and result.summary["trainable_params"] > 0


def test_two_ranks_in_one_process_equal_each_rank_in_its_own_process(prepared_run, tmp_path):
    cfg, run = prepared_run("together")
    for rank in (2, 4):
        train_trial(cfg, run, trial_of(cfg, f"r{rank}-f0-s42"), log=lambda _: None)
    cfg2, alone = prepared_run("alone")
    params = tmp_path / "params.yaml"
    from loralab.config import save_config

    save_config(cfg2, params)
    code = (
        "from loralab.config import load_config; from loralab.layout import RunPaths; "
        "from loralab.train.loop import train_trial; from loralab.train.trials import trial_of; "
        f"cfg = load_config({str(params)!r}); "
        f"train_trial(cfg, RunPaths({str(alone.root)!r}), trial_of(cfg, 'r4-f0-s42'), "
        "log=lambda _: None)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    together = load_file(run.adapter("r4-f0-s42") / "adapter_model.safetensors")
    separate = load_file(alone.adapter("r4-f0-s42") / "adapter_model.safetensors")
    assert together.keys() == separate.keys()
    for key in together:
        torch.testing.assert_close(together[key], separate[key], rtol=0, atol=1e-6)


def test_validation_loss_from_the_scoring_pass_equals_a_forward_pass_over_every_window(
    prepared_run, score_tolerance
):
    """The validation loss now comes from the label-scoring pass. The reference is the second
    pass it replaced: `answer_loss` over every validation window (right-padded batches in
    length order), token-weighted. Texts of several windows and answers of different lengths,
    so a per-document or per-window mean would differ from it. One epoch: the returned model
    is the one that epoch validated."""
    cfg, run = prepared_run(
        **{
            "train.epochs": 1,
            "data.long_text": "chunks",
            "data.verbalizers": {"A": ["first class"], "B": ["beta"]},
        }
    )
    base = load_base(cfg)
    train, val = read_split(run, "train", 0), read_split(run, "val", 0)
    result = train_lora(base, train, val, cfg, trial_of(cfg, "r2-f0-s42"), log=lambda _: None)
    enc = TrainingWindows.build(base, val).encoded
    assert len(enc.ids) > len(val) and len(set(enc.answer_len)) == 2
    total, tokens = 0.0, 0
    order = np.argsort(enc.lengths, kind="stable")
    with torch.no_grad():
        for start in range(0, len(order), 4):
            batch = collate(enc, order[start : start + 4], base.tokenizer.pad_token_id)
            total += float(answer_loss(result.model, *batch)) * len(batch[3])
            tokens += len(batch[3])
    assert abs(result.history["val_loss"][0] - total / tokens) < score_tolerance
    e = cfg.evaluation
    docs = score_documents(
        result.model, base.builder, base.view, val["text"].tolist(), e.chunk_aggregate
    )
    assert result.val_predictions["prediction"].tolist() == docs.predictions
    s = docs.label_scores
    gold = [base.builder.label_index(label) for label in val["label"]]
    probs = np.exp(s - s.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    reference = -np.log(probs[np.arange(len(gold)), gold]).mean()
    assert abs(result.history["val_label_loss"][0] - reference) < score_tolerance


def test_training_runs_the_training_kernel_and_validation_the_scoring_kernel(prepared_run):
    """auto on a CPU with bf16 weights: eager for the training steps, SDPA for validation
    scoring, which must match evaluation's; the model is left with its scoring kernel."""
    cfg, run = prepared_run(**{"train.dtype": "bfloat16", "train.epochs": 1})
    base = load_base(cfg)
    assert base.model.config._attn_implementation == "sdpa"
    seen = []

    def record(module, args, kwargs):
        seen.append((module.training, module.config._attn_implementation))

    base.model.register_forward_pre_hook(record, with_kwargs=True)
    train, val = read_split(run, "train", 0), read_split(run, "val", 0)
    result = train_lora(
        base, train, val, cfg, trial_of(cfg, "r2-f0-s42"), log=lambda _: None, own_base=True
    )
    assert {kernel for training, kernel in seen if training} == {"eager"}
    assert {kernel for training, kernel in seen if not training} == {"sdpa"}
    assert result.model.get_base_model().config._attn_implementation == "sdpa"


def test_an_explicit_kernel_is_used_for_both():
    from loralab.config import ModelConfig
    from loralab.model.loading import attention_for, resolve_precision

    bf16, f32 = resolve_precision("bfloat16", "cpu"), resolve_precision("float32", "cpu")
    auto = ModelConfig()
    assert [attention_for(auto, bf16), attention_for(auto, bf16, training=True)] == [
        "sdpa",
        "eager",
    ]
    assert attention_for(auto, f32, training=True) == "sdpa"
    for kernel in ("eager", "sdpa"):
        chosen = ModelConfig(attn_implementation=kernel)
        assert {attention_for(chosen, p, t) for p in (bf16, f32) for t in (0, 1)} == {kernel}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_early_stopping_ends_a_run_whose_validation_loss_rises(prepared_run, dtype):
    """Validation items all of label A, training items all relabelled B: every step that fits
    the training items raises the validation label loss, so it rises by construction on either
    dtype path (not by a learning rate that happens to diverge on one CPU's kernels), patience
    runs out before the last epoch, and the kept epoch is the first."""
    overrides = {"train.epochs": 6, "train.patience": 1, "train.balanced_sampling": False}
    cfg, run = prepared_run(**overrides, **{"train.lrs": [3e-3], "train.dtype": dtype})
    assert cfg.train.early_stopping_can_fire
    base = load_base(cfg)
    train, val = read_split(run, "train", 0), read_split(run, "val", 0)
    train, val = train.assign(label="B"), val.assign(label="A")
    result = train_lora(base, train, val, cfg, trial_of(cfg), log=lambda _: None)
    losses = result.history["val_label_loss"].tolist()
    assert len(losses) == 2 and losses[1] > losses[0]
    assert result.summary["best_epoch"] == 1
    assert result.history["train_label_loss"].iloc[-1] < result.history["train_label_loss"].iloc[0]


def test_the_learning_rate_warms_up_then_follows_the_schedule():
    from loralab.train.loop import lr_factor

    assert lr_factor(0.05, 0.1, "constant") == 0.5 and lr_factor(0.5, 0.1, "constant") == 1
    assert lr_factor(0.1, 0.1, "linear") == 1 and abs(lr_factor(0.55, 0.1, "linear") - 0.5) < 1e-12
    assert abs(lr_factor(0.55, 0.1, "cosine") - 0.5) < 1e-12
    assert lr_factor(1.0, 0.0, "cosine") == 0 and lr_factor(0.0, 0.0, "linear") == 1


def test_full_fine_tuning_trains_every_weight_and_saves_them_unscored(prepared_run, monkeypatch):
    """Every weight trains and is saved as trained (float32), with a card; the test split is
    not read: evaluation scores the trial only if validation chose it."""
    import loralab.train.loop as training
    from loralab.model.adapters import load_full_weights

    cfg, run = prepared_run(**{"train.full_finetune": True, "train.full_lrs": [1e-3]})
    base = load_base(cfg)
    total = sum(p.numel() for p in base.model.parameters())
    trial = next(t for t in trials(cfg) if t.full)
    splits = []
    monkeypatch.setattr(
        training,
        "read_split",
        lambda r, split, fold: splits.append(split) or read_split(r, split, fold),
    )
    result = train_trial(cfg, run, trial, log=lambda _: None)
    summary = TrainSummary.read(run.train_summary(trial.id))
    assert summary.trainable_params == total and summary.method == "full"
    assert "test" not in splits and not list(run.train_dir(trial.id).glob("test_*"))
    assert {w.dtype for w in load_file(run.full_weights(trial.id)).values()} == {torch.float32}
    assert summary.adapter_bytes == run.full_weights(trial.id).stat().st_size
    card = training.TrainedTrial.read(run, trial).card
    assert card.startswith("# Fully fine-tuned model") and "load_full_weights" in card
    reloaded = load_full_weights(base.model, run.adapter(trial.id)).state_dict()
    assert all(torch.equal(w, reloaded[k]) for k, w in result.model.state_dict().items())


def test_rslora_and_dora_are_peft_options_of_the_same_wrap(tiny_config):
    cfg = tiny_config()
    base = load_base(cfg)
    plain, rs, dora = (
        wrap_with_lora(base.model, cfg, 4, variant=v) for v in ("lora", "rslora", "dora")
    )
    layer = "base_model.model.model.layers.0.self_attn.q_proj"
    scale = {m: m.get_submodule(layer).scaling["default"] for m in (plain, rs)}
    assert scale[plain] == cfg.lora.alpha / 4 and scale[rs] == cfg.lora.alpha / 2
    assert any("lora_magnitude_vector" in n for n, _ in dora.named_parameters())


def test_train_steps_gives_every_size_the_same_optimizer_steps(prepared_run):
    """At equal epochs 8 items take fewer steps than all of them; with train.steps each size
    takes exactly that many, in train.epochs rounds, and the summary counts them."""
    counted = {}
    for size, steps in ((8, None), (None, None), (8, 9), (None, 9)):
        overrides = {"train.train_sizes": [size], "train.epochs": 3, "train.patience": 5}
        cfg, run = prepared_run(f"s{size}-{steps}", **overrides, **{"train.steps": steps})
        base = load_base(cfg)
        trial = trial_of(cfg)
        train = stratified_subset(read_split(run, "train", 0), size, 42) if size else None
        train = read_split(run, "train", 0) if train is None else train
        result = train_lora(base, train, read_split(run, "val", 0), cfg, trial, lambda _: None)
        counted[(size, steps)] = result.history["steps"].tolist()
        assert result.summary["optimizer_steps"] == sum(counted[(size, steps)])
    assert sum(counted[(8, None)]) < sum(counted[(None, None)])
    assert counted[(8, 9)] == counted[(None, 9)] == [3, 3, 3]


def test_a_round_of_steps_is_passes_over_the_items_cut_at_its_share():
    from loralab.config import build_config
    from loralab.errors import ConfigError
    from loralab.train.loop import round_batches

    enc = Encoded(ids=[[1, 2]] * 6, answer_len=[1] * 6, labels=np.array([0, 1] * 3))
    sets = {"train.batch_size": 2, "train.grad_accum": 2, "train.epochs": 3, "train.steps": 10}
    t = build_config({}, "t", sets).train
    rounds = [round_batches(t, enc, e, np.random.default_rng(0)) for e in (1, 2, 3)]
    assert [len(r) for r in rounds] == [6, 6, 8]  # 3 + 3 + 4 steps of 2 micro-batches
    assert sorted(i for b in rounds[0][:3] for i in b) == list(range(6))  # a whole pass first
    with pytest.raises(ConfigError, match="fewer than train.epochs"):
        build_config({}, "t", {"train.epochs": 3, "train.steps": 2})
