"""The index page, rendered from a copy of a real smoke run's artifacts (tests/fixtures): every
expectation is computed from those artifacts, so the page can change without the slow suite."""

import html
import json
import re
from dataclasses import replace

import markupsafe
import pandas as pd
import pytest

from loralab.artifacts import read_json
from loralab.formats import plain_number
from loralab.layout import RunPaths
from loralab.records import EvaluationRecord, Provenance, StatTestsRecord
from loralab.report.bundle import write_report
from loralab.report.tables import (
    COST_COLUMNS,
    format_results,
    html_table,
    selection_note,
    stats_table,
    with_ci,
)
from loralab.run.runner import render_report
from loralab.run.steps import Step

# 1.12e+03, 5e-05: how Python prints a float that no formatter took care of
SCIENTIFIC = re.compile(r"\d[eE][+-]\d")


def text_of(page: str) -> str:
    """What a reader sees: tags out, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def between(page: str, start: str, end: str) -> str:
    i = page.index(start)
    return page[i : page.index(end, i + len(start))]


def recorded_steps(run: RunPaths) -> list[Step]:
    """The steps as run.json recorded them (how `loralab report` rebuilds them)."""
    fields = ("notebook", "title", "parameters", "status", "seconds", "error")
    return [Step(**{k: s.get(k) for k in fields}) for s in read_json(run.run_record)["steps"]]


@pytest.fixture
def render(tmp_path):
    """The index page of a run folder, as `loralab report` writes it."""

    def page(run: RunPaths) -> str:
        index = render_report(run.root, tmp_path / "reports")
        assert index == tmp_path / "reports" / run.run_id / "index.html"
        return index.read_text(encoding="utf-8")

    return page


def test_the_page_lists_every_recorded_step(smoke_artifacts, render):
    run = smoke_artifacts()
    page = render(run)
    assert '<span class="status complete">complete</span>' in page
    for step in read_json(run.run_record)["steps"]:
        assert f'<a href="{step["html"]}">{step["name"]}</a>' in page
        assert str(step["seconds"]) in page


def test_the_headline_names_the_selected_configuration_and_its_macro_f1_with_ci(
    smoke_artifacts, render
):
    run = smoke_artifacts()
    results = pd.read_csv(run.results).set_index("method")
    lead = results[results["selected"]].iloc[0]
    assert lead.name == EvaluationRecord.read(run.evaluation).selected_method
    shown = text_of(between(render(run), '<div class="headline">', "</div>"))
    assert f"{lead['name']} reaches a test macro-F1 of {with_ci(lead, 'macro_f1')}" in shown
    for baseline in ("zero_shot", "tfidf"):
        row = results.loc[baseline]
        assert f"{row['name']}: {with_ci(row, 'macro_f1')}" in shown
    assert f"({lead['n_test']} paired test items" in shown


def test_the_headline_leads_with_the_primary_comparison_then_the_holm_adjusted_ones(
    smoke_artifacts, render
):
    run = smoke_artifacts()
    tests = StatTestsRecord.read(run.stat_tests)
    rows = [
        c | {"primary": (c["method"], c["baseline"]) == ("lora_r4", "zero_shot")}
        for c in tests.comparisons
    ]
    rows.sort(key=lambda c: not c["primary"])
    replace(tests, comparisons=rows).write(run.stat_tests)
    shown = text_of(between(render(run), '<div class="headline">', "</div>"))
    lines = re.findall(r"(primary \(declared before the run\)|Holm-adjusted): ([^:]*):", shown)
    assert lines[0] == ("primary (declared before the run)", "versus Zero-shot")
    assert lines[1:] and all(label == "Holm-adjusted" for label, _ in lines[1:])
    assert "the primary comparison's are as they are" in shown


def test_the_results_and_statistics_tables_come_from_the_artifacts(smoke_artifacts, render):
    run = smoke_artifacts()
    page = render(run)
    results = pd.read_csv(run.results)
    stats, note = stats_table(StatTestsRecord.read(run.stat_tests))
    assert html_table(format_results(results)) in page
    assert html_table(stats) in page and str(markupsafe.escape(note)) in page
    shown = text_of(between(page, "Results on the test set", "Paired statistics"))
    for _, row in results.iterrows():
        assert with_ci(row, "macro_f1") in shown and with_ci(row, "accuracy") in shown
    shown = text_of(between(page, "Paired statistics", "<h2>Steps"))
    for c in StatTestsRecord.read(run.stat_tests).comparisons:
        assert c["comparison"] in shown and f"{c['delta_macro_f1']:+.3f}" in shown


def test_the_selected_configuration_and_rule_come_from_evaluation_json(smoke_artifacts, render):
    run = smoke_artifacts()
    chosen = EvaluationRecord.read(run.evaluation)
    chosen = replace(chosen, selection_rule="A rule <as written> by the evaluation step.")
    chosen.write(run.evaluation)
    page = render(run)
    rule = markupsafe.escape(chosen.selection_rule)
    assert f"{selection_note(chosen)} <em>Rule:</em> {rule}" in page
    best = pd.DataFrame(chosen.selection).query("selected").iloc[0]
    assert f"r={int(best['rank'])}, lr {plain_number(best['lr'])}" in selection_note(chosen)


def test_the_cost_table_has_short_headers(smoke_artifacts, render):
    run = smoke_artifacts()
    cost = between(render(run), "Cost per trial", "</table>")
    assert re.findall(r"<th>([^<]*)</th>", cost) == list(COST_COLUMNS.values())
    assert "<th>time to best (s)</th>" in cost and "time_to_best_s" not in cost


def test_no_number_on_the_page_is_in_scientific_notation(smoke_artifacts, render):
    run = smoke_artifacts()
    lead = EvaluationRecord.read(run.evaluation).selected_method  # lora_r<rank>
    trial = f"r{lead.removeprefix('lora_r')}-f0-s42"
    summary = read_json(run.train_summary(trial))
    summary.update(time_to_best_s=1120.4, train_time_s=1187.9)
    run.train_summary(trial).write_text(json.dumps(summary))
    results = pd.read_csv(run.results)
    results.loc[results["method"] == lead, "train_time_s"] = 1120.4
    results.to_csv(run.results, index=False)
    page = render(run)
    assert "e+0" not in page
    assert not SCIENTIFIC.search(text_of(between(page, "<body>", "<h2>Environment")))
    assert "<td>1120</td>" in between(page, "Cost per trial", "</table>")
    assert "<td>1120</td>" in between(page, "Results on the test set", "</table>")
    assert "1120 s of training" in text_of(between(page, '<div class="headline">', "</div>"))


def test_dataset_text_on_the_page_is_escaped(smoke_artifacts, render):
    run = smoke_artifacts()
    evil = "<script>alert('x')</script>"
    provenance = Provenance.read(run.provenance)
    labels = provenance.labels | {evil: 1}
    replace(provenance, labels=labels, source=f"{evil}.csv").write(run.provenance)
    steps = pd.read_csv(run.preprocess_steps, keep_default_na=False)
    steps.loc[1, "detail"] = f"{evil}: 16"
    steps.to_csv(run.preprocess_steps, index=False)
    counts = pd.read_csv(run.split_counts)
    counts.loc[0, "label"] = evil
    counts.to_csv(run.split_counts, index=False)
    page = render(run)
    assert "<script" not in page
    assert page.count("&lt;script&gt;") >= 4


def test_a_failed_step_marks_the_page_and_shows_its_error_escaped(smoke_artifacts, tmp_path):
    run = smoke_artifacts()
    steps = recorded_steps(run)
    steps[-1].status, steps[-1].error = "failed", "ValueError: <no> comparisons"
    page = write_report(run, tmp_path / "out", steps).read_text(encoding="utf-8")
    assert '<span class="status failed">failed</span>' in page
    assert '<div class="error">ValueError: &lt;no&gt; comparisons</div>' in page
