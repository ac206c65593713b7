from dataclasses import replace

import pandas as pd
import pytest

from loralab.evaluate.selection import trained_summaries
from loralab.formats import seconds
from loralab.records import EvaluationRecord, PrimaryDeclaration, StatTestsRecord
from loralab.report.tables import (
    COST_COLUMNS,
    format_cost,
    format_results,
    format_selection,
    format_stats,
    headline,
    html_table,
    render_template,
    stats_table,
    with_ci,
)

STATS_COLUMNS = ["comparison", "b / c", "McNemar p", "Δ macro-F1 [95% CI]", "bootstrap p"]


def _comparisons(run) -> pd.DataFrame:
    return StatTestsRecord.read(run.stat_tests).table


@pytest.mark.parametrize(
    "value, shown", [(1120.4, "1120"), (3.4164, "3.4"), (0.048, "0.0"), (123456.7, "123457")]
)
def test_seconds_read_as_people_read_them(value, shown):
    assert seconds(value) == shown


def test_seconds_never_give_scientific_notation():
    for value in (0.0, 1e-7, 0.05, 99.9, 100.0, 1e4, 1e7, 1.5e9):
        assert "e" not in seconds(value), value


def test_format_results_has_a_row_per_method_and_marks_the_selected_one(smoke_artifacts):
    table = pd.read_csv(smoke_artifacts().results)
    table.loc[table["method"] == "lora_r4", "train_time_s"] = 1120.4
    shown = format_results(table)
    assert list(shown.columns) == [
        "method",
        "train items",
        "macro-F1 [95% CI]",
        "accuracy [95% CI]",
        "predicted (Colon_Cancer / Lung_Cancer)",
        "macro-F1 over draws",
        "tuned on validation",
        "latency p50 / p95 (ms)",
        "trainable MB",
        "train time (s)",
    ]
    counts = table[["pred_n_Colon_Cancer", "pred_n_Lung_Cancer"]].sum(axis=1)
    assert (counts == table["n_test"]).all()
    few = table["method"] == "few_shot"
    assert shown.loc[few, "macro-F1 over draws"].item().endswith("(3)")
    assert len(shown) == len(table)
    marked = shown["method"].str.endswith(" (selected)")
    assert marked.sum() == 1
    assert shown.loc[marked, "method"].item() == table.loc[table["selected"], "name"].item() + (
        " (selected)"
    )
    assert shown["macro-F1 [95% CI]"].tolist() == [
        with_ci(r, "macro_f1") for _, r in table.iterrows()
    ]
    assert shown["train time (s)"].tolist()[-1] == "1120"


def test_format_stats_names_the_holm_columns_only_when_holm_was_applied(smoke_artifacts):
    table = _comparisons(smoke_artifacts())
    shown, note = format_stats(table, 0.95, 5000, 42)
    assert list(shown.columns) == [
        "comparison",
        "b / c",
        "McNemar p (Holm)",
        "Δ macro-F1 [95% CI]",
        "bootstrap p (Holm)",
        "detectable Δ accuracy (80% power)",
    ]
    assert len(shown) == len(table)
    assert f"Holm-adjusted across the {len(table)} comparisons" in note
    first = table.iloc[0]
    assert shown["McNemar p (Holm)"].iloc[0] == (
        f"{first['mcnemar_p']:.3g} ({first['mcnemar_p_holm']:.3g})"
    )
    assert shown["b / c"].iloc[0] == f"{first['mcnemar_b']} / {first['mcnemar_c']}"

    plain, note = format_stats(
        table.drop(columns=["mcnemar_p_holm", "bootstrap_p_holm"]), 0.95, 1, 0
    )
    assert list(plain.columns) == [*STATS_COLUMNS, "detectable Δ accuracy (80% power)"]
    assert plain["McNemar p"].iloc[0] == f"{first['mcnemar_p']:.3g}"
    assert "Holm" not in note

    empty, note = format_stats(pd.DataFrame(), 0.95, 1, 0)
    assert empty.empty and note.startswith("No comparisons")


def test_the_stats_table_uses_the_settings_recorded_in_stat_tests_json(smoke_artifacts):
    run = smoke_artifacts()
    tests = StatTestsRecord.read(run.stat_tests)
    shown, note = stats_table(tests)
    assert "Δ macro-F1 [95% CI]" in shown.columns and "B = 5000" in note and "seed 42" in note
    replace(tests, confidence=0.9, bootstrap_resamples=123, seed=7).write(run.stat_tests)
    shown, note = stats_table(StatTestsRecord.read(run.stat_tests))
    assert "Δ macro-F1 [90% CI]" in shown.columns
    assert "B = 123 paired resamples" in note and "seed 7." in note


def test_headline_is_none_before_evaluation_finished(smoke_artifacts):
    run = smoke_artifacts()
    run.results.unlink()
    assert headline(run) is None


def test_headline_leads_with_the_selected_configuration_against_the_baselines_of_their_roles(
    smoke_artifacts,
):
    run = smoke_artifacts()
    rows = pd.read_csv(run.results).set_index("method")
    record = EvaluationRecord.read(run.evaluation)
    lead = record.selected_method
    h = headline(run)
    assert h["lead"]["method"] == lead and h["lead"]["name"] == rows.loc[lead, "name"]
    assert h["lead"]["text"] == with_ci(rows.loc[lead], "macro_f1")
    roles = record.roles
    baselines = [m for m in rows.index if roles[m] in ("anchor", "headline")]
    assert {"zero_shot", "zero_shot_calibrated", "label_terms", "tfidf"} <= set(baselines)
    assert [o["method"] for o in h["others"]] == baselines
    assert [o["text"] for o in h["others"]] == [with_ci(rows.loc[m], "macro_f1") for m in baselines]
    tests = _comparisons(run).set_index(["method", "baseline"])
    primary = [v["baseline"] for v in h["versus"] if v["primary"]]
    assert primary == ["tfidf_all"]  # stats.primary's default, first whatever its outcome
    assert [v["baseline"] for v in h["versus"] if not v["primary"]] == [
        b for b in baselines if b not in primary
    ]
    close = rows[(rows["kind"] == "rule") & (rows["macro_f1"] >= rows.loc[lead, "macro_f1_low"])]
    assert [r["method"] for r in h["rules_competitive"]] == list(close.index)
    for v in [v for v in h["versus"] if not v["primary"]]:  # the primary's p is as it is
        c = tests.loc[(lead, v["baseline"])]
        assert (v["delta"], v["p"], v["b"], v["c"]) == (
            c["delta_macro_f1"],
            c["bootstrap_p_holm"],
            c["mcnemar_b"],
            c["mcnemar_c"],
        )
    assert h["adjusted"] and h["comparisons"] == len(tests)
    assert h["n_test"] == rows.loc[lead, "n_test"]
    assert h["cost"]["train_time_s"] == rows.loc[lead, "train_time_s"]
    assert h["cost"]["anchor"] == rows.loc["zero_shot", "name"]


def test_a_new_baseline_joins_the_headline_by_its_recorded_role(smoke_artifacts):
    run = smoke_artifacts()
    record = EvaluationRecord.read(run.evaluation)
    replace(record, roles=record.roles | {"few_shot": "headline"}).write(run.evaluation)
    assert "few_shot" in [o["method"] for o in headline(run)["others"]]


def test_the_headline_says_when_most_texts_were_cut_and_names_the_setting(smoke_artifacts):
    run = smoke_artifacts()
    record = EvaluationRecord.read(run.evaluation)
    read = replace(record.long_text, mode="truncate", texts=100, window_tokens=64)
    few = replace(read, texts_longer_than_one_window=10, median_tokens=50.0)
    replace(record, long_text=few).write(run.evaluation)
    assert headline(run)["reading"] == ""
    most = replace(read, texts_longer_than_one_window=88, median_tokens=256.0)
    replace(record, long_text=most).write(run.evaluation)
    note = headline(run)["reading"]
    assert "88 of 100 test texts (88%)" in note and "about 25% of it" in note
    assert "data.long_text: chunks" in note


def test_headline_without_statistics_or_a_selected_configuration(smoke_artifacts):
    run = smoke_artifacts()
    run.stat_tests.unlink()
    h = headline(run)
    assert h["versus"] == [] and not h["adjusted"]
    table = pd.read_csv(run.results).assign(selected=False)
    table.to_csv(run.results, index=False)
    record = EvaluationRecord.read(run.evaluation)
    replace(record, selected_method=None).write(run.evaluation)
    assert headline(run)["lead"]["method"] == table["method"].iloc[0]


def test_format_cost_has_short_headers_and_plain_numbers(smoke_artifacts):
    summaries = trained_summaries(smoke_artifacts())
    summaries[0] = replace(summaries[0], time_to_best_s=1120.4)
    shown = format_cost(summaries)
    assert list(shown.columns) == list(COST_COLUMNS.values())
    assert "time to best (s)" in shown.columns and "time_to_best_s" not in shown.columns
    assert shown["time to best (s)"].tolist()[0] == "1120"
    assert shown["trainable params"].tolist()[0] == f"{summaries[0].trainable_params:,}"
    assert not shown.astype(str).apply(lambda col: col.str.contains(r"\de[+-]\d")).any().any()


def test_html_table_and_templates_escape_dataset_text():
    html = html_table(pd.DataFrame({"text": ["<script>alert('x')</script>"]}))
    assert "&lt;script&gt;" in html and "<script>" not in html
    page = render_template("compare.html.j2", headlines="", differ="", runs=["<b>run</b>"])
    assert "&lt;b&gt;run&lt;/b&gt;" in page and "<b>run</b>" not in page


def test_the_selection_table_reads_per_fold_and_is_empty_when_nothing_was_chosen(smoke_artifacts):
    chosen = EvaluationRecord.read(smoke_artifacts().evaluation)
    shown = format_selection(chosen.selection)
    assert list(shown.columns)[:2] == ["rank", "selected"]  # one fold, size, lr: not shown
    assert (shown["selected"] == "yes").sum() == 1
    assert format_selection([]).empty


def _declare(run, method: str, baseline: str) -> dict:
    """stat_tests.json as the statistics step writes it with stats.primary = [method,
    baseline]: that comparison first, flagged; returns it."""
    tests = StatTestsRecord.read(run.stat_tests)
    rows = [
        c | {"primary": (c["method"], c["baseline"]) == (method, baseline)}
        for c in tests.comparisons
    ]
    rows.sort(key=lambda c: not c["primary"])
    declared = PrimaryDeclaration([method, baseline], [method, baseline])
    replace(tests, comparisons=rows, primary=declared).write(run.stat_tests)
    return rows[0]


def test_the_headline_leads_with_the_primary_comparison_whatever_its_outcome(smoke_artifacts):
    run = smoke_artifacts()
    lead = EvaluationRecord.read(run.evaluation).selected_method
    primary = _declare(run, lead, "tfidf_all")
    assert primary["bootstrap_p"] > 0.05  # not significant: it leads all the same
    h = headline(run)
    first, rest = h["versus"][0], h["versus"][1:]
    assert (first["method"], first["baseline"]) == (lead, "tfidf_all") and first["primary"]
    assert first["label"] == "primary (declared before the run)"
    assert first["p"] == primary["bootstrap_p"]  # declared: its p as it is
    assert first["mcnemar_p"] == primary["mcnemar_p"]
    assert rest and all(v["label"] == "Holm-adjusted" and not v["primary"] for v in rest)
    assert "tfidf_all" not in [v["baseline"] for v in rest]
    tests = _comparisons(run).set_index(["method", "baseline"])
    assert [v["p"] for v in rest] == [
        tests.loc[(lead, v["baseline"]), "bootstrap_p_holm"] for v in rest
    ]


def test_a_primary_comparison_against_another_baseline_still_leads(smoke_artifacts):
    run = smoke_artifacts()
    lead = EvaluationRecord.read(run.evaluation).selected_method
    _declare(run, lead, "zero_shot")
    first = headline(run)["versus"][0]
    assert (first["method"], first["baseline"], first["primary"]) == (lead, "zero_shot", True)


def test_format_stats_marks_the_primary_row_and_the_intervals_drawn_over_seeds(smoke_artifacts):
    run = smoke_artifacts()
    _declare(run, "lora_r4", "tfidf_all")
    tests = StatTestsRecord.read(run.stat_tests)
    table = tests.table.assign(draws_method=1, draws_baseline=1)
    table.loc[0, "draws_method"] = 3
    table.loc[1, ["draws_method", "draws_baseline"]] = [3, 5]
    table.loc[:1, "delta_ci_method"] = "percentile"
    shown, note = format_stats(table, 0.95, 5000, 42, 1, tests.primary)
    assert shown["comparison"].iloc[0].endswith(" (primary)")
    assert not shown["comparison"].iloc[1:].str.contains("primary").any()
    delta = shown["Δ macro-F1 [95% CI]"]
    assert delta.iloc[0].endswith("] (over 3 seeds)") and delta.iloc[1].endswith(
        "(over 3 / 5 draws)"
    )
    assert not delta.iloc[2:].str.contains("over").any()
    assert note.startswith('The row marked "(primary)" is the primary comparison, declared before')
    assert "stats.primary = [lora_r4, tfidf_all]" in note
    assert (
        "intervals include training variance over S seeds: each resample draws a seed, then items"
        in note
    )
    assert "the primary one included" in note
    plain, note = format_stats(
        table.drop(columns=["primary", "draws_method", "draws_baseline"]), 0.95, 5000, 42
    )
    assert "primary" not in note and "seeds" not in note
