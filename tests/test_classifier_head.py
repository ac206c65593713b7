"""LoRA with a classification head (lora.formats: head): the head itself, its scoring, training,
saving and loading, and its place in evaluation and statistics beside the verbalizer."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
import torch

from loralab.data.splits import read_split
from loralab.errors import ConfigError
from loralab.model.adapters import load_head_adapter, wrap_with_lora
from loralab.model.head import head_loss, head_on, is_head
from loralab.model.loading import load_base
from loralab.model.scoring import score_texts
from loralab.train.loop import train_lora, train_trial
from loralab.train.trials import trial_of, trials


@pytest.fixture
def separable_run(tmp_path, tiny_config, write_table):
    """A run folder whose classes draw their words from disjoint vocabularies, so that a model
    that learns anything learns to tell them apart."""
    from loralab.data.eda import eda_step
    from loralab.data.splits import split_step
    from loralab.layout import RunPaths

    def make(name: str = "run", **overrides):
        rng = random.Random(0)
        words = {"A": [f"w{i}" for i in range(100)], "B": [f"w{i}" for i in range(100, 200)]}
        rows = [
            {"id": f"{lab}-{i}", "label": lab, "text": " ".join(rng.choices(words[lab], k=20))}
            for lab in ("A", "B")
            for i in range(24)
        ]
        cfg = tiny_config(
            **{
                "data.path": str(write_table(pd.DataFrame(rows))),
                "lora.formats": ["verbalizer", "head"],
                **overrides,
            }
        )
        run = RunPaths(tmp_path / name)
        eda_step(cfg, run)
        split_step(cfg, run)
        return cfg, run

    return make


def test_the_head_gives_one_logit_per_label_at_the_last_real_token(tiny_config):
    cfg = tiny_config()
    base = load_base(cfg)
    model = head_on(base.model, 3).eval()
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        alone = model(input_ids=ids[1:, :2], attention_mask=mask[1:, :2]).logits
    assert logits.shape == (2, 3)
    torch.testing.assert_close(logits[1:], alone, atol=1e-5, rtol=1e-4)  # padding is not read
    targets = torch.tensor([2, 0])
    expected = -torch.log_softmax(logits, -1)[[0, 1], targets].mean()
    with torch.no_grad():
        loss = head_loss(model, ids, mask, targets)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-4)
    assert is_head(model) and not is_head(base.model)
    assert not any(p is q for p in model.parameters() for q in base.model.parameters())


def test_head_scoring_equals_a_forward_pass_over_each_prompt(
    tiny_config, make_texts, score_tolerance
):
    """Batched, left-padded and after a shared prefix, the scorer reads each prompt's head
    log-probabilities as a pass over that prompt alone does."""
    cfg = tiny_config()
    base = load_base(cfg)
    model = wrap_with_lora(base.model, cfg, rank=2, head=True).eval()
    texts = make_texts(5)
    scores = score_texts(model, base.builder, texts, base.precision, batch_size=3, answers=True)
    assert scores.label_scores.shape == (5, 2)
    for i, text in enumerate(texts):
        ids = torch.tensor([base.builder.prompt_ids(text)])
        with torch.no_grad(), base.precision.compute():
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        expected = torch.log_softmax(logits.float(), -1)[0].numpy()
        np.testing.assert_allclose(scores.label_scores[i], expected, atol=score_tolerance)
    np.testing.assert_array_equal(scores.answer_scores, scores.label_scores)
    assert scores.predictions == [base.builder.labels[j] for j in scores.label_scores.argmax(1)]


def test_training_the_head_lowers_the_label_loss_on_a_separable_set(separable_run):
    # 3e-3: both dtype paths train stably and alike here; at the tiny model's 1e-2 the bf16
    # path on a CPU with native bf16 oscillated, its fourth epoch back at chance
    cfg, run = separable_run(**{"train.epochs": 4, "train.patience": 4, "train.lrs": [3e-3]})
    base = load_base(cfg)
    train, val = read_split(run, "train", 0), read_split(run, "val", 0)
    trial = trial_of(cfg, "head-r2-f0-s42")
    result = train_lora(base, train, val, cfg, trial, log=lambda _: None)
    history = result.history
    assert history["train_label_loss"].iloc[-1] < 0.5 * math.log(2)  # chance: ln 2
    assert history["train_label_loss"].iloc[-1] < history["train_label_loss"].iloc[0]
    assert result.summary["method"] == "lora_head"
    # the head is trained in full beside the adapters: its weights are among the trained ones
    trained = [n for n, p in result.model.named_parameters() if p.requires_grad]
    assert any("score" in n for n in trained) and any("lora_" in n for n in trained)


def test_a_saved_head_adapter_loads_back_and_predicts_the_same(
    separable_run, make_texts, test_dtype
):
    """With loralab's loader, and with plain transformers and PEFT as the model card says (its
    head is held in the model's dtype, ours in float32: bf16 rounds the logits' third digit)."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    cfg, run = separable_run()
    trial = trial_of(cfg, "head-r2-f0-s42")
    trained = train_trial(cfg, run, trial, log=lambda _: None).model
    folder = run.adapter(trial.id)
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "AutoModelForSequenceClassification" in card and "load_head_adapter" in card
    base = load_base(cfg)
    texts = make_texts(6, seed=3)
    before = score_texts(trained, base.builder, texts, base.precision, batch_size=2)
    loaded = load_head_adapter(base.model, 2, folder)
    after = score_texts(loaded, base.builder, texts, base.precision, batch_size=2)
    assert after.predictions == before.predictions
    np.testing.assert_allclose(after.label_scores, before.label_scores, atol=1e-5)
    plain = AutoModelForSequenceClassification.from_pretrained(
        cfg.model.name_or_path, num_labels=2, dtype=base.model.dtype
    )
    plain = PeftModel.from_pretrained(plain, str(folder)).eval()
    ids = torch.tensor([base.builder.prompt_ids(texts[0])])
    with torch.no_grad():
        ours = loaded(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        theirs = plain(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    atol = 1e-4 if test_dtype == "float32" else 5e-2
    torch.testing.assert_close(theirs.float(), ours.float(), atol=atol, rtol=1e-2)


def test_heads_leave_the_verbalizer_trials_and_their_ids_as_they_were(tiny_config):
    """lora.formats' default is today's study; adding the head adds trials, named apart, and
    changes none of the verbalizer's."""
    plain = [t.id for t in trials(tiny_config())]
    both = trials(tiny_config(**{"lora.formats": ["verbalizer", "head"]}))
    assert [t.id for t in both if not t.head] == plain
    assert [t.id for t in both if t.head] == [f"head-{i}" for i in plain]
    assert {t.method for t in both if t.head} == {"lora_head_r2", "lora_head_r4"}
    with pytest.raises(ConfigError, match="once"):
        tiny_config(**{"lora.formats": ["head", "head"]})


def test_the_head_is_a_method_of_its_own_through_evaluation_and_statistics(separable_run):
    from loralab.artifacts import read_json
    from loralab.evaluate.step import evaluate_step
    from loralab.stats.step import statistics_step

    cfg, run = separable_run(
        **{
            "lora.ranks": [2],
            "train.epochs": 1,
            "stats.bootstrap_resamples": 200,
            "stats.primary": ["selected_head", "selected"],
            "evaluation.few_shot_k": 0,
        }
    )
    for trial in trials(cfg):
        train_trial(cfg, run, trial, log=lambda _: None)
    evaluation = evaluate_step(cfg, run, log=lambda _: None)
    results = evaluation.results.set_index("method")
    assert results.at["lora_head_r2", "kind"] == "lora_head"
    assert results.at["lora_head_r2", "role"] == "trained"
    assert results.at["lora_head_r2", "name"].startswith("LoRA + head r=2")
    assert evaluation.selected_method == "lora_r2"  # the verbalizer stays the study's lead
    paired = evaluation.paired
    assert paired["pred_lora_head_r2"].isin(["A", "B"]).all()
    tests = statistics_step(cfg, run).tests
    pairs = set(zip(tests["method"], tests["baseline"], strict=True))
    assert ("lora_head_r2", "lora_r2") in pairs  # head against verbalizer, the primary here
    assert ("lora_head_r2", "zero_shot") in pairs
    assert read_json(run.stat_tests)["primary"]["pair"] == ["lora_head_r2", "lora_r2"]
