"""End to end: params/sweep-smoke.yaml, the trial grid at smoke size, through the runner.

The notebooks, the runner and the params file are the real ones; the model is the tiny
in-process one (`--set model.name_or_path`), so 20 trials fit the suite; the run is conftest's
`sweep`, which test_tracking reads too. The same run on the embedded model is measured in
docs/benchmarks/sweep.md.
"""

import pandas as pd
import pytest

from loralab.data.training_items import training_items
from loralab.records import EvaluationRecord, StatTestsRecord

pytestmark = pytest.mark.slow


def test_every_trial_of_the_grid_is_a_row_of_trials_csv(sweep):
    run, _ = sweep
    trials = pd.read_csv(run.trials_table)
    assert len(trials) == 2 * 2 * 2 * 2 + 2 * 2  # LoRA: ranks x lrs x sizes x seeds; full
    columns = {"method", "variant", "rank", "lr", "train_items", "seed", "fold", "best_epoch"}
    columns |= {"val_loss", "val_label_loss", "val_macro_f1", "test_macro_f1", "train_time_s"}
    columns |= {"trainable_params"}
    assert columns <= set(trials.columns)
    assert trials["test_macro_f1"].between(0, 1).all()
    assert (trials["val_label_loss"] > 0).all()  # every trial, full fine-tuning's too
    full = trials[trials["method"] == "full"]
    assert (
        len(full) == 4 and (full["trainable_params"] > 10 * trials["trainable_params"].min()).all()
    )
    assert sorted(trials["train_items"].unique()) == [8, 16]


def test_each_size_and_method_selects_one_configuration_on_validation(sweep):
    run, _ = sweep
    selection = pd.read_csv(run.selection_table)
    per_choice = selection.groupby(["train_size", "method"])["selected"].sum()
    assert len(per_choice) == 4 and per_choice.eq(1).all()
    assert (selection["seeds"] == 2).all()  # every configuration averaged over both seeds
    chosen = selection[selection["selected"] & (selection["method"] == "lora")]
    for _, row in chosen.iterrows():
        rivals = selection[(selection["train_size"] == row["train_size"])]
        rivals = rivals[rivals["method"] == "lora"]
        # train.select_by's default: the label loss, ties within 1e-4 to the smaller rank
        assert row["val_label_loss"] <= rivals["val_label_loss"].min() + 1e-4


def test_the_results_hold_the_selected_full_fine_tuning_and_tfidf_per_size(sweep):
    run, _ = sweep
    results = pd.read_csv(run.results).set_index("method")
    record = EvaluationRecord.read(run.evaluation)
    chosen = {(c.kind, c.train_size): c.method for c in record.choices}
    assert set(chosen) == {("lora", "8"), ("lora", "16"), ("full", "8"), ("full", "16")}
    assert all(record.roles[m] == "trained" for m in chosen.values())
    assert results.loc[chosen[("full", "16")], "kind"] == "full"
    assert {"tfidf_n8", "tfidf_n16", "tfidf_all"} <= set(results.index)
    assert record.selected_method == chosen[("lora", "16")]
    candidates = [m for m, r in record.roles.items() if r == "candidate"]
    assert len(candidates) == 2 * 2 * 2 - 2  # LoRA configurations at both sizes, less chosen
    tests = StatTestsRecord.read(run.stat_tests).table
    assert tests.iloc[0]["primary"] and not set(tests["method"]) & set(candidates)
    pairs = set(zip(tests["method"], tests["baseline"], strict=True))
    assert (chosen[("lora", "8")], "tfidf_n8") in pairs


def test_the_smaller_size_trained_on_a_subset_of_the_larger(sweep):
    from loralab.data.splits import read_split

    run, _ = sweep
    train = read_split(run, "train", 0)
    small, large = (set(training_items(train, n, 42)["id"]) for n in (8, 16))
    assert small < large


def test_the_report_shows_the_sweep(sweep):
    run, index = sweep
    page = index.read_text(encoding="utf-8")
    assert "Full fine-tuning" in page and "Selected on validation" in page
    for figure in ("sweep_val_loss", "sweep_best_lr", "learning_curve"):
        assert (index.parent / "figures" / f"{figure}.png").is_file(), figure
