import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from loralab.evaluation import evaluate_step
from loralab.layout import RunPaths
from loralab.methods import REGISTRY, Method, MethodResult
from loralab.methods.base import UNTRAINED
from loralab.methods.prompting import few_shot_examples
from loralab.models import load_tokenizer
from loralab.prompts import PromptBuilder
from loralab.splits import read_split


def test_merged_adapters_score_what_the_unmerged_ones_scored(evaluated):
    _, _, ev, _ = evaluated
    lora = ev.results["kind"] == "lora"
    # float32 weights: folding B @ A into W changes scores by rounding only
    assert (ev.results.loc[lora, "merge_val_agreement"] == 1.0).all()
    assert (ev.results.loc[lora, "merge_val_max_score_change"] < 1e-4).all()
    assert ev.results.loc[~lora, "merge_val_agreement"].isna().all()


def test_tfidf_sees_the_same_truncated_text_as_the_llm(evaluated):
    cfg, _, _, _ = evaluated
    tok = load_tokenizer(cfg.model)
    builder = PromptBuilder(tok, cfg.prompt, cfg.data, cfg.train.seq_len)
    long = " ".join(["word"] * 400)
    shown = builder.visible_text(long)
    assert len(tok(shown, add_special_tokens=False)["input_ids"]) <= builder.text_budget
    assert (
        builder.prompt_ids(long)[len(builder.before) : -len(builder.after)]
        == tok(shown, add_special_tokens=False)["input_ids"]
    )


def test_few_shot_examples_come_from_training_and_keep_the_test_truncation(evaluated):
    cfg, run, _, _ = evaluated
    train = read_split(run, "train")
    shots = few_shot_examples(train, ["A", "B"], 2, seed=0)
    assert [label for _, label in shots] == ["A", "B", "A", "B"]
    assert all(text in set(train["text"]) for text, _ in shots)
    tok = load_tokenizer(cfg.model)
    zero = PromptBuilder(tok, cfg.prompt, cfg.data, cfg.train.seq_len)
    few = PromptBuilder.few_shot(tok, cfg.prompt, cfg.data, cfg.train.seq_len, shots)
    assert few.text_budget == zero.text_budget and len(few.before) > len(zero.before)


class MajorityClass(Method):
    """A new baseline as a user would add one: every text gets the training split's most
    frequent label (ties: the first label of the params)."""

    kind = "classic"

    def __init__(self, study):
        super().__init__(study, "majority", "Majority class")

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        self.labels = self.study.base.builder.labels
        self.label = train["label"].value_counts().reindex(self.labels, fill_value=0).idxmax()
        self.train_items = len(train)

    def score(self, texts: list[str]) -> MethodResult:
        picked = self.labels.index(self.label)
        scores = np.full((len(texts), len(self.labels)), np.log(1e-12))
        scores[:, picked] = 0.0
        return MethodResult(
            self.id,
            self.name,
            self.kind,
            self.train_items,
            [self.label] * len(texts),
            scores,
            np.zeros(len(texts)),
            None,
            dict(UNTRAINED),
        )


@pytest.fixture
def registered():
    """Add method classes to the registry for one test, as the one line in methods/__init__.py
    would; the registry is restored afterwards."""
    added = []

    def register(kind: type[Method]) -> None:
        REGISTRY.append(kind)
        added.append(kind)

    yield register
    for kind in added:
        REGISTRY.remove(kind)


def test_a_new_baseline_is_one_class_plus_one_registry_line(evaluated, registered, tmp_path):
    cfg, study_run, _, _ = evaluated
    run = RunPaths(shutil.copytree(study_run.root, tmp_path / "run"))  # the shared study stays
    registered(MajorityClass)
    ev = evaluate_step(cfg, run, log=lambda _: None)

    results = pd.read_csv(run.results).set_index("method")
    assert list(results.index) == [
        "zero_shot",
        "few_shot",
        "tfidf",
        "lora_r2",
        "lora_r4",
        "majority",
    ]
    train, test = read_split(run, "train"), read_split(run, "test")
    row = results.loc["majority"]
    majority = train["label"].value_counts().reindex(["A", "B"]).idxmax()
    assert row["name"] == "Majority class" and row["kind"] == "classic"
    assert row["train_items"] == len(train) and row["n_test"] == len(test)
    assert not row["selected"]
    assert row["accuracy"] == pytest.approx((test["label"] == majority).mean())
    assert row["macro_f1"] == pytest.approx(
        f1_score(test["label"], [majority] * len(test), labels=["A", "B"], average="macro")
    )
    assert row["macro_f1_low"] <= row["macro_f1"] <= row["macro_f1_high"]
    assert row["trainable_params"] == 0 and row["train_time_s"] == 0

    paired = pd.read_csv(run.paired_predictions)
    assert (paired["pred_majority"] == majority).all() and (paired["score_majority"] == 0).all()
    assert "majority" in ev.confusion and run.confusion("majority").is_file()
    assert "Majority class" in run.results_markdown.read_text()
