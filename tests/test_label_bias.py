import numpy as np
import pytest
from scipy.special import log_softmax

from loralab.data.splits import read_split
from loralab.evaluate.methods import REGISTRY, Study
from loralab.evaluate.methods import base as methods_base
from loralab.evaluate.methods.label_bias import QUANTILES, fit_label_bias, shifted
from loralab.evaluate.methods.prompting import (
    BIAS_TRAIN_ITEMS,
    FewShot,
    FewShotBias,
    ZeroShotBias,
    bias_training_items,
)
from loralab.model.windows import aggregate
from loralab.roles import BASELINE, HEADLINE
from loralab.stats.metrics import classification_metrics


def synthetic(n_per_class: list[int], prior_shift: float, seed: int, evidence: float = 2.5):
    """Window scores of items whose label is class j: `evidence` nats for j, minus as many for
    the others, noise of 1 nat, and the first label favoured by `prior_shift` nats (the model's
    prior). Returns (scores, gold label indices)."""
    rng = np.random.default_rng(seed)
    labels = len(n_per_class)
    gold = np.repeat(np.arange(labels), n_per_class)
    scores = np.where(np.eye(labels)[gold] == 1, evidence, -evidence) + rng.normal(
        0, 1, (len(gold), labels)
    )
    scores[:, 0] += prior_shift
    return scores, gold


def macro_f1_of(scores, gold):
    """val_macro_f1 for fit_label_bias on synthetic windows (one window per item)."""

    def f1(offset):
        pred = shifted(offset)(scores).argmax(axis=1)
        return classification_metrics(gold, pred, list(range(scores.shape[1])))["macro_f1"]

    return f1


def test_a_fitted_bias_undoes_a_prior_that_makes_the_raw_model_a_constant():
    train, _ = synthetic([32, 32], prior_shift=8.0, seed=0)
    val, val_gold = synthetic([10, 10], prior_shift=8.0, seed=1)
    test, test_gold = synthetic([50, 50], prior_shift=8.0, seed=2)
    assert (test.argmax(axis=1) == 0).all()  # raw: every item gets the first label

    bias = fit_label_bias(train, macro_f1_of(val, val_gold))
    pred = shifted(bias.offset)(test).argmax(axis=1)
    assert set(pred) == {0, 1} and (pred == test_gold).mean() > 0.9
    assert bias.batch[0] - bias.batch[1] > 5  # batch calibration sees most of the prior


def test_validation_corrects_batch_calibration_from_unbalanced_training_items():
    # 56 of 64 training items are of the first label: their mean log-probabilities are no prior
    train, _ = synthetic([56, 8], prior_shift=3.0, seed=0, evidence=1.0)
    val, val_gold = synthetic([15, 15], prior_shift=3.0, seed=1, evidence=1.0)
    bias = fit_label_bias(train, macro_f1_of(val, val_gold))
    details = bias.details(["A", "B"])
    assert details["val_macro_f1"] > details["val_macro_f1_batch"]
    assert details["val_macro_f1"] == max(details["val_macro_f1_by_offset"].values())
    assert len(details["val_macro_f1_by_offset"]) <= len(QUANTILES) + 1


def test_when_validation_cannot_tell_the_candidates_apart_batch_calibration_stays():
    train, _ = synthetic([32, 32], prior_shift=4.0, seed=0)
    asked = []
    bias = fit_label_bias(train, lambda offset: asked.append(offset.copy()) or 0.5)
    assert np.array_equal(bias.offset, bias.batch)
    assert len(asked) == len(bias.tried) == len(QUANTILES) + 1  # each candidate asked once


def test_three_labels_are_searched_one_label_at_a_time_and_all_come_back():
    train, _ = synthetic([22, 21, 21], prior_shift=8.0, seed=0)
    val, val_gold = synthetic([10, 10, 10], prior_shift=8.0, seed=1)
    test, test_gold = synthetic([40, 40, 40], prior_shift=8.0, seed=2)
    bias = fit_label_bias(train, macro_f1_of(val, val_gold))
    pred = shifted(bias.offset)(test).argmax(axis=1)
    assert set(pred) == {0, 1, 2} and (pred == test_gold).mean() > 0.85
    assert bias.offset[0] == bias.batch[0]  # the first label is the reference


def test_the_fitted_rows_are_registered_after_what_they_calibrate():
    order = [kind.__name__ for kind in REGISTRY]
    assert order.index("ZeroShotBias") == order.index("CalibratedZeroShot") + 1
    assert order.index("FewShotBias") == order.index("FewShot") + 1
    assert ZeroShotBias.role == HEADLINE and FewShotBias.role == BASELINE


@pytest.fixture
def scored_texts(monkeypatch):
    """Every list of texts the study's scorer runs, in order: a trained model's texts, and the
    base model's windows that its cache had not seen."""
    calls = []
    real_chunks, real_texts = methods_base.score_chunks, methods_base.score_texts

    def chunks(model, builder, view, texts, *args):
        calls.append((builder, list(texts)))
        return real_chunks(model, builder, view, texts, *args)

    def windows(model, builder, texts, *args):
        calls.append((builder, list(texts)))
        return real_texts(model, builder, texts, *args)

    monkeypatch.setattr(methods_base, "score_chunks", chunks)
    monkeypatch.setattr(methods_base, "score_texts", windows)
    return calls


def test_zero_shot_bias_fits_on_train_and_val_only_and_shifts_every_window(
    prepared_run, long_text, scored_texts
):
    cfg, run = prepared_run(data__long_text="chunks", evaluation__chunk_aggregate="logsumexp")
    study = Study.load(cfg, run)
    method = ZeroShotBias(study)
    method.fit(study.train, study.val)
    seen = {t for _, texts in scored_texts for t in texts}  # windows of the texts

    def windows_of(*frames) -> set[str]:
        return set(study.base.view.expand([t for f in frames for t in f["text"]])[0])

    assert seen and seen <= windows_of(study.train, study.val)
    assert not seen & windows_of(read_split(run, "test", 0))

    texts = [long_text(30, seed=s) for s in range(3)]
    got = method.score(texts)
    windows, owner = study.base.view.expand(texts)
    raw = study.window_scores(study.base.model, study.base.builder, texts).windows.label_scores
    want = aggregate(log_softmax(raw, axis=1) - method.bias.offset, owner, 3, "logsumexp")
    assert np.allclose(got.label_scores, want) and got.chunks.max() > 1

    details = got.details
    assert details["train_items"] == got.train_items == min(len(study.train), BIAS_TRAIN_ITEMS)
    assert details["val_items"] == len(study.val)
    assert set(details["offset"]) == set(details["batch_offset"]) == {"A", "B"}
    assert details["val_macro_f1"] == max(details["val_macro_f1_by_offset"].values())
    assert method.score(texts[:1]).details == details  # scoring fits nothing


def test_bias_items_are_a_stratified_cap_that_leaves_out_the_examples(make_rows):
    train = make_rows(per_class=60)
    items = bias_training_items(train, seed=0)
    assert abs(len(items) - BIAS_TRAIN_ITEMS) <= 1
    assert items["label"].value_counts().to_dict() == {"A": 32, "B": 32}
    shown = set(items["text"][:2])
    assert not shown & set(bias_training_items(train, 0, shown)["text"])


def test_few_shot_bias_reuses_the_few_shot_pass_and_fits_each_draw(prepared_run, scored_texts):
    cfg, run = prepared_run(evaluation__few_shot_draws=2)
    study = Study.load(cfg, run)
    test = read_split(run, "test", 0)["text"].tolist()
    raw, fitted = FewShot(study, 1, 2), FewShotBias(study, 1, 2)
    raw.fit(study.train, study.val)
    raw_result = raw.score(test)
    fitted.fit(study.train, study.val)
    result = fitted.score(test)

    test_passes = [b for b, texts in scored_texts if texts == test]
    assert len(test_passes) == 2 and test_passes == [b for _, b in raw.prompts]
    assert result.method == "few_shot_bias" and raw_result.method == "few_shot"
    assert list(result.details) == ["draw 0", "draw 1"]
    for (shots, builder), draw in zip(fitted.prompts, result.details.values(), strict=True):
        fit_items = [
            t for b, texts in scored_texts if b is builder and texts != test for t in texts
        ]
        assert not {t for t, _ in shots} & set(fit_items)  # a draw's examples fit nothing
        assert draw["val_items"] == len(study.val)
    assert np.array_equal(raw_result.latency_s, result.latency_s)  # the same test pass
