import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from loralab.config import build_config
from loralab.data.splits import read_split
from loralab.evaluate.methods import MethodResult
from loralab.evaluate.selection import Selection
from loralab.evaluate.step import (
    chosen_per_fold,
    draw_predictions,
    over_repeats,
    repeat_orders,
    results_table,
    selected_rows,
    train_items,
    with_selection_roles,
)
from loralab.report.tables import format_results, with_ci


def test_every_method_is_scored_on_the_same_test_items(evaluated):
    cfg, run, ev, _ = evaluated
    test = read_split(run, "test", 0)
    assert ev.results["method"].tolist() == [
        "majority",
        "zero_shot",
        "zero_shot_calibrated",
        "zero_shot_bias",
        "few_shot",
        "few_shot_bias",
        "tfidf_all",
        "lora_r2",
        "lora_r4",
    ]
    assert (ev.results["n_test"] == len(test)).all()
    assert ev.paired["id"].tolist() == test["id"].tolist()
    assert ev.results["selected"].sum() == 1
    assert ev.results.loc[ev.results["selected"], "method"].item() == ev.selected_method
    for method, frame in ev.confusion.items():
        assert frame.to_numpy().sum() == len(test), method
    for col in ("macro_f1", "accuracy", "f1_A", "f1_B"):
        assert (ev.results[f"{col}_low"] <= ev.results[col]).all()
        assert (ev.results[col] <= ev.results[f"{col}_high"]).all()


def test_every_number_of_the_results_table_comes_from_results_csv(evaluated):
    _, run, _, _ = evaluated
    csv = pd.read_csv(run.results)
    md = format_results(csv).to_markdown(index=False, disable_numparse=True).splitlines()[2:]
    assert len(md) == len(csv)
    for line, (_, row) in zip(md, csv.iterrows(), strict=True):
        numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", line)]
        draws = [row["draw_macro_f1_mean"], row["draw_macro_f1_sd"]] if row["draws"] > 0 else []
        expected = [
            row["macro_f1"],
            row["macro_f1_low"],
            row["macro_f1_high"],
            row["accuracy"],
            row["accuracy_low"],
            row["accuracy_high"],
            *draws,
            row["latency_p50_ms"],
            row["latency_p95_ms"],
            row["trainable_mb"],
            row["train_time_s"],
        ]
        assert numbers == pytest.approx(expected, abs=0.051), line


def test_folds_that_choose_different_ranks_get_a_pooled_row_of_their_own():
    def result(method, preds, name):
        n = len(preds)
        return MethodResult(
            method,
            name,
            "lora",
            8,
            preds,
            np.zeros((n, 2)),
            np.zeros(n),
            None,
            {"x": 1.0},
            role="candidate",
        )

    results = {
        "lora_r2": {
            0: result("lora_r2", ["A"], "LoRA r=2"),
            1: result("lora_r2", ["A", "A"], "LoRA r=2"),
        },
        "lora_r4": {
            0: result("lora_r4", ["B"], "LoRA r=4"),
            1: result("lora_r4", ["B", "B"], "LoRA r=4"),
        },
    }
    key = ("lora", "all")
    selection = Selection(
        {key: {0: ("lora", 2, 1e-3), 1: ("lora", 4, 1e-3)}},
        pd.DataFrame(),
        {key: "lora_selected"},
        {(*key, ("lora", 2, 1e-3)): "lora_r2", (*key, ("lora", 4, 1e-3)): "lora_r4"},
    )
    [out] = selected_rows(chosen_per_fold(results, selection), [np.arange(3)])
    assert out.method == "lora_selected" and out.predictions == ["A", "B", "B"]
    assert out.name == "LoRA, chosen per fold (r=2, r=4)" and out.role == "trained"
    pooled_r2 = replace(results["lora_r2"][0], role="candidate")
    assert with_selection_roles([pooled_r2], selection)[0].role == "candidate"
    assert out.train_items_per_fold == [8, 8]
    assert train_items(out) == {"train_items": 8.0, "train_items_per_fold": "8"}
    differ = replace(out, train_items_per_fold=[207, 208])
    assert train_items(differ) == {"train_items": 207.5, "train_items_per_fold": "207 / 208"}


def test_repeats_keep_repeat_0s_numbers_and_add_every_repeats_predictions_as_draws():
    """Two repeats of two folds over items a, b, c: repeat 1 tests them in another fold order.
    The row's predictions are repeat 0's; its draws hold each repeat's, in repeat 0's order."""
    tests = [pd.DataFrame({"id": ids}) for ids in (["a"], ["b", "c"], ["c", "a"], ["b"])]
    orders = repeat_orders(tests, 2)
    assert [o.tolist() for o in orders] == [[0, 1, 2], [1, 2, 0]]

    def part(preds):
        n = len(preds)
        return MethodResult(
            "m", "M", "lora", 8, preds, np.zeros((n, 2)), np.zeros(n), None, {}, role="trained"
        )

    out = over_repeats([part(["A"]), part(["B", "A"]), part(["A", "B"]), part(["B"])], orders)
    assert out.predictions == ["A", "B", "A"]  # a, b, c as repeat 0 tested them
    assert out.draws == [["A", "B", "A"], ["B", "B", "A"]]  # repeat 1: a=B, b=B, c=A
    assert out.draw_repeats == [0, 1]
    written = draw_predictions(pd.DataFrame({"id": list("abc")}), [out])
    assert written.groupby("draw")["repeat"].unique().tolist() == [[0], [1]]
    assert len(out.latency_s) == 6 and out.train_items_per_fold == [8] * 4
    with pytest.raises(ValueError, match="repeat 1 of the folds tests other items"):
        repeat_orders(tests[:3] + [pd.DataFrame({"id": ["d"]})], 2)


def _trained(predictions, draws=(), draw_repeats=()) -> MethodResult:
    n = len(predictions)
    return MethodResult(
        "m",
        "M",
        "lora",
        8,
        list(predictions),
        np.zeros((n, 2)),
        np.zeros(n),
        None,
        {},
        draws=[list(d) for d in draws],
        draw_repeats=list(draw_repeats),
        role="trained",
    )


def test_a_methods_macro_f1_interval_in_results_csv_is_over_its_draws():
    """Two seeds that differ a lot (accuracy 0.9 and 0.55): results.csv's interval is over the
    seeds, then items, and says so; with the first seed alone it is one seed's items'."""
    rng = np.random.default_rng(0)
    gold = np.array(["A", "B"] * 40)
    wrong = np.where(gold == "A", "B", "A")
    seeds = [np.where(rng.random(80) < a, gold, wrong) for a in (0.9, 0.55)]
    cfg = build_config({}, "test", {"stats.bootstrap_resamples": 1000})
    folds = np.arange(80) % 2

    def row(method):
        table = results_table([method], gold.tolist(), ["A", "B"], set(), cfg, folds)
        return table.iloc[0]

    one, many = row(_trained(seeds[0])), row(_trained(seeds[0], seeds))
    assert one["macro_f1_ci"] == "BCa" and many["macro_f1_ci"] == "percentile over 2 draws"
    assert many["macro_f1"] == one["macro_f1"]  # the row's value; the interval is the procedure's
    assert many["macro_f1_high"] - many["macro_f1_low"] > 2 * (
        one["macro_f1_high"] - one["macro_f1_low"]
    )
    assert with_ci(many, "macro_f1").endswith("(percentile over 2 draws)")


def test_the_optimum_is_found_from_validation_items_whose_mean_is_each_trials_label_loss(
    evaluated,
):
    """The per-item losses the optimum's bootstrap resamples are those whose mean is the label
    loss selection read, and the step wrote the optima and their ratios beside trials.csv."""
    from loralab.evaluate.selection import trained_summaries, validation_item_losses

    _, run, ev, _ = evaluated
    items = validation_item_losses(run)
    means = items.groupby(["rank", "fold", "seed"])["loss"].mean()
    for summary in trained_summaries(run):
        key = (summary.rank, summary.fold, summary.seed)
        assert means[key] == pytest.approx(summary.val_label_loss, abs=1e-6)
    written = pd.read_csv(run.lr_optima)
    assert len(written) == len(ev.optima.table) and "validation items" in ev.optima.unit
    assert run.lr_ratios.is_file()
