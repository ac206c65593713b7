"""Figures: labels people can read; the trial grid's figures and what they say."""

import math

import matplotlib
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from loralab.formats import number
from loralab.report.figures import (
    best_lr_figure,
    crossing_sentence,
    curve_figures,
    lr_ratio_sentence,
    method_bars,
    sweep_figures,
    sweep_heatmaps,
    text_color_on,
    training_curves,
    validation_curves,
)

matplotlib.use("Agg")


@pytest.mark.parametrize(
    ("value", "shown"), [(0.0123, "0.0123"), (42.5, "42.5"), (1120.4, "1,120")]
)
def test_figure_labels_never_use_scientific_notation(value, shown):
    assert number(value) == shown


def _results() -> pd.DataFrame:
    rows = [("LoRA r=8", 0.89, 0.86, 0.92, True), ("Majority class", 0.05, 0.02, 0.09, False)]
    frame = pd.DataFrame(
        rows, columns=["name", "macro_f1", "macro_f1_low", "macro_f1_high", "selected"]
    )
    return frame.assign(
        accuracy=frame["macro_f1"],
        accuracy_low=frame["macro_f1_low"],
        accuracy_high=frame["macro_f1_high"],
    )


def test_bar_values_read_on_their_bars_and_short_bars_put_them_past_the_interval():
    fig = method_bars(_results())
    labels = {t.get_text(): t for t in fig.axes[0].texts}
    inside, past = labels["0.890"], labels["0.050"]  # a short bar: its CI starts at 0.02
    assert inside.get_position()[0] < 0.89 and past.get_position()[0] > 0.09  # beyond the CI
    assert past.get_color() == "black"
    assert text_color_on((1.0, 1.0, 0.6)) == "black" and text_color_on((0.0, 0.2, 0.5)) == "white"


def test_training_curves_draw_the_label_loss_against_its_value_at_chance():
    history = pd.DataFrame(
        {
            "epoch": [1, 2],
            "train_loss": [1.2, 0.3],
            "val_loss": [0.4, 0.2],
            "val_label_loss": [0.70, 0.69],
            "train_label_loss": [0.69, 0.21],
            "val_macro_f1": [0.3, 0.4],
            "val_accuracy": [0.5, 0.5],
        }
    )
    left = training_curves(history, "r8-f0-s42", n_labels=2).axes[0]
    lines = {line.get_label(): line for line in left.get_lines()}
    assert list(lines["validation, label"].get_ydata()) == [0.70, 0.69]
    assert list(lines["training items, label"].get_ydata()) == [0.69, 0.21]
    assert lines["label loss at chance"].get_ydata()[0] == pytest.approx(math.log(2))
    older = history.drop(columns="val_label_loss")  # a trial trained before the column
    assert [line.get_label() for line in training_curves(older, "r8").axes[0].get_lines()] == [
        "train",
        "validation",
    ]


def test_validation_curves_plot_the_measure_that_chooses_the_epoch_and_ring_its_choice():
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "val_loss": [0.9, 0.5, 0.7],
            "val_label_loss": [0.6, 0.7, 0.4],
            "val_macro_f1": [0.5, 0.6, 0.8],
        }
    )
    fig = validation_curves({"r8-f0-s42": history})  # the default: the label loss
    ringed = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "None"]
    assert fig.axes[0].get_ylabel() == "validation label loss" and ringed[0].get_xdata()[0] == 3
    fig = validation_curves({"r8-f0-s42": history}, by="val_loss")
    left, right = fig.axes
    assert left.get_ylabel() == "validation loss" and right.get_ylabel() == "validation macro-F1"
    ringed = [line for line in left.get_lines() if line.get_linestyle() == "None"]
    assert [tuple(line.get_xdata()) for line in ringed] == [(2,)]  # the lowest loss
    fig = validation_curves({"r8-f0-s42": history}, by="val_macro_f1")
    ringed = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "None"]
    assert fig.axes[0].get_ylabel() == "validation macro-F1" and ringed[0].get_xdata()[0] == 3
    assert fig.axes[1].get_ylabel() == "validation label loss"


# ---- the trial grid ------------------------------------------------------------------------


def _selection(
    ranks=(4, 8),
    lrs=(1e-4, 1e-3),
    sizes=("16", "64"),
    folds=2,
    full_lrs=(5e-5, 1e-4),
    best_lr=lambda rank: 1e-3,
) -> pd.DataFrame:
    """selection.csv of a grid whose validation loss is lowest at best_lr(rank) for LoRA and
    at 5e-5 for full fine-tuning; each fold marks its lowest loss selected."""
    configs = [("lora", "lora", r, lr) for r in ranks for lr in lrs]
    configs += [("full", "full", 0, lr) for lr in full_lrs]
    rows = []
    for fold in range(folds):
        for size in sizes:
            for method, variant, rank, lr in configs:
                target = best_lr(rank) if method == "lora" else 5e-5
                loss = 0.3 + abs(math.log10(lr / target)) + rank / 1000 + fold / 100
                rows.append((fold, size, method, variant, rank, lr, 3, loss))
    frame = pd.DataFrame(
        rows,
        columns=["fold", "train_size", "method", "variant", "rank", "lr", "seeds", "val_loss"],
    )
    lowest = frame.groupby(["fold", "train_size", "method"])["val_loss"].transform("min")
    return frame.assign(selected=frame["val_loss"] == lowest)


def _boxes(ax) -> list[tuple[float, float]]:
    return [p.get_xy() for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]


def test_the_heatmap_has_a_panel_per_size_and_boxes_what_most_folds_chose():
    selection = _selection(folds=3)
    # folds 0 and 1 chose r8 at 1e-4; fold 2 chose r4 at 1e-3 by so much that the mean over
    # folds is lowest there: the box follows the folds' votes, not the lowest mean
    at = (selection["train_size"] == "64") & (selection["method"] == "lora")
    votes = at & (selection["fold"] < 2)
    selection.loc[votes, "selected"] = (selection["rank"] == 8) & (selection["lr"] == 1e-4)
    selection.loc[votes & selection["selected"], "val_loss"] = 0.29
    fold2 = at & (selection["fold"] == 2) & (selection["rank"] == 4) & (selection["lr"] == 1e-3)
    selection.loc[fold2, "val_loss"] = -5.0
    fig = sweep_heatmaps(selection)
    small, large = fig.axes
    assert [small.get_title(), large.get_title()] == ["16 items", "64 items"]
    assert small.get_xlabel() == "learning rate" and small.get_ylabel() == "rank"
    # rows: ranks 4, 8 from the top; columns: 1e-4, 1e-3
    assert _boxes(small) == [(1, 0)]  # r4 at 1e-3, every fold's choice
    assert _boxes(large) == [(0, 1)]  # r8 at 1e-4: two folds of three
    assert [t.get_text() for t in small.get_xticklabels()] == ["1e-4", "1e-3"]


def test_the_heatmap_draws_a_panel_per_variant_and_size():
    one = _selection(sizes=("16",))
    dora = one[one["method"] == "lora"].assign(variant="dora", val_loss=lambda f: f.val_loss + 1)
    fig = sweep_heatmaps(pd.concat([one, dora.assign(selected=False)]))
    assert [ax.get_title() for ax in fig.axes] == ["DoRA, 16 items", "LoRA, 16 items"]
    assert [len(_boxes(ax)) for ax in fig.axes] == [0, 1]


def test_a_grid_of_one_value_per_axis_draws_nothing():
    assert sweep_figures(_selection(ranks=(8,), lrs=(1e-3,), full_lrs=(5e-5,))) == {}
    one_rank = sweep_figures(_selection(ranks=(8,), full_lrs=()))
    assert list(one_rank) == ["sweep_val_loss"]  # one rank and no full fine-tuning: no lr plot
    assert list(sweep_figures(_selection())) == ["sweep_val_loss", "sweep_best_lr"]
    before_the_grid = _selection().drop(columns=["method", "variant", "lr"])  # an older run
    assert sweep_figures(before_the_grid) == {}
    assert curve_figures(_curve_results().drop(columns="train_size")) == {}


def test_the_optimum_learning_rate_per_rank_sits_against_full_fine_tunings():
    fig = best_lr_figure(_selection(ranks=(4, 8, 16), best_lr=lambda r: 1e-4 if r < 8 else 1e-3))
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    lora = ax.containers[0].lines[0]  # drawn with its interval as error bars
    assert list(lora.get_xdata()) == [4, 8, 16] and list(lora.get_ydata()) == [1e-4, 1e-3, 1e-3]
    (full,) = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert list(full.get_ydata()) == [5e-5, 5e-5]
    assert ax.get_ylabel() == "optimum learning rate"


def test_the_lr_sentence_states_the_optimum_and_the_ratio_to_full_fine_tuning_per_size():
    text = lr_ratio_sentence(_selection(sizes=("64",)))
    assert text == (
        "LoRA's optimum learning rate by validation loss (64 items; 95% interval, bootstrap over "
        "2 folds): 1e-3 [1e-3, 1e-3], at every rank. At every rank the minimum is at the edge of "
        "the grid (1e-4 to 1e-3): widen it. Full fine-tuning's: 5e-5 [5e-5, 5e-5]; the minimum "
        "is at the edge of the grid (5e-5 to 1e-4): widen it. LoRA (r=4, its best) over full: "
        "20x [20x, 20x]."
    )
    moving = lr_ratio_sentence(
        _selection(sizes=("16",), best_lr=lambda r: 1e-4 if r < 8 else 1e-3, full_lrs=(5e-5,))
    )
    assert moving.startswith(
        "LoRA's optimum learning rate by validation loss (16 items; 95% interval, bootstrap over "
        "2 folds): 1e-4 [1e-4, 1e-4] at r=4; 1e-3 [1e-3, 1e-3] at r=8."
    )
    assert "Full fine-tuning's: 5e-5 [5e-5, 5e-5], its only learning rate." in moving
    assert "LoRA (r=4, its best) over full: 2x [2x, 2x]." in moving


def test_the_lr_sentence_says_when_there_is_nothing_to_compare():
    alone = lr_ratio_sentence(_selection(sizes=("all",), full_lrs=()))
    assert alone.startswith("LoRA's optimum learning rate by validation loss (all training items")
    assert alone.endswith("No full fine-tuning was trained to compare with.")
    one = lr_ratio_sentence(_selection(sizes=(16,), lrs=(2e-4,)))  # as read_csv gives it
    assert one == (
        "LoRA trained at one learning rate, 2e-4, so the study cannot say which is best (16 items)."
    )
    before_the_grid = _selection().drop(columns=["method", "variant", "lr"])  # an older run
    assert lr_ratio_sentence(before_the_grid).startswith("No LoRA configuration was trained")


def _curve_results() -> pd.DataFrame:
    rows = [
        ("zero_shot", "Zero-shot", "prompting", 0.0, None, False, 0.55, 0.50, 0.60),
        ("label_terms", "Label-term rule", "rule", 0.0, None, False, 0.70, 0.65, 0.75),
        ("tfidf_n16", "TF-IDF (16)", "classic", 16, "16", False, 0.60, 0.50, 0.70),
        ("tfidf_n64", "TF-IDF (64)", "classic", 64, "64", False, 0.75, 0.70, 0.80),
        ("tfidf_all", "TF-IDF (all)", "classic", 300, "all", False, 0.85, 0.82, 0.88),
        ("lora_n16", "LoRA (16)", "lora", 16, "16", True, 0.66, 0.58, 0.74),
        ("lora_n64", "LoRA (64)", "lora", 64, "64", True, 0.90, 0.86, 0.94),
        ("lora_n64_r4", "LoRA r=4 (64)", "lora", 64, "64", False, 0.80, 0.76, 0.84),
        ("full_n16", "Full (16)", "full", 16, "16", True, 0.62, 0.54, 0.70),
        ("full_n64", "Full (64)", "full", 64, "64", True, 0.85, 0.80, 0.90),
    ]
    columns = ["method", "name", "kind", "train_items", "train_size", "selected", "macro_f1"]
    return pd.DataFrame(rows, columns=[*columns, "macro_f1_low", "macro_f1_high"])


def test_the_learning_curve_draws_the_selected_methods_and_tfidf_over_the_untrained_lines():
    fig = curve_figures(_curve_results())["learning_curve"]
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "test macro-F1"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == [
        "LoRA (selected)",
        "full fine-tuning (selected)",
        "TF-IDF + logistic regression",
    ]
    assert labels[3:] == ["Label-term rule (untrained)", "Zero-shot (untrained)"]
    tfidf = ax.containers[2].lines[0]
    assert list(tfidf.get_xdata()) == [16, 64, 300]  # tfidf_all at every item
    lora = ax.containers[0].lines[0]
    assert list(lora.get_ydata()) == [0.66, 0.90]  # the selected rows only


def test_the_learning_curve_rings_the_sizes_where_lora_is_separated_from_tfidf():
    tests = _tests(
        ("lora_n16", "tfidf_n16", 0.06, -0.02, 0.14, 0.3),
        ("lora_n64", "tfidf_n64", 0.15, 0.08, 0.22, 0.002),
    )
    ax = curve_figures(_curve_results(), tests)["learning_curve"].axes[0]
    (ring,) = [line for line in ax.get_lines() if line.get_label().startswith("LoRA separated")]
    assert list(ring.get_xdata()) == [64 * 0.95] and list(ring.get_ydata()) == [0.90]


def test_one_training_size_draws_no_learning_curve():
    results = _curve_results()
    assert curve_figures(results[results["train_size"] != "16"]) == {}


def _tests(*rows) -> pd.DataFrame:
    """stat_tests.json's comparisons: method, baseline, Δ, its CI and the bootstrap p."""
    columns = ["method", "baseline", "delta_macro_f1", "delta_low", "delta_high", "bootstrap_p"]
    return pd.DataFrame(list(rows), columns=columns)


def test_the_crossing_is_the_smallest_size_at_which_lora_is_separated_ahead():
    tests = _tests(
        ("lora_n16", "tfidf_n16", 0.06, -0.02, 0.14, 0.3),
        ("lora_n64", "tfidf_n64", 0.15, 0.08, 0.22, 0.002),
    )
    text = crossing_sentence(_curve_results(), tests)
    assert text.startswith(
        "LoRA is first separated ahead of TF-IDF on the same items at 64 items. The lead never "
        "changes hands. Per size (paired bootstrap p, Holm-adjusted over the sizes tested (2), "
        "separated when below 0.05): 16 items, not separated (Δ macro-F1 +0.060"
    )
    assert "64 items, LoRA ahead (Δ macro-F1 +0.150, 95% CI +0.080 to +0.220, Holm p 0.004)" in text
    assert text.endswith("so the smaller sizes took fewer optimizer steps.")
    # the comparison written the other way round is read with its sign turned
    flipped = crossing_sentence(
        _curve_results(), _tests(("tfidf_n16", "lora_n16", 0.1, 0.05, 0.15, 0.001))
    )
    assert "16 items, TF-IDF ahead (Δ macro-F1 -0.100, 95% CI -0.150 to -0.050" in flipped


def test_no_separation_reads_not_reached_and_an_untested_size_says_so():
    tests = _tests(("lora_n64", "tfidf_n64", 0.05, -0.01, 0.11, 0.2))
    text = crossing_sentence(_curve_results(), {"comparisons": tests.to_dict("records")})
    assert text.startswith("LoRA's separation ahead of TF-IDF on the same items: not reached.")
    assert "16 items, not tested; 64 items, not separated" in text
    untested = crossing_sentence(
        _curve_results(), _tests(("lora_n64", "tfidf_n64", 0.2, 0.1, 0.3, 0.001))
    )
    assert untested.startswith("LoRA is first separated ahead of TF-IDF on the same items at 64")
    assert "16 items, not tested; 64 items, LoRA ahead" in untested


def test_the_crossing_reports_a_reversal_not_the_first_size_separated():
    tests = _tests(
        ("lora_n16", "tfidf_n16", -0.12, -0.2, -0.04, 0.004),
        ("lora_n64", "tfidf_n64", 0.15, 0.08, 0.22, 0.002),
    )
    text = crossing_sentence(_curve_results(), tests)
    assert text.startswith(
        "LoRA is first separated ahead of TF-IDF on the same items at 64 items. The lead changes "
        "hands: TF-IDF ahead at 16 items, LoRA ahead at 64 items."
    )


def test_the_sentence_reads_the_records_confidence():
    tests = _tests(("lora_n64", "tfidf_n64", 0.15, 0.08, 0.22, 0.02))
    record = {"comparisons": tests.to_dict("records"), "confidence": 0.99}
    assert "not reached" in crossing_sentence(_curve_results(), record)
    assert "not reached" not in crossing_sentence(_curve_results(), tests)


def test_without_paired_tests_the_crossing_reads_the_intervals_and_says_so():
    text = crossing_sentence(_curve_results(), None)
    assert text.startswith("No paired test is available")
    assert "first separated ahead of TF-IDF on the same items at 64 items" in text  # [.86,.94]
    assert "64 items, LoRA ahead (LoRA 0.900 [0.860, 0.940], TF-IDF 0.750 [0.700, 0.800])" in text
    results = _curve_results()
    results.loc[results["method"] == "lora_n64", "macro_f1_low"] = 0.79
    assert "not reached" in crossing_sentence(results, None)


def test_tables_read_back_from_csv_say_the_same(tmp_path):
    """read_csv turns sizes "16", "64" into numbers (16.0 beside an untrained row's NaN)."""
    results, selection = _curve_results(), _selection(sizes=("16", "64"))
    results = results[results["train_size"] != "all"]
    results.to_csv(tmp_path / "results.csv", index=False)
    selection.to_csv(tmp_path / "selection.csv", index=False)
    read = pd.read_csv(tmp_path / "results.csv")
    assert read["train_size"].dtype == float
    tests = _tests(("lora_n64", "tfidf_n64", 0.15, 0.08, 0.22, 0.002))
    assert crossing_sentence(read, tests) == crossing_sentence(results, tests)
    assert "at 64 items" in crossing_sentence(read, tests)
    again = pd.read_csv(tmp_path / "selection.csv")
    assert lr_ratio_sentence(again) == lr_ratio_sentence(selection)
    assert [ax.get_title() for ax in sweep_heatmaps(again).axes] == ["16 items", "64 items"]
