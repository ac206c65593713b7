import pandas as pd
import pytest

from loralab.eda import eda_step
from loralab.error_analysis import wrong_items
from loralab.evaluation import evaluate_step
from loralab.layout import RunPaths
from loralab.splits import read_split, split_step
from loralab.stats import statistics_step
from loralab.training import train_trial
from loralab.trials import Trial, trial_of, trial_parameters, trials


def test_a_trial_is_a_rank_on_a_fold_with_a_seed(tiny_config):
    cfg = tiny_config(**{"split.folds": 2, "train.seeds": [1, 2]})
    found = trials(cfg)
    assert len(found) == 2 * 2 * 2 and found[0] == Trial(fold=0, rank=2, seed=1)
    assert Trial.parse("r16-f2-s7") == Trial(2, 16, 7) and Trial(2, 16, 7).id == "r16-f2-s7"
    assert trial_of(cfg) == Trial(0, 2, 1)
    assert trial_parameters(cfg, Trial(1, 4, 2)) == {"rank": 4, "fold": 1, "seed": 2}
    assert trial_parameters(tiny_config(), trial_of(tiny_config())) == {"rank": 2}
    with pytest.raises(ValueError, match="trial id"):
        Trial.parse("r8")


def test_cross_validation_tests_every_item_once_and_each_fold_selects_its_rank(
    tmp_path, tiny_config, make_rows, write_table
):
    """A tiny study in 2 folds, one rank trained with 2 seeds per fold."""
    cfg = tiny_config(
        **{
            "data.path": str(write_table(make_rows(per_class=15))),
            "split.folds": 2,
            "lora.ranks": [2],
            "train.seeds": [1, 2],
            "train.epochs": 1,
            "stats.bootstrap_resamples": 200,
        }
    )
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    split_step(cfg, run)
    for trial in trials(cfg):
        train_trial(cfg, run, trial, log=lambda _: None)
    ev = evaluate_step(cfg, run, log=lambda _: None)
    stats = statistics_step(cfg, run)

    tested = pd.concat([read_split(run, "test", k) for k in range(2)])
    assert sorted(ev.paired["id"]) == sorted(tested["id"]) and len(set(ev.paired["id"])) == 30
    assert (ev.results["n_test"] == 30).all()
    folds = pd.read_csv(run.fold_results)
    assert set(folds["fold"]) == {0, 1}
    assert folds.groupby("method")["n_test"].sum().eq(30).all()
    assert ev.results["fold_macro_f1_sd"].notna().all()

    assert set(ev.selection["fold"]) == {0, 1}
    lora = ev.results.set_index("method").loc["lora_r2"]
    assert lora["selected"] and lora["draws"] == 2
    assert 0 <= lora["draw_macro_f1_mean"] <= 1
    assert set(run.trained_trials()) == {t.id for t in trials(cfg)}
    assert "lora_r2" in set(stats.tests["method"])

    # the evaluation notebook's error table reads the step's pooled test items: every fold's
    assert sorted(ev.test["id"]) == sorted(tested["id"]) and set(ev.test["fold"]) == {0, 1}
    errors = wrong_items(ev.paired, ev.test, ev.record["methods"])
    assert len(errors) and errors["text"].notna().all()
    assert ev.lead == ev.selected_method and ev.lead in ev.confusion
