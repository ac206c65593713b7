import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from loralab.config import FOLD_TOLERANCE, build_config
from loralab.data.splits import read_split
from loralab.evaluate.methods import REGISTRY, Method, MethodResult
from loralab.evaluate.methods.base import UNTRAINED, Study
from loralab.evaluate.methods.classic import TfidfLogisticRegression
from loralab.evaluate.methods.lora import TrainedConfiguration
from loralab.evaluate.methods.prompting import CalibratedZeroShot, few_shot_examples
from loralab.evaluate.methods.rules import LabelTermRule
from loralab.evaluate.step import evaluate_step
from loralab.layout import RunPaths
from loralab.model.loading import load_tokenizer
from loralab.model.prompts import PromptBuilder
from loralab.model.scoring import Scores
from loralab.model.windows import Windows


def test_merged_adapters_score_what_the_unmerged_ones_scored(evaluated, test_dtype):
    _, _, ev, _ = evaluated
    lora = ev.results["kind"] == "lora"
    rows = ev.results[lora]
    assert ev.results.loc[~lora, "merge_val_agreement"].isna().all()
    # the folded copy scores the test exactly where it scored validation as the adapter did
    same = (rows["merge_val_agreement"] == 1.0) & (
        rows["merge_val_max_score_change"] <= FOLD_TOLERANCE
    )
    assert (rows["merged_scored_test"] == same.astype(float)).all()
    if test_dtype == "float32":  # folding B @ A into W changes scores by rounding only
        assert (rows["merge_val_max_score_change"] < 1e-4).all() and same.all()


def _lora_on_fold_0(evaluated):
    cfg, run, _, _ = evaluated
    study = Study.load(cfg, run, 0)
    method = next(TrainedConfiguration.build(study))
    method.fit(study.train, study.val)
    return study, method, read_split(run, "test", 0)["text"].tolist()


def test_a_folded_adapter_scores_the_test_as_the_adapter_beside_the_base(evaluated, test_dtype):
    study, method, texts = _lora_on_fold_0(evaluated)
    if test_dtype != "float32":
        pytest.skip("bf16 weights fold with up to 0.5 nats of rounding: the test is scored beside")
    assert method.cost["merged_scored_test"]
    folded = method.score(texts)
    beside = study.score(method._load(method.trials[0]), study.base.builder, texts)
    assert folded.predictions == beside.predictions
    assert np.abs(folded.label_scores - beside.label_scores).max() < 1e-4


def test_where_folding_moved_validation_scores_the_adapter_beside_the_base_scores_the_test(
    evaluated, monkeypatch
):
    from peft import PeftModel

    checked = TrainedConfiguration.merge_drift

    def as_in_bf16(self, *args):  # bf16 weights moved scores by up to 0.5 nats
        return checked(self, *args) | {"merge_val_max_score_change": 0.5}

    monkeypatch.setattr(TrainedConfiguration, "merge_drift", as_in_bf16)
    study, method, texts = _lora_on_fold_0(evaluated)
    scored_by = []
    score = study.score
    monkeypatch.setattr(
        study, "score", lambda model, *a, **k: scored_by.append(model) or score(model, *a, **k)
    )
    method.score(texts)
    assert not method.cost["merged_scored_test"]
    assert [isinstance(m, PeftModel) for m in scored_by] == [True]


def test_tfidf_sees_the_same_truncated_text_as_the_llm(evaluated):
    cfg, _, _, _ = evaluated
    tok = load_tokenizer(cfg.model)
    builder = PromptBuilder(tok, cfg.prompt, cfg.data, cfg.train.seq_len)
    long = " ".join(["word"] * 400)
    shown = builder.visible_text(long)
    assert len(tok(shown, add_special_tokens=False)["input_ids"]) <= builder.text_budget
    assert long.startswith(shown)
    one_piece = builder.before_str + shown + builder.after_str
    assert builder.prompt_ids(long) == tok(one_piece, add_special_tokens=False)["input_ids"]


def test_few_shot_examples_come_from_training_and_keep_the_test_truncation(evaluated):
    cfg, run, _, _ = evaluated
    train = read_split(run, "train", 0)
    shots = few_shot_examples(train, ["A", "B"], 2, seed=0)
    assert sorted(label for _, label in shots) == ["A", "A", "B", "B"]
    last = {few_shot_examples(train, ["A", "B"], 2, seed=s)[-1][1] for s in range(10)}
    assert last == {"A", "B"}  # no label's example is always the one next to the item
    assert all(text in set(train["text"]) for text, _ in shots)
    tok = load_tokenizer(cfg.model)
    zero = PromptBuilder(tok, cfg.prompt, cfg.data, cfg.train.seq_len)
    few = PromptBuilder.few_shot(tok, cfg.prompt, cfg.data, cfg.train.seq_len, shots)
    assert few.text_budget == zero.text_budget and len(few.before) > len(zero.before)


class AlwaysLastLabel(Method):
    """A new baseline as a user would add one: every text gets the last label of the params."""

    kind = "classic"

    def __init__(self, study):
        super().__init__(study, "always_last", "Always the last label")

    def fit(self, train: pd.DataFrame, val: pd.DataFrame) -> None:
        self.labels = self.study.base.builder.labels
        self.label = self.labels[-1]
        self.train_items = len(train)

    def score(self, texts: list[str]) -> MethodResult:
        picked = self.labels.index(self.label)
        scores = np.full((len(texts), len(self.labels)), np.log(1e-12))
        scores[:, picked] = 0.0
        return self.labelled([self.label] * len(texts), scores, np.zeros(len(texts)), UNTRAINED)


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
    registered(AlwaysLastLabel)
    ev = evaluate_step(cfg, run, log=lambda _: None)

    results = pd.read_csv(run.results).set_index("method")
    assert list(results.index)[-1] == "always_last"
    train, test = read_split(run, "train", 0), read_split(run, "test", 0)
    row = results.loc["always_last"]
    majority = "B"  # the constant it answers
    assert row["name"] == "Always the last label" and row["kind"] == "classic"
    assert row["train_items"] == len(train) and row["n_test"] == len(test)
    assert not row["selected"]
    assert row["accuracy"] == pytest.approx((test["label"] == majority).mean())
    assert row["macro_f1"] == pytest.approx(
        f1_score(test["label"], [majority] * len(test), labels=["A", "B"], average="macro")
    )
    assert row["macro_f1_low"] <= row["macro_f1"] <= row["macro_f1_high"]
    assert row["trainable_params"] == 0 and row["train_time_s"] == 0

    paired = pd.read_csv(run.paired_predictions)
    assert (paired["pred_always_last"] == majority).all()
    assert (paired["score_always_last"] == 0).all()
    assert "always_last" in ev.confusion and run.confusion("always_last").is_file()
    assert "Always the last label" in set(pd.read_csv(run.results)["name"])


class StubStudy:
    """What the rule and TF-IDF baselines read of a study, without loading a model."""

    fold = 0

    def __init__(self, cfg, train, val, score=None):
        self.cfg, self.train, self.val = cfg, train, val
        builder = type("B", (), {"labels": list(cfg.data.labels), "visible_text": str})()
        view = type(
            "View",
            (),
            {"visible": str, "size": 10**6, "windows": lambda t: Windows((t,), 1, len(t.split()))},
        )
        self.base = type("Base", (), {"builder": builder, "model": "base-model", "view": view})()
        if score:
            self.score = score

    majority_label = Study.majority_label


def frame(rows):
    return pd.DataFrame(rows, columns=["id", "text", "label"])


def test_the_label_term_rule_counts_terms_and_sends_ties_to_the_majority():
    cfg = build_config({}, "t", {})
    train = frame([(i, "x", "Lung_Cancer") for i in range(3)] + [(9, "y", "Colon_Cancer")])
    rule = next(LabelTermRule.build(StubStudy(cfg, train, train)))
    rule.fit(train, train)
    texts = ["Colorectal cancer, CRC, one lung.", "Nothing here.", "lung and colon"]
    result = rule.score(texts)
    assert result.predictions == ["Colon_Cancer", "Lung_Cancer", "Lung_Cancer"]
    assert result.details == {
        "items_without_a_clear_term": 2,
        "fallback": "Lung_Cancer, the majority of 4 training labels",
    }
    assert result.train_items == 0  # only class counts, for ties: the rule learns no item
    assert not list(
        LabelTermRule.build(
            StubStudy(build_config({}, "t", {"data.labels": ["A", "B"]}), train, train)
        )
    )


def test_calibration_divides_out_what_the_model_says_to_content_free_inputs():
    cfg = build_config({}, "t", {"data.labels": ["A", "B"]})

    def score(model, builder, texts, progress=True, adjust=None):
        rows = np.array(
            [
                [0.0, -3.0] if t in cfg.evaluation.content_free_inputs else [-1.0, -2.5]
                for t in texts
            ]
        )
        labels = adjust(rows) if adjust else rows
        n = len(texts)
        predictions = [["A", "B"][j] for j in labels.argmax(axis=1)]
        return Scores(rows, labels, predictions, np.ones(n), np.ones(n), 1.0)

    method = CalibratedZeroShot(StubStudy(cfg, None, None, score))
    method.fit(None, None)
    result = method.score(["an item", "another"])
    assert result.predictions == ["B", "B"]  # raw scores prefer A, by less than the prior does
    prior = result.details["content_free"]["label_logprobs"]
    assert prior["A"] > prior["B"] and result.details["content_free"]["inputs"] == [
        "",
        "N/A",
        "[MASK]",
    ]


def test_tfidf_trains_on_loras_items_and_on_the_whole_split_when_they_differ(make_rows):
    cfg = build_config({}, "t", {"data.labels": ["A", "B"], "train.train_sizes": [10]})
    train = make_rows(per_class=20)
    rows = list(TfidfLogisticRegression.build(StubStudy(cfg, train, train)))
    assert [m.id for m in rows] == ["tfidf", "tfidf_all"]
    for method in rows:
        method.fit(train, make_rows(per_class=5, seed=1))
    assert [m.train_items for m in rows] == [10, 40]
    tried = rows[0].tuning["val_macro_f1_by_C"]
    best = max(tried.values())
    assert rows[0].c == min(float(c) for c, f in tried.items() if f == best)


def test_few_shot_rows_show_the_spread_over_their_draws(evaluated):
    cfg, run, ev, _ = evaluated
    row = ev.results.set_index("method").loc["few_shot"]
    assert row["draws"] == cfg.evaluation.few_shot_draws
    assert row["draw_macro_f1_sd"] >= 0 and 0 <= row["draw_macro_f1_mean"] <= 1
    assert row["train_items"] == cfg.evaluation.few_shot_k * 2 * cfg.evaluation.few_shot_draws
