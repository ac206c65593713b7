import re

import pandas as pd
import pytest

from loralab.artifacts import read_json
from loralab.errors import ConfigError
from loralab.formats import seconds
from loralab.layout import RunPaths
from loralab.report.compare import compare_runs, write_comparison
from loralab.report.tables import with_ci
from loralab.run.cli import main


def set_lr(run: RunPaths, lr: str) -> None:
    text, n = re.subn(r"(?m)^  lrs:\n  - .*$", f"  lrs:\n  - {lr}", run.params.read_text())
    assert n == 1
    run.params.write_text(text)


@pytest.fixture
def two_runs(smoke_artifacts):
    """Two copies of the smoke run; the second trained with another learning rate."""
    a, b = smoke_artifacts("run-a"), smoke_artifacts("run-b")
    set_lr(b, "0.0002")
    return a, b


def test_compare_shows_the_param_that_differs_and_each_runs_headline(two_runs):
    a, b = two_runs
    headlines, differ = compare_runs([a.root, b.root])
    assert list(differ.index) == ["train.lrs"]
    assert differ.loc["train.lrs"].tolist() == ["[0.0005]", "[0.0002]"]
    assert list(headlines.index) == ["run-a", "run-b"]
    results = pd.read_csv(a.results).set_index("method")
    lead = results[results["selected"]].iloc[0]
    tests = pd.DataFrame(read_json(a.stat_tests)["comparisons"]).set_index(["method", "baseline"])
    vs_zero = tests.loc[(lead.name, "zero_shot")]
    for run in ("run-a", "run-b"):
        row = headlines.loc[run]
        assert row["selected"] == lead["name"] and row["macro_f1"] == with_ci(lead, "macro_f1")
        assert row["Zero-shot macro-F1"] == f"{results.loc['zero_shot', 'macro_f1']:.3f}"
        assert row["Δ vs Zero-shot"].startswith(f"{vs_zero['delta_macro_f1']:+.3f} (p = ")
        assert row["test items"] == lead["n_test"]
        assert row["train time (s)"] == seconds(lead["train_time_s"])


def test_write_comparison_writes_an_html_page(two_runs, tmp_path):
    a, b = two_runs
    target = write_comparison([a.root, b.root], tmp_path / "compare.html")
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "run-a vs run-b" in page
    assert "<th>train.lrs</th>" in page and "0.0002" in page
    lead = pd.read_csv(a.results).query("selected").iloc[0]
    assert with_ci(lead, "macro_f1") in page


def test_runs_that_share_every_parameter_say_so(smoke_artifacts, tmp_path):
    runs = [smoke_artifacts("one").root, smoke_artifacts("two").root]
    assert compare_runs(runs)[1].empty
    page = write_comparison(runs, tmp_path / "same.html").read_text(encoding="utf-8")
    assert "None: the runs share every parameter." in page


def test_the_cli_prints_the_comparison_and_writes_the_page(two_runs, tmp_path, capsys):
    a, b = two_runs
    page = tmp_path / "page.html"
    assert main(["compare", str(a.root), str(b.root), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "parameters that differ" in out and "train.lrs" in out and page.is_file()


def test_a_folder_without_results_is_named_in_the_error(two_runs):
    a, b = two_runs
    b.results.unlink()
    with pytest.raises(ConfigError, match=re.escape(str(b.root))):
        compare_runs([a.root, b.root])


def test_compare_needs_two_run_folders(smoke_artifacts, tmp_path):
    run = smoke_artifacts()
    with pytest.raises(ConfigError, match="at least two"):
        compare_runs([run.root])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=rf"{re.escape(str(empty))}: not a run folder"):
        compare_runs([run.root, empty])


def test_runs_with_the_same_id_from_two_machines_are_both_kept(smoke_artifacts):
    a, b = smoke_artifacts("x/smoke-run"), smoke_artifacts("y/smoke-run")
    set_lr(b, "0.0002")
    headlines, differ = compare_runs([a.root, b.root])
    assert list(headlines.index) == ["x/smoke-run", "y/smoke-run"]
    assert differ.loc["train.lrs"].tolist() == ["[0.0005]", "[0.0002]"]
