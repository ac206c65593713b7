"""The optimum learning rate: a parabola's vertex with a bootstrap interval, the grid's edge,
the ratio to full fine-tuning and grids that cannot give one."""

import math

import numpy as np
import pandas as pd
import pytest

from loralab.report.figures import lr_ratio_sentence
from loralab.stats.lr_optimum import criterion_column, lr_optima, parabola_vertex

LORA_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
FULL_GRID = (1e-5, 3e-5, 1e-4, 3e-4)


def _trials(noise=0.05, lora_at=-2.7, full_at=-4.3, lora=LORA_GRID, full=FULL_GRID, seed=1):
    """trials.csv rows (3 folds x 4 seeds) whose loss is a parabola in log10(lr) with its
    vertex at `lora_at` (LoRA, rank 8) and `full_at` (full fine-tuning), plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(3):
        for s in range(4):
            for method, rank, grid, at in (("lora", 8, lora, lora_at), ("full", 0, full, full_at)):
                for lr in grid:
                    loss = 0.3 + (math.log10(lr) - at) ** 2 + rng.normal(0, noise)
                    rows.append((method, method, rank, 64, fold, s, lr, loss))
    columns = ["method", "variant", "rank", "train_size", "fold", "seed", "lr", "val_loss"]
    return pd.DataFrame(rows, columns=columns).assign(selected=False)


def _lora(optima) -> pd.Series:
    return optima.table.set_index("method").loc["lora"]


def test_the_optimum_is_the_parabolas_vertex_and_its_interval_covers_it_narrowing_with_noise():
    noisy, quiet = (_lora(lr_optima(_trials(noise=n))) for n in (0.2, 0.02))
    for row in (noisy, quiet):
        assert row["low"] <= 10**-2.7 <= row["high"]
        assert row["grid_best"] == 3e-3 and not row["edge"]
    assert quiet["lr"] == pytest.approx(10**-2.7, rel=0.05)
    assert quiet["high"] / quiet["low"] < noisy["high"] / noisy["low"]
    assert quiet["units"] == 12  # folds x seeds


def test_grid_rates_not_separated_from_the_minimum_are_those_often_the_lowest():
    assert _lora(lr_optima(_trials(noise=0.01)))["plausible"] == (3e-3,)
    wide = _lora(lr_optima(_trials(noise=1.0, lora_at=-2.75)))["plausible"]
    assert {1e-3, 3e-3} <= set(wide)


def test_a_vertex_is_clipped_to_the_grid_and_a_concave_curve_keeps_its_grid_minimum():
    x = np.log10(np.array([1e-4, 1e-3, 1e-2]))
    assert parabola_vertex(x, np.array([[0.1, 0.5, 0.9]]))[0] == x[0]  # lowest at the edge
    assert parabola_vertex(x, np.array([[0.9, 0.8, 0.1]]))[0] == x[-1]
    concave = np.array([[0.5, 0.4, 0.5 - 0.2]])  # opens downward around its lowest point
    assert parabola_vertex(x, concave)[0] == x[-1]


@pytest.mark.parametrize("at", [-4.5, -1.5])
def test_a_minimum_at_either_end_of_the_grid_says_widen_it(at):
    trials = _trials(lora_at=at)
    assert _lora(lr_optima(trials))["edge"]
    text = lr_ratio_sentence(trials)
    assert "At r=8 the minimum is at the edge of the grid (1e-4 to 1e-2): widen it." in text
    assert "widen" not in lr_ratio_sentence(_trials())


def test_the_ratio_to_full_fine_tuning_has_an_interval_from_joint_draws():
    optima = lr_optima(_trials(noise=0.05))
    ratio, low, high = optima.ratio(("lora", "lora", 8, "64"), ("full", "full", 0, "64"))
    assert low <= 10**1.6 <= high and low < ratio < high
    text = lr_ratio_sentence(_trials(noise=0.05))
    assert f"LoRA (r=8, its best) over full: {ratio:.3g}x [{low:.3g}x, {high:.3g}x]." in text
    assert "by validation loss (64 items; 95% interval, bootstrap over 12 trials)" in text
    assert "overlap" not in text


def test_grids_that_do_not_overlap_cannot_test_the_ratio():
    trials = _trials(lora=(1e-4, 3e-4, 1e-3, 3e-3), full=(1e-5, 3e-5, 5e-5), full_at=-4.5)
    assert lr_ratio_sentence(trials).endswith(
        "The grids do not overlap (LoRA 1e-4 to 3e-3, full fine-tuning 1e-5 to 5e-5), so they "
        "cannot test the 10x claim: the grids must overlap."
    )


def test_the_criterion_is_the_label_loss_when_every_row_has_one():
    trials = _trials()
    assert criterion_column(trials) == "val_loss"
    labelled = trials.assign(val_label_loss=trials["val_loss"].rsub(2.0))  # lowest at the edges
    assert criterion_column(labelled) == "val_label_loss"
    assert criterion_column(labelled, "val_loss") == "val_loss"
    assert criterion_column(labelled.assign(val_label_loss=np.nan)) == "val_loss"  # older runs
    assert _lora(lr_optima(labelled))["edge"] and not _lora(lr_optima(labelled, "val_loss"))["edge"]
    assert "by validation label loss" in lr_ratio_sentence(labelled)


def _items(n_items=120, noise=0.3, at=-2.7, ranks=(2, 64), seed=3):
    """Per-item validation label losses of one fold and one seed: a parabola in log10(lr) plus
    an item effect shared by every configuration (the same items validate them all) and noise."""
    rng = np.random.default_rng(seed)
    item_effect = rng.normal(0, 0.5, n_items)
    rows = []
    for rank in ranks:
        for lr in LORA_GRID:
            loss = 0.3 + (math.log10(lr) - at) ** 2 + item_effect + rng.normal(0, noise, n_items)
            for i, value in enumerate(loss):
                rows.append(("lora", "lora", rank, lr, 64, 0, 42, f"i{i}", value))
    columns = ["method", "variant", "rank", "lr", "train_size", "fold", "seed", "id", "loss"]
    return pd.DataFrame(rows, columns=columns)


def _trial_means(items: pd.DataFrame) -> pd.DataFrame:
    keys = ["method", "variant", "rank", "lr", "train_size", "fold", "seed"]
    means = items.groupby(keys, as_index=False)["loss"].mean()
    return means.rename(columns={"loss": "val_label_loss"}).assign(selected=False)


def test_validation_items_give_an_interval_where_one_fold_and_one_seed_give_none():
    """With one trial per configuration a bootstrap over trials has nothing to resample; over
    validation items it holds their sampling error, and narrows with more items."""
    few, many = _items(n_items=40), _items(n_items=400)
    by_trials = lr_optima(_trial_means(few)).table
    assert (by_trials["low"] == by_trials["high"]).all()
    narrow, wide = (lr_optima(_trial_means(i), items=i) for i in (many, few))
    for optima in (narrow, wide):
        for row in optima.table.itertuples():
            assert row.low <= 10**-2.7 <= row.high and row.low < row.high
        assert "validation items" in optima.unit
    spread = [(o.table["high"] / o.table["low"]).max() for o in (narrow, wide)]
    assert spread[0] < spread[1]
    assert narrow.table["units"].iloc[0] == 400


def test_the_rank_ratio_is_about_one_where_the_optimum_does_not_move_and_small_where_it_falls():
    from loralab.stats.lr_optimum import optimum_ratios

    still = optimum_ratios(lr_optima(_trial_means(_items()), items=_items()))
    row = still.set_index("kind").loc["rank"]
    assert row["numerator"] == "lora r=64" and row["denominator"] == "lora r=2"
    assert row["low"] <= 1 <= row["high"]
    falls = pd.concat([_items(ranks=(2,)), _items(ranks=(64,), at=-3.5, seed=4)])
    row = optimum_ratios(lr_optima(_trial_means(falls), items=falls)).iloc[0]
    assert row["high"] < 1 and row["ratio"] == pytest.approx(10**-0.8, rel=0.3)
