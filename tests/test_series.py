"""End to end: the real notebooks through papermill and nbconvert into a report bundle."""

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from loralab.errors import StepFailedError
from loralab.layout import RunPaths
from loralab.records import EvaluationRecord
from loralab.report.tables import with_ci
from loralab.run.runner import run_series

pytestmark = pytest.mark.slow


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append(attrs[key])


def local_refs(page: Path) -> list[str]:
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    return [r for r in parser.refs if not r.startswith(("data:", "#"))]


def assert_bundle_self_contained(folder: Path):
    for page in folder.glob("*.html"):
        for ref in local_refs(page):
            assert "://" not in ref, f"{page.name} loads {ref} from the network"
            assert (folder / ref).is_file(), f"{page.name} links to missing {ref}"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, repo):
    root = tmp_path_factory.mktemp("series")
    index = run_series(
        repo / "params/smoke.yaml",
        run_id="smoke",
        executed_root=root / "executed",
        reports_root=root / "reports",
        log=lambda _: None,
    )
    return root, index


def test_smoke_series_writes_a_self_contained_report(smoke_run, tmp_path):
    root, index = smoke_run
    run = RunPaths(root / "executed/smoke")
    record = json.loads(run.run_record.read_text())
    assert [s["status"] for s in record["steps"]] == ["ok"] * 6
    assert {p.name for p in index.parent.glob("*.html")} == {
        "index.html",
        "01_eda.html",
        "02_split.html",
        "03_train_r2-f0-s42.html",
        "03_train_r4-f0-s42.html",
        "04_evaluate.html",
        "05_statistics.html",
    }
    assert_bundle_self_contained(index.parent)
    moved = tmp_path / "mailed"
    shutil.copytree(index.parent, moved)
    assert_bundle_self_contained(moved)


def test_report_pages_show_the_counts_of_the_artifacts(smoke_run):
    root, index = smoke_run
    run = RunPaths(root / "executed/smoke")
    counts = pd.read_csv(run.split_counts).set_index("label")
    page = index.read_text()
    total = counts.loc["total", "total"]
    assert f"<strong>{total}</strong> items" in page
    split_page = (index.parent / "02_split.html").read_text()
    for label in ("Colon_Cancer", "Lung_Cancer"):
        row = counts.loc[label, ["train", "val", "test"]].tolist()
        assert re.search(
            rf"{label}</th>\s*<td>{row[0]}</td>\s*<td>{row[1]}</td>\s*"
            rf"<td>{row[2]}</td>",
            split_page,
        ), label
    eda_page = (index.parent / "01_eda.html").read_text()
    assert "Labelling rule" in eda_page and "near-duplicate pairs" in eda_page


def test_report_shows_training_curves_cost_and_the_selected_rank(smoke_run):
    root, index = smoke_run
    run = RunPaths(root / "executed/smoke")
    summaries = {r: json.loads(run.train_summary(f"r{r}-f0-s42").read_text()) for r in (2, 4)}
    page = index.read_text()
    assert "Selected on validation: LoRA r=" in page
    assert "the test set plays no part" in page  # the rule
    assert (index.parent / "figures/validation_curves.png").is_file()
    assert (index.parent / "figures/training_r4-f0-s42.png").is_file()
    assert summaries[4]["trainable_params"] == 2 * summaries[2]["trainable_params"]
    for r in (2, 4):
        assert f"{summaries[r]['trainable_params']:,}" in page
        train_page = (index.parent / f"03_train_r{r}-f0-s42.html").read_text()
        assert f"LoRA adapter: rank {r}" in train_page  # the model card is shown
        assert run.adapter(f"r{r}-f0-s42").joinpath("adapter_model.safetensors").is_file()


def test_a_given_split_comes_through_unchanged(tmp_path, repo, make_rows, write_table):
    frame = make_rows(labels=("Colon_Cancer", "Lung_Cancer"), per_class=12)
    frame["split"] = (["train"] * 8 + ["val"] * 2 + ["test"] * 2) * 2
    path = write_table(frame)
    run_series(
        repo / "params/smoke.yaml",
        [f"data.path={path}"],
        run_id="given",
        executed_root=tmp_path / "executed",
        reports_root=tmp_path / "reports",
        log=lambda _: None,
        only=["01_eda", "02_split"],  # what a given split touches; training would add 2 min
    )
    run = RunPaths(tmp_path / "executed/given")
    for name in ("train", "val", "test"):
        got = pd.read_json(run.split_file(name), lines=True)["id"].tolist()
        assert got == frame.loc[frame["split"] == name, "id"].tolist()
    page = (tmp_path / "reports/given/02_split.html").read_text()
    assert "taken from the data file as given" in page


def test_a_failing_cell_fails_the_run_and_the_report_shows_it(
    tmp_path, repo, make_rows, write_table
):
    path = write_table(make_rows(labels=("Colon_Cancer", "Other"), per_class=12))
    with pytest.raises(StepFailedError) as exc:
        run_series(
            repo / "params/smoke.yaml",
            [f"data.path={path}"],
            run_id="bad",
            executed_root=tmp_path / "executed",
            reports_root=tmp_path / "reports",
            log=lambda _: None,
        )
    err = exc.value
    assert err.notebook == "01_eda" and isinstance(err.cell, int)
    assert "DataError" in err.reason and "Lung_Cancer" in err.reason
    assert Path(err.executed_path).is_file()
    index = (tmp_path / "reports/bad/index.html").read_text()
    assert "failed" in index and "Lung_Cancer" in index and "02_split" in index
    assert (tmp_path / "reports/bad/01_eda.html").is_file()
    assert not (tmp_path / "reports/bad/02_split.html").exists()


def test_report_opens_with_the_headline_and_both_tables(smoke_run):
    root, index = smoke_run
    run = RunPaths(root / "executed/smoke")
    results = pd.read_csv(run.results)
    lead = results[results["selected"]].iloc[0]
    page = index.read_text()
    assert f"{lead['name']} reaches a test macro-F1 of" in page
    assert f"<strong>{with_ci(lead, 'macro_f1')}</strong>" in page
    assert "Results on the test set" in page and "Paired statistics" in page
    for name in ("method_bars", "confusion_selected", "efficiency"):
        assert (index.parent / f"figures/{name}.png").is_file()
    assert page.index("method_bars.png") < page.index("class_balance.png")


def test_the_report_renders_again_from_the_artifacts_alone(smoke_run, tmp_path):
    from loralab.run.runner import render_report

    root, index = smoke_run
    again = render_report(root / "executed/smoke", tmp_path)
    assert again == tmp_path / "smoke" / "index.html"
    strip = re.compile(r"written [0-9: -]+")
    assert strip.sub("", again.read_text()) == strip.sub("", index.read_text())


def test_plain_papermill_runs_a_notebook_as_the_readme_says(tmp_path, repo):
    """`papermill notebooks/NN.ipynb out.ipynb -f params/....yaml -p run_dir ...` from the root."""
    run_dir = tmp_path / "run"
    for name in ("01_eda", "02_split"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "papermill",
                f"notebooks/{name}.ipynb",
                str(tmp_path / f"{name}.ipynb"),
                "-f",
                "params/smoke.yaml",
                "-p",
                "run_dir",
                str(run_dir),
                "-y",
                "split: {seed: 7}",
                "--no-progress-bar",
            ],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    run = RunPaths(run_dir)
    assert run.split_file("test").is_file()
    params = run.params.read_text()
    assert "seed: 7" in params and "pubmed20n0014.xml.gz" in params


def test_the_report_in_a_real_browser_from_disk_and_copied(smoke_run, tmp_path, repo, chromium):
    root, index = smoke_run
    copied = tmp_path / "mailed" / "report"
    shutil.copytree(index.parent, copied)
    browser = chromium()
    for folder in (index.parent, copied):
        for page in sorted(folder.glob("*.html")):
            browser.get(page.as_uri())
            broken = browser.execute_script(
                "return Array.from(document.images)"
                ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
            )
            assert not broken, f"{page.name}: images that did not load: {broken}"
            links = browser.execute_script("return Array.from(document.links).map(a => a.href)")
            for link in links:
                assert link.startswith("file://"), f"{page.name} links out: {link}"
                target = Path(link.removeprefix("file://").split("#")[0])
                assert target.is_file(), f"{page.name}: dead link {link}"
            errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, f"{page.name}: console errors {errors}"
    browser.get((copied / "index.html").as_uri())
    shots = repo / "executed" / "test-artifacts"
    shots.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shots / "report-index.png"))


def test_compare_puts_runs_side_by_side_with_the_params_that_differ(smoke_run, tmp_path):
    from loralab.run.cli import main

    root, _ = smoke_run
    other = tmp_path / "other"
    shutil.copytree(root / "executed/smoke", other)
    params = (other / "params.yaml").read_text().replace("few_shot_k: 1", "few_shot_k: 3")
    (other / "params.yaml").write_text(params)
    page = tmp_path / "compare.html"
    assert main(["compare", str(root / "executed/smoke"), str(other), "--html", str(page)]) == 0
    html = page.read_text()
    assert "evaluation.few_shot_k" in html and "train.lr" not in html
    assert "+0.000 [+0.000, +0.000] (percentile)" in html and "0 / 0, 1" in html
    results = pd.read_csv(root / "executed/smoke/eval/results.csv")
    lead = results[results["selected"]].iloc[0]
    assert f"{lead['macro_f1']:.3f} [{lead['macro_f1_low']:.3f}" in html


def test_long_documents_params_run_on_a_csv_of_long_texts(tmp_path, repo, long_text, write_table):
    """The issue's promise: `loralab run params/long-documents.yaml --set data.path=YOUR.csv`."""

    rows = [
        {"id": f"{label}-{i}", "text": long_text(160, seed=100 * k + i), "label": label}
        for k, label in enumerate(("Colon_Cancer", "Lung_Cancer"))
        for i in range(16)
    ]
    path = write_table(pd.DataFrame(rows))
    overrides = [
        f"data.path={path}",
        "split.folds=1",
        "train.epochs=1",
        "train.train_sizes=[8]",
        "train.seq_len=96",
        "evaluation.max_chunks=3",
    ]
    run_series(
        repo / "params/long-documents.yaml",
        overrides,
        run_id="long",
        executed_root=tmp_path / "executed",
        reports_root=tmp_path / "reports",
        log=lambda _: None,
    )
    run = RunPaths(tmp_path / "executed/long")
    read = EvaluationRecord.read(run.evaluation).long_text
    assert read.mode == "chunks" and read.mean_windows_read == 3
    assert read.texts_longer_than_one_window == read.texts
    results = pd.read_csv(run.results).set_index("method")
    assert results.loc["zero_shot", "chunks_per_doc"] == 3
    assert results.loc["tfidf", "chunks_per_doc"] == 3
    eda = (tmp_path / "reports/long/01_eda.html").read_text()
    assert "data.long_text = chunks: every method reads up to 3 windows" in eda
    index = (tmp_path / "reports/long/index.html").read_text()
    assert "aggregated by mean" in index and "windows / tokens per item" in index
