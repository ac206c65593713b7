import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from loralab.artifacts import read_json, read_jsonl, write_jsonl
from loralab.config import build_config
from loralab.errors import ConfigError
from loralab.records import EvaluationRecord, StatTestsRecord
from loralab.report.tables import format_stats, stats_table
from loralab.roles import ANCHOR, BASELINE, CANDIDATE, HEADLINE, TRAINED
from loralab.stats.paired_tests import (
    five_by_two_cv_t_test,
    paired_bootstrap_delta,
    resample_weights,
)
from loralab.stats.step import item_folds, planned_comparisons, primary_comparison, statistics_step


def _stats_page(run) -> str:
    """The statistics table and its note as the report renders them."""
    shown, note = stats_table(StatTestsRecord.read(run.stat_tests))
    return shown.to_markdown(index=False) + "\n" + note


def test_statistics_cover_the_planned_comparisons_with_holm(evaluated):
    _, run, _, statistics = evaluated
    table, tests = statistics.tests, read_json(run.stat_tests)
    meta = EvaluationRecord.read(run.evaluation)
    primary = tuple(tests["primary"]["pair"])
    planned = planned_comparisons(meta.roles, meta.selected_method, primary)
    assert len(tests["comparisons"]) == len(table) == len(planned) >= 4
    assert list(zip(table["method"], table["baseline"], strict=True)) == planned
    assert table["primary"].tolist() == [True] + [False] * (len(table) - 1)
    assert (table["mcnemar_p_holm"] >= table["mcnemar_p"]).all()
    assert "b / c" in _stats_page(run)
    assert tests["folds"] == 1  # one stratum: the plain bootstrap


def test_each_comparison_records_its_ci_method_and_detectable_difference(evaluated):
    _, run, _, _ = evaluated
    tests = read_json(run.stat_tests)
    assert tests["power"]["power"] == 0.8 and "Connor" in tests["power"]["method"]
    for c in tests["comparisons"]:
        assert c["delta_ci_method"] in ("BCa", "percentile")
        assert c["discordant_rate"] == (c["mcnemar_b"] + c["mcnemar_c"]) / tests["n_test"]
        d = c["detectable_delta_80"]
        assert d is None or 0 < d <= c["discordant_rate"]  # null: none is detectable
    assert "detectable Δ accuracy (80% power)" in _stats_page(run)


def _row(**changes) -> dict:
    row = {
        "comparison": "LoRA r=8 vs Zero-shot",
        "mcnemar_b": 40,
        "mcnemar_c": 10,
        "mcnemar_p": 3.2e-5,
        "delta_macro_f1": 0.1,
        "delta_low": 0.05,
        "delta_high": 0.15,
        "delta_ci_method": "BCa",
        "bootstrap_p": 2 / 5001,
        "detectable_delta_80": 0.0431,
    }
    return row | changes


def test_format_stats_shows_the_floor_the_ci_method_and_the_detectable_difference():
    table = pd.DataFrame(
        [
            _row(),
            _row(
                mcnemar_b=0,
                mcnemar_c=0,
                mcnemar_p=1.0,
                delta_macro_f1=0.0,
                delta_low=0.0,
                delta_high=0.0,
                delta_ci_method="percentile",
                bootstrap_p=1.0,
                detectable_delta_80=np.nan,
            ),
        ]
    )
    shown, note = format_stats(table, 0.95, 5000, 42)
    assert shown["bootstrap p"].tolist() == ["≤ 0.0004", "1"]
    assert shown["Δ macro-F1 [95% CI]"].tolist() == [
        "+0.100 [+0.050, +0.150]",
        "+0.000 [+0.000, +0.000] (percentile)",
    ]
    assert shown["detectable Δ accuracy (80% power)"].tolist() == ["±0.043", "none"]
    assert "BCa" in note and "counted half to each side" in note and "≤ 0.0004" in note
    assert "80% power" in note and "α = 0.05" in note

    table["bootstrap_p_holm"] = [4 * 2 / 5001, 1.0]
    table["mcnemar_p_holm"] = table["mcnemar_p"]
    shown, _ = format_stats(table, 0.95, 5000, 42)
    assert shown["bootstrap p (Holm)"].tolist() == ["≤ 0.0004 (≤ 0.0016)", "1 (1)"]
    # an adjusted p equal to the raw one is still shown, so every row reads as adjusted
    assert shown["McNemar p (Holm)"].tolist() == ["3.2e-05 (3.2e-05)", "1 (1)"]
    few = table.drop(columns=["bootstrap_p_holm", "mcnemar_p_holm"]).assign(bootstrap_p=2 / 124)
    shown, _ = format_stats(few, 0.95, 123, 42)
    assert shown["bootstrap p"].iloc[0] == "≤ 0.017"  # 2/124 = 0.0161, rounded up


ROLES = {
    "zero_shot": ANCHOR,
    "few_shot": BASELINE,
    "tfidf": HEADLINE,
    "lora_r8": TRAINED,
    "lora_r16": TRAINED,
}


def test_planned_comparisons_pair_trained_with_the_anchor_and_selected_with_baselines():
    assert planned_comparisons(ROLES, "lora_r16") == [
        ("lora_r8", "zero_shot"),
        ("lora_r16", "zero_shot"),
        ("lora_r16", "few_shot"),
        ("lora_r16", "tfidf"),
    ]
    # a new method is compared by its role alone, whatever its id
    assert ("lora_r16", "my_rule") in planned_comparisons(ROLES | {"my_rule": BASELINE}, "lora_r16")


def test_ranks_chosen_per_fold_are_compared_with_every_baseline(smoke_artifacts):
    """Folds that chose different ranks report a pooled row of their own: the statistics step
    tests that row, the method the report leads with, against every baseline."""
    roles = {m: r for m, r in ROLES.items() if m != "few_shot"} | {"lora_selected": TRAINED}
    assert planned_comparisons(roles, "lora_selected") == [
        ("lora_r8", "zero_shot"),
        ("lora_r16", "zero_shot"),
        ("lora_selected", "zero_shot"),
        ("lora_selected", "tfidf"),
    ]
    run = smoke_artifacts()
    meta = EvaluationRecord.read(run.evaluation)
    paired = pd.read_csv(run.paired_predictions, dtype={"id": str})
    paired["pred_lora_selected"] = paired["pred_lora_r2"]
    paired.to_csv(run.paired_predictions, index=False)
    results = pd.read_csv(run.results)
    row = results[results["method"] == "lora_r2"].assign(method="lora_selected")
    pd.concat([results, row]).to_csv(run.results, index=False)
    names = meta.methods | {"lora_selected": "LoRA, rank chosen per fold (r=2, r=4)"}
    roles = meta.roles | {"lora_selected": TRAINED}
    replace(meta, methods=names, roles=roles, selected_method="lora_selected").write(run.evaluation)
    cfg = build_config({}, "test", {"stats.bootstrap_resamples": 200})
    table = statistics_step(cfg, run).tests
    baselines = [m for m, role in meta.roles.items() if role not in (TRAINED, "candidate")]
    assert set(table.loc[table["method"] == "lora_selected", "baseline"]) == set(baselines)


def test_the_bootstrap_is_stratified_by_the_fold_each_split_file_names(smoke_artifacts):
    """The smoke run's 12 test items dealt into 2 folds, every other item: the statistics step
    finds each paired item's fold by its id and resamples within folds."""
    run = smoke_artifacts()
    items = read_jsonl(run.split_file("test", 0))
    dealt = np.arange(len(items)) % 2
    for k in (0, 1):
        write_jsonl(run.split_file("test", k), items[dealt == k].to_dict("records"))
    replace(EvaluationRecord.read(run.evaluation), folds=2).write(run.evaluation)
    cfg = build_config({}, "test", {"stats.bootstrap_resamples": 1000})

    table = statistics_step(cfg, run).tests.iloc[0]
    paired = pd.read_csv(run.paired_predictions, dtype={"id": str})
    (folds,) = item_folds(run, paired["id"], 2)
    assert (folds == paired["id"].map(dict(zip(items["id"], dealt, strict=True)))).all()
    compared = [paired[f"pred_{table[m]}"] for m in ("method", "baseline")]
    labels = EvaluationRecord.read(run.evaluation).labels

    def delta(strata):
        w = resample_weights(len(paired), 1000, cfg.stats.seed, strata)
        d = paired_bootstrap_delta(paired["gold"], *compared, labels, w, cfg.stats.confidence)
        return d.low, d.high, d.p_value

    assert (table["delta_low"], table["delta_high"], table["bootstrap_p"]) == delta(folds)
    assert delta(folds) != delta(None)
    assert read_json(run.stat_tests)["folds"] == 2


def test_an_item_in_no_folds_test_split_is_refused(smoke_artifacts):
    run = smoke_artifacts()
    ids = pd.Series(["pmid:401049", "pmid:0"])
    with pytest.raises(ValueError, match="1 paired items are in no fold's test split"):
        item_folds(run, ids, 1)


def test_the_primary_comparison_comes_first_once_and_candidates_are_not_tested():
    roles = ROLES | {"tfidf_all": HEADLINE, "lora_r32": CANDIDATE}
    rest = planned_comparisons(roles, "lora_r16")
    pairs = planned_comparisons(roles, "lora_r16", ("lora_r16", "tfidf_all"))
    assert pairs == [("lora_r16", "tfidf_all")] + [p for p in rest if p != pairs[0]]
    assert not any("lora_r32" in pair for pair in pairs)
    # a primary pair that no role would test leads all the same
    assert planned_comparisons(roles, "lora_r16", ("lora_r32", "tfidf"))[0] == ("lora_r32", "tfidf")


def _results(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["method", "name", "kind", "train_items"])


RESULTS = _results(
    ("zero_shot", "Zero-shot", "prompting", 0),
    ("tfidf", "TF-IDF (64 items)", "classic", 64),
    ("tfidf_all", "TF-IDF (all 207 items)", "classic", 207),
    ("lora_r8", "LoRA r=8", "lora", 64),
)


def test_stats_primary_names_results_ids_with_selected_for_the_lead():
    assert primary_comparison(["selected", "tfidf_all"], "lora_r8", RESULTS) == (
        ("lora_r8", "tfidf_all"),
        "",
    )
    assert primary_comparison(["tfidf", "zero_shot"], "lora_r8", RESULTS)[0] == (
        "tfidf",
        "zero_shot",
    )


@pytest.mark.parametrize(
    "primary, selected, missing",
    [
        (["selected", "nope"], "lora_r8", "no method 'nope'"),
        (["lora_r16", "tfidf"], "lora_r8", "no method 'lora_r16'"),
        (["selected", "tfidf"], None, "no selected method"),
    ],
)
def test_a_primary_method_the_run_lacks_fails_naming_it_and_the_ids(primary, selected, missing):
    with pytest.raises(ConfigError) as exc:
        primary_comparison(primary, selected, RESULTS)
    message = str(exc.value)
    assert message.startswith(f"stats.primary = {primary}") and missing in message
    assert "its methods: zero_shot, tfidf, tfidf_all, lora_r8" in message


def test_tfidf_all_absent_because_lora_saw_every_item_falls_back_to_tfidf_on_those_items():
    every = _results(
        ("zero_shot", "Zero-shot", "prompting", 0),
        ("tfidf", "TF-IDF (207 items)", "classic", 207),
        ("lora_r8", "LoRA r=8", "lora", 207),
    )
    pair, note = primary_comparison(["selected", "tfidf_all"], "lora_r8", every)
    assert pair == ("lora_r8", "tfidf")
    assert "tfidf_all, which this run lacks" in note and "TF-IDF (207 items)" in note
    fewer = every.assign(train_items=[0, 207, 64])  # tfidf_all is missing for another reason
    with pytest.raises(ConfigError, match="no method 'tfidf_all'"):
        primary_comparison(["selected", "tfidf_all"], "lora_r8", fewer)


def _seed_draws(run, method: str, accuracies) -> None:
    """draw_predictions.csv as evaluation writes it: the method's seeds, the first its row."""
    paired = pd.read_csv(run.paired_predictions, dtype={"id": str})
    gold, labels = paired["gold"].to_numpy(), EvaluationRecord.read(run.evaluation).labels
    rng = np.random.default_rng(0)
    draws = [paired[f"pred_{method}"].to_numpy()] + [
        np.where(rng.random(len(gold)) < a, gold, np.where(gold == labels[0], *labels[::-1]))
        for a in accuracies
    ]
    pd.concat(
        pd.DataFrame({"id": paired["id"], "method": method, "draw": k, "prediction": d})
        for k, d in enumerate(draws)
    ).to_csv(run.draw_predictions, index=False)


def test_statistics_lead_with_the_primary_and_draw_a_seed_then_items(smoke_artifacts):
    run = smoke_artifacts()
    cfg = build_config({}, "test", {"stats.bootstrap_resamples": 500})
    before = statistics_step(cfg, run).tests.set_index(["method", "baseline"])
    lead = EvaluationRecord.read(run.evaluation).selected_method
    _seed_draws(run, lead, [0.2, 1.0])
    stats = statistics_step(cfg, run)
    table = stats.tests.set_index(["method", "baseline"])
    assert table.index[0] == (lead, "tfidf_all") and table["primary"].tolist()[0]
    assert table["primary"].sum() == 1
    assert read_json(run.stat_tests)["primary"]["pair"] == [lead, "tfidf_all"]
    drawn = table.index.get_level_values("method") == lead
    assert (table.loc[drawn, "draws_method"] == 3).all()
    assert (table.loc[~drawn, "draws_method"] == 1).all()
    width = table["delta_high"] - table["delta_low"]
    old = before["delta_high"] - before["delta_low"]
    assert (width[drawn] > old[drawn]).all()
    assert (table.loc[~drawn, "delta_low"] == before.loc[~drawn, "delta_low"]).all()
    note = stats_table(stats.record)[1]
    assert "training variance over S seeds: each resample draws a seed, then items" in note
    assert "(over 3 seeds)" in _stats_page(run)


def test_a_declared_primary_the_run_lacks_fails_the_statistics_step(smoke_artifacts):
    run = smoke_artifacts()
    cfg = build_config({}, "test", {"stats.primary": ["selected", "lora_r64"]})
    with pytest.raises(ConfigError, match="stats.primary.*no method 'lora_r64'.*its methods"):
        statistics_step(cfg, run)
    with pytest.raises(ConfigError, match="compares tfidf with itself"):
        build_config({}, "test", {"stats.primary": ["tfidf", "tfidf"]})


def _cv_run(tmp_path, differences, n_train=200):
    """A run folder of 5 repeats x 2 folds of 60 test items each and n_train + 20 val items per
    fold, whose fold_results.csv gives LoRA minus TF-IDF the per-fold `differences`."""
    from loralab.artifacts import write_csv
    from loralab.layout import RunPaths

    run = RunPaths(tmp_path / "run")
    for k in range(10):
        for name, n in (("train", n_train), ("val", 20), ("test", 60)):
            rows = [{"id": f"{name}{k}-{i}", "text": "t", "label": "A"} for i in range(n)]
            write_jsonl(run.split_file(name, k), rows)
    rows = [
        {"method": m, "fold": k, "macro_f1": 0.5 + (d if m == "lora" else 0.0)}
        for k, d in enumerate(np.ravel(differences))
        for m in ("lora", "tfidf", "zero_shot")
    ]
    write_csv(run.fold_results, pd.DataFrame(rows))
    results = pd.DataFrame({"method": ["lora", "tfidf", "zero_shot"], "train_items": [64, 200, 0]})
    return run, results


def test_the_corrected_t_test_divides_by_the_items_the_learner_trained_on(tmp_path):
    """LoRA trained on 64 of a fold's 220 train + val items: n_test / n_train = 60 / 64, not
    60 / 220; a pair of untrained methods keeps the pool."""
    from loralab.stats.step import repeated_cv_tests

    differences = np.random.default_rng(0).normal(0.02, 0.03, size=(5, 2))
    run, results = _cv_run(tmp_path, differences)
    pairs = [("lora", "zero_shot"), ("zero_shot", "tfidf"), ("zero_shot", "zero_shot")]
    table = repeated_cv_tests(run, pairs, 2, 5, results)
    assert table["cv_test_to_train"].tolist() == pytest.approx([60 / 64, 60 / 200, 60 / 220])
    d = differences.ravel()
    expected = d.mean() / np.sqrt((1 / 10 + 60 / 64) * d.var(ddof=1))
    assert table.loc[0, "cv_t"] == pytest.approx(expected)


def test_the_5x2cv_t_test_is_mlxtends_on_the_same_fold_differences(tmp_path):
    """mlxtend's paired_ttest_5x2cv fits its estimators itself: here each 'estimator' hands out
    scripted scores, fold by fold, so both compute on the same per-fold differences."""
    mlxtend = pytest.importorskip("mlxtend.evaluate")
    from loralab.stats.step import repeated_cv_tests

    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.6, 0.9, size=(5, 2)), rng.uniform(0.6, 0.9, size=(5, 2))

    class Scripted:
        def __init__(self, scores):
            self.scores = iter(np.ravel(scores))

        def fit(self, x, y):
            return self

    x, y = np.zeros((10, 1)), np.arange(10) % 2
    t_stat, p = mlxtend.paired_ttest_5x2cv(
        Scripted(a), Scripted(b), x, y, scoring=lambda est, _x, _y: next(est.scores)
    )
    ours = five_by_two_cv_t_test(a - b)
    assert (ours.statistic, ours.p_value, ours.df) == (pytest.approx(t_stat), pytest.approx(p), 5)
    run, results = _cv_run(tmp_path, a - b)
    table = repeated_cv_tests(run, [("lora", "tfidf")], 2, 5, results)
    assert table.loc[0, "cv52_t"] == pytest.approx(t_stat)
    assert "cv52_t" not in repeated_cv_tests(run, [("lora", "tfidf")], 5, 2, results)
    with pytest.raises(ValueError, match="2 folds per repeat"):
        five_by_two_cv_t_test(np.zeros((2, 5)))
    shown, note = format_stats(pd.DataFrame([_row() | table.iloc[0].to_dict()]), 0.95, 5000, 42, 2)
    assert "5x2cv t-test p" in shown and "Dietterich" in note
    assert "n_test / n_train = 0.94" in note


def test_the_default_primary_comparison_says_it_was_chosen_after_a_result(evaluated):
    """stats.primary's default was set after a run had shown its pair; a params file's own
    declaration carries no such note. The record and the index page's headline say which."""
    from loralab.report.tables import headline
    from loralab.stats.step import primary_caveat

    assert "after a run of the default study" in primary_caveat(["selected", "tfidf_all"])
    assert primary_caveat(["selected", "tfidf_n64"]) == ""
    _, run, _, _ = evaluated
    recorded = json.loads(run.stat_tests.read_text())["primary"]
    assert recorded["caveat"] == primary_caveat(recorded["declared"])
    assert headline(run)["primary_caveat"] == recorded["caveat"]
