import pandas as pd
import pytest

from loralab.config import build_config
from loralab.data.eda import eda_step
from loralab.data.splits import read_split, split_step
from loralab.evaluate.step import evaluate_step
from loralab.layout import RunPaths
from loralab.report.error_analysis import wrong_items
from loralab.report.tables import stats_table
from loralab.stats.step import statistics_step
from loralab.train.loop import train_trial
from loralab.train.trials import Trial, trial_of, trial_parameters, trials


def test_a_trial_is_a_rank_on_a_fold_with_a_seed(tiny_config):
    cfg = tiny_config(**{"split.folds": 2, "train.seeds": [1, 2]})
    found = trials(cfg)
    assert len(found) == 2 * 2 * 2 and found[0] == Trial(fold=0, rank=2, seed=1, lr=1e-2)
    assert [t.id for t in found[:4]] == ["r2-f0-s1", "r4-f0-s1", "r2-f0-s2", "r4-f0-s2"]
    assert trial_of(cfg) == found[0] and trial_of(cfg, "r4-f1-s2") == Trial(1, 4, 2, 1e-2)
    assert trial_parameters(found[1]) == {"trial_id": "r4-f0-s1"}
    assert {t.method for t in found} == {"lora_r2", "lora_r4"}
    with pytest.raises(ValueError, match="not one of this study's 8 trials"):
        trial_of(cfg, "r8-f0-s1")


def test_the_grid_names_every_axis_with_several_values(tiny_config):
    cfg = tiny_config(
        **{
            "lora.ranks": [2],
            "lora.variants": ["lora", "rslora"],
            "train.lrs": [1e-3, 1e-2],
            "train.train_sizes": [8, None],
            "train.full_finetune": True,
            "train.full_lrs": [1e-5],
        }
    )
    found = trials(cfg)
    lora = [t for t in found if not t.full]
    full = [t for t in found if t.full]
    assert len(lora) == 2 * 2 * 2 and len(full) == 2  # variants x lrs x sizes; full per size
    ids = [t.id for t in found]
    assert len(set(ids)) == len(ids)
    assert "rslora-r2-lr0.001-n8-f0-s42" in ids and "full-nall-f0-s42" in ids
    assert [t.size for t in found[:5]] == ["8"] * 5  # size by size, the smaller first
    assert {t.method for t in full} == {"full_n8", "full_nall"}
    assert trial_of(cfg, "lora-r2-lr0.01-nall-f0-s42").items is None


def test_a_smaller_training_size_is_a_subset_of_a_larger_one(make_rows):
    from loralab.data.training_items import training_items

    frame = pd.DataFrame(make_rows(per_class=30)).assign(id=lambda f: f["id"].astype(str))
    small, large = (set(training_items(frame, n, seed=7)["id"]) for n in (10, 30))
    assert len(small) == 10 and len(large) == 30 and small < large
    assert training_items(frame, 10, seed=7)["label"].value_counts().tolist() == [5, 5]
    assert set(training_items(frame, 10, seed=8)["id"]) != small  # the seed draws them
    assert training_items(frame, None, seed=7) is frame


def _trained(tmp_path, cfg):
    """A run folder with the data and split steps done and every trial of `cfg` trained."""
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    split_step(cfg, run)
    for trial in trials(cfg):
        train_trial(cfg, run, trial, log=lambda _: None)
    return cfg, run


def test_cross_validation_tests_every_item_once_and_each_fold_selects_its_rank(
    tmp_path, tiny_config, make_rows, write_table
):
    """A tiny study in 2 folds, one rank trained with 2 seeds per fold."""
    cfg, run = _trained(
        tmp_path,
        tiny_config(
            **{
                "data.path": str(write_table(make_rows(per_class=15))),
                "split.folds": 2,
                "lora.ranks": [2],
                "train.seeds": [1, 2],
                "train.epochs": 1,
                "stats.bootstrap_resamples": 200,
            }
        ),
    )
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
    trials_csv = pd.read_csv(run.trials_table)
    assert len(trials_csv) == 4 and trials_csv["test_macro_f1"].between(0, 1).all()
    draws = pd.read_csv(run.draw_predictions)
    assert len(draws[draws["method"] == "lora_r2"]) == 2 * 30
    assert 0 <= lora["draw_macro_f1_mean"] <= 1
    assert set(run.trained_trials()) == {t.id for t in trials(cfg)}
    assert "lora_r2" in set(stats.tests["method"])

    # the evaluation notebook's error table reads the step's pooled test items: every fold's
    assert sorted(ev.test["id"]) == sorted(tested["id"]) and set(ev.test["fold"]) == {0, 1}
    errors = wrong_items(ev.paired, ev.test, ev.record.methods)
    assert len(errors) and errors["text"].notna().all()
    assert ev.record.lead == ev.selected_method and ev.record.lead in ev.confusion


def test_changing_the_test_labels_changes_no_choice(tmp_path, tiny_config, make_rows, write_table):
    """Selection reads validation only: the same trials evaluated against other test labels
    (every item relabelled A) score differently on test and choose exactly as before."""
    import shutil

    cfg, run = _trained(
        tmp_path,
        tiny_config(
            **{
                "data.path": str(write_table(make_rows(per_class=15))),
                "lora.ranks": [2, 4],
                "train.lrs": [1e-3, 1e-2],
                "train.epochs": 1,
                "stats.bootstrap_resamples": 200,
            }
        ),
    )
    before = evaluate_step(cfg, run, log=lambda _: None)
    shuffled = RunPaths(shutil.copytree(run.root, tmp_path / "shuffled"))
    test = read_split(shuffled, "test", 0)
    test["label"] = "A"
    test.to_json(shuffled.split_file("test", 0), orient="records", lines=True)
    after = evaluate_step(cfg, shuffled, log=lambda _: None)
    assert after.selection.equals(before.selection)
    assert after.selected_method == before.selected_method
    a, b = (pd.read_csv(r.trials_table) for r in (run, shuffled))
    assert a["selected"].equals(b["selected"]) and not a["test_macro_f1"].equals(b["test_macro_f1"])


def test_only_the_chosen_configurations_are_scored_on_test_unless_every_candidate_is(
    tmp_path, tiny_config, make_rows, write_table
):
    """Two ranks in two folds. By default each fold scores on test only the rank it chose; with
    evaluation.test_candidates both, and the chosen rows are the same either way."""
    import shutil

    fields = {
        "data.path": str(write_table(make_rows(per_class=15))),
        "split.folds": 2,
        "lora.ranks": [2, 4],
        "train.lrs": [1e-2],
        "train.epochs": 1,
        "stats.bootstrap_resamples": 200,
    }
    cfg, run = _trained(tmp_path, tiny_config(**fields))
    every_run = RunPaths(shutil.copytree(run.root, tmp_path / "every"))
    chosen = evaluate_step(cfg, run, log=lambda _: None)
    every = evaluate_step(
        tiny_config(**fields, **{"evaluation.test_candidates": True}), every_run, log=lambda _: None
    )

    trained = chosen.results[chosen.results["kind"] == "lora"]
    assert trained["selected"].all() and "candidate" not in set(chosen.results["role"])
    one_rank = chosen.selected_method in ("lora_r2", "lora_r4")  # else a chosen-per-fold row
    assert len(every.results[every.results["role"] == "candidate"]) == (1 if one_rank else 2)
    for method in trained["method"]:
        assert chosen.paired[f"pred_{method}"].equals(every.paired[f"pred_{method}"])
    table = pd.read_csv(run.trials_table)
    assert table["test_macro_f1"].notna().eq(table["selected"]).all()
    assert pd.read_csv(every_run.trials_table)["test_macro_f1"].notna().all()
    assert chosen.selection.equals(every.selection)


def test_full_fine_tuning_is_scored_on_test_only_where_validation_chose_it(
    tmp_path, tiny_config, make_rows, write_table
):
    """Full fine-tuning at two learning rates, two seeds each: training scores nothing on test;
    evaluation scores every seed of the learning rate validation chose, from the saved weights,
    exactly as the trained model scores, and deletes the other's weights. With
    evaluation.test_candidates every trial is scored and every weight kept."""
    import shutil

    import numpy as np

    from loralab.model.loading import load_base
    from loralab.model.scoring import score_documents

    fields = {
        "data.path": str(write_table(make_rows(per_class=15))),
        "lora.ranks": [2],
        "train.full_finetune": True,
        "train.full_lrs": [1e-3, 3e-2],
        "train.seeds": [1, 2],
        "train.epochs": 1,
        "stats.bootstrap_resamples": 200,
    }
    cfg = tiny_config(**fields)
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    split_step(cfg, run)
    trained = {t.id: train_trial(cfg, run, t, log=lambda _: None) for t in trials(cfg)}
    assert not list(run.root.glob("train/*/test_predictions.csv"))
    every_run = RunPaths(shutil.copytree(run.root, tmp_path / "every"))
    evaluate_step(cfg, run, log=lambda _: None)
    cfg_every = tiny_config(**fields, **{"evaluation.test_candidates": True})
    evaluate_step(cfg_every, every_run, log=lambda _: None)

    table = pd.read_csv(run.trials_table).query("method == 'full'")
    assert len(table) == 4 and table["selected"].sum() == 2
    assert table["test_macro_f1"].notna().eq(table["selected"]).all()
    for trial, chosen in zip(table["trial"], table["selected"], strict=True):
        assert run.full_weights(trial).is_file() == chosen
        assert every_run.full_weights(trial).is_file()
    assert pd.read_csv(every_run.trials_table)["test_macro_f1"].notna().all()

    base = load_base(cfg)
    texts = read_split(run, "test", 0)["text"].tolist()
    chosen = [trial_of(cfg, t) for t in table.loc[table["selected"], "trial"]]
    method = chosen[0].method
    e = cfg.evaluation
    direct = [
        score_documents(
            trained[t.id].model,
            base.builder,
            base.view,
            texts,
            e.chunk_aggregate,
            base.precision,
            e.batch_size,
        )
        for t in chosen
    ]
    draws = pd.read_csv(run.draw_predictions).query("method == @method")
    for draw, scores in enumerate(direct):  # every seed, in trial order
        assert draws[draws["draw"] == draw]["prediction"].tolist() == scores.predictions
    picked = [base.builder.labels.index(p) for p in direct[0].predictions]
    np.testing.assert_allclose(
        pd.read_csv(run.paired_predictions)[f"score_{method}"],
        direct[0].label_scores[np.arange(len(picked)), picked],
        rtol=1e-5,
    )


def test_repeated_cross_validation_trains_each_repeat_and_tests_over_repeats(
    tmp_path, tiny_config, make_rows, write_table
):
    """2 folds x 2 repeats of one rank: four trials, the paired items tested once (repeat 0),
    each repeat's predictions a draw of the row, and the corrected t-test over the four folds."""
    cfg, run = _trained(
        tmp_path,
        tiny_config(
            **{
                "data.path": str(write_table(make_rows(per_class=15))),
                "split.folds": 2,
                "split.repeats": 2,
                "lora.ranks": [2],
                "train.epochs": 1,
                "stats.bootstrap_resamples": 200,
            }
        ),
    )
    assert [t.id for t in trials(cfg)] == ["r2-f0-s42", "r2-f1-s42", "r2-f2-s42", "r2-f3-s42"]
    ev = evaluate_step(cfg, run, log=lambda _: None)
    stats = statistics_step(cfg, run)

    assert len(ev.paired) == len(set(ev.paired["id"])) == 30 and set(ev.test["fold"]) == {0, 1}
    lora = ev.results.set_index("method").loc["lora_r2"]
    assert lora["draws"] == 2 and lora["n_test"] == 30
    draws = pd.read_csv(run.draw_predictions, dtype={"id": str})
    first = draws[(draws["method"] == "lora_r2") & (draws["draw"] == 0)]
    assert first["prediction"].tolist() == ev.paired["pred_lora_r2"].tolist()
    folds = pd.read_csv(run.fold_results)
    pairs = set(zip(folds["fold"], folds["repeat"], strict=True))
    assert sorted(pairs) == [(0, 0), (1, 0), (2, 1), (3, 1)]
    assert ev.record.repeats == 2
    tests = stats.tests.set_index(["method", "baseline"])
    assert tests.loc[("lora_r2", "zero_shot"), "cv_df"] == 3
    assert 0 <= tests.loc[("lora_r2", "zero_shot"), "cv_p"] <= 1
    shown, note = stats_table(stats.record)
    assert "Repeated-CV t-test" in note and '"over S trained models"' in note
    delta = shown.set_index("comparison").filter(like="Δ macro-F1").iloc[:, 0]
    assert delta["LoRA r=2 vs Zero-shot"].endswith("(over 2 trained models)")
    assert len(pd.read_csv(run.trials_table)) == 4


def test_each_repeat_draws_its_own_training_items_and_tfidf_gets_loras(make_rows, monkeypatch):
    """Repeat 0 keeps split.seed's items (the default study's predictions do not change);
    repeat r draws them with seed + r, nested by size within the repeat; TF-IDF at a size is
    fitted on the items training.train_trial gives LoRA at that fold."""
    from types import SimpleNamespace

    from loralab.data.training_items import training_items
    from loralab.evaluate.methods import classic

    cfg = build_config({}, "test", {"split.folds": 2, "split.repeats": 2, "split.seed": 7})
    assert [cfg.split.items_seed(f) for f in range(cfg.split.runs)] == [7, 7, 8, 8]
    frame = pd.DataFrame(make_rows(per_class=30)).assign(id=lambda f: f["id"].astype(str))

    def drawn(fold, n):
        return set(training_items(frame, n, cfg.split.items_seed(fold))["id"])

    assert drawn(0, 10) == set(training_items(frame, 10, seed=7)["id"])
    assert drawn(2, 10) != drawn(0, 10) and drawn(2, 10) < drawn(2, 30)
    seen = []
    monkeypatch.setattr(classic, "training_items", lambda *args: seen.append(args[1:]) or 1 / 0)
    study = SimpleNamespace(cfg=cfg, fold=3, base=SimpleNamespace(view=None, builder=None))
    tfidf = classic.TfidfLogisticRegression.__new__(classic.TfidfLogisticRegression)
    tfidf.study, tfidf.size = study, 10
    with pytest.raises(ZeroDivisionError):
        tfidf.fit(frame, frame)
    assert seen == [(10, cfg.split.items_seed(3))]
