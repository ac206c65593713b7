"""Figures: labels people can read."""

import matplotlib
import pandas as pd
import pytest

from loralab.figures import method_bars, number, text_color_on, validation_curves

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


def test_validation_curves_plot_the_measure_that_chooses_the_epoch_and_ring_its_choice():
    history = pd.DataFrame(
        {"epoch": [1, 2, 3], "val_loss": [0.9, 0.5, 0.7], "val_macro_f1": [0.5, 0.6, 0.8]}
    )
    fig = validation_curves({"r8-f0-s42": history}, by="val_loss")
    left, right = fig.axes
    assert left.get_ylabel() == "validation loss" and right.get_ylabel() == "validation macro-F1"
    ringed = [line for line in left.get_lines() if line.get_linestyle() == "None"]
    assert [tuple(line.get_xdata()) for line in ringed] == [(2,)]  # the lowest loss
    fig = validation_curves({"r8-f0-s42": history}, by="val_macro_f1")
    ringed = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "None"]
    assert fig.axes[0].get_ylabel() == "validation macro-F1" and ringed[0].get_xdata()[0] == 3
